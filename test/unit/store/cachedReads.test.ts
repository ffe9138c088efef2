/**
 * The request path's cheap reads: one shared `stat` for reads that arrive together, a decrypted
 * value kept per version of secrets.json — and, despite both, another writer's change seen on the
 * very next read (the guarantee the rotation bench measures as "0 stale reads").
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { EncryptedFileSecretBackend } from '../../../src/core/store/encryptedFileSecretBackend';
import { FileMetadataStore } from '../../../src/core/store/fileMetadataStore';
import { canary, tempDir } from './tmpStore';

const KEY = randomBytes(32);
// The module object itself (not an ES-namespace copy), so the spy below is what the store calls.
const realFs = createRequire(__filename)('node:fs') as typeof fs;

/** Counts `fs.statSync` calls on `file` while `fn` runs. */
async function countStats(file: string, fn: () => Promise<unknown>): Promise<number> {
  const original = realFs.statSync;
  const writable = realFs as { statSync: typeof fs.statSync };
  let n = 0;
  writable.statSync = ((p: fs.PathLike, o?: fs.StatSyncOptions) => {
    if (path.resolve(String(p)) === path.resolve(file)) {
      n++;
    }
    return original(p, o);
  }) as typeof fs.statSync;
  try {
    await fn();
  } finally {
    writable.statSync = original;
  }
  return n;
}

test("another writer's value is seen on the very next get, whatever was decrypted before", async () => {
  const t = tempDir();
  try {
    const reader = new EncryptedFileSecretBackend(t.dir, KEY);
    const writer = new EncryptedFileSecretBackend(t.dir, KEY);
    const v1 = canary('one');
    await writer.store('k', v1);
    assert.equal(await reader.get('k'), v1);
    assert.equal(await reader.get('k'), v1, 'served again (from the per-version cache)');
    // Same key, new value (as after a credential is removed and added again): never the old one.
    const v2 = canary('two');
    await writer.store('k', v2);
    assert.equal(await reader.get('k'), v2);
    await writer.delete('k');
    assert.equal(await reader.get('k'), undefined);
    // The reader's own writes are seen too.
    const v3 = canary('three');
    await reader.store('k', v3);
    assert.equal(await writer.get('k'), v3);
    assert.equal(await reader.get('k'), v3);
    reader.dispose();
    writer.dispose();
  } finally {
    t.cleanup();
  }
});

test('reads that arrive together share one stat; a read after a change sees the change', async () => {
  const t = tempDir();
  try {
    const reader = new FileMetadataStore(t.dir);
    const writer = new FileMetadataStore(t.dir);
    await writer.update((d) => {
      d.agents.a = { id: 'a', label: 'A', token_sha256: '0'.repeat(64), created_at: '2026-01-01T00:00:00Z' };
    });
    await reader.read();
    const file = path.join(t.dir, 'metadata.json');
    const stats = await countStats(file, async () => {
      const docs = await Promise.all(Array.from({ length: 10 }, () => reader.read()));
      assert.ok(
        docs.every((d) => d === docs[0]),
        'one cached document',
      );
    });
    assert.equal(stats, 1, '10 concurrent reads, one stat');
    // Change it from the other instance; every read started afterwards sees it.
    await writer.update((d) => {
      d.agents.a.label = 'changed';
    });
    const after = await Promise.all(Array.from({ length: 5 }, () => reader.read()));
    assert.ok(after.every((d) => d.agents.a.label === 'changed'));
    // Sequential reads each take their own stat.
    const seq = await countStats(file, async () => {
      await reader.read();
      await reader.read();
      await reader.read();
    });
    assert.equal(seq, 3);
    reader.dispose();
    writer.dispose();
  } finally {
    t.cleanup();
  }
});

test('a caller polling read() in a loop still lets timers and I/O run', async () => {
  const t = tempDir();
  try {
    const store = new FileMetadataStore(t.dir);
    await store.update((d) => {
      d.agents.a = { id: 'a', label: 'A', token_sha256: '0'.repeat(64), created_at: '2026-01-01T00:00:00Z' };
    });
    let fired = false;
    setTimeout(() => (fired = true), 5);
    let reads = 0;
    while (!fired && reads < 1_000_000) {
      await store.read();
      reads++;
    }
    assert.ok(fired, `the timer fired while polling (after ${reads} reads)`);
    store.dispose();
  } finally {
    t.cleanup();
  }
});
