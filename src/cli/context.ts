/**
 * What every command needs: where the store is, a logger, and a way to open the file keyring
 * (and close it, flushing the audit log, whatever happens).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openFileKeyring, type Keyring } from '../core/keyring';
import type { AnomalyConfig } from '../core/model';
import { SYSTEM_CLOCK, type AlertSink, type Approver, type Logger } from '../core/ports';
import { isPostgresUrl, maskStoreUrl, storeSlug, storeUrlPassword } from '../core/store/postgres/storeUrl';
import { CliError } from './args';
import { rememberSecret } from './io';
import { StderrLogger, logLevelFromEnv, type LogLevel } from './logger';

export { DEFAULT_HOST, DEFAULT_PORT } from '../core/limits';
export const POLICY_FILE = 'policy.json';
export const AUDIT_FILE = 'audit.jsonl';

/** A bad file the user must fix (policy.json): exit code 2, message names the file. */
export class ConfigError extends CliError {
  constructor(message: string) {
    super(message, 2);
  }
}

/**
 * Team stores named on this command line, by the masked URL every other function sees and prints
 * (so no message can show the password) → the URL to connect with.
 */
const teamStoreUrls = new Map<string, string>();

/**
 * `--store DIR`, else `AGENT_KEYRING_STORE`, else `~/.agent-keyring`; always absolute. A
 * `postgres://` URL (a team store) is returned masked (`user:***@`); {@link openStore} connects
 * with the real one.
 */
export function resolveStoreDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const chosen =
    flag ?? (env.AGENT_KEYRING_STORE?.trim() || undefined) ?? path.join(os.homedir(), '.agent-keyring');
  if (isPostgresUrl(chosen)) {
    const masked = maskStoreUrl(chosen);
    teamStoreUrls.set(masked, chosen.trim());
    const password = storeUrlPassword(chosen);
    if (password) {
      rememberSecret(password);
    }
    return masked;
  }
  const expanded =
    chosen === '~' || chosen.startsWith(`~${path.sep}`) || chosen.startsWith('~/')
      ? path.join(os.homedir(), chosen.slice(1))
      : chosen;
  return path.resolve(expanded);
}

export function makeLogger(defaultLevel: LogLevel): Logger {
  return new StderrLogger(logLevelFromEnv(defaultLevel));
}

export interface OpenOptions {
  logger: Logger;
  anomalyConfig?: AnomalyConfig;
  approver?: Approver;
  alerts?: AlertSink;
  /** Only the long-running server needs the learned-hours history. */
  loadHistory?: boolean;
}

/** True when `store` is a team store (a `postgres://` URL) rather than a folder. */
export function isTeamStore(store: string): boolean {
  return isPostgresUrl(store);
}

/** The URL to connect to a team store named by {@link resolveStoreDir}'s masked form. */
export function teamStoreUrl(store: string): string {
  return teamStoreUrls.get(store) ?? store;
}

/**
 * The folder of what stays on this machine: the store folder itself for a file store; for a team
 * store `AGENT_KEYRING_STATE_DIR`, else `~/.agent-keyring/team/<user@host_port_db>` (policy.json,
 * the audit log, and the master key when the environment names none).
 */
export function localDirOf(store: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!isPostgresUrl(store)) {
    return store;
  }
  const override = env.AGENT_KEYRING_STATE_DIR?.trim();
  return override
    ? path.resolve(override)
    : path.join(os.homedir(), '.agent-keyring', 'team', storeSlug(store));
}

/** The store folder cannot be used by this user (exit 77, as sysexits' EX_NOPERM). */
export class StoreAccessError extends CliError {
  constructor(dir: string, detail: string) {
    super(
      `cannot use the store '${dir}': ${detail}. Run agent-keyring as the user who owns it, fix its ` +
        `permissions (the folder 0700 and its files 0600, owned by that user), or pass another folder with --store DIR`,
      77,
    );
  }
}

function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/**
 * Whether `dir` holds a keyring folder already (list commands do not create one): false only when
 * it does not exist; a folder this user may not read and write is an error, not "no keyring".
 * @throws StoreAccessError when the folder (or a parent) is not readable and writable by this user;
 *   ConfigError when it is a file.
 */
export function storeExists(dir: string): boolean {
  if (isPostgresUrl(dir)) {
    return true; // a team store: the database says whether it has a keyring
  }
  let isFolder: boolean;
  try {
    isFolder = fs.statSync(dir).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      return false;
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new StoreAccessError(dir, `permission denied for ${userName()} on a folder on its path`);
    }
    throw e;
  }
  if (!isFolder) {
    throw new ConfigError(
      `the store '${dir}' is not a folder; pass a folder with --store DIR or AGENT_KEYRING_STORE`,
    );
  }
  try {
    fs.accessSync(dir, fs.constants.R_OK | fs.constants.W_OK | fs.constants.X_OK);
  } catch {
    throw new StoreAccessError(dir, `${userName()} may not read and write it`);
  }
  return true;
}

/**
 * Opens the keyring in `dir` (created 0700 if missing), or the team store when `dir` is a masked
 * `postgres://` URL from {@link resolveStoreDir}.
 * @throws ConfigError when `dir` exists but is not a folder; StoreAccessError when this user may not
 * use it; StoreError when a team store cannot be opened (unreachable, schema to upgrade, another
 * master key).
 */
export async function openStore(
  dir: string,
  opts: OpenOptions,
): Promise<Keyring & { storeProbe?: () => Promise<void> }> {
  if (isPostgresUrl(dir)) {
    // Loaded only for a team store: the pg driver is not needed otherwise.
    const { openPostgresKeyring } = await import('../core/store/postgres/postgresStore.js');
    return openPostgresKeyring({
      url: teamStoreUrl(dir),
      localDir: localDirOf(dir),
      clock: SYSTEM_CLOCK,
      logger: opts.logger,
      anomalyConfig: opts.anomalyConfig,
      approver: opts.approver,
      alerts: opts.alerts,
      loadHistory: opts.loadHistory ?? false,
    });
  }
  storeExists(dir); // throws when it is a file or not this user's to use
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return openFileKeyring({
    dir,
    clock: SYSTEM_CLOCK,
    logger: opts.logger,
    anomalyConfig: opts.anomalyConfig,
    approver: opts.approver,
    alerts: opts.alerts,
    loadHistory: opts.loadHistory ?? false,
  });
}

/** Runs `fn` with an open keyring and always closes it (flushing the audit log). */
export async function withKeyring<T>(
  dir: string,
  logger: Logger,
  fn: (k: Keyring) => Promise<T>,
): Promise<T> {
  const keyring = await openStore(dir, { logger });
  try {
    return await fn(keyring);
  } finally {
    await keyring.close();
  }
}
