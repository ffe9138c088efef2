/**
 * The SecretStorage side of activation, in plain Node: {@link StartupSecrets} (reads started at
 * once, the first-run audit key written in the background, `settled()` reporting that write) and
 * {@link VscodeAgentTokens} (one check at a time, so the activation check and the MCP provider can
 * never mint two tokens for the built-in agent).
 */
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StoreError } from '../../../src/core/errors';
import { auditKey } from '../../../src/core/keyring';
import { AUDIT_KEY_SECRET, VSCODE_AGENT_ID } from '../../../src/core/model';
import type { Disposable, SecretBackend } from '../../../src/core/ports';
import { CredentialStore } from '../../../src/core/store/credentialStore';
import { StartupSecrets } from '../../../src/vscode/secretStorageBackend';
import { VSCODE_AGENT_TOKEN_KEY, VscodeAgentTokens } from '../../../src/vscode/vscodeAgent';
import { FakeClock } from '../../fakes/fakeClock';
import { MemoryMetadataStore } from '../../fakes/memoryMetadataStore';
import { MemorySecretBackend } from '../../fakes/memorySecretBackend';
import { RecordingLogger } from '../../fakes/recordingLogger';

/** A backend whose writes wait until the test lets them through, as a slow window round trip. */
class HeldWrites implements SecretBackend {
  readonly inner = new MemorySecretBackend();
  readonly #held: (() => void)[] = [];
  hold = true;

  get(key: string): Promise<string | undefined> {
    return this.inner.get(key);
  }

  async store(key: string, value: string): Promise<void> {
    if (this.hold) {
      await new Promise<void>((resolve) => this.#held.push(resolve));
    }
    await this.inner.store(key, value);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  onDidChange(listener: (key: string) => void): Disposable {
    return this.inner.onDidChange(listener);
  }

  get heldCount(): number {
    return this.#held.length;
  }

  release(): void {
    for (const r of this.#held.splice(0)) {
      r();
    }
  }
}

/** Whether `p` has settled after the current microtasks and one macrotask ran. */
async function isSettled(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setImmediate(r));
  return settled;
}

describe('StartupSecrets', () => {
  test('starts the reads of the prefetch keys at once, answers the first get from them, reads again after', async () => {
    const backend = new MemorySecretBackend({ a: 'A1', b: 'B1' });
    const secrets = new StartupSecrets(backend, { prefetch: ['a', 'b'] });
    assert.deepEqual(backend.calls, ['get a', 'get b'], 'both reads started by the constructor');
    backend.simulateExternalChange('a', 'A2');
    assert.equal(await secrets.get('a'), 'A1', 'the first get is the prefetched read');
    assert.deepEqual(backend.calls, ['get a', 'get b'], 'no second round trip for it');
    assert.equal(await secrets.get('a'), 'A2', 'a later get reads again and sees the change');
    assert.equal(await secrets.get('c'), undefined);
    assert.deepEqual(backend.calls, ['get a', 'get b', 'get a', 'get c']);
  });

  test('a failed prefetch is reported to the get that uses it (and is no unhandled rejection)', async () => {
    const backend = new MemorySecretBackend();
    backend.failOn('get', 1);
    const secrets = new StartupSecrets(backend, { prefetch: ['a'] });
    await new Promise((r) => setImmediate(r));
    await assert.rejects(secrets.get('a'), StoreError);
    assert.equal(await secrets.get('a'), undefined, 'the next get reads again');
  });

  test('a write-behind store returns before the write lands; get answers it meanwhile; settled() waits for it', async () => {
    const backend = new HeldWrites();
    const secrets = new StartupSecrets(backend, { prefetch: ['k'], writeBehind: ['k'] });
    assert.equal(await secrets.get('k'), undefined);
    await secrets.store('k', 'v1');
    assert.equal(backend.heldCount, 1, 'the write is under way, not done');
    assert.equal(backend.inner.peek('k'), undefined);
    assert.equal(await secrets.get('k'), 'v1', 'the pending value is answered');
    const settled = secrets.settled();
    assert.equal(await isSettled(settled), false, 'settled() waits for the write');
    backend.release();
    await settled;
    assert.equal(backend.inner.peek('k'), 'v1');
    assert.equal(await secrets.get('k'), 'v1');
  });

  test('a failed write-behind store makes settled() reject, and get reads the backend again', async () => {
    const backend = new MemorySecretBackend();
    backend.failOn('store', 1);
    const secrets = new StartupSecrets(backend, { prefetch: [], writeBehind: ['k'] });
    await secrets.store('k', 'v1');
    await assert.rejects(secrets.settled(), StoreError);
    assert.equal(await secrets.get('k'), undefined, 'nothing pretends the value was stored');
  });

  test('any other key is stored straight through: store waits for the write', async () => {
    const backend = new HeldWrites();
    const secrets = new StartupSecrets(backend, { prefetch: [], writeBehind: ['k'] });
    const write = secrets.store('other', 'v');
    assert.equal(await isSettled(write), false);
    backend.release();
    await write;
    assert.equal(backend.inner.peek('other'), 'v');
    await secrets.settled();
  });

  test("first run: the core's auditKey gets its key at once, and the key is in the backend once settled", async () => {
    const backend = new HeldWrites();
    const secrets = new StartupSecrets(backend, {
      prefetch: [AUDIT_KEY_SECRET],
      writeBehind: [AUDIT_KEY_SECRET],
    });
    const key = await auditKey(secrets);
    assert.equal(key.length, 32);
    assert.equal(backend.heldCount, 1);
    backend.release();
    await secrets.settled();
    assert.deepEqual(await auditKey(backend), key, 'the next session reads the same key');
  });
});

describe('VscodeAgentTokens', () => {
  function setup(backend: SecretBackend) {
    const logger = new RecordingLogger();
    const store = new CredentialStore({
      metadata: new MemoryMetadataStore(),
      secrets: backend,
      clock: new FakeClock('2026-03-02T12:00:00.000Z'),
      logger,
    });
    return { store, logger, tokens: new VscodeAgentTokens(store, backend, logger) };
  }

  test('callers while a check runs share it: one agent, one token, one write', async () => {
    const backend = new HeldWrites();
    const { store, logger, tokens } = setup(backend);
    const first = tokens.get();
    const second = tokens.get();
    assert.equal(first, second, 'the same check');
    await new Promise((r) => setImmediate(r));
    backend.release();
    backend.hold = false;
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a.state, 'ok');
    assert.deepEqual(a, b);
    const token = a.state === 'ok' ? a.token : '';
    assert.equal(backend.inner.calls.filter((c) => c === `store ${VSCODE_AGENT_TOKEN_KEY}`).length, 1);
    assert.equal(backend.inner.peek(VSCODE_AGENT_TOKEN_KEY), token);
    assert.equal((await store.authenticate(token))?.id, VSCODE_AGENT_ID);
    assert.ok(!logger.lines.join('\n').includes(token), 'the token is never logged');

    const again = await tokens.get();
    assert.notEqual(tokens.get(), first, 'a later call is a new check');
    assert.deepEqual(again, a, 'which finds the stored token and mints none');
    assert.equal(backend.inner.calls.filter((c) => c === `store ${VSCODE_AGENT_TOKEN_KEY}`).length, 1);
  });

  test('renew: a revoked vscode agent is added back, a live one rotated; the old token stops, the new one is stored, never logged', async () => {
    const backend = new MemorySecretBackend();
    const { store, logger, tokens } = setup(backend);
    const renewals: number[] = [];
    tokens.onDidRenew(() => renewals.push(tokens.generation));
    const first = await tokens.get();
    const old = first.state === 'ok' ? first.token : '';

    await tokens.renew();
    const rotated = backend.peek(VSCODE_AGENT_TOKEN_KEY) ?? '';
    assert.notEqual(rotated, old);
    assert.equal(await store.authenticate(old), undefined, 'the old token no longer works');
    assert.equal((await store.authenticate(rotated))?.id, VSCODE_AGENT_ID);
    assert.deepEqual(await tokens.get(), { state: 'ok', token: rotated }, 'the provider gets the new one');

    await store.revokeAgent(VSCODE_AGENT_ID);
    assert.deepEqual(await tokens.get(), { state: 'revoked' });
    await tokens.renew();
    const back = await tokens.get();
    assert.equal(back.state, 'ok', 'added back');
    assert.equal((await store.getAgent(VSCODE_AGENT_ID))?.revoked_at ?? null, null);
    assert.deepEqual(renewals, [1, 2], 'each renewal is announced (the MCP definition changes with it)');
    const logged = logger.lines.join('\n');
    for (const t of [old, rotated, back.state === 'ok' ? back.token : '']) {
      assert.ok(!logged.includes(t), 'no token in the log');
    }
  });

  test('a failed check is not kept: the next call checks again', async () => {
    const backend = new MemorySecretBackend();
    backend.failOn('get', 1);
    const { tokens } = setup(backend);
    await assert.rejects(tokens.get(), StoreError);
    const t = await tokens.get();
    assert.equal(t.state, 'ok');
  });
});
