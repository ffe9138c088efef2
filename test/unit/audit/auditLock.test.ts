/**
 * The audit file's cross-process lock (src/core/audit/auditLock.ts): exclusion, waiting, breaking
 * abandoned locks (stale mtime, dead holder, an older writer's directory lock), and never removing
 * a lock that another writer holds.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AUDIT_LOCK_STALE_MS, AuditLock } from '../../../src/core/audit/auditLock';
import { RecordingLogger } from '../../fakes/recordingLogger';
import { tempDir } from './helpers';

describe('AuditLock', () => {
  let dir: string;
  let cleanup: () => void;
  let lockPath: string;
  let logger: RecordingLogger;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    lockPath = path.join(dir, 'audit.jsonl.lock');
    logger = new RecordingLogger();
  });
  afterEach(() => cleanup());

  const ownerFiles = (): string[] => fs.readdirSync(dir).filter((n) => n.includes('.lock.owner-'));

  it('excludes a second holder until the first releases; gives up with ELOCKED after its timeout', async () => {
    const a = new AuditLock(lockPath, logger);
    const b = new AuditLock(lockPath, logger);
    await a.acquire();
    assert.ok(a.isHeld);
    assert.ok(fs.existsSync(lockPath));
    await assert.rejects(b.acquire(60), (e: NodeJS.ErrnoException) => e.code === 'ELOCKED');
    let bGot = false;
    const waiting = b.acquire(5000).then(() => (bGot = true));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(bGot, false, 'b waits while a holds the lock');
    a.release();
    await waiting;
    assert.ok(b.isHeld);
    b.release();
    assert.equal(fs.existsSync(lockPath), false, 'released: the lock path is gone');
    a.dispose();
    b.dispose();
    assert.deepEqual(ownerFiles(), [], 'owner files removed on dispose');
  });

  it('breaks a lock whose holder stopped refreshing it (mtime older than the stale time)', async () => {
    fs.writeFileSync(lockPath, '');
    const old = new Date(Date.now() - AUDIT_LOCK_STALE_MS - 5000);
    fs.utimesSync(lockPath, old, old);
    const l = new AuditLock(lockPath, logger);
    const started = Date.now();
    await l.acquire(2000);
    assert.ok(Date.now() - started < 1000);
    assert.match(logger.text(), /removed the stale lock/);
    l.dispose();
  });

  it("respects an older writer's fresh directory lock (proper-lockfile), and breaks a stale one", async () => {
    fs.mkdirSync(lockPath);
    const l = new AuditLock(lockPath, logger);
    await assert.rejects(l.acquire(100), (e: NodeJS.ErrnoException) => e.code === 'ELOCKED');
    const old = new Date(Date.now() - AUDIT_LOCK_STALE_MS - 5000);
    fs.utimesSync(lockPath, old, old);
    await l.acquire(2000);
    assert.ok(fs.statSync(lockPath).isFile(), 'our lock is a link to our owner file now');
    l.dispose();
    assert.equal(fs.existsSync(lockPath), false);
  });

  it('breaks at once a lock whose holder process was killed (no 10 s wait)', async () => {
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const { AuditLock } = require(${JSON.stringify(path.join(__dirname, '../../../src/core/audit/auditLock.js'))});
         const l = new AuditLock(${JSON.stringify(lockPath)}, { debug() {}, info() {}, warn() {}, error() {} });
         l.acquire().then(() => { process.stdout.write('held\\n'); setInterval(() => {}, 1000); });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
        child.on('exit', (code) => reject(new Error(`holder exited early (${code})`)));
      });
      const l = new AuditLock(lockPath, logger);
      await assert.rejects(l.acquire(100), (e: NodeJS.ErrnoException) => e.code === 'ELOCKED');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const started = Date.now();
      await l.acquire(5000);
      assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
      assert.match(logger.text(), /of a process that no longer exists/);
      l.dispose();
      // The dead holder's owner file is swept by the next process that starts locking.
      const next = new AuditLock(lockPath, logger);
      await next.acquire();
      next.dispose();
      assert.deepEqual(ownerFiles(), []);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('release never removes a lock that another writer took over meanwhile', async () => {
    const a = new AuditLock(lockPath, logger);
    await a.acquire();
    // Simulate a takeover (a was paused past the stale time and b broke the lock).
    fs.unlinkSync(lockPath);
    const b = new AuditLock(lockPath, logger);
    await b.acquire();
    const bIno = fs.statSync(lockPath).ino;
    a.release();
    assert.equal(fs.statSync(lockPath).ino, bIno, "b's lock is still in place");
    assert.match(logger.text(), /taken over by another writer/);
    b.dispose();
    a.dispose();
  });

  it('fails (does not spin) when the folder is gone', async () => {
    const l = new AuditLock(path.join(dir, 'missing', 'audit.jsonl.lock'), logger);
    await assert.rejects(l.acquire(500), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  });
});
