/**
 * The credential and agent commands, driven with args objects (no UI), and the views following
 * them: add → edit scopes → rotate (get_credential through VS Code returns the new value) → revoke.
 * Every step renders the whole Credentials, Agents and Audit trees and checks that no secret
 * (canary) shows in any label, description, tooltip or id.
 */
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { AgentKeyringTestApi } from '../../src/extension';
import { forOneBox, schemaValidator } from '../../src/vscode/commands/prompts';
import { CredentialPatchSchema } from '../../src/core/store/schemas';
import { CredentialsTree } from '../../src/vscode/views/credentialsTree';
import {
  activateExtension,
  assertNoSecret,
  invokeTool,
  mcpTool,
  nextChange,
  renderTree,
  valueOf,
  type RenderedItem,
} from './helpers';
import { nextAuditViewChange, renderAuditView } from './auditHelpers';

async function renderAll(api: AgentKeyringTestApi): Promise<RenderedItem[]> {
  return [
    ...(await renderTree(api.trees.credentials)),
    ...(await renderTree(api.trees.agents)),
    ...(await renderAuditView(api)),
  ];
}

function row(items: RenderedItem[], label: string, depth = 0): RenderedItem | undefined {
  return items.find((i) => i.label === label && i.depth === depth);
}

suite('commands and views', () => {
  const name = `int-cmd-${randomUUID().slice(0, 8)}`;
  const v1 = `canary-v1-${randomUUID()}`;
  const v2 = `canary-v2-${randomUUID()}`;
  const secrets = [v1, v2];

  suiteTeardown(async () => {
    const { api } = await activateExtension();
    await api.keyring.store.removeCredential(name).catch(() => undefined);
  });

  test('Add Credential with args stores it and the Credentials tree shows it, without the value', async () => {
    const { api } = await activateExtension();
    const meta = await vscode.commands.executeCommand<{ name: string; version: number }>(
      'agentKeyring.addCredential',
      { name, value: v1, description: 'integration', scopes: ['read', 'search_read'], agents: ['someone'] },
    );
    assert.equal(meta?.name, name);
    assert.equal(meta.version, 1);
    assert.equal(await api.secrets.get(`credential/${name}/v1`), v1, 'the value is in SecretStorage');

    const items = await renderAll(api);
    const top = row(items, name);
    assert.ok(top, 'the credential is a top-level row');
    assert.match(top.description, /^v1 · (<1 min|\d+ min)$/);
    assert.equal(top.contextValue, 'credential');
    for (const child of ['Scopes', 'Allowed agents', 'Versions']) {
      assert.ok(
        items.some((i) => i.depth === 1 && i.label === child && i.id?.startsWith(`credential:${name}/`)),
        child,
      );
    }
    assert.ok(row(items, 'search_read', 2), 'scopes are listed');
    const version = items.find((i) => i.id === `credential:${name}/versions/v1`);
    assert.match(version?.description ?? '', /^current · just now · vscode-user$/);
    assert.ok(
      items.some((i) => i.depth === 0 && i.label === `created ${name}`),
      'the Audit tree shows the creation',
    );
    assertNoSecret(items, secrets);
  });

  test('Edit Scopes with args changes scopes and agents; the Agents tree shows the grant', async () => {
    const { api } = await activateExtension();
    await vscode.commands.executeCommand('agentKeyring.editScopes', {
      name,
      scopes: ['read', 'deploy'],
      agents: ['vscode'],
    });
    const meta = await api.keyring.store.getCredential(name);
    assert.deepEqual(meta?.allowed_scopes, ['read', 'deploy']);
    assert.deepEqual(meta?.allowed_agents, ['vscode']);
    const agents = await renderTree(api.trees.agents);
    const grant = agents.find((i) => i.id === `agent:vscode/grant/${name}`);
    assert.equal(grant?.description, 'read, deploy');
    assertNoSecret(await renderAll(api), secrets);
  });

  test('Set Reveal Mode with args: the tree shows it, and get_credential through VS Code is refused', async () => {
    const { api } = await activateExtension();
    // Another credential the built-in agent may read keeps get_credential among its tools (tools per
    // agent hide it when every credential is broker-only, and older VS Code does not list it again).
    const other = `${name}-readable`;
    await api.keyring.store.addCredential(
      { name: other, allowed_scopes: ['read'], allowed_agents: ['vscode'] },
      new api.SecretValue(`canary-${randomUUID()}`),
      'vscode-user',
    );
    try {
      await revealModeRoundTrip(api);
    } finally {
      await api.keyring.store.removeCredential(other).catch(() => undefined);
    }
  });

  async function revealModeRoundTrip(api: AgentKeyringTestApi): Promise<void> {
    await vscode.commands.executeCommand('agentKeyring.setRevealMode', { name, mode: 'never' });
    assert.equal((await api.keyring.store.getCredential(name))?.reveal, 'never');
    const item = (await renderTree(api.trees.credentials)).find((i) => i.id === `credential:${name}`);
    assert.match(String(item?.description), / · never read$/);
    const refused = await invokeTool((await mcpTool('get_credential')).name, { name, scope: 'read' });
    assert.match(refused.text, /reveal_denied/);
    assert.ok(!refused.text.includes(v1));
    // A per-agent mode for the built-in agent brings the reveal back for it alone.
    await vscode.commands.executeCommand('agentKeyring.setRevealMode', {
      name,
      agent: 'vscode',
      mode: 'allow',
    });
    const ok = await invokeTool((await mcpTool('get_credential')).name, { name, scope: 'read' });
    assert.equal(valueOf(ok.text), v1);
    await vscode.commands.executeCommand('agentKeyring.setRevealMode', {
      name,
      agent: 'vscode',
      mode: 'default',
    });
    await vscode.commands.executeCommand('agentKeyring.setRevealMode', { name, mode: 'allow' });
    const meta = await api.keyring.store.getCredential(name);
    assert.equal(meta?.reveal, undefined);
    assert.equal(meta?.reveal_overrides, undefined);
    assertNoSecret(await renderAll(api), secrets);
  }

  test('Rotate Credential with args: the next get_credential through VS Code returns the new value', async () => {
    const { api } = await activateExtension();
    const tool = await mcpTool('get_credential');
    const before = await invokeTool(tool.name, { name, scope: 'read' });
    assert.equal(before.threw, false, before.text.replaceAll(v1, '<v1>'));
    assert.equal(valueOf(before.text), v1, 'before rotation: version 1');

    const result = await vscode.commands.executeCommand<{ version: number; previous_version: number }>(
      'agentKeyring.rotateCredential',
      { name, value: v2, graceSeconds: 300 },
    );
    assert.equal(result?.version, 2);
    assert.equal(result.previous_version, 1);

    const after = await invokeTool(tool.name, { name, scope: 'read' });
    assert.equal(valueOf(after.text), v2, 'after rotation: version 2, no restart');
    assert.match(after.text, /"version":\s*2/);

    const items = await renderAll(api);
    assert.match(row(items, name)?.description ?? '', /^v2 · /);
    assert.match(
      items.find((i) => i.id === `credential:${name}/versions/v1`)?.description ?? '',
      /^valid until \d\d:\d\d · /,
    );
    assert.ok(
      items.some((i) => i.depth === 0 && i.label === `rotated ${name}`),
      'the Audit tree shows the rotation',
    );
    assertNoSecret(items, secrets);
  });

  test('Rotate with generate: a generator makes the value; without one the command fails clearly', async () => {
    const { api } = await activateExtension();
    const gen = `int-gen-${randomUUID().slice(0, 8)}`;
    await api.keyring.store.addCredential(
      { name: gen, allowed_scopes: ['read'], rotation: { generator: { length: 40 } } },
      new api.SecretValue(`canary-${randomUUID()}`),
      'vscode-user',
    );
    try {
      const r = await vscode.commands.executeCommand<{ version: number }>('agentKeyring.rotateCredential', {
        name: gen,
        generate: true,
      });
      assert.equal(r.version, 2);
      const { value } = await api.keyring.store.readCurrentValue(gen);
      assert.match(value.reveal(), /^[A-Za-z0-9]{40}$/);

      await assert.rejects(
        Promise.resolve(
          vscode.commands.executeCommand('agentKeyring.rotateCredential', { name, generate: true }),
        ),
        /has no generator/,
      );
      await assert.rejects(
        Promise.resolve(
          vscode.commands.executeCommand('agentKeyring.rotateCredential', {
            name: `missing-${gen}`,
            value: 'x',
          }),
        ),
        /No credential named/,
      );
    } finally {
      await api.keyring.store.removeCredential(gen);
    }
  });

  test('bad args are refused with the schema message, which never repeats the value', async () => {
    const { api } = await activateExtension();
    const bad = `canary-${randomUUID()}`;
    await assert.rejects(
      Promise.resolve(
        vscode.commands.executeCommand('agentKeyring.addCredential', {
          name: 'Bad Name',
          value: bad,
          scopes: ['read'],
        }),
      ),
      (e: Error) => {
        assert.match(e.message, /name: must be 1–64 characters/);
        assert.ok(!e.message.includes(bad));
        return true;
      },
    );
    assert.equal(await api.keyring.store.getCredential('Bad Name'), undefined);
  });

  test('Remove Credential removes it and all its values; the tree drops it', async () => {
    const { api } = await activateExtension();
    const removed = await vscode.commands.executeCommand('agentKeyring.removeCredential', {
      name,
      confirmed: true,
    });
    assert.equal(removed, true);
    assert.ok(
      (await vscode.commands.getCommands(true)).includes('agentKeyring.revokeCredential'),
      'the old id stays registered as an alias',
    );
    assert.equal(await api.keyring.store.getCredential(name), undefined);
    assert.equal(await api.secrets.get(`credential/${name}/v1`), undefined);
    assert.equal(await api.secrets.get(`credential/${name}/v2`), undefined);
    const items = await renderAll(api);
    assert.equal(row(items, name), undefined, 'gone from the Credentials tree');
    assert.ok(
      items.some((i) => i.depth === 0 && i.label === `removed ${name}`),
      'the Audit tree shows the removal',
    );
    assertNoSecret(items, secrets);

    const audit = fs.readFileSync(api.keyring.auditPath as string, 'utf8');
    for (const s of secrets) {
      assert.ok(!audit.includes(s), 'the audit file never holds a value');
    }
  });

  test('the trees repaint on store changes made outside the commands (other window, CLI)', async () => {
    const { api } = await activateExtension();
    const other = `int-ext-${randomUUID().slice(0, 8)}`;
    const changed = nextChange(api.trees.credentials);
    const agentsChanged = nextChange(api.trees.agents);
    await api.keyring.store.addCredential(
      { name: other, allowed_scopes: ['read'], allowed_agents: ['*'] },
      new api.SecretValue(`canary-${randomUUID()}`),
      'cli',
    );
    try {
      await changed;
      await agentsChanged;
      assert.ok(row(await renderTree(api.trees.credentials), other));
      const auditChanged = (await nextAuditViewChange(api)).changed;
      await api.keyring.service.recordAdmin('add_credential', 'created', { credential: other, actor: 'cli' });
      await auditChanged;
    } finally {
      await api.keyring.store.removeCredential(other);
    }
  });

  test('a credential past rotation.max_age_days is described "rotation due" with contextValue credential.due', async () => {
    const { api } = await activateExtension();
    const due = `int-due-${randomUUID().slice(0, 8)}`;
    await api.keyring.store.addCredential(
      { name: due, allowed_scopes: ['read'], rotation: { max_age_days: 1 } },
      new api.SecretValue(`canary-${randomUUID()}`),
      'vscode-user',
    );
    const later = Date.now() + 12 * 86_400_000;
    const tree = new CredentialsTree({
      reader: api.keyring.admin,
      clock: {
        now: () => later,
        localTime: () => ({ hour: 12, minute: 0 }),
        setTimeout: () => ({ dispose: () => undefined }),
      },
      changes: [],
    });
    try {
      const item = row(await renderTree(tree), due);
      assert.equal(item?.description, 'v1 · 12 d · rotation due');
      assert.equal(item?.contextValue, 'credential.due');
      assert.equal(
        row(await renderTree(api.trees.credentials), due)?.contextValue,
        'credential',
        'not due today',
      );
    } finally {
      tree.dispose();
      await api.keyring.store.removeCredential(due);
    }
  });

  test('input boxes validate with the core schemas and speak about the one thing they ask for', () => {
    const scopes = schemaValidator(CredentialPatchSchema, (t) => ({ allowed_scopes: t.split(',') }));
    assert.equal(scopes('read'), undefined);
    assert.match(scopes('read,Bad Scope') as string, /^Entry 2: a scope must be 1–64 characters/);
    const name = schemaValidator(CredentialPatchSchema, (t) => ({ name: t }));
    const secretish = `canary-${randomUUID()}!`;
    const message = name(secretish) as string;
    assert.match(message, /^Must be 1–64 characters/);
    assert.ok(!message.includes(secretish), 'the message never repeats the input');
    assert.equal(forOneBox('ttl_seconds: must be at least 1.'), 'Must be at least 1.');
  });
});
