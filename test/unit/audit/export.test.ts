import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CSV_COLUMNS, csvCell, exportAudit } from '../../../src/core/audit/export';
import { verifyAuditFile } from '../../../src/core/audit/verify';
import { InvalidInputError } from '../../../src/core/errors';
import type { AuditEvent } from '../../../src/core/model';
import { parseCsv } from '../../helpers/csv';
import { sampleInput, tempDir, writeChain } from './helpers';

async function exportToString(
  file: string,
  format: 'jsonl' | 'csv',
  filter?: Parameters<typeof exportAudit>[3],
): Promise<{ text: string; count: number }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (d: Buffer) => chunks.push(d));
  const count = await exportAudit(file, format, out, filter);
  out.end();
  return { text: Buffer.concat(chunks).toString('utf8'), count };
}

describe('exportAudit', () => {
  let dir: string;
  let cleanup: () => void;
  let file: string;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    file = path.join(dir, 'audit.jsonl');
  });
  afterEach(() => cleanup());

  it('csvCell quotes per RFC 4180 and neutralises formulas', () => {
    assert.equal(csvCell('plain'), 'plain');
    assert.equal(csvCell(null), '');
    assert.equal(csvCell(3), '3');
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell('two\nlines'), '"two\nlines"');
    assert.equal(csvCell('=cmd()'), "'=cmd()");
    assert.equal(csvCell('+1'), "'+1");
    assert.equal(csvCell('-2'), "'-2");
    assert.equal(csvCell('@SUM(A1)'), "'@SUM(A1)");
    assert.equal(csvCell('\tx'), "'\tx");
    assert.equal(csvCell('\rx'), `"'\rx"`);
    assert.equal(csvCell('=HYPERLINK("http://evil","x"),1'), `"'=HYPERLINK(""http://evil"",""x""),1"`);
    assert.equal(csvCell('a=b'), 'a=b');
  });

  it('CSV: header, flattened client, joined rules, escaped and neutralised cells that read back intact', async () => {
    const nasty = 'quote " comma , newline \n done';
    writeChain(file, 3, undefined, (i) =>
      sampleInput(i, {
        reason: i === 1 ? nasty : i === 2 ? '=cmd()|calc' : null,
        rules: i === 1 ? ['first_use', 'burst'] : undefined,
        client: i === 2 ? null : { name: 'claude-code', version: '2.0', conversation_id: 'conv-1' },
      }),
    );
    const { text, count } = await exportToString(file, 'csv');
    assert.equal(count, 3);
    const rows = parseCsv(text, { requireFinalCrlf: true });
    assert.deepEqual(rows[0], [...CSV_COLUMNS]);
    assert.equal(rows.length, 4);
    const col = (name: (typeof CSV_COLUMNS)[number]): number => CSV_COLUMNS.indexOf(name);
    assert.equal(rows[2][col('reason')], nasty);
    assert.equal(rows[2][col('rules')], 'first_use;burst');
    assert.equal(rows[2][col('client_name')], 'claude-code');
    assert.equal(rows[2][col('client_version')], '2.0');
    assert.equal(rows[2][col('conversation_id')], 'conv-1');
    assert.equal(rows[3][col('reason')], "'=cmd()|calc");
    assert.equal(rows[3][col('client_name')], '');
    assert.equal(rows[1][col('reason')], '');
    assert.equal(rows[1][col('version')], '1');
    for (const r of rows) {
      assert.equal(r.length, CSV_COLUMNS.length);
      assert.ok(
        r.every((c) => !/^[=+\-@\t\r]/.test(c)),
        'no cell starts a formula',
      );
    }
  });

  it('JSONL: lines copied byte for byte (an unfiltered export verifies), filters apply', async () => {
    writeChain(file, 20);
    const { text, count } = await exportToString(file, 'jsonl');
    assert.equal(count, 20);
    assert.equal(text, fs.readFileSync(file, 'utf8'));
    const copy = path.join(dir, 'copy.jsonl');
    fs.writeFileSync(copy, text);
    assert.deepEqual(await verifyAuditFile(copy), { ok: true, count: 20 });

    const filtered = await exportToString(file, 'jsonl', { agent_id: 'agent-1' });
    assert.equal(filtered.count, 7);
    assert.ok(
      filtered.text
        .trim()
        .split('\n')
        .every((l) => (JSON.parse(l) as AuditEvent).agent_id === 'agent-1'),
    );
    const csv = await exportToString(file, 'csv', { decision: 'deny' });
    assert.equal(csv.count, 3);
  });

  it('a missing file exports the CSV header only; an unknown format is refused', async () => {
    const { text, count } = await exportToString(path.join(dir, 'none.jsonl'), 'csv');
    assert.equal(count, 0);
    assert.equal(text, CSV_COLUMNS.join(',') + '\r\n');
    await assert.rejects(
      exportAudit(file, 'xml' as 'csv', new PassThrough()),
      (e: unknown) => e instanceof InvalidInputError,
    );
  });

  it('honours back-pressure and surfaces a failing output stream', async () => {
    writeChain(file, 300);
    let written = 0;
    const slow = new Writable({
      highWaterMark: 64,
      write(chunk: Buffer, _enc, cb) {
        written += chunk.length;
        setImmediate(cb);
      },
    });
    assert.equal(await exportAudit(file, 'jsonl', slow), 300);
    assert.equal(written, fs.statSync(file).size);

    const broken = new Writable({
      write(_chunk, _enc, cb) {
        cb(new Error('disk full'));
      },
    });
    await assert.rejects(exportAudit(file, 'csv', broken), /disk full/);
  });
});
