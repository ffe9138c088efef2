/**
 * The product's one cross-process lock: the audit file's (`<audit file>.lock`) and, through
 * `withFileLock` (store/fileLock.ts), the file store's metadata, secrets and master-key locks.
 *
 * Taking it is ONE `link(2)`: each process creates, once, its own owner file
 * `<audit file>.lock.owner-<pid>-<random>` and takes the lock by hard-linking it to the lock path
 * (`link` fails with EEXIST when the path exists, atomically, on every local file system and on
 * NFS). Releasing is one `unlink`. Both are synchronous metadata calls of ~10 µs that allocate no
 * inode, so the writer can take the lock once per batch, on the path of every credential
 * hand-over. (`proper-lockfile`, used before, costs three thread-pool round trips per lock, and its
 * `mkdir`/`rmdir` cost ~120 µs of CPU per batch on ext4 — measured in bench/RESULTS.md.)
 *
 * Abandoned locks: the owner file's mtime is refreshed every {@link AUDIT_LOCK_STALE_MS}/2 ms while
 * its process lives; the lock path shares that inode, so a waiter that finds the lock's mtime older
 * than {@link AUDIT_LOCK_STALE_MS} knows its holder died. Sooner than that, a waiter looks up the
 * owner file with the lock's inode: when it names a process of this host that no longer exists
 * (killed with SIGKILL mid-batch), the lock is broken at once. Breaking renames the lock away first
 * and checks the inode there, so a lock another waiter has just taken afresh is put back.
 *
 * Compatibility with writers that still use `proper-lockfile` (a `mkdir` at the same path, same
 * 10 s mtime rule): `mkdir` and `link` on one path exclude each other, so old and new writers never
 * append at once; each treats the other's lock as held while its mtime is fresh. (An old writer
 * that finds a NEW writer's lock stale cannot remove it — `rmdir` of a file fails — and gives up
 * after its retries: it fails closed, it never writes concurrently.)
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import type { Logger } from '../ports';
import { isProcessAlive } from '../store/atomicFile';

/** A holder that has not refreshed its lock for this long is presumed dead (proper-lockfile's default). */
export const AUDIT_LOCK_STALE_MS = 10_000;
/** How long a waiter keeps trying before giving up (the old retry schedule allowed ~12 s). */
export const AUDIT_LOCK_TIMEOUT_MS = 15_000;
const REFRESH_MS = AUDIT_LOCK_STALE_MS / 2;
const MAX_BACKOFF_MS = 40;
const OWNER_INFIX = '.owner-';
/** How often a waiter looks for a dead holder (a directory listing and a few `stat`s). */
const DEAD_CHECK_MS = 50;
/** Owner files carry a short tag of the host, so a pid is only judged on the host it belongs to. */
const HOST_TAG = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);

/** Owner files of this process, and locks it holds (path → owner inode): cleaned up at exit. */
const ownerFiles = new Set<string>();
const heldLocks = new Map<string, number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) {
    return;
  }
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const [lockPath, ino] of heldLocks) {
      unlinkIfOurs(lockPath, ino);
    }
    for (const f of ownerFiles) {
      try {
        fs.unlinkSync(f);
      } catch {
        // Already gone: nothing to do on the way out.
      }
    }
  });
}

function unlinkIfOurs(lockPath: string, ino: number): boolean {
  const st = fs.statSync(lockPath, { throwIfNoEntry: false });
  if (!st || st.ino !== ino) {
    return false;
  }
  fs.unlinkSync(lockPath);
  return true;
}

/** One audit file's lock. Not re-entrant: the audit writer takes it once per batch. */
export class AuditLock {
  #owner: { path: string; ino: number; refresh: NodeJS.Timeout } | undefined;
  #held = false;
  #lastDeadCheck = 0;

  /**
   * @param path the lock path, e.g. `<audit file>.lock`.
   * @param label what the lock guards, for log lines (default `Audit log`).
   */
  constructor(
    readonly path: string,
    private readonly logger: Logger,
    private readonly label = 'Audit log',
  ) {}

  /**
   * True while the lock path is still this holder's link: false once another process broke it as
   * stale and took it (this one was paused longer than the stale time). Checked by a writer just
   * before it commits.
   */
  stillHeld(): boolean {
    if (!this.#held || !this.#owner) {
      return false;
    }
    return fs.statSync(this.path, { throwIfNoEntry: false })?.ino === this.#owner.ino;
  }

  get isHeld(): boolean {
    return this.#held;
  }

  /**
   * Takes the lock: at once when it is free (synchronously, no thread-pool hop), else waits with
   * randomised backoff (1 ms growing to 40 ms) for at most `timeoutMs`.
   * @throws an `Error` with `code: 'ELOCKED'` after the timeout; the `fs` error when the folder
   *   refuses (`ENOENT`, `EACCES`, `ENOTDIR` …).
   */
  async acquire(timeoutMs = AUDIT_LOCK_TIMEOUT_MS): Promise<void> {
    if (this.#held) {
      throw new Error(`The lock ${this.path} is already held by this writer (not re-entrant).`);
    }
    const deadline = Date.now() + timeoutMs;
    let delay = 1;
    while (!this.#tryTake()) {
      if (Date.now() >= deadline) {
        throw Object.assign(
          new Error(
            `Timed out after ${Math.round(timeoutMs / 1000)} s waiting for the lock ${this.path}. If no Agent Keyring process is running, remove it and retry.`,
          ),
          { code: 'ELOCKED' },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay * (1 + Math.random())));
      delay = Math.min(delay * 1.5, MAX_BACKOFF_MS);
    }
  }

  /**
   * Releases the lock — only if the lock path is still our link (a lock broken as stale and taken
   * by another writer meanwhile is left alone, and logged). Never throws.
   */
  release(): void {
    if (!this.#held) {
      return;
    }
    this.#held = false;
    heldLocks.delete(this.path);
    const ino = this.#owner?.ino ?? -1;
    try {
      if (!unlinkIfOurs(this.path, ino)) {
        this.logger.error(
          `${this.label}: the lock ${this.path} was taken over by another writer before this one released it (this process was paused longer than ${AUDIT_LOCK_STALE_MS / 1000} s).${this.label === 'Audit log' ? ' Run Verify Audit Log.' : ''}`,
        );
      }
    } catch (e) {
      this.logger.warn(`${this.label}: could not release the lock ${this.path}: ${(e as Error).message}`);
    }
  }

  /** Forgets this process's owner file (call when the writer closes). Never throws. */
  dispose(): void {
    this.release();
    const owner = this.#owner;
    this.#owner = undefined;
    if (owner) {
      clearInterval(owner.refresh);
      ownerFiles.delete(owner.path);
      try {
        fs.unlinkSync(owner.path);
      } catch {
        // Already gone.
      }
    }
  }

  /** One attempt: true when this writer now holds the lock. */
  #tryTake(): boolean {
    const owner = this.#ensureOwner();
    try {
      fs.linkSync(owner.path, this.path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !fs.existsSync(owner.path)) {
        // Our owner file was removed by someone: make a new one next attempt.
        clearInterval(owner.refresh);
        ownerFiles.delete(owner.path);
        this.#owner = undefined;
        return false;
      }
      if (code !== 'EEXIST') {
        throw e;
      }
      if (!this.#breakIfAbandoned()) {
        return false;
      }
      try {
        fs.linkSync(owner.path, this.path);
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') {
          return false; // another waiter was quicker
        }
        throw e2;
      }
      // The broken lock's dead holder left its owner file (and maybe a tomb): sweep them now.
      this.#sweepOwnerFiles();
    }
    this.#held = true;
    heldLocks.set(this.path, owner.ino);
    return true;
  }

  #ensureOwner(): { path: string; ino: number; refresh: NodeJS.Timeout } {
    if (this.#owner) {
      return this.#owner;
    }
    installExitHook();
    this.#sweepOwnerFiles();
    const file = `${this.path}${OWNER_INFIX}${process.pid}-${HOST_TAG}-${randomBytes(6).toString('hex')}`;
    const fd = fs.openSync(file, 'wx', 0o600);
    let ino: number;
    try {
      ino = fs.fstatSync(fd).ino;
    } finally {
      fs.closeSync(fd);
    }
    ownerFiles.add(file);
    const refresh = setInterval(() => {
      try {
        const now = new Date();
        fs.utimesSync(file, now, now);
      } catch (e) {
        this.logger.warn(
          `${this.label}: could not refresh the lock owner file ${file}: ${(e as Error).message}`,
        );
      }
    }, REFRESH_MS);
    refresh.unref();
    this.#owner = { path: file, ino, refresh };
    return this.#owner;
  }

  /** Removes owner files that processes which no longer exist left behind. Best effort. */
  #sweepOwnerFiles(): void {
    const dir = nodePath.dirname(this.path);
    const prefix = `${nodePath.basename(this.path)}${OWNER_INFIX}`;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    // The owner of a lock still in place is kept: it tells waiters whose lock it is.
    const lockIno = fs.statSync(this.path, { throwIfNoEntry: false })?.ino;
    // Tombs `<lock>.stale-<pid>-<random>` of a process killed while breaking a lock.
    const tombPrefix = `${nodePath.basename(this.path)}.stale-`;
    for (const n of names) {
      if (n.startsWith(tombPrefix) && !isProcessAlive(Number(n.slice(tombPrefix.length).split('-')[0]))) {
        try {
          fs.rmSync(nodePath.join(dir, n), { recursive: true, force: true });
        } catch {
          // Another process swept it first.
        }
      }
    }
    for (const n of names) {
      const owner = parseOwnerName(n, prefix);
      if (!owner || owner.host !== HOST_TAG || isProcessAlive(owner.pid)) {
        continue;
      }
      const file = nodePath.join(dir, n);
      try {
        if (fs.statSync(file).ino !== lockIno) {
          fs.unlinkSync(file);
        }
      } catch {
        // Another process swept it first.
      }
    }
  }

  /**
   * True when the lock's owner file (the one sharing its inode) names a process of this host that
   * no longer exists. Looked up at most every {@link DEAD_CHECK_MS} ms while waiting.
   */
  #holderIsDead(lockIno: number): boolean {
    const now = Date.now();
    if (now - this.#lastDeadCheck < DEAD_CHECK_MS) {
      return false;
    }
    this.#lastDeadCheck = now;
    const dir = nodePath.dirname(this.path);
    const prefix = `${nodePath.basename(this.path)}${OWNER_INFIX}`;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return false;
    }
    for (const n of names) {
      const owner = parseOwnerName(n, prefix);
      if (!owner) {
        continue;
      }
      const st = fs.statSync(nodePath.join(dir, n), { throwIfNoEntry: false });
      if (st?.ino === lockIno) {
        return owner.host === HOST_TAG && !isProcessAlive(owner.pid);
      }
    }
    return legacyOwnerIsDead(this.path);
  }

  /**
   * Removes the lock when its holder is gone: it stopped refreshing it (mtime older than
   * {@link AUDIT_LOCK_STALE_MS}), or it was a process of this host that no longer exists. The lock
   * is first renamed to a unique name and its inode checked there, so a lock another waiter has
   * just taken afresh is put back.
   * @returns true when the lock path is free now (or was freed meanwhile).
   */
  #breakIfAbandoned(): boolean {
    const st = fs.statSync(this.path, { throwIfNoEntry: false });
    if (!st) {
      return true; // released meanwhile
    }
    const stale = st.mtimeMs < Date.now() - AUDIT_LOCK_STALE_MS;
    if (!stale && !this.#holderIsDead(st.ino)) {
      return false;
    }
    const tomb = `${this.path}.stale-${process.pid}-${randomBytes(6).toString('hex')}`;
    try {
      fs.renameSync(this.path, tomb);
    } catch {
      return true; // someone else broke or released it first: just try to take it
    }
    const moved = fs.statSync(tomb, { throwIfNoEntry: false });
    if (moved && moved.ino !== st.ino) {
      // A fresh holder took it between our stat and the rename: give it back — with link(2),
      // which, unlike rename, never replaces a lock yet another writer has taken meanwhile.
      try {
        if (moved.isDirectory()) {
          fs.renameSync(tomb, this.path); // an older writer's directory lock (cannot be hard-linked)
        } else {
          fs.linkSync(tomb, this.path);
          fs.unlinkSync(tomb);
        }
      } catch {
        // Yet another writer holds the path now; the fresh holder's release reports the loss.
      }
      return false;
    }
    // A directory when an older writer (proper-lockfile) died holding it.
    fs.rmSync(tomb, { recursive: true, force: true });
    this.logger.warn(
      stale
        ? `${this.label}: removed the stale lock ${this.path} (its holder stopped refreshing it ${AUDIT_LOCK_STALE_MS / 1000} s ago or more).`
        : `${this.label}: removed the lock ${this.path} of a process that no longer exists.`,
    );
    return true;
  }
}

/**
 * An older writer's directory lock (`mkdir`, from before this lock replaced `proper-lockfile`)
 * with its `owner.json` naming a process of this host that no longer exists. Else (no such
 * file, another host, a live process) only the mtime rule applies.
 */
function legacyOwnerIsDead(lockPath: string): boolean {
  try {
    const o = JSON.parse(fs.readFileSync(nodePath.join(lockPath, 'owner.json'), 'utf8')) as {
      pid?: unknown;
      host?: unknown;
    };
    return typeof o.pid === 'number' && o.host === os.hostname() && !isProcessAlive(o.pid);
  } catch {
    return false;
  }
}

/** `{pid, host}` of an owner file name `<lock>.owner-<pid>-<hosttag>-<random>`, else undefined. */
function parseOwnerName(name: string, prefix: string): { pid: number; host: string } | undefined {
  if (!name.startsWith(prefix)) {
    return undefined;
  }
  const [pid, host] = name.slice(prefix.length).split('-');
  const n = Number(pid);
  return Number.isInteger(n) && n > 0 && host ? { pid: n, host } : undefined;
}
