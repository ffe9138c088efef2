import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import {
  AlreadyExistsError,
  CredentialNotFoundError,
  InvalidInputError,
  KeyringError,
  StoreError,
} from '../../../src/core/errors';
import { SecretValue, secretKey } from '../../../src/core/model';
import {
  AgentNotFoundError,
  CredentialStore,
  SEEN_THROTTLE_MS,
} from '../../../src/core/store/credentialStore';
import { DEFAULT_ALPHABET } from '../../../src/core/store/schemas';
import { FakeClock } from '../../fakes/fakeClock';
import { MemoryMetadataStore } from '../../fakes/memoryMetadataStore';
import { MemorySecretBackend } from '../../fakes/memorySecretBackend';
import { RecordingLogger } from '../../fakes/recordingLogger';
import { canary } from './tmpStore';

function setup() {
  const clock = new FakeClock('2026-03-02T12:00:00.000Z');
  const metadata = new MemoryMetadataStore();
  const secrets = new MemorySecretBackend();
  const logger = new RecordingLogger();
  const store = new CredentialStore({ metadata, secrets, clock, logger });
  return { clock, metadata, secrets, logger, store };
}

const INPUT = {
  name: 'scavio_api_key',
  description: 'Search',
  allowed_scopes: ['search_read'],
  allowed_agents: ['research-agent'],
};

/** Runs `p`, expects it to reject with `type`, and checks that no canary leaked into the message. */
async function rejectsClean(
  p: Promise<unknown>,
  type: new (...a: never[]) => Error,
  secrets: string[],
  re?: RegExp,
): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${String(e)}`);
    const details = e instanceof KeyringError ? e.details : {};
    for (const s of secrets) {
      assert.ok(!e.message.includes(s), 'error message contains a secret value');
      assert.ok(!JSON.stringify(details).includes(s));
    }
    if (re) {
      assert.match(e.message, re);
    }
    return true;
  });
}

test('addCredential stores version 1 and its value; reads return it', async () => {
  const { store, secrets, clock, logger } = setup();
  const value = canary();
  const meta = await store.addCredential(INPUT, new SecretValue(value), 'cli');
  assert.equal(meta.version, 1);
  assert.deepEqual(meta.versions, [{ version: 1, created_at: clock.iso(), rotated_by: 'cli' }]);
  assert.equal(meta.ttl_seconds, 3600);
  assert.equal(secrets.peek(secretKey('scavio_api_key', 1)), value);
  assert.equal((await store.readValue('scavio_api_key', 1))?.reveal(), value);
  assert.equal(await store.readValue('scavio_api_key', 2), undefined);
  const cur = await store.readCurrentValue('scavio_api_key');
  assert.equal(cur.version, 1);
  assert.equal(cur.value.reveal(), value);
  assert.deepEqual(
    (await store.listCredentials()).map((c) => c.name),
    ['scavio_api_key'],
  );
  assert.equal((await store.getCredential('scavio_api_key'))?.description, 'Search');
  assert.equal(await store.getCredential('constructor'), undefined, 'prototype names are not credentials');
  assert.ok(!JSON.stringify(await store.snapshot()).includes(value), 'metadata never holds the value');
  assert.ok(!logger.text().includes(value));
});

test('addCredential refusals: duplicate, bad input, empty or huge value — typed, clear, value-free', async () => {
  const { store, secrets } = setup();
  const value = canary();
  await store.addCredential(INPUT, new SecretValue(value), 'cli');
  const other = canary();
  await rejectsClean(
    store.addCredential(INPUT, new SecretValue(other), 'cli'),
    AlreadyExistsError,
    [value, other],
    /already exists/,
  );
  assert.equal(secrets.peek(secretKey('scavio_api_key', 1)), value, 'the existing value is untouched');
  await rejectsClean(
    store.addCredential({ ...INPUT, name: 'Bad/Name' }, new SecretValue(other), 'cli'),
    InvalidInputError,
    [other],
    /^Invalid credential: name: must be/,
  );
  await rejectsClean(
    store.addCredential({ ...INPUT, name: 'x' }, new SecretValue(''), 'cli'),
    InvalidInputError,
    [],
    /is empty/,
  );
  const huge = other + 'x'.repeat(70 * 1024);
  await rejectsClean(
    store.addCredential({ ...INPUT, name: 'x' }, new SecretValue(huge), 'cli'),
    InvalidInputError,
    [other],
    /larger than 64 KiB/,
  );
  await rejectsClean(
    store.addCredential({ ...INPUT, name: 'x' }, new SecretValue(other), ''),
    InvalidInputError,
    [other],
    /actor/,
  );
  assert.equal(await store.getCredential('x'), undefined);
});

test('if the value cannot be stored, no metadata is written', async () => {
  const { store, secrets, metadata } = setup();
  secrets.failOn('store', 1);
  const value = canary();
  await rejectsClean(store.addCredential(INPUT, new SecretValue(value), 'cli'), StoreError, [value]);
  assert.equal(await store.getCredential(INPUT.name), undefined);
  assert.equal(metadata.writes, 0);
});

test('if the metadata cannot be written after the value, the old state stays (old value readable)', async () => {
  const { store, metadata } = setup();
  const v1 = canary('v1');
  await store.addCredential(INPUT, new SecretValue(v1), 'cli');
  metadata.failNextUpdates(1);
  const v2 = canary('v2');
  await rejectsClean(
    store.rotate(INPUT.name, { value: new SecretValue(v2), graceSeconds: 0, actor: 'cli' }),
    StoreError,
    [v1, v2],
  );
  const cur = await store.readCurrentValue(INPUT.name);
  assert.equal(cur.version, 1);
  assert.equal(cur.value.reveal(), v1);
  // The next rotation reuses version 2 and overwrites the orphan.
  const v3 = canary('v3');
  const r = await store.rotate(INPUT.name, { value: new SecretValue(v3), graceSeconds: 0, actor: 'cli' });
  assert.equal(r.version, 2);
  assert.equal((await store.readCurrentValue(INPUT.name)).value.reveal(), v3);
});

test('rotate: new version current at once, previous kept with grace, older values deleted', async () => {
  const { store, secrets, clock } = setup();
  const values = [canary('1'), canary('2'), canary('3'), canary('4')];
  await store.addCredential(INPUT, new SecretValue(values[0]), 'cli');
  clock.advance(1000);
  const r2 = await store.rotate(INPUT.name, {
    value: new SecretValue(values[1]),
    graceSeconds: 300,
    actor: 'research-agent',
  });
  assert.deepEqual(r2, {
    name: INPUT.name,
    version: 2,
    previous_version: 1,
    previous_valid_until: new Date(clock.now() + 300_000).toISOString(),
  });
  let meta = await store.getCredential(INPUT.name);
  assert.equal(meta?.version, 2);
  assert.equal(meta?.previous_valid_until, r2.previous_valid_until);
  assert.deepEqual(
    meta?.versions.map((v) => [v.version, v.rotated_by]),
    [
      [1, 'cli'],
      [2, 'research-agent'],
    ],
  );
  assert.equal(
    (await store.readValue(INPUT.name, 1))?.reveal(),
    values[0],
    'previous value kept during grace',
  );

  const r3 = await store.rotate(INPUT.name, {
    value: new SecretValue(values[2]),
    graceSeconds: 0,
    actor: 'cli',
  });
  assert.equal(r3.previous_valid_until, null);
  meta = await store.getCredential(INPUT.name);
  assert.equal(meta?.previous_valid_until, undefined);
  assert.equal(
    secrets.peek(secretKey(INPUT.name, 1)),
    undefined,
    'value older than the previous one is deleted',
  );
  assert.equal(secrets.peek(secretKey(INPUT.name, 2)), values[1]);
  assert.equal(secrets.peek(secretKey(INPUT.name, 3)), values[2]);
  await store.rotate(INPUT.name, { value: new SecretValue(values[3]), graceSeconds: 0, actor: 'cli' });
  assert.deepEqual(secrets.keys(), [secretKey(INPUT.name, 3), secretKey(INPUT.name, 4)]);
  assert.deepEqual(
    (await store.getCredential(INPUT.name))?.versions.map((v) => v.version),
    [1, 2, 3, 4],
  );
});

test('rotate refusals: unknown credential, bad grace, empty value', async () => {
  const { store } = setup();
  const v = canary();
  await rejectsClean(
    store.rotate('nope', { value: new SecretValue(v), graceSeconds: 0, actor: 'cli' }),
    CredentialNotFoundError,
    [v],
  );
  await store.addCredential(INPUT, new SecretValue(canary()), 'cli');
  for (const g of [-1, 1.5, 31 * 86400, Number.NaN]) {
    await rejectsClean(
      store.rotate(INPUT.name, { value: new SecretValue(v), graceSeconds: g, actor: 'cli' }),
      InvalidInputError,
      [v],
      /grace_seconds/,
    );
  }
  await rejectsClean(
    store.rotate(INPUT.name, { value: new SecretValue(''), graceSeconds: 0, actor: 'cli' }),
    InvalidInputError,
    [],
    /empty/,
  );
  await rejectsClean(store.readValue('nope', 1), CredentialNotFoundError, []);
});

test('50 concurrent rotations in one process give versions 1..51, none lost', async () => {
  const { store } = setup();
  await store.addCredential(INPUT, new SecretValue(canary()), 'cli');
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      store.rotate(INPUT.name, { value: new SecretValue(`v-${i}`), graceSeconds: 0, actor: 'cli' }),
    ),
  );
  assert.deepEqual(
    results.map((r) => r.version).sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i + 2),
  );
  const meta = await store.getCredential(INPUT.name);
  assert.equal(meta?.version, 51);
  assert.deepEqual(
    meta?.versions.map((v) => v.version),
    Array.from({ length: 51 }, (_, i) => i + 1),
  );
  const last = results.find((r) => r.version === 51);
  assert.ok(last);
  assert.equal((await store.readCurrentValue(INPUT.name)).value.reveal(), `v-${results.indexOf(last)}`);
});

test('readCurrentValue reports a missing current value clearly', async () => {
  const { store, secrets } = setup();
  await store.addCredential(INPUT, new SecretValue(canary()), 'cli');
  secrets.simulateExternalChange(secretKey(INPUT.name, 1), undefined);
  await rejectsClean(
    store.readCurrentValue(INPUT.name),
    StoreError,
    [],
    /missing from the secret store\. Rotate/,
  );
  await rejectsClean(store.readCurrentValue('nope'), CredentialNotFoundError, []);
});

test('updateCredential changes policy fields, clears with null, refuses renames', async () => {
  const { store } = setup();
  await store.addCredential(
    { ...INPUT, allowed_hosts: ['api.scavio.example'] },
    new SecretValue(canary()),
    'cli',
  );
  const m = await store.updateCredential(INPUT.name, {
    allowed_scopes: ['search_read', 'publish'],
    ttl_seconds: 60,
    allowed_hosts: null,
  });
  assert.deepEqual(m.allowed_scopes, ['search_read', 'publish']);
  assert.equal(m.ttl_seconds, 60);
  assert.equal(m.allowed_hosts, undefined);
  assert.equal(m.description, 'Search', 'untouched fields stay');
  await rejectsClean(
    store.updateCredential(INPUT.name, { name: 'other' }),
    InvalidInputError,
    [],
    /cannot be renamed/,
  );
  await rejectsClean(
    store.updateCredential(INPUT.name, { ttl_seconds: 0 }),
    InvalidInputError,
    [],
    /ttl_seconds: must be at least 1/,
  );
  await rejectsClean(store.updateCredential('nope', { ttl_seconds: 5 }), CredentialNotFoundError, []);
});

test('removeCredential deletes every stored version and first-use records', async () => {
  const { store, secrets, clock } = setup();
  await store.addCredential(INPUT, new SecretValue(canary()), 'cli');
  await store.rotate(INPUT.name, { value: new SecretValue(canary()), graceSeconds: 60, actor: 'cli' });
  const { agent } = await store.addAgent({ id: 'research-agent' });
  await store.recordFirstUse(agent.id, INPUT.name, clock.now());
  await store.removeCredential(INPUT.name);
  assert.equal(await store.getCredential(INPUT.name), undefined);
  assert.deepEqual(secrets.keys(), []);
  assert.deepEqual((await store.getAgent(agent.id))?.first_used, {});
  await rejectsClean(store.removeCredential(INPUT.name), CredentialNotFoundError, []);
});

test('generateValue: requested length, alphabet only, validated bounds', () => {
  const { store } = setup();
  for (const length of [16, 40, 256]) {
    const v = store.generateValue({ length }).reveal();
    assert.equal(v.length, length);
    assert.ok([...v].every((c) => DEFAULT_ALPHABET.includes(c)));
  }
  const hex = store.generateValue({ length: 64, alphabet: '0123456789abcdef' }).reveal();
  assert.match(hex, /^[0-9a-f]{64}$/);
  const emoji = store.generateValue({ length: 20, alphabet: '🔑🗝' }).reveal();
  assert.equal([...emoji].length, 20);
  assert.ok(store.generateValue({ length: 32 }).reveal() !== store.generateValue({ length: 32 }).reveal());
  for (const bad of [
    { length: 15 },
    { length: 257 },
    { length: 20.5 },
    { length: 20, alphabet: 'a' },
    { length: 20, alphabet: 'aab' },
  ]) {
    assert.throws(() => store.generateValue(bad), InvalidInputError);
  }
});

test('generateValue has no modulo bias (alphabet of 200: a biased draw doubles the first 56)', () => {
  const { store } = setup();
  const alphabet = Array.from({ length: 200 }, (_, i) => String.fromCodePoint(0x100 + i)).join('');
  const counts = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    for (const c of store.generateValue({ length: 256, alphabet }).reveal()) {
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
  }
  const chars = Array.from(alphabet);
  const mean = (xs: string[]) => xs.reduce((s, c) => s + (counts.get(c) ?? 0), 0) / xs.length;
  const low = mean(chars.slice(0, 56));
  const high = mean(chars.slice(56));
  // 102 400 draws: 512 per char expected. Modulo bias would give ≈ 800 vs ≈ 400 (ratio 2).
  assert.ok(low / high > 0.9 && low / high < 1.1, `ratio ${low / high}`);
  assert.equal(counts.size, 200, 'every character appears');
});

test('agents: token shown once, stored only as a hash; authenticate good/wrong/malformed/revoked/rotated', async () => {
  const { store, metadata } = setup();
  const { agent, token } = await store.addAgent({
    id: 'research-agent',
    label: 'Research',
    active_hours: '08:00-20:00',
  });
  const t = token.reveal();
  assert.match(t, /^akr_[A-Za-z0-9_-]{43}$/);
  assert.equal(agent.token_sha256, crypto.createHash('sha256').update(t).digest('hex'));
  assert.equal(agent.label, 'Research');
  assert.equal(String(token), '[redacted]');
  assert.ok(!JSON.stringify(await metadata.read()).includes(t.slice(4)));

  assert.equal((await store.authenticate(t))?.id, 'research-agent');
  const wrong = `akr_${crypto.randomBytes(32).toString('base64url')}`;
  assert.equal(await store.authenticate(wrong), undefined);
  assert.equal(await store.authenticate(t.slice(0, -1)), undefined, 'wrong length');
  assert.equal(await store.authenticate(`${t}A`), undefined, 'wrong length');
  assert.equal(await store.authenticate(t.replace('akr_', 'xyz_')), undefined, 'wrong prefix');
  assert.equal(await store.authenticate(''), undefined);
  assert.equal(await store.authenticate(42 as unknown as string), undefined);
  assert.equal(await store.authenticate(agent.token_sha256), undefined, 'the stored hash is not a token');

  const rotated = await store.rotateAgentToken('research-agent');
  assert.equal(await store.authenticate(t), undefined, 'old token stops working');
  assert.equal((await store.authenticate(rotated.token.reveal()))?.id, 'research-agent');

  await store.revokeAgent('research-agent');
  assert.equal(await store.authenticate(rotated.token.reveal()), undefined, 'revoked');
  assert.ok((await store.getAgent('research-agent'))?.revoked_at);
  await rejectsClean(store.rotateAgentToken('research-agent'), InvalidInputError, [], /revoked/);

  // A revoked id can be added again; the new token works, the old one does not.
  const again = await store.addAgent({ id: 'research-agent' });
  assert.equal((await store.authenticate(again.token.reveal()))?.id, 'research-agent');
  assert.equal(await store.authenticate(rotated.token.reveal()), undefined);

  await store.removeAgent('research-agent');
  assert.equal(await store.authenticate(again.token.reveal()), undefined);
  await rejectsClean(
    store.revokeAgent('research-agent'),
    AgentNotFoundError,
    [],
    /No agent with id 'research-agent'/,
  );
  await rejectsClean(store.removeAgent('nobody'), AgentNotFoundError, []);
});

test('agents: duplicate live id and bad input are refused', async () => {
  const { store } = setup();
  await store.addAgent({ id: 'a' });
  await rejectsClean(store.addAgent({ id: 'a' }), AlreadyExistsError, [], /agent named 'a' already exists/);
  await rejectsClean(store.addAgent({ id: 'A' }), InvalidInputError, [], /^Invalid agent: id: must be/);
  await rejectsClean(store.addAgent({ id: 'b', active_hours: '9-5' }), InvalidInputError, [], /active_hours/);
});

test('authenticate sees an agent added by another process/window', async () => {
  const { store, metadata } = setup();
  const { token } = await store.addAgent({ id: 'a' });
  assert.equal((await store.authenticate(token.reveal()))?.id, 'a');
  const t2 = `akr_${crypto.randomBytes(32).toString('base64url')}`;
  metadata.simulateExternalChange((d) => {
    d.agents.b = {
      id: 'b',
      label: 'b',
      token_sha256: crypto.createHash('sha256').update(t2).digest('hex'),
      created_at: '2026-01-01T00:00:00.000Z',
    };
  });
  assert.equal((await store.authenticate(t2))?.id, 'b');
});

test('markSeen writes at most once a minute per agent', async () => {
  const { store, metadata, clock } = setup();
  await store.addAgent({ id: 'a' });
  await store.addAgent({ id: 'b' });
  const base = metadata.writes;
  await store.markSeen('a', clock.now());
  assert.equal(metadata.writes, base + 1);
  assert.equal((await store.getAgent('a'))?.last_seen_at, clock.iso());
  for (let i = 0; i < 10; i++) {
    clock.advance(5000);
    await store.markSeen('a', clock.now());
  }
  assert.equal(metadata.writes, base + 1, 'no write within the minute');
  await store.markSeen('b', clock.now());
  assert.equal(metadata.writes, base + 2, 'throttle is per agent');
  clock.advance(SEEN_THROTTLE_MS);
  await store.markSeen('a', clock.now());
  assert.equal(metadata.writes, base + 3);
  assert.equal((await store.getAgent('a'))?.last_seen_at, clock.iso());
  await store.markSeen('ghost', clock.now()); // unknown agent: ignored, no throw

  // Another store instance (another process) honours the stored time too.
  const second = new CredentialStore({
    metadata,
    secrets: new MemorySecretBackend(),
    clock,
    logger: new RecordingLogger(),
  });
  await second.markSeen('a', clock.now() + 1000);
  assert.equal(metadata.writes, base + 3);
});

test('recordFirstUse records once per agent and credential', async () => {
  const { store, clock, metadata } = setup();
  await store.addAgent({ id: 'a' });
  assert.equal(await store.recordFirstUse('a', 'npm_token', clock.now()), true);
  const writes = metadata.writes;
  clock.advance(1000);
  assert.equal(await store.recordFirstUse('a', 'npm_token', clock.now()), false);
  assert.equal(metadata.writes, writes);
  assert.deepEqual((await store.getAgent('a'))?.first_used, { npm_token: '2026-03-02T12:00:00.000Z' });
  assert.equal(await store.recordFirstUse('ghost', 'npm_token', clock.now()), false);
});

test('snapshot objects cannot be mutated by callers', async () => {
  const { store } = setup();
  await store.addCredential(INPUT, new SecretValue(canary()), 'cli');
  const snap = await store.snapshot();
  assert.throws(() => {
    snap.credentials[INPUT.name].version = 99;
  }, TypeError);
  assert.equal((await store.getCredential(INPUT.name))?.version, 1);
});
