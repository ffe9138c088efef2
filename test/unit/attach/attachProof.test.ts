/**
 * The attach secret and challenge (core/attach): the secret file is created once (0600), shared
 * by every opener of the folder, refused when others can read it or when malformed; the endpoint on
 * a real host answers only a well-formed nonce, only GET, only our Host, and only the holder of the
 * same secret can make a proof the window accepts (bound to the port it asked).
 */
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { ATTACH_KEY_FILE, loadAttachSecret } from '../../../src/core/attach/attachKey';
import {
  ATTACH_PROOF_PATH,
  answerChallenge,
  deriveProofKey,
  proveSameStore,
} from '../../../src/core/attach/attachProof';
import { StoreError } from '../../../src/core/errors';
import { startHttpHost } from '../../../src/core/mcp/http';
import { FakeKeyringApi } from '../../mcp/fakeApi';
import { rawRequest } from '../../mcp/harness';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'akr-attach-'));
}

describe('attach secret file', () => {
  test('created once with mode 0600; every opener (even at the same moment) gets the same secret', async () => {
    const dir = tempDir();
    try {
      const all = await Promise.all(Array.from({ length: 8 }, () => loadAttachSecret(dir)));
      for (const s of all) {
        assert.equal(s.length, 32);
        assert.ok(s.equals(all[0]), 'one secret for the folder');
      }
      assert.ok((await loadAttachSecret(dir)).equals(all[0]), 'read again later: the same');
      if (process.platform !== 'win32') {
        assert.equal(fs.statSync(path.join(dir, ATTACH_KEY_FILE)).mode & 0o777, 0o600);
      }
      assert.deepEqual(
        fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')),
        [],
        'no temp file left behind',
      );
      const other = tempDir();
      assert.ok(!(await loadAttachSecret(other)).equals(all[0]), 'another folder, another secret');
      fs.rmSync(other, { recursive: true, force: true });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refused (with the fix, without the key) when group/others can read it or it is malformed', async () => {
    const dir = tempDir();
    const file = path.join(dir, ATTACH_KEY_FILE);
    try {
      const secret = await loadAttachSecret(dir);
      if (process.platform !== 'win32') {
        fs.chmodSync(file, 0o644);
        await assert.rejects(loadAttachSecret(dir), (e: unknown) => {
          assert.ok(e instanceof StoreError);
          assert.match(e.message, /chmod 600/);
          assert.ok(!e.message.includes(secret.toString('base64')));
          return true;
        });
        fs.chmodSync(file, 0o600);
      }
      fs.writeFileSync(file, 'not base64 at all\n', { mode: 0o600 });
      await assert.rejects(loadAttachSecret(dir), /malformed\. Delete it/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('attach challenge', () => {
  test('answerChallenge refuses a nonce that is not 64 lowercase hex digits', () => {
    const key = deriveProofKey(randomBytes(32));
    for (const bad of ['', 'abc', 'G'.repeat(64), 'A'.repeat(64), '0'.repeat(63), '0'.repeat(65)]) {
      assert.equal(answerChallenge(key, bad, 47017), undefined, bad);
    }
    const a = answerChallenge(key, '0'.repeat(64), 47017);
    const b = answerChallenge(key, '0'.repeat(64), 47017);
    assert.ok(a && b);
    assert.notEqual(a.server_nonce, b.server_nonce, 'a fresh server nonce every time');
    assert.notEqual(a.proof, b.proof);
  });

  test('over real HTTP: the same secret proves, another secret or none does not; the endpoint tells nothing else', async () => {
    const secret = randomBytes(32);
    const key = deriveProofKey(secret);
    const same = await startHttpHost({ api: new FakeKeyringApi(), port: 0, attachProofKey: key });
    const other = await startHttpHost({
      api: new FakeKeyringApi(),
      port: 0,
      attachProofKey: deriveProofKey(randomBytes(32)),
    });
    const none = await startHttpHost({ api: new FakeKeyringApi(), port: 0 });
    try {
      assert.equal(await proveSameStore(same.port, deriveProofKey(Buffer.from(secret))), 'sameStore');
      assert.equal(await proveSameStore(other.port, key), 'unproven');
      assert.equal(await proveSameStore(none.port, key), 'unproven', 'no attach key: 404');

      const host = { Host: `127.0.0.1:${same.port}` };
      const ok = await rawRequest(same.port, {
        method: 'GET',
        path: `${ATTACH_PROOF_PATH}?nonce=${'ab'.repeat(32)}`,
        headers: host,
      });
      assert.equal(ok.status, 200);
      assert.deepEqual(Object.keys(JSON.parse(ok.body) as object).sort(), ['proof', 'server_nonce']);
      assert.equal(ok.headers['cache-control'], 'no-store');
      assert.equal(ok.headers['access-control-allow-origin'], undefined);
      assert.ok(!ok.body.includes(secret.toString('hex')) && !ok.body.includes(key.toString('hex')));

      const bad = await rawRequest(same.port, {
        method: 'GET',
        path: `${ATTACH_PROOF_PATH}?nonce=x`,
        headers: host,
      });
      assert.equal(bad.status, 400);
      assert.match(bad.body, /64 lowercase hex digits/);
      const post = await rawRequest(same.port, {
        path: `${ATTACH_PROOF_PATH}?nonce=${'ab'.repeat(32)}`,
        headers: host,
      });
      assert.equal(post.status, 405);
      const rebinding = await rawRequest(same.port, {
        method: 'GET',
        path: `${ATTACH_PROOF_PATH}?nonce=${'ab'.repeat(32)}`,
        headers: { Host: `evil.example:${same.port}` },
      });
      assert.equal(rebinding.status, 403, 'Host is checked as for /mcp');
      const fromPage = await rawRequest(same.port, {
        method: 'GET',
        path: `${ATTACH_PROOF_PATH}?nonce=${'ab'.repeat(32)}`,
        headers: { ...host, Origin: 'https://evil.example' },
      });
      assert.equal(fromPage.status, 403, 'Origin is checked as for /mcp');
    } finally {
      await Promise.all([same.close(), other.close(), none.close()]);
    }
  });

  test('a proof made for another port is rejected (a relay cannot pass the real keyring off as itself)', async () => {
    const key = deriveProofKey(randomBytes(32));
    const real = await startHttpHost({ api: new FakeKeyringApi(), port: 0, attachProofKey: key });
    try {
      assert.equal(await proveSameStore(real.port, key), 'sameStore');
      // The window asks port P; only a server that computes with P passes. Nobody on a closed port:
      assert.equal(await proveSameStore(1, key, { timeoutMs: 300 }), 'noAnswer');
    } finally {
      await real.close();
    }
  });
});
