/**
 * Rotation has one event source: one rotation — by a person here, by an agent, or by another
 * process on the same store — tells onDidRotate listeners exactly once, before rotate returns
 * when it happened in this process.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { openFileKeyring, type Keyring } from '../../src/core/keyring';
import { SecretValue } from '../../src/core/model';
import { SYSTEM_CLOCK } from '../../src/core/ports';
import { RecordingLogger } from '../fakes/recordingLogger';
import { canary, createTestKeyring, type TestKeyring } from '../helpers/testKeyring';

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

function count(k: { service: Keyring['service'] }): string[] {
  const seen: string[] = [];
  k.service.onDidRotate((name) => seen.push(name));
  return seen;
}

describe('rotation events', () => {
  let t: TestKeyring | undefined;
  const open: Keyring[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    await t?.dispose();
    t = undefined;
    for (const k of open.splice(0)) {
      await k.close();
    }
    for (const d of dirs.splice(0)) {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it('a human rotation and an agent rotation each fire once, before the call returns', async () => {
    t = await createTestKeyring();
    const seen = count(t);
    await t.keyring.admin.rotateCredential('scavio_api_key', {}, 'cli');
    assert.deepEqual(seen, ['scavio_api_key'], 'told before rotate returned');
    await t.service.rotateCredential(
      { agentId: 'release-agent' },
      { name: 'npm_token', new_value: new SecretValue(canary('n')) },
    );
    await settle(50);
    assert.deepEqual(seen, ['scavio_api_key', 'npm_token']);
    // A change that is not a rotation, and a credential removed and added again, tell nobody.
    await t.keyring.admin.updateCredential('npm_token', { ttl_seconds: 99 }, 'cli');
    await t.keyring.admin.removeCredential('github_token', 'cli');
    await t.keyring.admin.addCredential(
      { name: 'github_token', allowed_scopes: ['repo_read'] },
      new SecretValue(canary('g')),
      'cli',
    );
    await settle(50);
    assert.deepEqual(seen, ['scavio_api_key', 'npm_token']);
    // ... and the re-added one's own first rotation is told (version 2 of the new credential).
    await t.keyring.admin.rotateCredential('github_token', { value: new SecretValue(canary('g2')) }, 'cli');
    assert.deepEqual(seen, ['scavio_api_key', 'npm_token', 'github_token']);
  });

  it('ten rotations in a row: ten events, one per version', async () => {
    t = await createTestKeyring();
    const seen = count(t);
    for (let i = 0; i < 10; i++) {
      await t.keyring.admin.rotateCredential('scavio_api_key', {}, 'cli');
    }
    await settle(50);
    assert.equal(seen.length, 10);
  });

  it('concurrent rotations (a person and an agent at once): never more events than rotations', async () => {
    t = await createTestKeyring();
    const seen = count(t);
    const k = t;
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        i % 2
          ? k.keyring.admin.rotateCredential('github_token', {}, 'cli')
          : k.service.rotateCredential({ agentId: 'research-agent' }, { name: 'github_token' }),
      ),
    );
    await settle(100);
    assert.ok(seen.length >= 1 && seen.length <= 12, `between 1 and 12 events, got ${seen.length}`);
  });

  it('file store: a rotation here fires once here, and once in another process-like keyring on the same folder', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-events-'));
    dirs.push(dir);
    const a = await openFileKeyring({ dir, clock: SYSTEM_CLOCK, logger: new RecordingLogger() });
    open.push(a);
    await a.admin.addCredential(
      { name: 'shared_key', allowed_scopes: ['read'], rotation: { generator: { length: 32 } } },
      new SecretValue(canary('s')),
      'cli',
    );
    const b = await openFileKeyring({ dir, clock: SYSTEM_CLOCK, logger: new RecordingLogger() });
    open.push(b);
    const seenA = count(a);
    const seenB = count(b);
    await a.admin.rotateCredential('shared_key', {}, 'cli');
    assert.deepEqual(seenA, ['shared_key']);
    // b hears of it through its store watcher (debounced), once.
    for (let i = 0; i < 100 && seenB.length === 0; i++) {
      await settle(20);
    }
    await settle(300);
    assert.deepEqual(seenA, ['shared_key'], 'still once in the process that rotated');
    assert.deepEqual(seenB, ['shared_key'], 'once in the other one');
  });
});
