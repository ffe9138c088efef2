/**
 * {@link SecretBackend} over `akr_secrets`: each value enveloped (envelope.ts) before it is sent,
 * so the database only ever holds ciphertext and wrapped data keys; the master key stays in the
 * servers' memory. Writes notify every listening server. Errors name the key, never a value.
 */
import { StoreError } from '../../errors';
import type { Disposable, SecretBackend } from '../../ports';
import { masterKeyId, openValue, sealValue } from './envelope';
import type { PostgresChanges } from './postgresChanges';
import type { PostgresDb } from './postgresDb';
import { JoinNext } from './joinNext';
import { NOTIFY_CHANNEL } from './schema';

const MAX_KEY_LENGTH = 512;
const MAX_VALUE_BYTES = 64 * 1024;

interface Row {
  master_key_id: string;
  wrapped_key: Buffer;
  ciphertext: Buffer;
}

export class PostgresSecretBackend implements SecretBackend, Disposable {
  private readonly key: Buffer;
  private readonly keyId: string;
  /**
   * Decrypted values by entry key, with the bytes they came from: an unchanged row (both blobs
   * equal) is not decrypted again; any changed byte is decrypted, and so authenticated, afresh.
   */
  private readonly decrypted = new Map<string, { wrapped: Buffer; ciphertext: Buffer; value: string }>();
  /** Concurrent reads of one key share a round trip (each still sent after its caller called). */
  private readonly reads = new Map<string, JoinNext<string | undefined>>();

  /** @param masterKey 32 bytes (see teamMasterKey.ts); copied, the caller may zero its buffer. */
  constructor(
    private readonly db: PostgresDb,
    private readonly changes: PostgresChanges,
    masterKey: Buffer,
  ) {
    if (masterKey.length !== 32) {
      throw new StoreError(`The master key must be 32 bytes, got ${masterKey.length}.`);
    }
    this.key = Buffer.from(masterKey);
    this.keyId = masterKeyId(this.key);
  }

  /**
   * The value under `key`, or undefined. One round trip (shared by the reads of this key waiting at
   * the same time); decrypts only when the entry changed.
   * @throws StoreError when the entry cannot be decrypted (another master key, or edited bytes).
   */
  get(key: string): Promise<string | undefined> {
    let j = this.reads.get(key);
    if (!j) {
      j = new JoinNext<string | undefined>();
      this.reads.set(key, j);
    }
    const joined = j;
    const p = joined.run(() => this.getNow(key));
    const drop = (): void => {
      if (joined.idle && this.reads.get(key) === joined) {
        this.reads.delete(key);
      }
    };
    p.then(drop, drop);
    return p;
  }

  private async getNow(key: string): Promise<string | undefined> {
    const rows = await this.db.query<Row>(
      'SELECT master_key_id, wrapped_key, ciphertext FROM akr_secrets WHERE key = $1',
      [key],
      `reading the secret '${clip(key)}'`,
    );
    const row = rows[0];
    if (!row) {
      this.decrypted.delete(key);
      return undefined;
    }
    const cached = this.decrypted.get(key);
    if (cached && cached.wrapped.equals(row.wrapped_key) && cached.ciphertext.equals(row.ciphertext)) {
      return cached.value;
    }
    let value: string;
    try {
      value = openValue(this.key, key, { wrappedKey: row.wrapped_key, ciphertext: row.ciphertext });
    } catch {
      throw new StoreError(
        row.master_key_id !== this.keyId
          ? `Cannot decrypt '${clip(key)}' in the team store ${this.db.display}: it was encrypted under another master key (id ${row.master_key_id}; this server holds ${this.keyId}). Give every server the same key (AGENT_KEYRING_MASTER_KEY or AGENT_KEYRING_MASTER_KEY_FILE).`
          : `Cannot decrypt '${clip(key)}' in the team store ${this.db.display}: the entry was modified. Rotate the credential to give it a new value, or restore the database from a backup.`,
      );
    }
    this.decrypted.set(key, { wrapped: row.wrapped_key, ciphertext: row.ciphertext, value });
    return value;
  }

  /** Encrypts and stores `value` under `key` (one statement, notifies every server). */
  async store(key: string, value: string): Promise<void> {
    await this.write(key, value, true);
  }

  /**
   * Stores `value` only if `key` has no entry yet, and returns the entry's value either way: two
   * servers starting at once agree on one value (used for the audit fingerprint key).
   */
  async storeIfAbsent(key: string, value: string): Promise<string> {
    await this.write(key, value, false);
    const stored = await this.get(key);
    if (stored === undefined) {
      throw new StoreError(`The secret '${clip(key)}' vanished right after it was stored; retry.`);
    }
    return stored;
  }

  /** Deletes `key`; a no-op when it is absent. */
  async delete(key: string): Promise<void> {
    await this.db.query(
      `WITH d AS (DELETE FROM akr_secrets WHERE key = $1 RETURNING key)
       SELECT pg_notify($2, 's:' || key) FROM d`,
      [key, NOTIFY_CHANNEL],
      `deleting the secret '${clip(key)}'`,
    );
    this.decrypted.delete(key);
  }

  /** Keys present (names only; for `store copy` and tests). */
  async keys(): Promise<string[]> {
    const rows = await this.db.query<{ key: string }>(
      'SELECT key FROM akr_secrets ORDER BY key',
      [],
      'listing the secrets',
    );
    return rows.map((r) => r.key);
  }

  /** Fires with each key changed by this or another server. */
  onDidChange(listener: (key: string) => void): Disposable {
    return this.changes.onSecret(listener);
  }

  dispose(): void {
    this.key.fill(0);
    this.decrypted.clear();
  }

  private async write(key: string, value: string, overwrite: boolean): Promise<void> {
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
      throw new StoreError(
        `A secret key must be a non-empty string of at most ${MAX_KEY_LENGTH} characters.`,
      );
    }
    if (typeof value !== 'string') {
      throw new StoreError(`The value for '${clip(key)}' must be a string.`);
    }
    if (Buffer.byteLength(value, 'utf8') > MAX_VALUE_BYTES) {
      throw new StoreError(
        `The value for '${clip(key)}' is larger than ${MAX_VALUE_BYTES / 1024} KiB; store a smaller credential.`,
      );
    }
    const sealed = sealValue(this.key, key, value);
    const conflict = overwrite
      ? `DO UPDATE SET master_key_id = EXCLUDED.master_key_id, wrapped_key = EXCLUDED.wrapped_key,
           ciphertext = EXCLUDED.ciphertext, updated_at = now()`
      : 'DO NOTHING';
    await this.db.query(
      `WITH w AS (
         INSERT INTO akr_secrets (key, master_key_id, wrapped_key, ciphertext) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) ${conflict} RETURNING key)
       SELECT pg_notify($5, 's:' || key) FROM w`,
      [key, this.keyId, sealed.wrappedKey, sealed.ciphertext, NOTIFY_CHANNEL],
      `storing the secret '${clip(key)}'`,
    );
  }
}

function clip(key: string): string {
  return key.length > 100 ? `${key.slice(0, 100)}…` : key;
}
