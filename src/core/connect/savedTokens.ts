/**
 * Agent tokens saved for clients that fetch their header at start-up (`agent-keyring token`,
 * Claude Code's `headersHelper`), so no token has to sit in a shell profile. Where: the OS keyring
 * where one answers (service `agent-keyring.agent-token`, account `<agent>@<store folder>`), else a
 * file `<store folder>/agent-tokens/<agent>.token` with mode 0600 in a 0700 folder — a plain file on
 * disk, readable by anyone who can read the user's files. The keyring is reached through the
 * platform's tool (toolKeyring.ts: `secret-tool`, `security`), so the CLI and the packaged
 * extension find the same entries; it counts only when a write reads back, any failure means the file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StoreError } from '../errors';
import { SecretValue } from '../model';
import { ensurePrivateDir, writeFileAtomic } from '../store/atomicFile';
import type { TokenKeyring } from './toolKeyring';

export const TOKEN_KEYRING_SERVICE = 'agent-keyring.agent-token';
export const SAVED_TOKENS_DIR = 'agent-tokens';

/** Where a token was saved (or found). */
export type TokenLocation =
  { kind: 'keyring'; service: string; account: string } | { kind: 'file'; file: string };

export interface SavedTokensOptions {
  /** The OS keyring, or null when there is none (tests, `AGENT_KEYRING_NO_KEYRING=1`). */
  keyring: TokenKeyring | null;
}

/** Saved tokens of the agents of one store folder. Never logs or throws a token. */
export class SavedTokens {
  readonly dir: string;
  readonly #keyring: TokenKeyring | null;

  constructor(storeDir: string, opts: SavedTokensOptions) {
    this.dir = path.resolve(storeDir);
    this.#keyring = opts.keyring;
  }

  /** The token file of `agentId` (used when no keyring answers). */
  fileOf(agentId: string): string {
    return path.join(this.dir, SAVED_TOKENS_DIR, `${safeName(agentId)}.token`);
  }

  #account(agentId: string): string {
    return `${agentId}@${this.dir}`;
  }

  /**
   * Saves `token` for `agentId`, replacing what was saved before: in the OS keyring when a write
   * there reads back, else in the 0600 file (then any older keyring entry is left alone, and read
   * first: see {@link load}). A stale file is removed once the keyring holds the token.
   * @throws StoreError when neither the keyring nor the file can be written.
   */
  async save(agentId: string, token: SecretValue): Promise<TokenLocation> {
    const raw = token.reveal();
    if (this.#keyring) {
      const account = this.#account(agentId);
      try {
        await this.#keyring.set(TOKEN_KEYRING_SERVICE, account, raw);
        if ((await this.#keyring.get(TOKEN_KEYRING_SERVICE, account)) === raw) {
          await fs.promises.rm(this.fileOf(agentId), { force: true });
          return { kind: 'keyring', service: TOKEN_KEYRING_SERVICE, account };
        }
      } catch {
        // No usable keyring here (no Secret Service, locked, timed out): the file below.
      }
    }
    const file = this.fileOf(agentId);
    try {
      await ensurePrivateDir(this.dir);
      await ensurePrivateDir(path.dirname(file));
      await writeFileAtomic(file, `${raw}\n`, { mode: 0o600 });
    } catch (e) {
      throw new StoreError(
        `Cannot save the token of '${agentId}' to ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'}). Check the folder's owner and permissions.`,
      );
    }
    return { kind: 'file', file };
  }

  /**
   * The saved token of `agentId` and where it was, or undefined when none is saved. The keyring is
   * asked first (a keyring that does not answer counts as "not there"), then the file.
   * @throws StoreError when the file is readable or writable by others (says to `chmod 600` it) or
   *   cannot be read.
   */
  async load(agentId: string): Promise<{ token: SecretValue; location: TokenLocation } | undefined> {
    if (this.#keyring) {
      const account = this.#account(agentId);
      try {
        const raw = await this.#keyring.get(TOKEN_KEYRING_SERVICE, account);
        if (raw !== null && raw.trim() !== '') {
          return {
            token: new SecretValue(raw.trim()),
            location: { kind: 'keyring', service: TOKEN_KEYRING_SERVICE, account },
          };
        }
      } catch {
        // Not answering: try the file.
      }
    }
    const file = this.fileOf(agentId);
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        return undefined;
      }
      throw new StoreError(
        `Cannot read the saved token ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'}). Check its owner and permissions.`,
      );
    }
    try {
      const st = await fh.stat();
      if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
        throw new StoreError(
          `The saved token ${file} is readable or writable by other users (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}), so it is not used. Run \`chmod 600 ${file}\`, then give the agent a new token (agent-keyring agent rotate-token ${agentId} --save-token): the old one may be known.`,
        );
      }
      const raw = (await fh.readFile({ encoding: 'utf8' })).trim();
      return raw === '' ? undefined : { token: new SecretValue(raw), location: { kind: 'file', file } };
    } finally {
      await fh.close();
    }
  }

  /** Forgets the token of `agentId` (keyring entry and file); true when something was removed. */
  async remove(agentId: string): Promise<boolean> {
    let removed = false;
    if (this.#keyring) {
      try {
        removed = await this.#keyring.delete(TOKEN_KEYRING_SERVICE, this.#account(agentId));
      } catch {
        // Nothing to remove there, or no keyring: the file still goes.
      }
    }
    const file = this.fileOf(agentId);
    try {
      await fs.promises.rm(file);
      removed = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new StoreError(
          `Cannot remove the saved token ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'}).`,
        );
      }
    }
    return removed;
  }
}

/** How a location is told to the user (never the token). */
export function describeLocation(location: TokenLocation): string {
  return location.kind === 'keyring'
    ? `the OS keyring (service '${location.service}', account '${location.account}')`
    : `the file ${location.file} (mode 0600; a plain file on disk, no OS keyring answered)`;
}

/** Agent ids are `[a-z0-9][a-z0-9_.-]*`; anything else is kept out of the file name anyway. */
function safeName(agentId: string): string {
  return agentId.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_');
}
