/**
 * The `<audit file>.head` sidecar and the cross-process lock shared by the writer and the verifier.
 *
 * The sidecar records `{count, hash, size}` of the chain after each durable batch, written under
 * the lock by {@link HeadFileWriter}. It is what lets `verifyAuditFile` notice that the LAST lines
 * were deleted — something a hash chain alone cannot show.
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import type { Logger } from '../ports';
import { AuditLock } from './auditLock';
import { isHash } from './chain';

export interface AuditHead {
  /** Lines in the audit file. */
  count: number;
  /** `hash` of the last line ({@link GENESIS_HASH} when empty). */
  hash: string;
  /** Size of the audit file in bytes. */
  size: number;
}

export function headPath(auditPath: string): string {
  return `${auditPath}.head`;
}

export function lockPath(auditPath: string): string {
  return `${auditPath}.lock`;
}

/** Reads the sidecar: `undefined` when missing, `'invalid'` when present but not a valid head. */
export async function readHeadFile(auditPath: string): Promise<AuditHead | undefined | 'invalid'> {
  let text: string;
  try {
    text = await fsp.readFile(headPath(auditPath), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw e;
  }
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (
      typeof v === 'object' &&
      v !== null &&
      Number.isSafeInteger(v.count) &&
      (v.count as number) >= 0 &&
      Number.isSafeInteger(v.size) &&
      (v.size as number) >= 0 &&
      isHash(v.hash)
    ) {
      return { count: v.count as number, hash: v.hash, size: v.size as number };
    }
  } catch {
    // fall through
  }
  return 'invalid';
}

/** Size of the sidecar written by {@link HeadFileWriter}: the JSON, padded with spaces, then `\n`. */
export const HEAD_FILE_BYTES = 256;

/** The sidecar is flushed to stable storage at most this often (and when the writer closes). */
export const HEAD_SYNC_INTERVAL_MS = 50;

/** The sidecar's bytes for `head`: fixed-size, so each update overwrites the whole previous one. */
export function encodeHead(head: AuditHead): Buffer {
  const json = JSON.stringify({ count: head.count, hash: head.hash, size: head.size });
  // Two 16-digit numbers and a 64-digit hash fit with room to spare; padding keeps the size fixed.
  return Buffer.from(json.padEnd(HEAD_FILE_BYTES - 1, ' ') + '\n', 'utf8');
}

/**
 * Keeps the `.head` sidecar of one audit file up to date, in place. Call {@link write} only while
 * holding the audit lock, and only after the lines it describes are durable.
 *
 * Each update is ONE `pwrite` of {@link HEAD_FILE_BYTES} bytes at offset 0 of a file kept open
 * (synchronous: it lands in the page cache in microseconds and never waits for the disk). An
 * `fdatasync` of the sidecar runs in the background, at most every {@link HEAD_SYNC_INTERVAL_MS} ms
 * (one per batch would cost ~0.13 ms of CPU per batch, measured), and when the writer closes.
 * Durability, and why this keeps verify's guarantee:
 * - A process crash loses nothing: the update is in the kernel's page cache before any caller of
 *   the batch is answered, so the sidecar on disk always matches the durable lines.
 * - On power loss the sidecar may lag the durable lines by the batches of the last
 *   {@link HEAD_SYNC_INTERVAL_MS} ms or so. It can never be AHEAD of them (it is written only after
 *   their O_DSYNC write returned), so verify then reports the extra lines ("after the last line
 *   recorded … a writer that crashed before recording it"), i.e. a false alarm, never a miss; the
 *   next writer adopts them with a warning, exactly as after a crash between the two writes of the
 *   previous design. Deleted last lines are detected in every case where they were before.
 * - A torn 256-byte sector write (power loss mid-write) reads as an unreadable sidecar: verify
 *   reports it, and the writer rebuilds it from the file with a warning.
 * Readers (verify, other writers) read the sidecar only under the audit lock, so they never see a
 * half-written one. A sidecar replaced or deleted by someone else is noticed (inode check) and
 * written afresh.
 */
export class HeadFileWriter {
  readonly path: string;
  #fh: fsp.FileHandle | undefined;
  #ino = -1;
  #dev = -1;
  #syncing: Promise<void> | undefined;
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  #lastSyncStart = -Infinity;

  constructor(
    auditPath: string,
    private readonly logger: Logger,
  ) {
    this.path = headPath(auditPath);
  }

  /** Overwrites the sidecar with `head` (see the class comment). @throws the `fs` error. */
  async write(head: AuditHead): Promise<void> {
    const st = fs.statSync(this.path, { throwIfNoEntry: false });
    if (!this.#fh || !st || st.ino !== this.#ino || st.dev !== this.#dev) {
      await this.#reopen();
    }
    const fh = this.#fh as fsp.FileHandle;
    const buf = encodeHead(head);
    let off = 0;
    while (off < buf.length) {
      off += fs.writeSync(fh.fd, buf, off, buf.length - off, off);
    }
    this.#syncSoon();
  }

  /** Flushes what is not yet synced, waits for it, then closes the file. Never throws. */
  async close(): Promise<void> {
    for (;;) {
      if (this.#timer) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
      if (this.#syncing) {
        await this.#syncing;
      } else if (this.#dirty && this.#fh) {
        this.#startSync();
      } else {
        break;
      }
    }
    const fh = this.#fh;
    this.#fh = undefined;
    this.#dirty = false;
    await fh?.close().catch(() => undefined);
  }

  async #reopen(): Promise<void> {
    const old = this.#fh;
    this.#fh = undefined;
    // A pending background sync keeps the old handle open until it finishes (FileHandle refcount).
    await old?.close().catch(() => undefined);
    const fh = await fsp.open(this.path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    try {
      const st = await fh.stat();
      if (st.size > HEAD_FILE_BYTES) {
        await fh.truncate(HEAD_FILE_BYTES);
      }
      this.#ino = st.ino;
      this.#dev = st.dev;
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
    this.#fh = fh;
  }

  #syncSoon(): void {
    this.#dirty = true;
    if (this.#syncing || this.#timer) {
      return;
    }
    const wait = this.#lastSyncStart + HEAD_SYNC_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#startSync();
      }, wait);
      this.#timer.unref();
      return;
    }
    this.#startSync();
  }

  #startSync(): void {
    const fh = this.#fh;
    if (!this.#dirty || !fh) {
      return;
    }
    this.#dirty = false;
    this.#lastSyncStart = Date.now();
    this.#syncing = fh
      .datasync()
      .catch((e: unknown) => {
        this.logger.warn(`Audit log: could not sync ${this.path}: ${(e as Error).message}`);
      })
      .finally(() => {
        this.#syncing = undefined;
        if (this.#dirty) {
          this.#syncSoon();
        }
      });
  }
}

/**
 * Runs `fn` holding the cross-process audit lock (`<audit file>.lock`, see {@link AuditLock}; a
 * holder that died is considered stale after 10 s). Waits up to 15 s when another process holds
 * it, then throws the `ELOCKED` error.
 */
export async function withAuditLock<T>(auditPath: string, logger: Logger, fn: () => Promise<T>): Promise<T> {
  const lock = new AuditLock(lockPath(auditPath), logger);
  await lock.acquire();
  try {
    return await fn();
  } finally {
    lock.dispose();
  }
}
