/**
 * {@link SecretBackend} over `<dir>/secrets.json` for the headless server (README.md, "Headless CLI"): a JSON map
 * `key → base64(iv | tag | ciphertext)`, AES-256-GCM with a fresh 12-byte IV per write and the
 * key as additional authenticated data, so an entry cannot be moved under another key.
 */
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { StoreError } from '../errors';
import { MAX_VALUE_BYTES } from '../limits';
import { type Disposable, type Logger, type SecretBackend, NULL_LOGGER } from '../ports';
import { ensurePrivateDir, removeOrphanTempFiles } from './atomicFile';
import { CachedJsonFile } from './cachedJsonFile';
import { withFileLock } from './fileLock';
import type { FileStoreOptions } from './fileMetadataStore';

export const SECRETS_FILE = 'secrets.json';
export const SECRETS_LOCK = 'secrets.lock';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const MAX_KEY_LENGTH = 512;
/** Values above this are refused: a credential is small, and the whole file is rewritten per write. */

type Entries = Readonly<Record<string, string>>;

/**
 * Encrypted secret values in one file, shared safely by several processes.
 *
 * Guarantees: values are never written in plain text; `get` sees another process's committed
 * write on the very next call; writes are serialised (lock `<dir>/secrets.lock`, separate from the
 * metadata lock so the credential store may write a secret while it holds the metadata lock) and
 * atomic. Errors never contain a value.
 */
export class EncryptedFileSecretBackend implements SecretBackend, Disposable {
  readonly file: string;
  private readonly entries: CachedJsonFile<Entries>;
  private readonly lockDir: string;
  private readonly key: Buffer;
  /**
   * Decrypted values of the current document, by key. An entry is immutable within one document
   * (any write or another process's change gives a new document object), so a value is decrypted
   * once per version of the file instead of on every read; the map goes away with its document.
   * The plain values live in this process's memory as long as the file is unchanged — no longer
   * exposed than while they are handed out, and never written anywhere.
   */
  private decrypted = new WeakMap<Entries, Map<string, string>>();

  /**
   * @param masterKey 32 bytes (see `loadMasterKey`).
   * @throws StoreError if the key is not 32 bytes.
   */
  constructor(
    readonly dir: string,
    masterKey: Buffer,
    private readonly opts: FileStoreOptions = {},
  ) {
    if (masterKey.length !== 32) {
      throw new StoreError(
        `The master key must be 32 bytes, got ${masterKey.length}. Check the key source named in ${path.join(dir, 'store.json')}.`,
      );
    }
    this.key = Buffer.from(masterKey);
    this.file = path.join(dir, SECRETS_FILE);
    this.lockDir = path.join(dir, SECRETS_LOCK);
    const logger: Logger = opts.logger ?? NULL_LOGGER;
    this.entries = new CachedJsonFile<Entries>(
      this.file,
      (text) => parseEntries(text, this.file),
      () => Object.freeze({}),
      logger,
    );
  }

  /**
   * The value under `key`, or undefined.
   * @throws StoreError when the entry cannot be decrypted (wrong master key, or the file was
   * edited), or the file is corrupt. The message names the key, never a value.
   */
  async get(key: string): Promise<string | undefined> {
    const entries = await this.entries.read();
    const blob = Object.prototype.hasOwnProperty.call(entries, key) ? entries[key] : undefined;
    if (blob === undefined) {
      return undefined;
    }
    let values = this.decrypted.get(entries);
    if (!values) {
      values = new Map();
      this.decrypted.set(entries, values);
    }
    let value = values.get(key);
    if (value === undefined) {
      value = this.decrypt(key, blob);
      values.set(key, value);
    }
    return value;
  }

  /** Encrypts and stores `value` under `key` (atomic, under the secrets lock). */
  async store(key: string, value: string): Promise<void> {
    checkKey(key);
    if (typeof value !== 'string') {
      throw new StoreError(`The value for '${key}' must be a string.`);
    }
    if (Buffer.byteLength(value, 'utf8') > MAX_VALUE_BYTES) {
      throw new StoreError(
        `The value for '${key}' is larger than ${MAX_VALUE_BYTES / 1024} KiB; store a smaller credential.`,
      );
    }
    const blob = this.encrypt(key, value);
    await this.mutate((draft) => {
      draft[key] = blob;
      return true;
    });
  }

  /** Deletes `key`; a no-op (and no write) when it is absent. */
  async delete(key: string): Promise<void> {
    const current = await this.entries.read();
    if (!Object.prototype.hasOwnProperty.call(current, key)) {
      return;
    }
    await this.mutate((draft) => {
      if (!Object.prototype.hasOwnProperty.call(draft, key)) {
        return false;
      }
      delete draft[key];
      return true;
    });
  }

  /** Keys present in the file (names only; for maintenance and tests). */
  async keys(): Promise<string[]> {
    return Object.keys(await this.entries.read());
  }

  /** Fires with each key whose entry was added, changed or removed, by this or another process. */
  onDidChange(listener: (key: string) => void): Disposable {
    return this.entries.onDidChange((prev, next) => {
      for (const k of new Set([...Object.keys(prev), ...Object.keys(next)])) {
        if (prev[k] !== next[k]) {
          listener(k);
        }
      }
    });
  }

  dispose(): void {
    this.entries.dispose();
  }

  private async mutate(change: (draft: Record<string, string>) => boolean): Promise<void> {
    await ensurePrivateDir(this.dir);
    await withFileLock(
      this.lockDir,
      async (guard) => {
        // Under the lock, every write: a writer killed mid-write leaves its temp file behind.
        await removeOrphanTempFiles(this.dir, SECRETS_FILE);
        const draft: Record<string, string> = { ...(await this.entries.load()) };
        if (change(draft)) {
          const sorted = Object.fromEntries(
            Object.entries(draft).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
          );
          await this.entries.write(Object.freeze(sorted), `${JSON.stringify(sorted, null, 2)}\n`, () =>
            guard.assertHeld(),
          );
        }
      },
      this.opts.lock,
    );
  }

  private encrypt(key: string, value: string): string {
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(key, 'utf8'));
    const ct = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
  }

  private decrypt(key: string, blob: string): string {
    const raw = Buffer.from(blob, 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) {
      throw this.decryptError(key);
    }
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(key, 'utf8'));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw this.decryptError(key);
    }
  }

  private decryptError(key: string): StoreError {
    return new StoreError(
      `Cannot decrypt '${key}' in ${this.file}: the master key does not match this store, or the entry was modified or moved. Use the key source recorded in ${path.join(this.dir, 'store.json')} (OS keyring or master.key), or restore ${SECRETS_FILE} from a backup.`,
    );
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new StoreError(`A secret key must be a non-empty string of at most ${MAX_KEY_LENGTH} characters.`);
  }
}

function parseEntries(text: string, file: string): Entries {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new StoreError(
      `The secrets file ${file} is not valid JSON. It was left untouched: restore it from a backup, or move it away to start with no stored values.`,
    );
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new StoreError(
      `The secrets file ${file} must hold a JSON object (key → encrypted value). Restore it from a backup.`,
    );
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(v)) {
      throw new StoreError(
        `The secrets file ${file} has a malformed entry for '${k.slice(0, 100)}' (expected base64 text). Restore it from a backup.`,
      );
    }
    out[k] = v;
  }
  return Object.freeze(out);
}
