/**
 * The keyed chain (issue #10): lines are sealed with an HMAC under a key derived from the audit key
 * in the secret backend, so whoever can write the folder can no longer rewrite the log and its
 * .head consistently. Old plain SHA-256 logs still verify, and keep chaining after an upgrade.
 * Real audit files; the forgeries are what an attacker without the key can write.
 */
import { strict as assert } from 'node:assert';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AuditLog } from '../../../src/core/audit/auditLog';
import { type ChainKey, canonicalJson, computeEventHash } from '../../../src/core/audit/chain';
import { encodeHead } from '../../../src/core/audit/headFile';
import { verifyAuditFile } from '../../../src/core/audit/verify';
import { FakeClock } from '../../fakes/fakeClock';
import { RecordingLogger } from '../../fakes/recordingLogger';
import { TEST_KEY, readLinesSync, sampleInput, tempDir, writeChain } from './helpers';

type Line = Record<string, unknown>;

/** Rewrites lines from index `from` on (0-based) with `seal`, re-chaining them, and a matching .head. */
function rewriteFrom(file: string, from: number, edit: (l: Line) => void, seal: (l: Line) => string): void {
  const lines = readLinesSync(file).map((l) => JSON.parse(l) as Line);
  edit(lines[from]);
  for (let i = from; i < lines.length; i++) {
    if (i > 0) {
      lines[i].prev_hash = lines[i - 1].hash;
    }
    delete lines[i].hash;
    lines[i].hash = seal(lines[i]);
  }
  const text = lines.map((l) => JSON.stringify(l) + '\n').join('');
  fs.writeFileSync(file, text);
  const last = lines[lines.length - 1].hash as string;
  fs.writeFileSync(
    `${file}.head`,
    encodeHead({ count: lines.length, hash: last, size: Buffer.byteLength(text) }),
  );
}

describe('keyed audit chain', () => {
  let dir: string;
  let cleanup: () => void;
  let file: string;
  let key: ChainKey;
  const clock = new FakeClock('2026-03-02T12:00:00Z');

  async function keyedLog(n: number): Promise<void> {
    const log = await AuditLog.open({
      path: file,
      hmacKey: TEST_KEY,
      clock,
      logger: new RecordingLogger(),
      keyedChain: true,
    });
    for (let i = 0; i < n; i++) {
      await log.append(sampleInput(i));
    }
    key = (await log.chainKey()) as ChainKey;
    await log.close();
  }

  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    file = path.join(dir, 'audit.jsonl');
  });
  afterEach(() => cleanup());

  it('writes sealed lines that verify with the key', async () => {
    await keyedLog(6);
    const first = JSON.parse(readLinesSync(file)[0]) as Line;
    assert.match(String(first.chain), /^hmac-sha256:[0-9a-f]{16}$/);
    assert.notEqual(first.hash, computeEventHash(first), 'not a plain SHA-256');
    const r = await verifyAuditFile(file, undefined, { chainKeys: [key] });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.warning, undefined);
    assert.deepEqual(r.lines, { keyed: 6, unauthenticated: 0, legacy: 0 });
  });

  it('an edited line re-chained without the key (log and .head rewritten consistently) is caught', async () => {
    await keyedLog(6);
    const hide = (l: Line): void => {
      l.decision = 'allow';
      l.reason = 'nothing to see';
    };
    // 1. Re-sealed as plain SHA-256 (the old format): a plain line after keyed lines.
    rewriteFrom(file, 3, hide, (l) => {
      delete l.chain;
      return computeEventHash(l);
    });
    let r = await verifyAuditFile(file, undefined, { chainKeys: [key] });
    assert.equal(r.ok, false);
    assert.equal(r.firstBad?.line, 4);
    // 2. Keeping the key id, with a guessed key: the HMAC does not match.
    fs.rmSync(file);
    fs.rmSync(`${file}.head`);
    await keyedLog(6);
    const guess = randomBytes(32);
    rewriteFrom(file, 3, hide, (l) =>
      createHmac('sha256', guess)
        .update(`${String(l.prev_hash)}\n${canonicalJson({ ...l, hash: undefined })}`)
        .digest('hex'),
    );
    r = await verifyAuditFile(file, undefined, { chainKeys: [key] });
    assert.equal(r.ok, false);
    assert.equal(r.firstBad?.line, 4);
    assert.match(r.firstBad.reason, /under this keyring's chain key/);
    // 3. Under a made-up key id (every re-chained line): never "intact" without a warning.
    const madeUp = 'hmac-sha256:' + createHash('sha256').update(guess).digest('hex').slice(0, 16);
    rewriteFrom(
      file,
      3,
      () => undefined,
      (l) => {
        l.chain = madeUp;
        return createHmac('sha256', guess)
          .update(`${String(l.prev_hash)}\n${canonicalJson({ ...l, hash: undefined })}`)
          .digest('hex');
      },
    );
    r = await verifyAuditFile(file, undefined, { chainKeys: [key] });
    assert.equal(r.ok, true);
    assert.equal(r.warning?.kind, 'unknown_key');
    assert.equal(r.warning?.line, 4);
  });

  it('an old plain log still verifies, and a keyed writer continues its chain', async () => {
    writeChain(file, 5);
    let r = await verifyAuditFile(file);
    assert.equal(r.ok, true);
    await keyedLog(3);
    r = await verifyAuditFile(file, undefined, { chainKeys: [key] });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.count, 8);
    assert.deepEqual(r.lines, { keyed: 3, unauthenticated: 0, legacy: 5 });
  });
});
