/**
 * Opens the encrypted file store (README.md, "Headless CLI") in one call: master key, metadata, secrets and the
 * {@link CredentialStore} over them, without a keyring service: `agent-keyring store copy` (a folder
 * side) and the store tests use it; `serve` and the other commands open a whole keyring
 * (`openFileKeyring`).
 */
import { type Clock, type Disposable, type Logger, NULL_LOGGER, SYSTEM_CLOCK } from '../ports';
import { CredentialStore } from './credentialStore';
import { EncryptedFileSecretBackend } from './encryptedFileSecretBackend';
import type { FileLockOptions } from './fileLock';
import { FileMetadataStore } from './fileMetadataStore';
import { type KeyringAccess, loadMasterKey } from './masterKey';

export interface OpenFileStoreOptions {
  clock?: Clock;
  logger?: Logger;
  /** Defaults to `process.env` (`AGENT_KEYRING_NO_KEYRING=1` forces the key file). */
  env?: NodeJS.ProcessEnv;
  /** Override the OS keyring (tests); `null` = none. */
  keyring?: KeyringAccess | null;
  lock?: FileLockOptions;
}

export interface FileStore extends Disposable {
  readonly dir: string;
  readonly credentials: CredentialStore;
  readonly metadata: FileMetadataStore;
  readonly secrets: EncryptedFileSecretBackend;
}

/**
 * Opens (creating if needed, mode 0700) the store in `dir`.
 * @throws StoreError when the master key cannot be obtained (see `loadMasterKey`).
 */
export async function openFileStore(dir: string, opts: OpenFileStoreOptions = {}): Promise<FileStore> {
  const logger = opts.logger ?? NULL_LOGGER;
  const key = await loadMasterKey(dir, { logger, env: opts.env, keyring: opts.keyring });
  const metadata = new FileMetadataStore(dir, { logger, lock: opts.lock });
  const secrets = new EncryptedFileSecretBackend(dir, key, { logger, lock: opts.lock });
  key.fill(0);
  const credentials = new CredentialStore({ metadata, secrets, clock: opts.clock ?? SYSTEM_CLOCK, logger });
  return {
    dir,
    credentials,
    metadata,
    secrets,
    dispose: () => {
      metadata.dispose();
      secrets.dispose();
    },
  };
}
