/**
 * Envelope encryption for values kept in PostgreSQL: every value gets its own random 256-bit data
 * key; the value is sealed with it (AES-256-GCM), and the data key is sealed with the master key
 * the servers hold (never stored in the database). Both seals bind the entry's key name as
 * additional authenticated data, so a row cannot be moved under another name. A database dump
 * alone decrypts nothing.
 */
import * as crypto from 'node:crypto';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const VALUE_AAD = 'agent-keyring/pg/v1/value:';
const DATA_KEY_AAD = 'agent-keyring/pg/v1/data-key:';

export interface SealedValue {
  /** iv | tag | AES-256-GCM(master key, data key). */
  wrappedKey: Buffer;
  /** iv | tag | AES-256-GCM(data key, value). */
  ciphertext: Buffer;
}

function seal(key: Buffer, plain: Buffer, aad: string): Buffer {
  const iv = crypto.randomBytes(IV_BYTES);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]);
}

/** @throws Error (no detail) when the blob is short, forged, or sealed under another key or name. */
function open(key: Buffer, blob: Buffer, aad: string): Buffer {
  if (blob.length < IV_BYTES + TAG_BYTES) {
    throw new Error('sealed blob too short');
  }
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, blob.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(blob.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(blob.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
}

/** Seals `value` for the entry `name` under a fresh data key wrapped by `masterKey` (32 bytes). */
export function sealValue(masterKey: Buffer, name: string, value: string): SealedValue {
  const dataKey = crypto.randomBytes(32);
  try {
    return {
      wrappedKey: seal(masterKey, dataKey, DATA_KEY_AAD + name),
      ciphertext: seal(dataKey, Buffer.from(value, 'utf8'), VALUE_AAD + name),
    };
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Opens a value sealed by {@link sealValue} for the same `name`.
 * @throws Error without detail when the master key is not the one it was sealed under, or a byte
 * of either blob was changed (the caller turns it into a message naming the entry).
 */
export function openValue(masterKey: Buffer, name: string, sealed: SealedValue): string {
  const dataKey = open(masterKey, sealed.wrappedKey, DATA_KEY_AAD + name);
  try {
    return open(dataKey, sealed.ciphertext, VALUE_AAD + name).toString('utf8');
  } finally {
    dataKey.fill(0);
  }
}

/**
 * A public fingerprint of a master key (HMAC of a fixed label; reveals nothing about the key), kept
 * in the database so a server holding a different key is stopped at start-up with a clear message
 * instead of failing on the first decryption.
 */
export function masterKeyId(masterKey: Buffer): string {
  return crypto
    .createHmac('sha256', masterKey)
    .update('agent-keyring master key id v1')
    .digest('hex')
    .slice(0, 32);
}
