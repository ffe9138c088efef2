import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { verifyAuditFile } from '../../../src/core/audit/verify';
import type { AuditEvent } from '../../../src/core/model';
import { readLinesSync, tempDir } from './helpers';

function runWorker(
  file: string,
  count: number,
  tag: string,
  startAt: number,
): Promise<{ batches: number; appended: number; errors: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(__dirname, 'appendWorker.js'), file, String(count), tag, String(startAt)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill(), 20_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`worker ${tag} exited with ${code}: ${err}`));
        return;
      }
      resolve(JSON.parse(out) as { batches: number; appended: number; errors: string[] });
    });
  });
}

describe('AuditLog across processes', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir()));
  afterEach(() => cleanup());

  it('two processes appending 200 events each at once produce one valid 400-line chain', async (t) => {
    const file = path.join(dir, 'audit.jsonl');
    // Both start appending at the same moment (after Node has started in each).
    const startAt = Date.now() + 700;
    const [a, b] = await Promise.all([
      runWorker(file, 200, 'proc-a', startAt),
      runWorker(file, 200, 'proc-b', startAt),
    ]);
    t.diagnostic(`batches: process a ${a.batches}, process b ${b.batches}`);
    assert.equal(a.appended + b.appended, 400);
    assert.deepEqual([...a.errors, ...b.errors], []);
    assert.deepEqual(await verifyAuditFile(file), { ok: true, count: 400 });
    const events = readLinesSync(file).map((l) => JSON.parse(l) as AuditEvent);
    assert.equal(events.filter((e) => e.agent_id === 'proc-a').length, 200);
    assert.equal(events.filter((e) => e.agent_id === 'proc-b').length, 200);
    assert.equal(new Set(events.map((e) => e.lease_id)).size, 400);
    const switches = events.filter((e, i) => i > 0 && e.agent_id !== events[i - 1].agent_id).length;
    t.diagnostic(`the two writers took turns ${switches} time(s)`);
  });
});
