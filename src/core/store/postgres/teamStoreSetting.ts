/**
 * Which store an editor uses (README "Team store in VS Code"): the setting `agentKeyring.store` is
 * empty for the editor's own store (values in SecretStorage), or `postgres://user@host:port/db` for a
 * team store. The setting never holds a password: that and the team's master key are kept in the
 * editor's SecretStorage, under the URL without a password ({@link teamSecretKey}).
 *
 * Pure functions (no `vscode`), so the validation is tested in plain Node.
 */
import { isPostgresUrl, maskStoreUrl, storeSlug } from './storeUrl';

/** The setting's name (under the `agentKeyring` section). */
export const STORE_SETTING = 'agentKeyring.store';
const CONNECT_COMMAND = 'Agent Keyring: Connect to Team Store…';

export type StoreChoice =
  /** The editor's own store: SecretStorage and the extension's global storage. */
  | { kind: 'local'; label: 'local' }
  | {
      kind: 'team';
      /** The URL as configured (trimmed), never with a password. */
      url: string;
      /** `team <db>@<host>` (`:<port>` when not 5432), for the status bar and Show Status. */
      label: string;
      /** File-system-safe name of the database (`user@host_port_db`), for the per-machine folder. */
      slug: string;
    }
  /** A setting that cannot be used: the editor connects to nothing and says why. */
  | { kind: 'invalid'; label: string; reason: string };

/**
 * Reads the setting's value. Never throws; a bad value is `invalid` with a sentence that says what
 * to do, and never contains a password that was typed into it.
 */
export function parseStoreSetting(raw: unknown): StoreChoice {
  if (raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '')) {
    return { kind: 'local', label: 'local' };
  }
  const invalid = (reason: string): StoreChoice => ({ kind: 'invalid', label: 'not connected', reason });
  if (typeof raw !== 'string') {
    return invalid(
      `Setting ${STORE_SETTING} must be a text: empty for this editor's own store, or postgres://user@host:port/db.`,
    );
  }
  const text = raw.trim();
  if (!isPostgresUrl(text)) {
    return invalid(
      `Setting ${STORE_SETTING} is '${maskStoreUrl(clip(text))}', which is not a team store: leave it empty for this editor's own store, or set postgres://user@host:port/db (run "${CONNECT_COMMAND}").`,
    );
  }
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return invalid(
      `Setting ${STORE_SETTING} is not a valid URL ('${maskStoreUrl(clip(text))}'). Write it as postgres://user@host:port/db.`,
    );
  }
  const hasQueryPassword = [...u.searchParams.keys()].some((k) => k.toLowerCase() === 'password');
  if (u.password || hasQueryPassword) {
    return invalid(
      `Setting ${STORE_SETTING} contains a password (${maskStoreUrl(text)}); settings are plain text (and may be synced), so it is not used. Remove the password from the setting and run "${CONNECT_COMMAND}", which keeps it in the editor's secret storage.`,
    );
  }
  if (!u.hostname) {
    return invalid(
      `Setting ${STORE_SETTING} names no host ('${maskStoreUrl(text)}'). Write it as postgres://user@host:port/db.`,
    );
  }
  const db = safeDecode(u.pathname.replace(/^\//, ''));
  if (!db || db.includes('/')) {
    return invalid(
      `Setting ${STORE_SETTING} names no database ('${maskStoreUrl(text)}'). Write it as postgres://user@host:port/db.`,
    );
  }
  if (u.port && !/^\d+$/.test(u.port)) {
    return invalid(`Setting ${STORE_SETTING} has a bad port ('${u.port}'); use a number such as 5432.`);
  }
  const port = u.port && u.port !== '5432' ? `:${u.port}` : '';
  return { kind: 'team', url: text, label: `team ${db}@${u.hostname}${port}`, slug: storeSlug(text) };
}

/** The SecretStorage key of a team store's secret (`password`, `masterKey`, `masterKeyFile`). */
export function teamSecretKey(what: 'password' | 'masterKey' | 'masterKeyFile', url: string): string {
  return `team-store/${what}/${url.trim()}`;
}

/** `url` (which holds no password) with `password` put in, for the driver only; never shown. */
export function withPassword(url: string, password: string | undefined): string {
  if (!password) {
    return url;
  }
  const u = new URL(url.trim());
  u.password = encodeURIComponent(password);
  return u.toString();
}

/**
 * The id of this editor's own built-in agent on a team store, so that teammates' editors on one
 * store never share (and rotate) one `vscode` agent: `vscode.<user>.<host>`, lower case, in the
 * agent-id alphabet (`^[a-z0-9][a-z0-9_.-]{0,63}$`).
 */
export function teamEditorAgentId(user: string, host: string): string {
  const part = (s: string): string =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9_.-]+/g, '-')
      .replace(/^[._-]+|[._-]+$/g, '') || 'unknown';
  const shortHost = host.split('.')[0] ?? host;
  return `vscode.${part(user)}.${part(shortHost)}`.slice(0, 64).replace(/[._-]+$/, '');
}

function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Splits a password typed into a URL from it (Connect to Team Store accepts a pasted connection
 * string): the URL without it, for the setting, and the password, for secret storage. Text that is
 * not a URL is returned as it is.
 */
export function splitPassword(text: string): { url: string; password?: string } {
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    return { url: text.trim() };
  }
  if (!u.password) {
    return { url: text.trim() };
  }
  const password = safeDecode(u.password);
  u.password = '';
  return { url: u.toString(), password };
}
