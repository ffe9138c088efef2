/**
 * The store contract: the same behaviours, from one table, against the encrypted file store and
 * the PostgreSQL team store (a real throwaway cluster). Each backend opens two instances on the
 * same store, standing for two processes or servers.
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SecretValue, secretKey } from '../../src/core/model';
import type { MetadataStore, SecretBackend } from '../../src/core/ports';
import type { CredentialStore } from '../../src/core/store/credentialStore';
import { openFileStore } from '../../src/core/store/fileStore';
import { openPostgresStore } from '../../src/core/store/postgres/postgresStore';
import { PostgresDb } from '../../src/core/store/postgres/postgresDb';
import { upgradeSchema } from '../../src/core/store/postgres/schema';
import { NULL_LOGGER } from '../../src/core/ports';
import { type PgCluster, pgUnavailableReason, startPgCluster } from '../helpers/pgCluster';
import { canary, tempDir, waitFor } from '../unit/store/tmpStore';

interface Instance {
  credentials: CredentialStore;
  metadata: MetadataStore;
  secrets: SecretBackend;
}

interface Backend {
  name: string;
  skip?: string;
  /** A fresh, empty store; `open()` gives another instance on it. */
  fresh(): Promise<{ open(): Promise<Instance> }>;
  cleanup(): Promise<void>;
}

const pgSkip = pgUnavailableReason();
if (pgSkip) {
  console.warn(`\n*** ${pgSkip} ***\n`);
}

const closers: (() => Promise<void> | void)[] = [];

const fileBackend: Backend = {
  name: 'file store',
  async fresh() {
    const { dir, cleanup } = tempDir();
    closers.push(cleanup);
    return {
      open: async () => {
        const s = await openFileStore(dir, { env: { AGENT_KEYRING_NO_KEYRING: '1' } });
        closers.unshift(() => s.dispose());
        return s;
      },
    };
  },
  async cleanup() {},
};

let pg: PgCluster | undefined;
let dbCount = 0;
const masterKey = randomBytes(32);
const pgBackend: Backend = {
  name: 'PostgreSQL store',
  skip: pgSkip,
  async fresh() {
    pg ??= await startPgCluster();
    const url = await pg.createDatabase(`contract${++dbCount}`);
    const db = new PostgresDb(url, { logger: NULL_LOGGER });
    await upgradeSchema(db.statements, db.display);
    await db.close();
    return {
      open: async () => {
        const s = await openPostgresStore(url, { masterKey });
        closers.unshift(() => s.close());
        return s;
      },
    };
  },
  async cleanup() {
    await pg?.stop();
  },
};

const rotateTo = (c: CredentialStore, name: string, value: string, grace = 0) =>
  c.rotate(name, { value: new SecretValue(value), graceSeconds: grace, actor: 'test' });

for (const backend of [fileBackend, pgBackend]) {
  describe(`store contract: ${backend.name}`, { skip: backend.skip }, () => {
    let a: Instance;
    let b: Instance;
    before(async () => {
      const store = await backend.fresh();
      a = await store.open();
      b = await store.open();
    });
    after(async () => {
      for (const close of closers.splice(0)) {
        await close();
      }
      await backend.cleanup();
    });

    test('add, then the other instance reads metadata and value', async () => {
      const v = canary('add');
      await a.credentials.addCredential({ name: 'c1', allowed_scopes: ['read'] }, new SecretValue(v), 't');
      const meta = await b.credentials.getCredential('c1');
      assert.deepEqual([meta?.version, meta?.allowed_scopes], [1, ['read']]);
      assert.equal((await b.credentials.readCurrentValue('c1')).value.reveal(), v);
      assert.deepEqual(
        (await b.credentials.listCredentials()).map((c) => c.name),
        ['c1'],
      );
    });

    test('rotation with grace keeps the previous value; the one before is deleted', async () => {
      const [v2, v3] = [canary('v2'), canary('v3')];
      await rotateTo(a.credentials, 'c1', v2, 60);
      await rotateTo(b.credentials, 'c1', v3, 60);
      const cur = await a.credentials.readCurrentValue('c1');
      assert.deepEqual([cur.version, cur.value.reveal()], [3, v3]);
      assert.equal((await a.credentials.readValue('c1', 2))?.reveal(), v2);
      assert.equal(await a.credentials.readValue('c1', 1), undefined);
      assert.ok((await b.credentials.getCredential('c1'))?.previous_valid_until);
    });

    test('concurrent rotations through both instances: every one gets its own version', async () => {
      const before = (await a.credentials.getCredential('c1'))?.version ?? 0;
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          rotateTo(i % 2 ? a.credentials : b.credentials, 'c1', canary(`r${i}`)),
        ),
      );
      const versions = outcomes.map((o) => o.version).sort((x, y) => x - y);
      assert.deepEqual(
        versions,
        Array.from({ length: 20 }, (_, i) => before + 1 + i),
      );
      assert.equal((await b.credentials.getCredential('c1'))?.version, before + 20);
    });

    test("a change through one instance fires the other one's listener", async () => {
      let fired = 0;
      const sub = b.credentials.onDidChange(() => fired++);
      try {
        await a.credentials.updateCredential('c1', { description: 'changed' });
        await waitFor(() => fired > 0, 5000, 'onDidChange on the other instance');
        assert.equal((await b.credentials.getCredential('c1'))?.description, 'changed');
      } finally {
        sub.dispose();
      }
    });

    test('a mutator that throws writes nothing', async () => {
      const before = await b.metadata.read();
      await assert.rejects(
        a.metadata.update((draft) => {
          draft.credentials = {};
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.deepEqual(await b.metadata.read(), before);
    });

    test('agents: token authenticates on the other instance until revoked', async () => {
      const { token } = await a.credentials.addAgent({ id: 'agent-x', label: 'X' });
      assert.equal((await b.credentials.authenticate(token.reveal()))?.id, 'agent-x');
      await b.credentials.revokeAgent('agent-x');
      assert.equal(await a.credentials.authenticate(token.reveal()), undefined);
    });

    test('secret backend: set, overwrite, delete, with change events on the other instance', async () => {
      const heard: string[] = [];
      const sub = b.secrets.onDidChange((k) => heard.push(k));
      try {
        assert.equal(await a.secrets.get('misc/k'), undefined);
        await a.secrets.store('misc/k', 'one');
        assert.equal(await b.secrets.get('misc/k'), 'one');
        await b.secrets.store('misc/k', 'two');
        assert.equal(await a.secrets.get('misc/k'), 'two');
        await a.secrets.delete('misc/k');
        assert.equal(await b.secrets.get('misc/k'), undefined);
        await waitFor(() => heard.includes('misc/k'), 5000, 'a secret change event');
      } finally {
        sub.dispose();
      }
    });

    test('removing a credential removes its values', async () => {
      const cur = await a.credentials.readCurrentValue('c1');
      await b.credentials.removeCredential('c1');
      assert.equal(await a.credentials.getCredential('c1'), undefined);
      assert.equal(await a.secrets.get(secretKey('c1', cur.version)), undefined);
    });
  });
}
