/**
 * The audit log's file storage (README.md, "Security model"): append-only JSONL, shared safely by
 * several processes. Per batch:
 *   take the cross-process lock (`link(2)`, synchronous) → check that the path is still the file
 *   this process has open (`stat`; else reopen) → if its size is not what this process last wrote,
 *   pick up the chain head another process left (via the `.head` sidecar, else the last line) →
 *   seal the batch from that head → ONE `write` of every line on a descriptor opened with
 *   `O_DSYNC` (the write returns only once the lines and the file size are on stable storage:
 *   `write` + `fdatasync` in one system call and one thread-pool hop) → update the sidecar in place
 *   (see {@link HeadFileWriter}) → release the lock.
 * Where `O_DSYNC` does not exist (Windows) the write is followed by an explicit `fdatasync`.
 * `fdatasync`, not `fsync`: what it skips is only the file's timestamps; the data and the size
 * needed to read it back are flushed either way.
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import type { AuditEvent } from '../model';
import type { Logger } from '../ports';
import { AuditLock } from './auditLock';
import type { AuditStorage, PreparedAuditEvent } from './auditStorage';
import { sealBatch } from './auditStorage';
import { type ChainKey, GENESIS_HASH, isHash } from './chain';
import { type AuditHead, HeadFileWriter, lockPath, readHeadFile } from './headFile';
import { countNewlines, readLastLine } from './lines';
import { redactError } from './redact';

/**
 * Flags of the audit file's descriptor: append, read (to find the chain head after another
 * writer), create, and O_DSYNC where the platform has it (each write is durable when it returns).
 */
const O_DSYNC: number | undefined = (fs.constants as { O_DSYNC?: number }).O_DSYNC;
const AUDIT_OPEN_FLAGS = fs.constants.O_APPEND | fs.constants.O_RDWR | fs.constants.O_CREAT | (O_DSYNC ?? 0);

/** The JSONL file storage of {@link AuditLog}; its folder is created when missing. */
export class FileAuditStorage implements AuditStorage {
  readonly path: string;
  readonly where: string;
  readonly #logger: Logger;
  /** Chain head as of this process's last successful batch; undefined = must re-read from disk. */
  #head: AuditHead | undefined;
  /** The log's folder exists (checked once, and again after any failed write). */
  #dirReady = false;
  readonly #lock: AuditLock;
  readonly #headFile: HeadFileWriter;
  /** The audit file, kept open between batches; its inode is checked against the path per batch. */
  #file: { fh: fsp.FileHandle; ino: number; dev: number } | undefined;

  /** `logger` should redact known secrets (the log passes its own). */
  constructor(path: string, logger: Logger) {
    this.path = nodePath.resolve(path);
    this.where = this.path;
    this.#logger = logger;
    this.#lock = new AuditLock(lockPath(this.path), logger);
    this.#headFile = new HeadFileWriter(this.path, logger);
  }

  /** Creates the folder; never fails (a folder that cannot be created is logged, appends then fail closed). */
  async prepare(): Promise<void> {
    try {
      await fsp.mkdir(nodePath.dirname(this.path), { recursive: true });
    } catch (e) {
      this.#logger.warn(
        `Audit log: cannot create the folder of ${this.path} (${redactError(e, [])}); credentials will be refused until it can be written.`,
      );
    }
  }

  async appendBatch(
    take: () => readonly PreparedAuditEvent[],
    chainKey: ChainKey | undefined,
  ): Promise<AuditEvent[]> {
    try {
      if (!this.#dirReady) {
        await fsp.mkdir(nodePath.dirname(this.path), { recursive: true });
        this.#dirReady = true;
      }
      await this.#lock.acquire();
      try {
        return await this.#appendLocked(take(), chainKey);
      } finally {
        this.#lock.release();
      }
    } catch (e) {
      this.#head = undefined; // re-read the chain head from disk next time
      this.#dirReady = false; // and make sure the folder is there
      const file = this.#file; // and reopen the file
      this.#file = undefined;
      await file?.fh.close().catch(() => undefined);
      throw e;
    }
  }

  async close(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    await file?.fh.close().catch(() => undefined);
    await this.#headFile.close();
    this.#lock.dispose();
  }

  /** Under the lock: find the head, write the lines durably, update the sidecar. */
  async #appendLocked(
    inputs: readonly PreparedAuditEvent[],
    chainKey: ChainKey | undefined,
  ): Promise<AuditEvent[]> {
    const { fh, size, created } = await this.#openFile();
    let head = this.#head;
    let prefix = '';
    if (!head || head.size !== size) {
      const synced = await this.#resync(fh, size);
      head = synced.head;
      prefix = synced.needsNewline ? '\n' : '';
    }
    const sealed = sealBatch(inputs, head.hash, chainKey);
    const buf = Buffer.from(prefix + sealed.lines.join('\n') + '\n', 'utf8');
    try {
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off);
        off += bytesWritten;
      }
      if (O_DSYNC === undefined) {
        await fh.datasync();
      }
    } catch (e) {
      // Best effort: drop a partial batch so the next one does not follow half a line.
      await fh.truncate(size).catch(() => undefined);
      throw e;
    }
    if (created) {
      await syncDirectory(nodePath.dirname(this.path));
    }
    const next: AuditHead = {
      count: head.count + sealed.events.length,
      hash: sealed.head,
      size: size + buf.length,
    };
    this.#head = next;
    try {
      await this.#headFile.write(next);
    } catch (e) {
      // The lines are durable and chained; the next batch rewrites the sidecar. Until then,
      // verify reports the lines after the recorded head.
      this.#logger.error(`Audit log: could not update ${this.path}.head: ${redactError(e, [])}`);
    }
    return sealed.events;
  }

  /**
   * The open audit file and its current size. The descriptor is kept between batches; a `stat` of
   * the path (synchronous, microseconds) proves it is still the same file — deleted, moved or
   * replaced files are reopened (and then resynced, since the size no longer matches).
   */
  async #openFile(): Promise<{ fh: fsp.FileHandle; size: number; created: boolean }> {
    const st = fs.statSync(this.path, { throwIfNoEntry: false });
    const current = this.#file;
    if (current && st && st.ino === current.ino && st.dev === current.dev) {
      return { fh: current.fh, size: st.size, created: false };
    }
    this.#file = undefined;
    await current?.fh.close().catch(() => undefined);
    const fh = await fsp.open(this.path, AUDIT_OPEN_FLAGS, 0o600);
    try {
      const opened = await fh.stat();
      if (!opened.isFile()) {
        throw Object.assign(new Error(`${this.path} is not a regular file`), { code: 'EISDIR' });
      }
      this.#file = { fh, ino: opened.ino, dev: opened.dev };
      return { fh, size: opened.size, created: st === undefined };
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
  }

  /**
   * The chain head when the file is not as this process left it (first batch, another process
   * appended, or something else changed it). Prefers the sidecar; when the file is SHORTER than the
   * sidecar records, the chain continues from the recorded hash so the gap stays visible to verify.
   */
  async #resync(fh: fsp.FileHandle, size: number): Promise<{ head: AuditHead; needsNewline: boolean }> {
    let recorded = await readHeadFile(this.path);
    if (recorded === 'invalid') {
      this.#logger.warn(`Audit log: ${this.path}.head is unreadable; rebuilding it from the audit file.`);
      recorded = undefined;
    }
    if (recorded && recorded.size === size) {
      return { head: recorded, needsNewline: false };
    }
    const tail = await readLastLine(fh, size);
    const tailHash = tail.line !== undefined ? hashOfLine(tail.line) : undefined;
    const needsNewline = size > 0 && !tail.endsWithNewline;
    const partial = needsNewline ? 1 : 0;
    if (recorded && recorded.size < size) {
      // Lines after the recorded head: another writer crashed before updating the sidecar, or a
      // writer without sidecar support. Adopt them; verify checks their chain.
      const extra = (await countNewlines(fh, recorded.size, size)) + partial;
      this.#logger.warn(
        `Audit log: ${this.path} has ${extra} line(s) after the last recorded head; continuing the chain after them.`,
      );
      return { head: { count: recorded.count + extra, hash: tailHash ?? recorded.hash, size }, needsNewline };
    }
    const count = size === 0 ? 0 : (await countNewlines(fh, 0, size)) + partial;
    if (recorded && recorded.size > size) {
      this.#logger.error(
        `Audit log: ${this.path} is shorter than recorded (${size} < ${recorded.size} bytes): lines were deleted or the file was replaced. Run Verify Audit Log; new events keep chaining from the recorded head.`,
      );
      return { head: { count, hash: recorded.hash, size }, needsNewline };
    }
    if (tail.line !== undefined && tailHash === undefined) {
      this.#logger.error(
        `Audit log: the last line of ${this.path} is not a valid audit event. Run Verify Audit Log.`,
      );
    }
    return { head: { count, hash: tailHash ?? GENESIS_HASH, size }, needsNewline };
  }
}

function hashOfLine(line: string): string | undefined {
  try {
    const v = JSON.parse(line) as { hash?: unknown };
    return isHash(v?.hash) ? v.hash : undefined;
  } catch {
    return undefined;
  }
}

/** Makes a newly created file's directory entry durable (POSIX); a no-op where dirs can't be opened. */
async function syncDirectory(dir: string): Promise<void> {
  let dh: fsp.FileHandle | undefined;
  try {
    dh = await fsp.open(dir, 'r');
    await dh.sync();
  } catch {
    // Windows cannot fsync a directory; the file's own fsync is what we can do there.
  } finally {
    await dh?.close().catch(() => undefined);
  }
}
