import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { activateExtension, waitFor } from './helpers';

suite('SecretStorageBackend', () => {
  test('store → get → onDidChange → delete round trip through context.secrets', async () => {
    const { api } = await activateExtension();
    const key = `integration/${randomUUID()}`;
    const canary = `canary-${randomUUID()}`;
    const changed: string[] = [];
    const listener = api.secrets.onDidChange((k) => changed.push(k));
    try {
      assert.equal(await api.secrets.get(key), undefined);
      await api.secrets.store(key, canary);
      assert.equal(await api.secrets.get(key), canary);
      await waitFor('onDidChange after store', () => (changed.includes(key) ? true : undefined));

      changed.length = 0;
      await api.secrets.delete(key);
      assert.equal(await api.secrets.get(key), undefined);
      await waitFor('onDidChange after delete', () => (changed.includes(key) ? true : undefined));
    } finally {
      listener.dispose();
      await api.secrets.delete(key);
    }
  });

  test('credential values written by the core land in SecretStorage, metadata never holds them', async () => {
    const { api } = await activateExtension();
    const name = `int-sec-${randomUUID().slice(0, 8)}`;
    const canary = `canary-${randomUUID()}`;
    const meta = await api.keyring.store.addCredential(
      { name, allowed_scopes: ['read'], allowed_agents: ['vscode'] },
      new api.SecretValue(canary),
      'vscode-user',
    );
    try {
      assert.equal(await api.secrets.get(`credential/${name}/v${meta.version}`), canary);
      const doc = JSON.stringify(await api.keyring.store.snapshot());
      assert.ok(doc.includes(name));
      assert.ok(!doc.includes(canary), 'the metadata document must not contain the value');
    } finally {
      await api.keyring.store.removeCredential(name);
    }
  });
});
