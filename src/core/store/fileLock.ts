/**
 * Exclusive cross-process lock over a directory entry (`proper-lockfile`'s atomic `mkdir`), plus
 * an in-process queue per lock so one process never contends with itself.
 *
 * Recovery from a crashed holder: the holder writes `owner.json` (pid, host, nonce) into the lock
 * directory right after taking it. A waiter that finds the owner's pid gone on this host breaks the
 * lock at once, as it does a lock that has had no owner file for a second (the holder died between
 * mkdir and writing it); any other abandoned lock is broken once its mtime is older than `staleMs`
 * (proper-lockfile refreshes the mtime of a live lock). Breaking renames the lock directory away first, so two waiters
 * cannot both break and both take it.
 *
 * Different lock paths are independent: the credential store holds the metadata lock while it
 * writes a secret under the secrets lock, in that order only, so they never deadlock.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as lockfile from 'proper-lockfile';
import { StoreError } from '../errors';
import { isProcessAlive } from './atomicFile';

export interface FileLockOptions {
  /** A lock whose holder stopped refreshing it for this long is broken (min 2000 ms). */
  staleMs?: number;
  /** Give up waiting after this long with a {@link StoreError}. */
  timeoutMs?: number;
}

/** Handed to the critical section: lets a writer check, just before committing, that it still holds the lock. */
export interface LockGuard {
  /** Throws {@link StoreError} if the lock was lost (broken as stale by another process). */
  assertHeld(): Promise<void>;
}

interface OwnerRecord {
  pid: number;
  host: string;
  nonce: string;
}

const DEFAULT_STALE_MS = 10_000;
const DEFAULT_TIMEOUT_MS = 30_000;
const OWNER_FILE = 'owner.json';
const NO_OWNER_GRACE_MS = 1000;

/**
 * Process-wide tails of the per-lock queues. Module scope is deliberate: the lock is a property of
 * the file system path, so two store instances over the same directory must share the queue.
 */
const queues = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` while holding the exclusive lock `lockDir` (a directory path such as
 * `<store>/metadata.lock`; its parent must exist). Calls in this process run one after another;
 * calls from other processes wait (with backoff) until the holder releases.
 *
 * @throws StoreError when the lock cannot be taken within `timeoutMs`, or the file system refuses.
 * Whatever `fn` throws is rethrown after the lock is released.
 */
export async function withFileLock<T>(
  lockDir: string,
  fn: (guard: LockGuard) => Promise<T>,
  opts: FileLockOptions = {},
): Promise<T> {
  const key = path.resolve(lockDir);
  const prev = queues.get(key) ?? Promise.resolve();
  const run = prev.then(
    () => lockedRun(key, fn, opts),
    () => lockedRun(key, fn, opts),
  );
  const tail = run.catch(() => undefined);
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) {
      queues.delete(key);
    }
  });
  return run;
}

async function lockedRun<T>(
  lockDir: string,
  fn: (guard: LockGuard) => Promise<T>,
  opts: FileLockOptions,
): Promise<T> {
  const staleMs = Math.max(opts.staleMs ?? DEFAULT_STALE_MS, 2000);
  const nonce = crypto.randomBytes(12).toString('hex');
  let compromised: Error | undefined;
  const release = await acquire(lockDir, staleMs, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, (err) => {
    compromised = err;
  });
  const ownerFile = path.join(lockDir, OWNER_FILE);
  try {
    const owner: OwnerRecord = { pid: process.pid, host: os.hostname(), nonce };
    await fs.promises.writeFile(ownerFile, JSON.stringify(owner), { mode: 0o600 });
  } catch (e) {
    await releaseQuietly(release);
    throw new StoreError(
      `Cannot write the lock owner file in ${lockDir}: ${(e as Error).message}. Check the store directory's permissions and free space.`,
    );
  }
  // Every time, not once per process: a process killed while breaking a lock can leave its
  // tomb at any moment of a long-running server's life. One readdir; store writes are rare.
  await sweepBrokenLocks(lockDir);
  const guard: LockGuard = {
    assertHeld: async () => {
      const current = await readOwner(lockDir);
      if (compromised || current?.nonce !== nonce) {
        throw new StoreError(
          `The store lock ${lockDir} was lost (this process was paused longer than the stale timeout and another process took over). Nothing was written by this operation; retry it.`,
        );
      }
    },
  };
  try {
    return await fn(guard);
  } finally {
    // Remove our owner file first (proper-lockfile removes the lock with rmdir, which needs it empty),
    // but only if it is still ours.
    const current = await readOwner(lockDir);
    if (current?.nonce === nonce) {
      await fs.promises.rm(ownerFile, { force: true }).catch(() => undefined);
    }
    await releaseQuietly(release);
  }
}

async function releaseQuietly(release: () => Promise<void>): Promise<void> {
  try {
    await release();
  } catch {
    // Already released or broken as stale; nothing more to do.
  }
}

async function acquire(
  lockDir: string,
  staleMs: number,
  timeoutMs: number,
  onCompromised: (err: Error) => void,
): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs;
  // The lock target need not exist: realpath is off and the lock path is given explicitly.
  const target = lockDir.replace(/\.lock$/, '') + '.target';
  let delay = 2;
  for (;;) {
    try {
      return await lockfile.lock(target, {
        lockfilePath: lockDir,
        realpath: false,
        stale: staleMs,
        update: Math.max(1000, Math.floor(staleMs / 3)),
        retries: 0,
        onCompromised,
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        // proper-lockfile found the lock stale by mtime but could not rmdir it (an owner file is
        // inside). Re-check, since a fresh holder may have taken it meanwhile.
        const owner = await readOwner(lockDir);
        const mtime = await fs.promises.stat(lockDir).then(
          (st) => st.mtimeMs,
          () => undefined,
        );
        if (mtime !== undefined && mtime < Date.now() - staleMs) {
          await breakLock(lockDir, owner?.nonce ?? null);
        }
        continue;
      }
      if (code !== 'ELOCKED') {
        throw new StoreError(
          `Cannot take the store lock ${lockDir}: ${(e as Error).message}. Check that the store directory exists and is writable.`,
        );
      }
      const owner = await readOwner(lockDir);
      if (owner && owner.host === os.hostname() && !isProcessAlive(owner.pid)) {
        await breakLock(lockDir, owner.nonce);
        continue;
      }
      if (!owner) {
        // A live holder writes its owner file right after mkdir; a lock without one for this long
        // belongs to a process killed in between.
        const mtime = await fs.promises.stat(lockDir).then(
          (st) => st.mtimeMs,
          () => undefined,
        );
        if (mtime !== undefined && Date.now() - mtime > NO_OWNER_GRACE_MS && !(await readOwner(lockDir))) {
          await breakLock(lockDir, null);
          continue;
        }
      }
      if (Date.now() >= deadline) {
        throw new StoreError(
          `Timed out after ${Math.round(timeoutMs / 1000)} s waiting for the store lock ${lockDir}${owner ? ` (held by process ${owner.pid} on ${owner.host})` : ''}. If no Agent Keyring process is running, remove that directory and retry.`,
        );
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 50);
    }
  }
}

async function readOwner(lockDir: string): Promise<OwnerRecord | undefined> {
  try {
    const o = JSON.parse(
      await fs.promises.readFile(path.join(lockDir, OWNER_FILE), 'utf8'),
    ) as Partial<OwnerRecord>;
    if (typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.nonce === 'string') {
      return { pid: o.pid, host: o.host, nonce: o.nonce };
    }
  } catch {
    // Missing (holder between mkdir and writing it) or half-written: treat as unknown.
  }
  return undefined;
}

/**
 * Moves an abandoned lock directory out of the way, then deletes it. The moved directory must
 * still belong to the owner judged dead (`expectedNonce`, or no owner file when `null`); if
 * another waiter took the lock in between, it is put back.
 */
async function breakLock(lockDir: string, expectedNonce: string | null): Promise<void> {
  const tomb = `${lockDir}.broken-${process.pid}-${crypto.randomBytes(6).toString('hex')}`;
  try {
    await fs.promises.rename(lockDir, tomb);
  } catch {
    return; // someone else broke or released it first
  }
  const moved = await readOwner(tomb);
  if ((moved?.nonce ?? null) !== expectedNonce) {
    // We raced with a fresh holder: give the lock back (fails only if yet another took it, and
    // then the fresh holder's guard reports the loss before it commits anything).
    await fs.promises.rename(tomb, lockDir).catch(() => undefined);
    return;
  }
  await fs.promises.rm(tomb, { recursive: true, force: true }).catch(() => undefined);
}

/** Removes `<lock>.broken-<pid>-*` directories left by a process killed while breaking a lock. */
async function sweepBrokenLocks(lockDir: string): Promise<void> {
  const prefix = `${path.basename(lockDir)}.broken-`;
  const names = await fs.promises.readdir(path.dirname(lockDir)).catch(() => [] as string[]);
  for (const n of names) {
    if (n.startsWith(prefix) && !isProcessAlive(Number(n.slice(prefix.length).split('-')[0]))) {
      await fs.promises
        .rm(path.join(path.dirname(lockDir), n), { recursive: true, force: true })
        .catch(() => undefined);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
