import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StoreError } from '../../../src/core/errors';
import { type KeyringAccess, loadMasterKey } from '../../../src/core/store/masterKey';
import { RecordingLogger } from '../../fakes/recordingLogger';
import { tempDir } from './tmpStore';

const NO_KEYRING = { AGENT_KEYRING_NO_KEYRING: '1' };

class FakeKeyring implements KeyringAccess {
  readonly entries = new Map<string, string>();
  available = true;
  async get(service: string, account: string): Promise<string | null> {
    if (!this.available) {
      throw new Error('Platform failure: no keyring');
    }
    return this.entries.get(`${service}|${account}`) ?? null;
  }
  async set(service: string, account: string, password: string): Promise<void> {
    if (!this.available) {
      throw new Error('Platform failure: no keyring');
    }
    this.entries.set(`${service}|${account}`, password);
  }
}

const posix = process.platform !== 'win32';

test('file source: creates a 0700 dir, a 0600 key file and store.json; returns the same key next time', async () => {
  const t = tempDir();
  try {
    const dir = path.join(t.dir, 'nested', 'store');
    const logger = new RecordingLogger();
    const key = await loadMasterKey(dir, { env: NO_KEYRING, logger });
    assert.equal(key.length, 32);
    const keyFile = path.join(dir, 'master.key');
    if (posix) {
      assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
      assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    }
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'store.json'), 'utf8')), {
      format: 1,
      key_source: 'file',
    });
    assert.ok((await loadMasterKey(dir, { env: NO_KEYRING })).equals(key));
    // The key never appears in the log.
    assert.ok(!logger.text().includes(key.toString('base64')));
  } finally {
    t.cleanup();
  }
});

test('a group/world-readable key file is refused with a chmod 600 hint', { skip: !posix }, async () => {
  const t = tempDir();
  try {
    const key = await loadMasterKey(t.dir, { env: NO_KEYRING });
    const keyFile = path.join(t.dir, 'master.key');
    fs.chmodSync(keyFile, 0o644);
    await assert.rejects(
      loadMasterKey(t.dir, { env: NO_KEYRING }),
      (e: unknown) =>
        e instanceof StoreError &&
        e.message.includes(`chmod 600 ${keyFile}`) &&
        e.message.includes('0644') &&
        !e.message.includes(key.toString('base64')),
    );
    fs.chmodSync(keyFile, 0o600);
    assert.ok((await loadMasterKey(t.dir, { env: NO_KEYRING })).equals(key));
  } finally {
    t.cleanup();
  }
});

test('a malformed key file is refused', async () => {
  const t = tempDir();
  try {
    await loadMasterKey(t.dir, { env: NO_KEYRING });
    fs.writeFileSync(path.join(t.dir, 'master.key'), 'short\n', { mode: 0o600 });
    await assert.rejects(loadMasterKey(t.dir, { env: NO_KEYRING }), /does not hold a valid master key/);
  } finally {
    t.cleanup();
  }
});

test('a missing key file while values exist is an error, not a silent re-key', async () => {
  const t = tempDir();
  try {
    await loadMasterKey(t.dir, { env: NO_KEYRING });
    fs.writeFileSync(path.join(t.dir, 'secrets.json'), '{"k":"AAAA"}');
    fs.rmSync(path.join(t.dir, 'master.key'));
    await assert.rejects(
      loadMasterKey(t.dir, { env: NO_KEYRING }),
      /master key file .* is missing.*Restore master\.key/,
    );
    assert.equal(fs.existsSync(path.join(t.dir, 'master.key')), false);
  } finally {
    t.cleanup();
  }
});

test('keyring source: used when it answers, recorded, and never silently replaced by a file', async () => {
  const t = tempDir();
  try {
    const kr = new FakeKeyring();
    const key = await loadMasterKey(t.dir, { env: {}, keyring: kr });
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(t.dir, 'store.json'), 'utf8')), {
      format: 1,
      key_source: 'keyring',
    });
    assert.equal(fs.existsSync(path.join(t.dir, 'master.key')), false);
    assert.deepEqual([...kr.entries.keys()], [`agent-keyring|${path.resolve(t.dir)}`]);
    assert.ok((await loadMasterKey(t.dir, { env: {}, keyring: kr })).equals(key));

    kr.available = false;
    await assert.rejects(
      loadMasterKey(t.dir, { env: {}, keyring: kr }),
      /keeps its master key in the OS keyring, which did not answer/,
    );
    await assert.rejects(loadMasterKey(t.dir, { env: {}, keyring: null }), /no keyring is available here/);
    await assert.rejects(
      loadMasterKey(t.dir, { env: NO_KEYRING, keyring: kr }),
      /Unset AGENT_KEYRING_NO_KEYRING/,
    );
    kr.available = true;
    kr.entries.clear();
    await assert.rejects(loadMasterKey(t.dir, { env: {}, keyring: kr }), /has no master key for the store/);
    assert.equal(
      fs.existsSync(path.join(t.dir, 'master.key')),
      false,
      'no key file was made behind the keyring store',
    );
  } finally {
    t.cleanup();
  }
});

test('no keyring answering → falls back to the key file', async () => {
  const t = tempDir();
  try {
    const kr = new FakeKeyring();
    kr.available = false;
    const key = await loadMasterKey(t.dir, { env: {}, keyring: kr });
    assert.equal(
      (JSON.parse(fs.readFileSync(path.join(t.dir, 'store.json'), 'utf8')) as { key_source: string })
        .key_source,
      'file',
    );
    kr.available = true;
    // Once recorded as file, a keyring appearing later does not change the source.
    assert.ok((await loadMasterKey(t.dir, { env: {}, keyring: kr })).equals(key));
    assert.equal(kr.entries.size, 0);
  } finally {
    t.cleanup();
  }
});

test('a corrupt store.json is a clear error', async () => {
  const t = tempDir();
  try {
    fs.writeFileSync(path.join(t.dir, 'store.json'), '{"format":1,"key_source":"cloud"}');
    await assert.rejects(
      loadMasterKey(t.dir, { env: NO_KEYRING }),
      /store\.json is not valid: expected \{"format":1,"key_source":"keyring"\|"file"\}/,
    );
  } finally {
    t.cleanup();
  }
});

test('concurrent first opens agree on one key', async () => {
  const t = tempDir();
  try {
    const keys = await Promise.all(
      Array.from({ length: 5 }, () => loadMasterKey(t.dir, { env: NO_KEYRING })),
    );
    for (const k of keys) {
      assert.ok(k.equals(keys[0]));
    }
  } finally {
    t.cleanup();
  }
});
