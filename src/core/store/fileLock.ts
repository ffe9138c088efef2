/**
 * Exclusive cross-process lock for the file store (`<store>/metadata.lock`, `secrets.lock`,
 * `master.key.lock`), plus an in-process queue per lock so one process never contends with itself.
 *
 * The lock itself is the audit log's {@link AuditLock} — the product has one cross-process lock:
 * taking it is one `link(2)` of a per-holder owner file to the lock path (atomic EEXIST on every
 * local file system and NFS), releasing is one `unlink`. Recovery from a crashed holder (SIGKILL):
 * its owner file names a pid of this host that no longer exists, so a waiter breaks the lock at
 * once; an abandoned lock of another host is broken once its owner stops refreshing it for 10 s.
 * Breaking renames the lock away and checks its inode first, so two waiters cannot both take it.
 * A directory lock left by an older version (`proper-lockfile`'s `mkdir` with `owner.json`) is
 * honoured the same way.
 *
 * Different lock paths are independent: the credential store holds the metadata lock while it
 * writes a secret under the secrets lock, in that order only, so they never deadlock.
 */
import * as path from 'node:path';
import { AuditLock, AUDIT_LOCK_STALE_MS } from '../audit/auditLock';
import { StoreError } from '../errors';
import { NULL_LOGGER, type Logger } from '../ports';

export interface FileLockOptions {
  /** Give up waiting after this long with a {@link StoreError} (default 30 s). */
  timeoutMs?: number;
  /** Told when an abandoned lock is broken or a lock was lost. */
  logger?: Logger;
}

/** Handed to the critical section: lets a writer check, just before committing, that it still holds the lock. */
export interface LockGuard {
  /** Throws {@link StoreError} if the lock was lost (broken as stale by another process). */
  assertHeld(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Process-wide tails of the per-lock queues. Module scope is deliberate: the lock is a property of
 * the file system path, so two store instances over the same directory must share the queue.
 */
const queues = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` while holding the exclusive lock at `lockPath` (such as `<store>/metadata.lock`; its
 * parent must exist). Calls in this process run one after another; calls from other processes
 * wait (with backoff) until the holder releases.
 *
 * @throws StoreError when the lock cannot be taken within `timeoutMs`, or the file system refuses.
 * Whatever `fn` throws is rethrown after the lock is released.
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: (guard: LockGuard) => Promise<T>,
  opts: FileLockOptions = {},
): Promise<T> {
  const key = path.resolve(lockPath);
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
  lockPath: string,
  fn: (guard: LockGuard) => Promise<T>,
  opts: FileLockOptions,
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const lock = new AuditLock(lockPath, opts.logger ?? NULL_LOGGER, 'Store');
  try {
    await lock.acquire(timeoutMs);
  } catch (e) {
    lock.dispose();
    if ((e as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new StoreError(
        `Timed out after ${Math.round(timeoutMs / 1000)} s waiting for the store lock ${lockPath}. If no Agent Keyring process is running, remove it and retry.`,
      );
    }
    throw new StoreError(
      `Cannot take the store lock ${lockPath}: ${(e as Error).message}. Check that the store directory exists and is writable.`,
    );
  }
  const guard: LockGuard = {
    assertHeld: () => {
      if (!lock.stillHeld()) {
        return Promise.reject(
          new StoreError(
            `The store lock ${lockPath} was lost (this process was paused longer than ${AUDIT_LOCK_STALE_MS / 1000} s and another process took over). Nothing was written by this operation; retry it.`,
          ),
        );
      }
      return Promise.resolve();
    },
  };
  try {
    return await fn(guard);
  } finally {
    // Releases only if the lock is still ours, and removes this holder's owner file.
    lock.dispose();
  }
}
