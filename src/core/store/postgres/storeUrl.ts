/**
 * Team store locations (README "Team keyring on PostgreSQL"): `--store postgres://user@host:port/db`
 * (or `postgresql://`) selects the PostgreSQL backend; anything else is a file-store folder.
 *
 * A connection string may carry a password. It is needed to connect and must never be printed:
 * {@link maskStoreUrl} is the only form that goes into messages, logs and banners.
 */

const URL_PATTERN = /^postgres(?:ql)?:\/\//i;
/** What a masked password reads as. */
export const MASK = '***';

/** True when `store` names a PostgreSQL database rather than a folder. */
export function isPostgresUrl(store: string): boolean {
  return URL_PATTERN.test(store.trim());
}

/**
 * `store` with its password (in the user-info part, or a `password=` query parameter) replaced by
 * `***`. Text that does not parse as a URL is masked from the first `:` after `//` to the last `@`
 * instead, so a malformed string still never shows a password.
 */
export function maskStoreUrl(store: string): string {
  const s = store.trim();
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return s
      .replace(/^([a-z]+:\/\/[^:/@]*):[^@]*@/i, `$1:${MASK}@`)
      .replace(/(password=)[^&]*/gi, `$1${MASK}`);
  }
  if (u.password) {
    u.password = MASK;
  }
  for (const k of [...u.searchParams.keys()]) {
    if (k.toLowerCase() === 'password') {
      u.searchParams.set(k, MASK);
    }
  }
  // URL re-encodes the mask; show it as typed.
  return u.toString().replace(/%2A%2A%2A/gi, MASK);
}

/** The password in `store`, if any (to scrub it from output as a last line of defence). */
export function storeUrlPassword(store: string): string | undefined {
  try {
    const u = new URL(store.trim());
    const fromQuery = [...u.searchParams.entries()].find(([k]) => k.toLowerCase() === 'password')?.[1];
    const p = u.password ? decodeURIComponent(u.password) : fromQuery;
    return p || undefined;
  } catch {
    return undefined;
  }
}

/**
 * A file-system-safe name for the database a URL points at (`user@host_port_db`, no password), for
 * the local folder that holds what stays per machine (policy.json, the audit log, a key file).
 */
export function storeSlug(store: string): string {
  let u: URL;
  try {
    u = new URL(store.trim());
  } catch {
    return 'postgres';
  }
  const db = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres';
  const user = decodeURIComponent(u.username) || 'default';
  const raw = `${user}@${u.hostname || 'localhost'}_${u.port || '5432'}_${db}`;
  return raw.replace(/[^A-Za-z0-9@._-]/g, '_').slice(0, 120);
}
