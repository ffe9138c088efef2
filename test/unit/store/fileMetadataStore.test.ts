import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { StoreError } from '../../../src/core/errors';
import { emptyMetadata, type KeyringMetadata } from '../../../src/core/model';
import { FileMetadataStore } from '../../../src/core/store/fileMetadataStore';
import { tempDir, waitFor } from './tmpStore';

const WORKER = path.join(__dirname, 'storeWorker.js');
const run = promisify(execFile);

function addCred(draft: KeyringMetadata, name: string): void {
  draft.credentials[name] = {
    name,
    description: '',
    allowed_scopes: ['read'],
    allowed_agents: [],
    ttl_seconds: 60,
    version: 1,
    versions: [{ version: 1, created_at: '2026-01-01T00:00:00.000Z', rotated_by: 'test' }],
    created_at: '2026-01-01T00:00:00.000Z',
  };
}

test('missing file reads as empty metadata; update writes it atomically with 0600', async () => {
  const t = tempDir();
  try {
    const dir = path.join(t.dir, 'store');
    const s = new FileMetadataStore(dir);
    assert.deepEqual(await s.read(), emptyMetadata());
    const r = await s.update((d) => {
      addCred(d, 'a');
      return 'result';
    });
    assert.equal(r, 'result');
    assert.deepEqual(Object.keys((await s.read()).credentials), ['a']);
    assert.deepEqual(
      Object.keys((JSON.parse(fs.readFileSync(s.file, 'utf8')) as KeyringMetadata).credentials),
      ['a'],
    );
    if (process.platform !== 'win32') {
      assert.equal(fs.statSync(s.file).mode & 0o777, 0o600);
      assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    }
    assert.deepEqual(
      fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')),
      [],
      'no temp files left',
    );
    s.dispose();
  } finally {
    t.cleanup();
  }
});

test('read() caches: same frozen object while unchanged, a new one after a change', async () => {
  const t = tempDir();
  try {
    const s = new FileMetadataStore(t.dir);
    await s.update((d) => addCred(d, 'a'));
    const first = await s.read();
    assert.equal(await s.read(), first);
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first.credentials.a.versions));
    assert.throws(() => {
      (first.credentials as Record<string, unknown>).b = 1;
    }, TypeError);
    await s.update((d) => addCred(d, 'b'));
    const second = await s.read();
    assert.notEqual(second, first);
    assert.deepEqual(Object.keys(second.credentials).sort(), ['a', 'b']);
  } finally {
    t.cleanup();
  }
});

test('a throwing mutator writes nothing', async () => {
  const t = tempDir();
  try {
    const s = new FileMetadataStore(t.dir);
    await s.update((d) => addCred(d, 'a'));
    const before = fs.readFileSync(s.file, 'utf8');
    const mtime = fs.statSync(s.file).mtimeMs;
    await assert.rejects(
      s.update(async (d) => {
        addCred(d, 'b');
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(fs.readFileSync(s.file, 'utf8'), before);
    assert.equal(fs.statSync(s.file).mtimeMs, mtime);
    assert.deepEqual(Object.keys((await s.read()).credentials), ['a']);
  } finally {
    t.cleanup();
  }
});

test('corrupt metadata.json → StoreError naming the file and what to do; file left untouched', async () => {
  const t = tempDir();
  try {
    const s = new FileMetadataStore(t.dir);
    for (const bad of [
      '{"schema": 1, "credentials": {',
      '[]',
      '{"schema":2,"credentials":{},"agents":{}}',
      '{"schema":1,"credentials":{"a":{"name":"b"}},"agents":{}}',
    ]) {
      fs.writeFileSync(s.file, bad);
      await assert.rejects(
        s.read(),
        (e: unknown) =>
          e instanceof StoreError &&
          e.message.includes(s.file) &&
          /left untouched/.test(e.message) &&
          /restore it from a backup/.test(e.message),
      );
      await assert.rejects(
        s.update((d) => addCred(d, 'x')),
        StoreError,
      );
      assert.equal(fs.readFileSync(s.file, 'utf8'), bad, 'the corrupt file is never reset');
    }
    fs.writeFileSync(s.file, '{"schema":1,"credentials":{"a":{"name":"b"}},"agents":{}}');
    await assert.rejects(
      s.read(),
      /expected shape: credentials\.a\.description: is required\. credentials\.a\.allowed_scopes: is required\./,
    );
    const doc = emptyMetadata();
    addCred(doc, 'a');
    doc.credentials.a.name = 'b';
    fs.writeFileSync(s.file, JSON.stringify(doc));
    await assert.rejects(s.read(), /credentials\.a\.name: must equal the key it is stored under\./);
  } finally {
    t.cleanup();
  }
});

test('concurrent in-process updates are serialised: none lost', async () => {
  const t = tempDir();
  try {
    const a = new FileMetadataStore(t.dir);
    const b = new FileMetadataStore(t.dir); // a second instance over the same directory
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? a : b).update(async (d) => {
          await new Promise((r) => setImmediate(r));
          addCred(d, `c${i}`);
        }),
      ),
    );
    assert.equal(Object.keys((await a.read()).credentials).length, 40);
  } finally {
    t.cleanup();
  }
});

test("another process's write is seen on the very next read, and reported by onDidChange", async () => {
  const t = tempDir();
  try {
    const s = new FileMetadataStore(t.dir);
    await s.update((d) => addCred(d, 'mine'));
    let changes = 0;
    const sub = s.onDidChange(() => changes++);
    assert.deepEqual(Object.keys((await s.read()).credentials), ['mine']);
    const before = changes;
    await run(process.execPath, [WORKER, 'add', t.dir, 'theirs', 'v'], {
      env: { ...process.env, AGENT_KEYRING_NO_KEYRING: '1' },
    });
    // No wait: the stat revalidation must see it now.
    assert.deepEqual(Object.keys((await s.read()).credentials).sort(), ['mine', 'theirs']);
    await waitFor(() => changes > before, 3000, 'onDidChange');
    sub.dispose();
    s.dispose();
  } finally {
    t.cleanup();
  }
});

test('onDidChange fires for changes by another process without any read', async () => {
  const t = tempDir();
  try {
    const s = new FileMetadataStore(t.dir);
    await s.update((d) => addCred(d, 'a'));
    let changes = 0;
    const sub = s.onDidChange(() => changes++);
    const other = new FileMetadataStore(t.dir);
    await other.update((d) => addCred(d, 'b'));
    await waitFor(() => changes === 1, 3000, 'watch event');
    sub.dispose();
    s.dispose();
    other.dispose();
  } finally {
    t.cleanup();
  }
});

test('an update that changes nothing does not rewrite the file', async () => {
  const t = tempDir();
  try {
    const s = new FileMetadataStore(t.dir);
    await s.update((d) => addCred(d, 'a'));
    const ino = fs.statSync(s.file).ino;
    const mtime = fs.statSync(s.file).mtimeMs;
    await s.update(() => undefined);
    assert.equal(fs.statSync(s.file).ino, ino);
    assert.equal(fs.statSync(s.file).mtimeMs, mtime);
  } finally {
    t.cleanup();
  }
});
