import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AuditLog } from '../../../src/core/audit/auditLog';
import { computeEventHash } from '../../../src/core/audit/chain';
import { verifyAuditFile } from '../../../src/core/audit/verify';
import { InvalidInputError } from '../../../src/core/errors';
import type { AuditEvent } from '../../../src/core/model';
import { FakeClock } from '../../fakes/fakeClock';
import { RecordingLogger } from '../../fakes/recordingLogger';
import { TEST_KEY, readLinesSync, sampleInput, tempDir, writeChain, writeLinesSync } from './helpers';

describe('verifyAuditFile', () => {
  let dir: string;
  let cleanup: () => void;
  let file: string;

  /** 10 events written by AuditLog (so the .head sidecar exists). */
  async function writeTen(): Promise<string[]> {
    const log = await AuditLog.open({
      path: file,
      hmacKey: TEST_KEY,
      clock: new FakeClock(),
      logger: new RecordingLogger(),
    });
    for (let i = 1; i <= 10; i++) {
      await log.append(sampleInput(i));
    }
    await log.close();
    return readLinesSync(file);
  }

  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    file = path.join(dir, 'audit.jsonl');
  });
  afterEach(() => cleanup());

  it('passes an intact file', async () => {
    await writeTen();
    assert.deepEqual(await verifyAuditFile(file), { ok: true, count: 10 });
  });

  it('passes an intact file without a .head sidecar, and an empty one', async () => {
    writeChain(file, 25);
    assert.deepEqual(await verifyAuditFile(file), { ok: true, count: 25 });
    fs.writeFileSync(file, '');
    assert.deepEqual(await verifyAuditFile(file), { ok: true, count: 0 });
  });

  it('catches an edited field on the right line', async () => {
    const lines = await writeTen();
    const e = JSON.parse(lines[6]) as AuditEvent;
    e.decision = e.decision === 'allow' ? 'deny' : 'allow';
    lines[6] = JSON.stringify(e);
    writeLinesSync(file, lines);
    const r = await verifyAuditFile(file);
    assert.equal(r.ok, false);
    assert.deepEqual(r.firstBad, {
      line: 7,
      reason: 'line 7: its hash does not match its content (edited?).',
    });
    assert.equal(r.count, 10);
  });

  it('catches an edited line whose hash was recomputed, on the next line', async () => {
    const lines = await writeTen();
    const e = JSON.parse(lines[3]) as AuditEvent;
    e.agent_id = 'someone-else';
    e.hash = computeEventHash(e);
    lines[3] = JSON.stringify(e);
    writeLinesSync(file, lines);
    const r = await verifyAuditFile(file);
    assert.equal(r.firstBad?.line, 5);
    assert.match(r.firstBad.reason, /^line 5: its prev_hash does not match the hash of line 4/);
  });

  it('catches a deleted middle line', async () => {
    const lines = await writeTen();
    lines.splice(4, 1);
    writeLinesSync(file, lines);
    const r = await verifyAuditFile(file);
    assert.equal(r.ok, false);
    assert.equal(r.firstBad?.line, 5);
    assert.match(r.firstBad.reason, /deleted, inserted or reordered/);
  });

  it('catches a deleted first line', async () => {
    const lines = await writeTen();
    writeLinesSync(file, lines.slice(1));
    const r = await verifyAuditFile(file);
    assert.equal(r.firstBad?.line, 1);
    assert.match(r.firstBad.reason, /^line 1: its prev_hash is not the start of a chain/);
  });

  it('catches two swapped lines', async () => {
    const lines = await writeTen();
    [lines[2], lines[3]] = [lines[3], lines[2]];
    writeLinesSync(file, lines);
    const r = await verifyAuditFile(file);
    assert.equal(r.firstBad?.line, 3);
    assert.match(r.firstBad.reason, /prev_hash does not match the hash of line 2/);
  });

  it('catches deleted last lines through the .head sidecar', async () => {
    const lines = await writeTen();
    writeLinesSync(file, lines.slice(0, 9));
    let r = await verifyAuditFile(file);
    assert.equal(r.ok, false);
    assert.equal(r.count, 9);
    assert.deepEqual(r.firstBad, {
      line: 10,
      reason:
        'line 10: missing — the file ends after line 9, but 10 line(s) were recorded in the .head file (the last lines were deleted or the file was truncated).',
    });
    writeLinesSync(file, lines.slice(0, 3));
    r = await verifyAuditFile(file);
    assert.equal(r.firstBad?.line, 4);
  });

  it('a correctly chained line past the .head end is a crash-tail warning (it cannot be told from a forgery on a plain chain); a naive forgery is broken', async () => {
    const lines = await writeTen();
    const last = JSON.parse(lines[9]) as AuditEvent;
    const forged: Omit<AuditEvent, 'hash'> & { hash?: string } = {
      ...last,
      reason: 'forged',
      prev_hash: last.hash,
    };
    delete forged.hash;
    const good = { ...forged, hash: computeEventHash(forged) };
    writeLinesSync(file, [...lines, JSON.stringify(good)]);
    let r = await verifyAuditFile(file);
    assert.equal(r.ok, true);
    assert.equal(r.warning?.kind, 'crash_tail');
    assert.equal(r.warning?.line, 11);
    assert.match(r.warning.reason, /could also have appended/);

    writeLinesSync(file, [...lines, JSON.stringify({ ...good, hash: 'f'.repeat(64) })]);
    r = await verifyAuditFile(file);
    assert.equal(r.firstBad?.line, 11);
    assert.match(r.firstBad.reason, /its hash does not match its content/);
  });

  it('catches the last line replaced by a different, correctly chained one', async () => {
    const lines = await writeTen();
    const nine = JSON.parse(lines[8]) as AuditEvent;
    const ten = JSON.parse(lines[9]) as AuditEvent;
    const replaced: Record<string, unknown> = { ...ten, decision: 'deny', prev_hash: nine.hash };
    delete replaced.hash;
    replaced.hash = computeEventHash(replaced);
    lines[9] = JSON.stringify(replaced);
    writeLinesSync(file, lines);
    const r = await verifyAuditFile(file);
    assert.equal(r.firstBad?.line, 10);
    assert.match(r.firstBad.reason, /differs from the one recorded in the .head file/);
  });

  it('catches a non-JSON line, an empty line and a non-event line', async () => {
    const base = await writeTen();
    const cases: Array<[string, RegExp]> = [
      ['this is not json', /^line 6: it is not valid JSON/],
      ['', /^line 6: it is empty/],
      ['[1,2,3]', /^line 6: it is not an audit event/],
      ['{"hello":"world"}', /^line 6: it has no valid 'hash' and 'prev_hash'/],
    ];
    for (const [bad, reason] of cases) {
      const lines = [...base];
      lines.splice(5, 0, bad);
      writeLinesSync(file, lines);
      const r = await verifyAuditFile(file);
      assert.equal(r.ok, false);
      assert.equal(r.firstBad?.line, 6, bad);
      assert.match(r.firstBad.reason, reason);
      assert.equal(r.count, 11);
    }
  });

  it('reports an unreadable .head sidecar, and a deleted audit file whose sidecar remains', async () => {
    await writeTen();
    fs.writeFileSync(file + '.head', 'garbage');
    let r = await verifyAuditFile(file);
    assert.equal(r.ok, false);
    assert.equal(r.firstBad?.line, 0);
    assert.match(r.firstBad.reason, /unreadable/);

    await writeTen(); // rebuilds the sidecar: appends 10 more
    fs.rmSync(file);
    r = await verifyAuditFile(file);
    assert.equal(r.ok, false);
    assert.equal(r.firstBad?.line, 1);
    assert.match(r.firstBad.reason, /audit file is gone/);
  });

  it('throws a clear error when there is no audit log at all', async () => {
    await assert.rejects(verifyAuditFile(path.join(dir, 'nope.jsonl')), (err: unknown) => {
      assert.ok(err instanceof InvalidInputError);
      assert.match(err.message, /no audit log at/);
      return true;
    });
  });
});
