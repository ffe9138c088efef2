/**
 * The audit log (README.md, "Security model"): one event per decision, hash-chained, durable
 * before anything is released, shared safely by several processes.
 *
 * This class holds what every store shares: input checks, the known-secret refusal, fingerprints,
 * and group commit (every event queued while the previous batch was being written goes into one
 * batch). Where a sealed batch goes is an {@link AuditStorage}: the JSONL file
 * ({@link FileAuditStorage}, the default) or a team store's database. Either finds the chain head,
 * seals the batch from it and makes it durable in one step; then every caller of the batch resolves.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { AuditUnavailableError, InvalidInputError } from '../errors';
import type { AuditEvent, AuditEventInput, SecretValue } from '../model';
import type { Clock, Disposable, Logger } from '../ports';
import type { AuditStorage, PreparedAuditEvent } from './auditStorage';
import { type ChainKey, deriveChainKey } from './chain';
import { FileAuditStorage } from './fileAuditStorage';
import { buildSecretMatcher, redact, redactError } from './redact';

/** Prefix of every `value_fingerprint`. */
export const FINGERPRINT_PREFIX = 'hmac-sha256:';

/** Smallest accepted audit key, in bytes. */
export const MIN_AUDIT_KEY_BYTES = 16;

/** Most events written in one batch (bounds one write's size). */
const MAX_BATCH = 5000;

/** A fresh random audit key (32 bytes) for `value_fingerprint`s; store it in the SecretBackend. */
export function generateAuditKey(): Buffer {
  return randomBytes(32);
}

export interface AuditLogOptions {
  /** The JSONL file; its directory is created when missing. Ignored when `storage` is given. */
  path?: string;
  /**
   * Where sealed batches go instead of a file (a team store's database). Built with the log's
   * redacting logger, so its log lines never show a known secret.
   */
  storage?: (logger: Logger) => AuditStorage;
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
  input: PreparedAuditEvent;
  resolve: (e: AuditEvent) => void;
  reject: (e: unknown) => void;
}

/**
 * Append-only, hash-chained, fail-closed audit log. Open with {@link AuditLog.open}.
 *
 * Guarantees:
 * - {@link append} resolves only after its line is durable (fsync'd, or committed); otherwise it
 *   rejects with `AuditUnavailableError` (`audit_unavailable`) and the chain head is left where it was.
 * - Lines from several processes appending to one file (or one database) form one valid chain.
 * - No line ever holds a value: callers pass {@link fingerprint}s, and inputs containing a
 *   registered known secret are refused.
 */
export class AuditLog implements Disposable {
  /** The JSONL file, or undefined when the log writes to another storage (a team store). */
  readonly path: string | undefined;
  /** Where the events go, for messages: the file path or the team store's masked URL. */
  readonly where: string;
  /** The HMAC key once known; until then {@link #keyPending} settles with it. */
  #key: Buffer | undefined;
  #keyPending: Promise<Buffer | undefined> | undefined;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #queue: Pending[] = [];
  #draining: Promise<void> | undefined;
  #disposed = false;
  readonly #storage: AuditStorage;
  #listeners = new Set<(events: AuditEvent[]) => void>();
  #knownSecrets: (() => Iterable<string>) | undefined;
  readonly #keyedChain: boolean;
  #chainKey: ChainKey | undefined;
  #matcherCache: { key: string; matcher: RegExp | undefined; source: Iterable<string> } | undefined;

  private constructor(options: AuditLogOptions) {
    if (Buffer.isBuffer(options.hmacKey)) {
      this.#key = Buffer.from(options.hmacKey);
    }
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#knownSecrets = options.knownSecrets;
    this.#keyedChain = options.keyedChain === true;
    const redacting: Logger = {
      trace: (m) => this.#logger.trace(m),
      debug: (m) => this.#logger.debug(m),
      info: (m) => this.#logger.info(m),
      warn: (m) => this.#log('warn', m),
      error: (m) => this.#log('error', m instanceof Error ? m.message : m),
    };
    this.#storage = options.storage
      ? options.storage(redacting)
      : new FileAuditStorage(options.path as string, redacting);
    this.path = this.#storage instanceof FileAuditStorage ? this.#storage.path : undefined;
    this.where = this.#storage.where;
  }

  /**
   * Opens (or creates) the audit log at `path` (or over `storage`). Never fails on I/O: a directory
   * that cannot be created is logged, and appends then fail closed until it can.
   * @throws InvalidInputError when `hmacKey` is shorter than 16 bytes, or `path` is empty without `storage`. (A key
   * given as a promise is checked when it settles: a short or failed one makes every
   * {@link fingerprint} fail with `audit_unavailable`, and says why in the log.)
   */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    if (!options.storage && (typeof options.path !== 'string' || options.path.trim() === '')) {
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
    if (log.#storage instanceof FileAuditStorage) {
      await log.#storage.prepare();
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
    await this.#storage.close().catch(() => undefined);
  }

  #prepare(input: AuditEventInput): PreparedAuditEvent {
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

  /** Writes one batch: everything queued when the storage holds the chain head (up to MAX_BATCH). */
  async #writeBatch(): Promise<void> {
    let batch: Pending[] = [];
    let events: AuditEvent[] = [];
    let taken = false;
    try {
      const chainKey = this.#keyedChain ? (this.#chainKey ?? (await this.chainKey())) : undefined;
      if (this.#keyedChain && !chainKey) {
        throw new Error('the audit key is not available, so keyed lines cannot be sealed');
      }
      events = await this.#storage.appendBatch(() => {
        taken = true;
        batch = this.#queue.splice(0, MAX_BATCH);
        return batch.map((p) => p.input);
      }, chainKey);
      if (!taken || events.length !== batch.length) {
        throw new Error(`the audit storage returned ${events.length} event(s) for ${batch.length}`);
      }
    } catch (e) {
      if (!taken) {
        // Failed before taking the batch (folder, lock, connection): fail what is queued now.
        batch = this.#queue.splice(0, MAX_BATCH);
      }
      this.#log(
        'error',
        `Audit log: could not write ${batch.length} event(s) to ${this.where}: ${redactError(e, [])}. The requests were refused (fail-closed); ${this.path !== undefined ? "check the disk and the file's permissions" : 'check that the database is reachable'}.`,
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
