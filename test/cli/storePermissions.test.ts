/**
 * StrictModes for the headless store (issue #10): a store folder or file owned by someone else is
 * refused with the chown to run; ours but writable by group/others is fixed with a warning. Real
 * folders, real modes and owners, the real CLI. (Ownership cases need root to chown; they are
 * skipped otherwise, and the unit test below covers them with an explicit uid.)
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkStorePermissions } from '../../src/core/store/storePermissions';
import { RecordingLogger } from '../fakes/recordingLogger';
import { ensureBuilt, removeStore, runCli, tempStore } from './cliHarness';

const isRoot = typeof process.geteuid === 'function' && process.geteuid() === 0;
const NOBODY = 65534;

describe('store folder permissions (StrictModes)', () => {
  let store: string;

  before(async () => {
    ensureBuilt();
    store = tempStore();
    assert.equal((await runCli(['agent', 'add', 'one', '--store', store])).code, 0);
  });
  after(() => removeStore(store));

  test('a group/world-writable store folder and metadata file of ours are fixed, with a warning', async () => {
    fs.chmodSync(store, 0o777);
    fs.chmodSync(path.join(store, 'metadata.json'), 0o666);
    const r = await runCli(['agent', 'list', '--store', store]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(store).mode & 0o777, 0o700);
    assert.equal(fs.statSync(path.join(store, 'metadata.json')).mode & 0o777, 0o600);
    assert.match(r.stderr, /writable by group or others \(mode 777\); changed it to 700/);
    assert.match(r.stderr, /metadata\.json was writable by group or others/);
  });

  test(
    'a store folder owned by another user is refused with the command that fixes it',
    { skip: !isRoot },
    async () => {
      fs.chownSync(store, NOBODY, NOBODY);
      try {
        const r = await runCli(['agent', 'list', '--store', store]);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stderr, /owned by user 65534, not by you \(user 0\)/);
        assert.match(r.stderr, /chown -R 0 /);
        const serve = await runCli(['serve', '--store', store, '--port', '0']);
        assert.equal(serve.code, 1, 'serve refuses it too, before reading policy.json');
        assert.match(serve.stderr, /owned by user 65534/);
      } finally {
        fs.chownSync(store, 0, 0);
      }
    },
  );

  test('a master.key owned by another user is refused', { skip: !isRoot }, async () => {
    const key = path.join(store, 'master.key');
    assert.ok(fs.existsSync(key));
    fs.chownSync(key, NOBODY, NOBODY);
    try {
      const r = await runCli(['credential', 'list', '--store', store]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /store file .*master\.key is owned by user 65534/);
    } finally {
      fs.chownSync(key, 0, 0);
    }
  });

  test('checkStorePermissions with an explicit uid: not ours → store_error; missing folder → fine', () => {
    const logger = new RecordingLogger();
    const uid = fs.statSync(store).uid;
    assert.throws(
      () => checkStorePermissions(store, { logger, uid: uid + 1 }),
      (e: Error & { code?: string }) => e.code === 'store_error' && /chown/.test(e.message),
    );
    checkStorePermissions(path.join(store, 'does-not-exist'), { logger, uid });
  });
});
