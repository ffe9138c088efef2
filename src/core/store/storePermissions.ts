/**
 * StrictModes for the headless store, as OpenSSH checks `~/.ssh`: the store folder and the files
 * that decide who gets which key (metadata, encrypted values, master key, audit log, policy) must
 * be owned by the user running Agent Keyring and not writable by group or others. Otherwise a local
 * user who can write them could replace `metadata.json`, grant their own token and read any key
 * through the victim's running server.
 *
 * - Owned by someone else → refused, with the `chown` to run.
 * - Ours but writable by group/others → fixed (`chmod 700` the folder, `chmod 600` the file) with a
 *   warning in the log: only we could have set those modes, and the fix cannot widen anything.
 * No-op where there are no POSIX owners (Windows: `process.getuid` is missing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StoreError } from '../errors';
import type { Logger } from '../ports';

/** Files in the store folder that are checked when present (others are the store's own temp/lock files). */
export const STORE_CHECKED_FILES = [
  'metadata.json',
  'secrets.json',
  'master.key',
  'store.json',
  'audit.jsonl',
  'audit.jsonl.head',
  'policy.json',
  'attach.key',
] as const;

export interface StorePermissionOptions {
  logger: Logger;
  /** The user that must own the store (default: this process's effective uid). For tests. */
  uid?: number;
}

/**
 * Checks (and where ours, fixes) the modes and owners of the store folder `dir` and its files.
 * A missing folder or file is fine (it will be created with safe modes).
 * @throws StoreError (`store_error`) naming the path, its owner and the command that fixes it.
 */
export function checkStorePermissions(dir: string, opts: StorePermissionOptions): void {
  const uid = opts.uid ?? (typeof process.geteuid === 'function' ? process.geteuid() : undefined);
  if (uid === undefined) {
    return;
  }
  checkOne(dir, true, uid, opts.logger);
  for (const name of STORE_CHECKED_FILES) {
    checkOne(path.join(dir, name), false, uid, opts.logger);
  }
}

function checkOne(p: string, isDir: boolean, uid: number, logger: Logger): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return;
    }
    throw new StoreError(
      `Cannot check the permissions of ${p} (${(e as NodeJS.ErrnoException).code ?? 'error'}). Make sure it is readable by you.`,
    );
  }
  const what = isDir ? 'store folder' : 'store file';
  if (st.uid !== uid) {
    throw new StoreError(
      `The ${what} ${p} is owned by user ${st.uid}, not by you (user ${uid}), so whoever owns it could change which agent gets which key. Agent Keyring refuses to use it. If it is yours, run: chown ${isDir ? '-R ' : ''}${uid} '${p}' && chmod ${isDir ? '700' : '600'} '${p}' — otherwise use a store folder of your own (--store DIR).`,
    );
  }
  if ((st.mode & 0o022) !== 0) {
    const mode = isDir ? 0o700 : 0o600;
    try {
      fs.chmodSync(p, mode);
    } catch (e) {
      throw new StoreError(
        `The ${what} ${p} is writable by group or others (mode ${octal(st.mode)}) and could not be fixed (${(e as NodeJS.ErrnoException).code ?? 'error'}). Run: chmod ${octal(mode)} '${p}'`,
      );
    }
    logger.warn(
      `The ${what} ${p} was writable by group or others (mode ${octal(st.mode)}); changed it to ${octal(mode)}. If someone else could have changed it meanwhile, check its agents and grants ('agent-keyring agent list', 'credential list').`,
    );
  }
}

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(3, '0');
}
