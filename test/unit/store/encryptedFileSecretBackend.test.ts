import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StoreError } from '../../../src/core/errors';
import { EncryptedFileSecretBackend } from '../../../src/core/store/encryptedFileSecretBackend';
import { canary, encodingsOf, tempDir, waitFor } from './tmpStore';

const KEY = crypto.randomBytes(32);

function isStoreErrorWithout(value: string, re: RegExp) {
  return (e: unknown) => e instanceof StoreError && re.test(e.message) && !e.message.includes(value);
}

test('round trip: store, get, overwrite, delete; missing keys read as undefined', async () => {
  const t = tempDir();
  try {
    const b = new EncryptedFileSecretBackend(t.dir, KEY);
    assert.equal(await b.get('credential/a/v1'), undefined);
    const v1 = canary();
    await b.store('credential/a/v1', v1);
    assert.equal(await b.get('credential/a/v1'), v1);
    const unicode = 'ключ-🔑-' + canary();
    await b.store('credential/a/v1', unicode);
    assert.equal(await b.get('credential/a/v1'), unicode);
    await b.delete('credential/a/v1');
    assert.equal(await b.get('credential/a/v1'), undefined);
    await b.delete('credential/a/v1'); // absent: no-op
    assert.deepEqual(await b.keys(), []);
    // A fresh instance (another process) reads what was written.
    await b.store('k', v1);
    assert.equal(await new EncryptedFileSecretBackend(t.dir, KEY).get('k'), v1);
    b.dispose();
  } finally {
    t.cleanup();
  }
});

test('the file never holds the value in plain text, base64 or hex, and IVs are fresh per write', async () => {
  const t = tempDir();
  try {
    const b = new EncryptedFileSecretBackend(t.dir, KEY);
    const value = canary();
    await b.store('k', value);
    const first = JSON.parse(fs.readFileSync(b.file, 'utf8')) as Record<string, string>;
    await b.store('k', value);
    const text = fs.readFileSync(b.file, 'utf8');
    for (const enc of encodingsOf(value)) {
      assert.ok(!text.includes(enc), `file contains an encoding of the value: ${enc.slice(0, 8)}…`);
    }
    const second = JSON.parse(text) as Record<string, string>;
    assert.notEqual(first.k, second.k, 'same value written twice must not give the same ciphertext');
    assert.equal(
      Buffer.from(second.k, 'base64').subarray(0, 12).equals(Buffer.from(first.k, 'base64').subarray(0, 12)),
      false,
    );
    if (process.platform !== 'win32') {
      assert.equal(fs.statSync(b.file).mode & 0o777, 0o600);
      assert.equal(fs.statSync(t.dir).mode & 0o077, 0o000);
    }
  } finally {
    t.cleanup();
  }
});

test('tampered ciphertext → StoreError naming the key, never the value', async () => {
  const t = tempDir();
  try {
    const b = new EncryptedFileSecretBackend(t.dir, KEY);
    const value = canary();
    await b.store('credential/x/v1', value);
    const doc = JSON.parse(fs.readFileSync(b.file, 'utf8')) as Record<string, string>;
    const raw = Buffer.from(doc['credential/x/v1'], 'base64');
    raw[raw.length - 1] ^= 0x01;
    doc['credential/x/v1'] = raw.toString('base64');
    fs.writeFileSync(b.file, JSON.stringify(doc));
    await assert.rejects(
      b.get('credential/x/v1'),
      isStoreErrorWithout(value, /Cannot decrypt 'credential\/x\/v1'.*master key does not match/),
    );
    // A truncated entry too.
    doc['credential/x/v1'] = raw.subarray(0, 10).toString('base64');
    fs.writeFileSync(b.file, JSON.stringify(doc));
    await assert.rejects(b.get('credential/x/v1'), isStoreErrorWithout(value, /Cannot decrypt/));
  } finally {
    t.cleanup();
  }
});

test('swapped entries do not decrypt (the key is authenticated data)', async () => {
  const t = tempDir();
  try {
    const b = new EncryptedFileSecretBackend(t.dir, KEY);
    const a = canary('a');
    const c = canary('c');
    await b.store('credential/a/v1', a);
    await b.store('credential/c/v1', c);
    const doc = JSON.parse(fs.readFileSync(b.file, 'utf8')) as Record<string, string>;
    [doc['credential/a/v1'], doc['credential/c/v1']] = [doc['credential/c/v1'], doc['credential/a/v1']];
    fs.writeFileSync(b.file, JSON.stringify(doc));
    await assert.rejects(
      b.get('credential/a/v1'),
      isStoreErrorWithout(c, /Cannot decrypt 'credential\/a\/v1'/),
    );
    await assert.rejects(
      b.get('credential/c/v1'),
      isStoreErrorWithout(a, /Cannot decrypt 'credential\/c\/v1'/),
    );
  } finally {
    t.cleanup();
  }
});

test('a different master key cannot read the values', async () => {
  const t = tempDir();
  try {
    const value = canary();
    await new EncryptedFileSecretBackend(t.dir, KEY).store('k', value);
    const other = new EncryptedFileSecretBackend(t.dir, crypto.randomBytes(32));
    await assert.rejects(other.get('k'), isStoreErrorWithout(value, /master key does not match this store/));
    assert.throws(() => new EncryptedFileSecretBackend(t.dir, crypto.randomBytes(16)), StoreError);
  } finally {
    t.cleanup();
  }
});

test('corrupt secrets.json → clear StoreError, file left untouched, nothing written over it', async () => {
  const t = tempDir();
  try {
    const file = path.join(t.dir, 'secrets.json');
    fs.writeFileSync(file, '{"k": "not base64 !!"');
    const b = new EncryptedFileSecretBackend(t.dir, KEY);
    await assert.rejects(
      b.get('k'),
      (e: unknown) => e instanceof StoreError && e.message.includes(file) && /not valid JSON/.test(e.message),
    );
    await assert.rejects(b.store('k2', canary()), StoreError);
    assert.equal(fs.readFileSync(file, 'utf8'), '{"k": "not base64 !!"');
    fs.writeFileSync(file, '{"k": "not base64 !!"}');
    await assert.rejects(b.get('k'), /malformed entry for 'k'/);
  } finally {
    t.cleanup();
  }
});

test('values too large or keys empty are refused', async () => {
  const t = tempDir();
  try {
    const b = new EncryptedFileSecretBackend(t.dir, KEY);
    await assert.rejects(b.store('k', 'x'.repeat(65 * 1024)), /larger than 64 KiB/);
    await assert.rejects(b.store('', 'v'), /non-empty string/);
  } finally {
    t.cleanup();
  }
});

test("onDidChange reports own writes and another instance's writes by key", async () => {
  const t = tempDir();
  try {
    const mine = new EncryptedFileSecretBackend(t.dir, KEY);
    const other = new EncryptedFileSecretBackend(t.dir, KEY);
    await mine.store('a', canary());
    const seen: string[] = [];
    const sub = mine.onDidChange((k) => seen.push(k));
    await mine.get('a'); // baseline
    await mine.store('b', canary());
    assert.deepEqual(seen, ['b']);
    await other.store('c', canary());
    await other.delete('a');
    await waitFor(() => seen.includes('c') && seen.includes('a'), 3000, 'watch event');
    assert.deepEqual([...new Set(seen)].sort(), ['a', 'b', 'c']);
    sub.dispose();
    mine.dispose();
    other.dispose();
  } finally {
    t.cleanup();
  }
});
