/**
 * The 32-byte key that encrypts the file store's values (README.md, "Headless CLI"): from the OS keyring where
 * one answers, else a 0600 `master.key` file. The source is recorded in `<dir>/store.json`, so a
 * store created with the keyring is never silently re-keyed from a file later (that would make
 * every stored value unreadable).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StoreError } from '../errors';
import { type Logger, NULL_LOGGER } from '../ports';
import { ensurePrivateDir, writeFileAtomic } from './atomicFile';
import { withFileLock } from './fileLock';

export const KEYRING_SERVICE = 'agent-keyring';
export const MASTER_KEY_FILE = 'master.key';
export const STORE_INFO_FILE = 'store.json';
const KEY_LOCK = 'key.lock';

export type KeySource = 'keyring' | 'file';

export interface StoreInfo {
  format: 1;
  key_source: KeySource;
}

/** The part of an OS keyring the master key needs (injectable for tests). */
export interface KeyringAccess {
  /** The stored password, or null when there is none. Throws when no keyring answers. */
  get(service: string, account: string): Promise<string | null>;
  set(service: string, account: string, password: string): Promise<void>;
}

export interface MasterKeyOptions {
  logger?: Logger;
  /** Defaults to `process.env`; `AGENT_KEYRING_NO_KEYRING=1` forces the key file. */
  env?: NodeJS.ProcessEnv;
  /** Defaults to `@napi-rs/keyring` when installed. `null` means "no keyring". */
  keyring?: KeyringAccess | null;
}

/**
 * Returns the store's 32-byte master key, creating the store directory (0700), the key and
 * `store.json` on first use.
 *
 * Order: the source recorded in `store.json` if any; else the OS keyring (service
 * `agent-keyring`, account = the absolute store directory) unless `AGENT_KEYRING_NO_KEYRING=1`;
 * else `<dir>/master.key` (mode 0600).
 *
 * @throws StoreError when the recorded source cannot give the key (keyring unavailable or entry
 * missing, key file missing while values exist), the key file is readable by group or others
 * (says to `chmod 600` it), or the key is malformed. Messages never contain key material.
 */
export async function loadMasterKey(dir: string, opts: MasterKeyOptions = {}): Promise<Buffer> {
  const storeDir = path.resolve(dir);
  const logger = opts.logger ?? NULL_LOGGER;
  const env = opts.env ?? process.env;
  await ensurePrivateDir(storeDir);
  return withFileLock(path.join(storeDir, KEY_LOCK), async () => {
    const info = await readStoreInfo(storeDir);
    const noKeyring = env.AGENT_KEYRING_NO_KEYRING === '1';
    const keyring = () => (opts.keyring === undefined ? loadNativeKeyring(logger) : opts.keyring);

    if (info?.key_source === 'keyring') {
      if (noKeyring) {
        throw new StoreError(
          `The store ${storeDir} keeps its master key in the OS keyring, but AGENT_KEYRING_NO_KEYRING=1 forbids using it. Unset AGENT_KEYRING_NO_KEYRING to open this store.`,
        );
      }
      const kr = keyring();
      if (!kr) {
        throw new StoreError(
          `The store ${storeDir} keeps its master key in the OS keyring, but no keyring is available here (is @napi-rs/keyring installed and a keyring service running?). Open the store where its keyring is, or restore a backup.`,
        );
      }
      let stored: string | null;
      try {
        stored = await kr.get(KEYRING_SERVICE, storeDir);
      } catch (e) {
        throw new StoreError(
          `The store ${storeDir} keeps its master key in the OS keyring, which did not answer (${shortReason(e)}). Unlock or start the keyring service, then retry.`,
        );
      }
      if (stored === null) {
        throw new StoreError(
          `The OS keyring has no master key for the store ${storeDir} (service '${KEYRING_SERVICE}', account '${storeDir}'). Without it the stored values cannot be decrypted; restore the keyring entry or a backup of the store.`,
        );
      }
      return decodeKey(stored, `the OS keyring entry for ${storeDir}`);
    }

    if (info?.key_source === 'file') {
      const key = await readKeyFile(storeDir);
      if (key) {
        return key;
      }
      if (await hasStoredValues(storeDir)) {
        throw new StoreError(
          `The master key file ${path.join(storeDir, MASTER_KEY_FILE)} is missing, but ${path.join(storeDir, 'secrets.json')} holds encrypted values. Restore master.key from a backup; a new key could not decrypt them.`,
        );
      }
      return createKeyFile(storeDir, logger);
    }

    // New store (or one made before store.json existed).
    const existingFile = await readKeyFile(storeDir);
    if (existingFile) {
      await writeStoreInfo(storeDir, 'file');
      return existingFile;
    }
    if (!noKeyring) {
      const kr = keyring();
      if (kr) {
        const key = await tryKeyring(kr, storeDir, logger);
        if (key) {
          await writeStoreInfo(storeDir, 'keyring');
          logger.info(`Agent Keyring store ${storeDir}: master key is in the OS keyring.`);
          return key;
        }
      }
    }
    if (await hasStoredValues(storeDir)) {
      throw new StoreError(
        `The store ${storeDir} holds encrypted values but neither store.json nor master.key says where its key is. Restore store.json and the key source from a backup.`,
      );
    }
    const key = await createKeyFile(storeDir, logger);
    return key;
  });
}

/** Reads `<dir>/store.json`, or undefined when it does not exist. */
export async function readStoreInfo(dir: string): Promise<StoreInfo | undefined> {
  const file = path.join(dir, STORE_INFO_FILE);
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw new StoreError(`Cannot read ${file}: ${shortReason(e)}. Check the store directory's permissions.`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = undefined;
  }
  const r = raw as Partial<StoreInfo> | undefined;
  if (!r || r.format !== 1 || (r.key_source !== 'keyring' && r.key_source !== 'file')) {
    throw new StoreError(
      `${file} is not valid: expected {"format":1,"key_source":"keyring"|"file"}. Repair it (it says where the master key is) or restore it from a backup.`,
    );
  }
  return { format: 1, key_source: r.key_source };
}

async function writeStoreInfo(dir: string, source: KeySource): Promise<void> {
  const info: StoreInfo = { format: 1, key_source: source };
  await writeFileAtomic(path.join(dir, STORE_INFO_FILE), `${JSON.stringify(info)}\n`, { mode: 0o600 });
}

async function tryKeyring(kr: KeyringAccess, storeDir: string, logger: Logger): Promise<Buffer | undefined> {
  try {
    const existing = await kr.get(KEYRING_SERVICE, storeDir);
    if (existing !== null) {
      return decodeKey(existing, `the OS keyring entry for ${storeDir}`);
    }
    const key = crypto.randomBytes(32);
    await kr.set(KEYRING_SERVICE, storeDir, key.toString('base64'));
    // Read it back: some backends accept a write they cannot return later.
    const back = await kr.get(KEYRING_SERVICE, storeDir);
    if (back === null || !decodeKey(back, 'the OS keyring').equals(key)) {
      logger.warn('The OS keyring did not return the master key it was given; using a key file instead.');
      return undefined;
    }
    return key;
  } catch (e) {
    if (e instanceof StoreError) {
      throw e;
    }
    logger.info(`No usable OS keyring (${shortReason(e)}); the master key goes into a 0600 file.`);
    return undefined;
  }
}

async function readKeyFile(storeDir: string): Promise<Buffer | undefined> {
  return readMasterKeyFile(path.join(storeDir, MASTER_KEY_FILE));
}

/**
 * Reads a base64 master key file, or undefined when it does not exist.
 * @throws StoreError when it is readable or writable by group or others (says to `chmod 600` it),
 * cannot be opened, or does not hold a 32-byte key. Messages never contain key material.
 */
export async function readMasterKeyFile(file: string): Promise<Buffer | undefined> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw new StoreError(
      `Cannot open the master key file ${file}: ${shortReason(e)}. Check its owner and permissions.`,
    );
  }
  try {
    const st = await fh.stat();
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new StoreError(
        `The master key file ${file} is readable or writable by other users (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}), so it is not used. Run \`chmod 600 ${file}\`, consider the key exposed (rotate your credentials), and retry.`,
      );
    }
    return decodeKey(await fh.readFile({ encoding: 'utf8' }), `the master key file ${file}`);
  } finally {
    await fh.close();
  }
}

async function createKeyFile(storeDir: string, logger: Logger): Promise<Buffer> {
  const file = path.join(storeDir, MASTER_KEY_FILE);
  const key = crypto.randomBytes(32);
  // Write under a temp name first so nobody ever sees a half-written key; 'wx' in writeFileAtomic
  // creates the temp file with mode 0600 from the start.
  await writeFileAtomic(file, `${key.toString('base64')}\n`, { mode: 0o600 });
  await writeStoreInfo(storeDir, 'file');
  logger.info(`Agent Keyring store ${storeDir}: created master key file ${file} (mode 0600).`);
  return key;
}

/**
 * Decodes a base64 32-byte master key; `where` names its source in the error.
 * @throws StoreError (without key material) when it is not one.
 */
export function decodeKey(text: string, where: string): Buffer {
  const t = text.trim();
  const key = /^[A-Za-z0-9+/]{43}=$/.test(t) ? Buffer.from(t, 'base64') : undefined;
  if (!key || key.length !== 32) {
    throw new StoreError(
      `${capitalize(where)} does not hold a valid master key (expected 32 bytes in base64). Restore it from a backup.`,
    );
  }
  return key;
}

async function hasStoredValues(storeDir: string): Promise<boolean> {
  try {
    const raw = JSON.parse(
      await fs.promises.readFile(path.join(storeDir, 'secrets.json'), 'utf8'),
    ) as unknown;
    return !!raw && typeof raw === 'object' && Object.keys(raw).length > 0;
  } catch (e) {
    // Missing → no values; unreadable/corrupt → assume there are (never re-key over them).
    return (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/**
 * `@napi-rs/keyring` is an optional dependency with a native binary: load it lazily and treat any
 * failure as "no keyring". On Linux the entry is pinned to the Secret Service, because the kernel
 * keyring fallback forgets keys at logout or reboot, which would lose the store.
 */
function loadNativeKeyring(logger: Logger): KeyringAccess | null {
  let mod: typeof import('@napi-rs/keyring');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require('@napi-rs/keyring') as typeof import('@napi-rs/keyring');
  } catch (e) {
    logger.debug(`@napi-rs/keyring is not available: ${shortReason(e)}`);
    return null;
  }
  const entry = (service: string, account: string) =>
    new mod.AsyncEntry(
      service,
      account,
      process.platform === 'linux' ? { linux: { store: 'secret-service' } } : undefined,
    );
  return {
    get: (service, account) =>
      withTimeout(async (signal) => (await entry(service, account).getPassword(signal)) ?? null),
    set: (service, account, password) =>
      withTimeout(async (signal) => {
        await entry(service, account).setPassword(password, signal);
      }),
  };
}

/** A keyring that does not answer (e.g. a D-Bus without a Secret Service) must not hang start-up. */
const KEYRING_TIMEOUT_MS = 5000;

async function withTimeout<T>(op: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ctl.abort();
      reject(new Error(`the OS keyring did not answer within ${KEYRING_TIMEOUT_MS / 1000} s`));
    }, KEYRING_TIMEOUT_MS);
  });
  try {
    return await Promise.race([op(ctl.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function shortReason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.length > 200 ? `${msg.slice(0, 200)}…` : msg;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
