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
import { CliError } from './args';
import { StderrLogger, logLevelFromEnv, type LogLevel } from './logger';

export const DEFAULT_PORT = 47017;
export const DEFAULT_HOST = '127.0.0.1';
export const POLICY_FILE = 'policy.json';
export const AUDIT_FILE = 'audit.jsonl';

/** A bad file the user must fix (policy.json): exit code 2, message names the file. */
export class ConfigError extends CliError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** `--store DIR`, else `AGENT_KEYRING_STORE`, else `~/.agent-keyring`; always absolute. */
export function resolveStoreDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const chosen =
    flag ?? (env.AGENT_KEYRING_STORE?.trim() || undefined) ?? path.join(os.homedir(), '.agent-keyring');
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

/** True when `dir` holds a keyring folder already (list commands do not create one). */
export function storeExists(dir: string): boolean {
  return fs.existsSync(dir);
}

/**
 * Opens the keyring in `dir` (created 0700 if missing).
 * @throws ConfigError when `dir` exists but is not a folder.
 */
export async function openStore(dir: string, opts: OpenOptions): Promise<Keyring> {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
    throw new ConfigError(
      `the store '${dir}' is not a folder; pass a folder with --store DIR or AGENT_KEYRING_STORE`,
    );
  }
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
