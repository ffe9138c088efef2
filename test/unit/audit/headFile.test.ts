/**
 * The `.head` sidecar written in place (HeadFileWriter) and the writer's kept-open audit file:
 * the sidecar always matches the durable lines after each append, is rewritten when someone
 * replaces or deletes it, and verify still catches deleted last lines. Files replaced under the
 * writer are noticed; nothing is left behind after close.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AuditLog } from '../../../src/core/audit/auditLog';
import { HEAD_FILE_BYTES, encodeHead, readHeadFile } from '../../../src/core/audit/headFile';
import { verifyAuditFile } from '../../../src/core/audit/verify';
import type { AuditEvent } from '../../../src/core/model';
import { SYSTEM_CLOCK } from '../../../src/core/ports';
import { RecordingLogger } from '../../fakes/recordingLogger';
import { TEST_KEY, readLinesSync, sampleInput, tempDir, writeLinesSync } from './helpers';

describe('audit .head sidecar (in place) and the kept-open audit file', () => {
  let dir: string;
  let cleanup: () => void;
  let file: string;
  let logger: RecordingLogger;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    file = path.join(dir, 'audit.jsonl');
    logger = new RecordingLogger();
  });
  afterEach(() => cleanup());

  const open = (): Promise<AuditLog> =>
    AuditLog.open({ path: file, hmacKey: TEST_KEY, clock: SYSTEM_CLOCK, logger });

  it('encodes a fixed-size, parseable head', () => {
    const buf = encodeHead({ count: 12, hash: 'a'.repeat(64), size: 3456 });
    assert.equal(buf.length, HEAD_FILE_BYTES);
    assert.deepEqual(JSON.parse(buf.toString('utf8')), { count: 12, hash: 'a'.repeat(64), size: 3456 });
    const big = encodeHead({
      count: Number.MAX_SAFE_INTEGER,
      hash: 'f'.repeat(64),
      size: Number.MAX_SAFE_INTEGER,
    });
    assert.equal(big.length, HEAD_FILE_BYTES);
  });

  it('after every append the sidecar matches the file, rewritten in place (one inode)', async () => {
    const log = await open();
    let last: AuditEvent | undefined;
    let ino: number | undefined;
    for (let i = 0; i < 5; i++) {
      last = await log.append(sampleInput(i));
      const head = await readHeadFile(file);
      assert.deepEqual(head, { count: i + 1, hash: last.hash, size: fs.statSync(file).size });
      assert.equal(fs.statSync(file + '.head').size, HEAD_FILE_BYTES);
      ino ??= fs.statSync(file + '.head').ino;
      assert.equal(fs.statSync(file + '.head').ino, ino, 'overwritten in place, not replaced');
    }
    await log.close();
    assert.deepEqual(await verifyAuditFile(file), { ok: true, count: 5 });
    assert.deepEqual(
      fs.readdirSync(dir).sort(),
      ['audit.jsonl', 'audit.jsonl.head'],
      'no lock, owner or temp file left behind',
    );
  });

  it('a sidecar replaced or deleted by someone else is written afresh on the next append', async () => {
    const log = await open();
    await log.append(sampleInput(1));
    // Replaced with a rename (as an older writer did) by garbage …
    fs.writeFileSync(file + '.head.tmp', 'garbage');
    fs.renameSync(file + '.head.tmp', file + '.head');
    const e2 = await log.append(sampleInput(2));
    assert.deepEqual(await readHeadFile(file), { count: 2, hash: e2.hash, size: fs.statSync(file).size });
    // … or deleted.
    fs.rmSync(file + '.head');
    const e3 = await log.append(sampleInput(3));
    assert.deepEqual(await readHeadFile(file), { count: 3, hash: e3.hash, size: fs.statSync(file).size });
    await log.close();
    assert.deepEqual(await verifyAuditFile(file), { ok: true, count: 3 });
  });

  it('verify catches the last lines deleted while the writer keeps its files open', async () => {
    const log = await open();
    await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(sampleInput(i))));
    await log.append(sampleInput(20));
    writeLinesSync(file, readLinesSync(file).slice(0, 18));
    const r = await verifyAuditFile(file);
    assert.equal(r.ok, false);
    assert.equal(r.firstBad?.line, 19);
    assert.match(r.firstBad?.reason ?? '', /missing/);
    await log.close();
  });

  it('an audit file moved away under the writer is not written to: the next line goes to the path', async () => {
    const log = await open();
    await log.append(sampleInput(1));
    fs.renameSync(file, file + '.moved');
    const before = fs.readFileSync(file + '.moved', 'utf8');
    await log.append(sampleInput(2));
    assert.equal(fs.readFileSync(file + '.moved', 'utf8'), before, 'the moved file is untouched');
    assert.equal(readLinesSync(file).length, 1, 'the new line went to a new file at the path');
    // The new chain continues from the recorded head, so the gap stays visible to verify.
    const r = await verifyAuditFile(file);
    assert.equal(r.ok, false);
    await log.close();
  });
});
