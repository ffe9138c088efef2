/**
 * The audit log (README.md, "Security model"): append-only JSONL, one event per decision, hash-chained, durable
 * before anything is released, shared safely by several processes.
 *
 * Write path per batch (group commit: every event queued while the previous batch was being
 * written goes into one batch):
 *   take the cross-process lock (`mkdir`, synchronous) → check that the path is still the file this
 *   process has open (`stat`; else reopen) → if its size is not what this process last wrote, pick
 *   up the chain head another process left (via the `.head` sidecar, else the last line) → ONE
 *   `write` of every queued line on a descriptor opened with `O_DSYNC` (the write returns only once
 *   the lines and the file size are on stable storage: `write` + `fdatasync` in one system call
 *   and one thread-pool hop) → update the sidecar in place (see {@link HeadFileWriter}) → release
 *   the lock (`rmdir`) → resolve every caller of the batch.
 * Where `O_DSYNC` does not exist (Windows) the write is followed by an explicit `fdatasync`.
 * `fdatasync`, not `fsync`: what it skips is only the file's timestamps; the data and the size
 * needed to read it back are flushed either way.
 */
import { createHmac, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { AuditUnavailableError, InvalidInputError } from '../errors';
import type { AuditEvent, AuditEventInput, SecretValue } from '../model';
import type { Clock, Disposable, Logger } from '../ports';
import { type ChainKey, GENESIS_HASH, deriveChainKey, eventLine, isHash, sealEvent } from './chain';
import { AuditLock } from './auditLock';
import { type AuditHead, HeadFileWriter, lockPath, readHeadFile } from './headFile';
import { countNewlines, readLastLine } from './lines';
import { buildSecretMatcher, redact, redactError } from './redact';

/** Prefix of every `value_fingerprint`. */
export const FINGERPRINT_PREFIX = 'hmac-sha256:';

/** Smallest accepted audit key, in bytes. */
export const MIN_AUDIT_KEY_BYTES = 16;

/** Most events written in one batch (bounds one write's size). */
const MAX_BATCH = 5000;

/**
 * Flags of the audit file's descriptor: append, read (to find the chain head after another
 * writer), create, and O_DSYNC where the platform has it (each write is durable when it returns).
 */
const O_DSYNC: number | undefined = (fs.constants as { O_DSYNC?: number }).O_DSYNC;
const AUDIT_OPEN_FLAGS = fs.constants.O_APPEND | fs.constants.O_RDWR | fs.constants.O_CREAT | (O_DSYNC ?? 0);

/** A fresh random audit key (32 bytes) for `value_fingerprint`s; store it in the SecretBackend. */
export function generateAuditKey(): Buffer {
  return randomBytes(32);
}

export interface AuditLogOptions {
  /** The JSONL file; its directory is created when missing. */
  path: string;
  /**
   * HMAC key for {@link AuditLog.fingerprint} (at least 16 bytes; kept in SecretStorage). May be a
   * promise (e.g. a SecretStorage read still under way): appends do not need it, and
   * {@link AuditLog.fingerprint} waits for it — so opening the log never waits for the key.
   */
  hmacKey: Buffer | Promise<Buffer>;
  clock: Clock;
  logger: Logger;
  /** Current secret values; same as calling {@link AuditLog.setKnownSecrets} right after opening. */
  knownSecrets?: () => Iterable<string>;
  /**
   * Seal lines with an HMAC under a chain key derived from `hmacKey` (see audit/chain.ts), so only
   * a holder of the key can write lines that verify. Appends then wait for the key, and fail
   * (closed) when it cannot be read. Default false: plain SHA-256 lines.
   */
  keyedChain?: boolean;
}

interface Pending {
  input: AuditEventInput & { ts: string };
  resolve: (e: AuditEvent) => void;
  reject: (e: unknown) => void;
}

/**
 * Append-only, hash-chained, fail-closed audit log. Open with {@link AuditLog.open}.
 *
 * Guarantees:
 * - {@link append} resolves only after its line is written and fsync'd; otherwise it rejects with
 *   `AuditUnavailableError` (`audit_unavailable`) and the chain head is left where it was.
 * - Lines from several processes appending to one file form one valid chain.
 * - No line ever holds a value: callers pass {@link fingerprint}s, and inputs containing a
 *   registered known secret are refused.
 */
export class AuditLog implements Disposable {
  readonly path: string;
  /** The HMAC key once known; until then {@link #keyPending} settles with it. */
  #key: Buffer | undefined;
  #keyPending: Promise<Buffer | undefined> | undefined;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #queue: Pending[] = [];
  #draining: Promise<void> | undefined;
  #disposed = false;
  /** Chain head as of this process's last successful batch; undefined = must re-read from disk. */
  #head: AuditHead | undefined;
  /** The log's folder exists (checked once, and again after any failed write). */
  #dirReady = false;
  readonly #lock: AuditLock;
  readonly #headFile: HeadFileWriter;
  /** The audit file, kept open between batches; its inode is checked against the path per batch. */
  #file: { fh: fsp.FileHandle; ino: number; dev: number } | undefined;
  #listeners = new Set<(events: AuditEvent[]) => void>();
  #knownSecrets: (() => Iterable<string>) | undefined;
  readonly #keyedChain: boolean;
  #chainKey: ChainKey | undefined;
  #matcherCache: { key: string; matcher: RegExp | undefined; source: Iterable<string> } | undefined;

  private constructor(options: AuditLogOptions) {
    this.path = nodePath.resolve(options.path);
    if (Buffer.isBuffer(options.hmacKey)) {
      this.#key = Buffer.from(options.hmacKey);
    }
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#knownSecrets = options.knownSecrets;
    this.#keyedChain = options.keyedChain === true;
    this.#lock = new AuditLock(lockPath(this.path), this.#logger);
    this.#headFile = new HeadFileWriter(this.path, this.#logger);
  }

  /**
   * Opens (or creates) the audit log at `path`. Never fails on I/O: a directory that cannot be
   * created is logged, and appends then fail closed until it can.
   * @throws InvalidInputError when `hmacKey` is shorter than 16 bytes or `path` is empty. (A key
   * given as a promise is checked when it settles: a short or failed one makes every
   * {@link fingerprint} fail with `audit_unavailable`, and says why in the log.)
   */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    if (typeof options.path !== 'string' || options.path.trim() === '') {
      throw new InvalidInputError('The audit log needs a file path. Pass the path of the audit JSONL file.');
    }
    const isPromise = options.hmacKey instanceof Promise;
    if (!isPromise && !validKey(options.hmacKey)) {
      throw new InvalidInputError(KEY_TOO_SHORT);
    }
    const log = new AuditLog(options);
    if (isPromise) {
      log.#keyPending = (options.hmacKey as Promise<Buffer>).then(
        (key) => {
          if (!validKey(key)) {
            log.#log('error', `Audit log: ${KEY_TOO_SHORT} Credentials are refused until it is fixed.`);
            return undefined;
          }
          log.#key = Buffer.from(key);
          return log.#key;
        },
        (e: unknown) => {
          log.#log(
            'error',
            `Audit log: the audit key could not be read (${redactError(e, [])}); credentials are refused (fail-closed) until it can.`,
          );
          return undefined;
        },
      );
    }
    try {
      await fsp.mkdir(nodePath.dirname(log.path), { recursive: true });
    } catch (e) {
      log.#log(
        'warn',
        `Audit log: cannot create the folder of ${log.path} (${redactError(e, [])}); credentials will be refused until it can be written.`,
      );
    }
    return log;
  }

  /**
   * `hmac-sha256:<hex>` of the value under the audit key: proves which value was handed out
   * without storing it (equal values give equal fingerprints under one key; other keys differ).
   * Waits for a key given as a promise.
   * @throws AuditUnavailableError when the key could not be read or is too short.
   */
  async fingerprint(value: SecretValue): Promise<string> {
    const key = this.#key ?? (await this.#keyPending);
    if (!key) {
      throw new AuditUnavailableError();
    }
    return FINGERPRINT_PREFIX + createHmac('sha256', key).update(value.reveal(), 'utf8').digest('hex');
  }

  /**
   * The key that seals keyed lines (for verify), or undefined when this log writes plain SHA-256
   * lines or the audit key could not be read.
   */
  async chainKey(): Promise<ChainKey | undefined> {
    if (!this.#keyedChain) {
      return undefined;
    }
    if (!this.#chainKey) {
      const key = this.#key ?? (await this.#keyPending);
      this.#chainKey = key ? deriveChainKey(key) : undefined;
    }
    return this.#chainKey;
  }

  /**
   * Registers where to get the current secret values: {@link append} refuses an event whose
   * string fields contain any of them (or their URL-encoded / base64 forms). Optional.
   */
  setKnownSecrets(provider: () => Iterable<string>): void {
    this.#knownSecrets = provider;
  }

  /**
   * Appends one event and resolves with it (ts, prev_hash and hash filled in) once it is durable.
   * Events arriving while a batch is being written go together into the next batch.
   * @throws AuditUnavailableError when the line could not be written or fsync'd, or the log is disposed.
   * @throws InvalidInputError when the event is malformed or contains a known secret value (nothing is written).
   */
  append(input: AuditEventInput): Promise<AuditEvent> {
    if (this.#disposed) {
      this.#log(
        'warn',
        `Audit log: an event for tool '${String(input?.tool)}' arrived after the log was closed; refused.`,
      );
      return Promise.reject(new AuditUnavailableError());
    }
    let prepared: AuditEventInput & { ts: string };
    try {
      prepared = this.#prepare(input);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    return new Promise<AuditEvent>((resolve, reject) => {
      this.#queue.push({ input: prepared, resolve, reject });
      this.#kick();
    });
  }

  /** Fires with each batch of events after it became durable. Listener errors are logged. */
  onDidAppend(listener: (events: AuditEvent[]) => void): Disposable {
    this.#listeners.add(listener);
    return { dispose: () => this.#listeners.delete(listener) };
  }

  /** Resolves once every event queued before the call has been written (or has failed). Never rejects. */
  async flush(): Promise<void> {
    while (this.#draining) {
      await this.#draining;
    }
  }

  /** Stops accepting events; those already queued are still written. Await {@link close} to wait for them. */
  dispose(): void {
    this.#disposed = true;
    this.#kick();
    if (!this.#draining) {
      void this.#closeFiles();
    }
  }

  /** {@link dispose} and wait until the queue is written and the files are closed. */
  async close(): Promise<void> {
    this.dispose();
    await this.flush();
    await this.#closeFiles();
  }

  async #closeFiles(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    await file?.fh.close().catch(() => undefined);
    await this.#headFile.close();
    this.#lock.dispose();
  }

  #prepare(input: AuditEventInput): AuditEventInput & { ts: string } {
    if (typeof input !== 'object' || input === null) {
      throw new InvalidInputError('An audit event must be an object. Pass an AuditEventInput.');
    }
    if (
      typeof input.tool !== 'string' ||
      input.tool === '' ||
      typeof input.decision !== 'string' ||
      (input.decision as string) === ''
    ) {
      throw new InvalidInputError(
        "An audit event needs 'tool' and 'decision' strings. Fill both in and retry.",
      );
    }
    let ts: string;
    if (input.ts !== undefined) {
      if (typeof input.ts !== 'string' || Number.isNaN(Date.parse(input.ts))) {
        throw new InvalidInputError(
          "The audit event's 'ts' is not an ISO-8601 time. Leave it out to use the clock.",
        );
      }
      ts = input.ts;
    } else {
      ts = new Date(this.#clock.now()).toISOString();
    }
    const event = { ...input, ts };
    this.#checkKnownSecrets(event);
    return event;
  }

  #checkKnownSecrets(event: AuditEventInput): void {
    if (!this.#knownSecrets) {
      return;
    }
    let matcher: RegExp | undefined;
    try {
      const provided = this.#knownSecrets();
      // A provider that returns the same array while the secrets are unchanged skips the key check.
      if (this.#matcherCache?.source !== provided || !Array.isArray(provided)) {
        const secrets = [...provided].filter((s) => typeof s === 'string');
        // Building the regex is the costly part; reuse it while the set of secrets is unchanged.
        const key = secrets.join('\u0000');
        if (this.#matcherCache?.key !== key) {
          this.#matcherCache = { key, matcher: buildSecretMatcher(secrets), source: provided };
        } else {
          this.#matcherCache.source = provided;
        }
      }
      matcher = this.#matcherCache?.matcher;
    } catch (e) {
      this.#log(
        'error',
        `Audit log: the known-secrets provider failed (${redactError(e, [])}); event refused.`,
      );
      throw new AuditUnavailableError();
    }
    if (!matcher) {
      return;
    }
    for (const [field, text] of stringFields(event)) {
      matcher.lastIndex = 0;
      if (matcher.test(text)) {
        throw new InvalidInputError(
          `The audit event's field '${field}' contains a stored secret value, so it was not written. Record the credential name or a fingerprint, never the value.`,
          { field },
        );
      }
    }
  }

  #kick(): void {
    if (this.#draining || this.#queue.length === 0) {
      return;
    }
    this.#draining = this.#drain()
      .catch((e: unknown) => {
        // Not expected (#writeBatch settles every caller itself); never leave a rejection unhandled.
        this.#log('error', `Audit log: internal error while writing: ${redactError(e, [])}`);
      })
      .finally(() => {
        this.#draining = undefined;
        // Events queued while the last batch finished.
        this.#kick();
        if (this.#disposed && !this.#draining) {
          void this.#closeFiles();
        }
      });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      await this.#writeBatch();
    }
  }

  /** Writes one batch: everything queued when the lock is acquired (up to MAX_BATCH). */
  async #writeBatch(): Promise<void> {
    let batch: Pending[] = [];
    let events: AuditEvent[] = [];
    try {
      if (!this.#dirReady) {
        await fsp.mkdir(nodePath.dirname(this.path), { recursive: true });
        this.#dirReady = true;
      }
      const chainKey = this.#keyedChain ? (this.#chainKey ?? (await this.chainKey())) : undefined;
      if (this.#keyedChain && !chainKey) {
        throw new Error('the audit key is not available, so keyed lines cannot be sealed');
      }
      await this.#lock.acquire();
      try {
        batch = this.#queue.splice(0, MAX_BATCH);
        events = await this.#appendLocked(batch, chainKey);
      } finally {
        this.#lock.release();
      }
    } catch (e) {
      if (batch.length === 0) {
        // Failed before taking the batch (folder or lock): fail what is queued now.
        batch = this.#queue.splice(0, MAX_BATCH);
      }
      this.#head = undefined; // re-read the chain head from disk next time
      this.#dirReady = false; // and make sure the folder is there
      const file = this.#file; // and reopen the file
      this.#file = undefined;
      await file?.fh.close().catch(() => undefined);
      this.#log(
        'error',
        `Audit log: could not write ${batch.length} event(s) to ${this.path}: ${redactError(e, [])}. The requests were refused (fail-closed); check the disk and the file's permissions.`,
      );
      const err = new AuditUnavailableError();
      for (const p of batch) {
        p.reject(err);
      }
      return;
    }
    batch.forEach((p, i) => p.resolve(events[i]));
    for (const listener of [...this.#listeners]) {
      try {
        listener(events);
      } catch (e) {
        this.#log('error', `Audit log: an onDidAppend listener failed: ${redactError(e, [])}`);
      }
    }
  }

  /** Under the lock: find the head, write the lines durably, update the sidecar. */
  async #appendLocked(batch: Pending[], chainKey: ChainKey | undefined): Promise<AuditEvent[]> {
    const { fh, size, created } = await this.#openFile();
    let head = this.#head;
    let prefix = '';
    if (!head || head.size !== size) {
      const synced = await this.#resync(fh, size);
      head = synced.head;
      prefix = synced.needsNewline ? '\n' : '';
    }
    let prev = head.hash;
    let text = prefix;
    const events: AuditEvent[] = new Array<AuditEvent>(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const event = sealEvent(batch[i].input, prev, chainKey);
      events[i] = event;
      prev = event.hash;
      text += eventLine(event) + '\n';
    }
    const buf = Buffer.from(text, 'utf8');
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
      count: head.count + events.length,
      hash: prev,
      size: size + buf.length,
    };
    this.#head = next;
    try {
      await this.#headFile.write(next);
    } catch (e) {
      // The lines are durable and chained; the next batch rewrites the sidecar. Until then,
      // verify reports the lines after the recorded head.
      this.#log('error', `Audit log: could not update ${this.path}.head: ${redactError(e, [])}`);
    }
    return events;
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
      this.#log('warn', `Audit log: ${this.path}.head is unreadable; rebuilding it from the audit file.`);
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
      this.#log(
        'warn',
        `Audit log: ${this.path} has ${extra} line(s) after the last recorded head; continuing the chain after them.`,
      );
      return { head: { count: recorded.count + extra, hash: tailHash ?? recorded.hash, size }, needsNewline };
    }
    const count = size === 0 ? 0 : (await countNewlines(fh, 0, size)) + partial;
    if (recorded && recorded.size > size) {
      this.#log(
        'error',
        `Audit log: ${this.path} is shorter than recorded (${size} < ${recorded.size} bytes): lines were deleted or the file was replaced. Run Verify Audit Log; new events keep chaining from the recorded head.`,
      );
      return { head: { count, hash: recorded.hash, size }, needsNewline };
    }
    if (tail.line !== undefined && tailHash === undefined) {
      this.#log(
        'error',
        `Audit log: the last line of ${this.path} is not a valid audit event. Run Verify Audit Log.`,
      );
    }
    return { head: { count, hash: tailHash ?? GENESIS_HASH, size }, needsNewline };
  }

  /** Logs with every known secret (in any encoded form) redacted: the last line of defence. */
  #log(level: 'warn' | 'error', message: string): void {
    let secrets: string[] = [];
    try {
      secrets = this.#knownSecrets ? [...this.#knownSecrets()] : [];
    } catch {
      // The provider failing must not stop the log line.
    }
    try {
      this.#logger[level](redact(message, secrets));
    } catch {
      // A broken logger must not break the audit path.
    }
  }
}

const KEY_TOO_SHORT = `The audit key must be at least ${MIN_AUDIT_KEY_BYTES} random bytes. Create one with generateAuditKey() and keep it in the secret store.`;

function validKey(key: unknown): key is Buffer {
  return Buffer.isBuffer(key) && key.length >= MIN_AUDIT_KEY_BYTES;
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

/** Every string in the event (nested `client` and `rules` too), with a field path. */
function* stringFields(event: AuditEventInput): Generator<[string, string]> {
  for (const [k, v] of Object.entries(event)) {
    if (typeof v === 'string') {
      yield [k, v];
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        if (typeof v[i] === 'string') {
          yield [`${k}[${i}]`, v[i]];
        }
      }
    } else if (v && typeof v === 'object') {
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) {
        if (typeof v2 === 'string') {
          yield [`${k}.${k2}`, v2];
        }
      }
    }
  }
}
