/**
 * The store's lock (withFileLock, on the audit log's link(2) lock) under contention across real
 * processes: read-modify-write increments of one counter file by several processes at once lose
 * nothing, and a holder killed with SIGKILL does not hold the others up for the stale timeout.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { withFileLock } from '../../../src/core/store/fileLock';

const FILE_LOCK = path.join(__dirname, '../../../src/core/store/fileLock.js');

/** A child that increments `counter` `times` times, each under the lock, with a yield in between. */
function incrementer(dir: string, times: number): Promise<number | null> {
  const script = `
    const fs = require('node:fs');
    const path = require('node:path');
    const { withFileLock } = require(${JSON.stringify(FILE_LOCK)});
    const dir = ${JSON.stringify(dir)};
    (async () => {
      for (let i = 0; i < ${times}; i++) {
        await withFileLock(path.join(dir, 'counter.lock'), async () => {
          const n = Number(fs.readFileSync(path.join(dir, 'counter'), 'utf8'));
          await new Promise((r) => setImmediate(r));
          fs.writeFileSync(path.join(dir, 'counter'), String(n + 1));
        });
      }
    })().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'inherit'] });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

describe('withFileLock across processes', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it('4 processes x 25 locked increments (plus this process) lose no update', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-lock-'));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'counter'), '0');
    const here = (async () => {
      for (let i = 0; i < 25; i++) {
        await withFileLock(path.join(dir, 'counter.lock'), async () => {
          const n = Number(fs.readFileSync(path.join(dir, 'counter'), 'utf8'));
          await new Promise((r) => setImmediate(r));
          fs.writeFileSync(path.join(dir, 'counter'), String(n + 1));
        });
      }
    })();
    const codes = await Promise.all([0, 1, 2, 3].map(() => incrementer(dir, 25)));
    await here;
    assert.deepEqual(codes, [0, 0, 0, 0]);
    assert.equal(fs.readFileSync(path.join(dir, 'counter'), 'utf8'), '125');
    assert.deepEqual(
      fs.readdirSync(dir).filter((n) => n.includes('.lock')),
      [],
      'no lock or owner file left behind',
    );
  });

  it('a holder killed with SIGKILL is taken over at once, not after the stale timeout', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-lock-'));
    dirs.push(dir);
    const lockPath = path.join(dir, 'held.lock');
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const { withFileLock } = require(${JSON.stringify(FILE_LOCK)});
         withFileLock(${JSON.stringify(lockPath)}, () => { process.stdout.write('held\\n'); return new Promise(() => setInterval(() => {}, 1000)); });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
        child.on('exit', (code) => reject(new Error(`holder exited early (${code})`)));
      });
      await assert.rejects(
        withFileLock(lockPath, () => Promise.resolve(), { timeoutMs: 200 }),
        /Timed out after 0 s waiting for the store lock/,
      );
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const started = Date.now();
      const result = await withFileLock(lockPath, (guard) => guard.assertHeld().then(() => 'mine'));
      assert.equal(result, 'mine');
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
