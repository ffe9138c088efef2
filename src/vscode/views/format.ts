/**
 * Short texts for tree descriptions: ages ("12 d"), relative times ("5 min ago"), rotation due.
 * Pure functions of metadata and a clock reading; they never see a value.
 */
import type { CredentialMeta } from '../../core/model';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "<1 min", "42 min", "5 h", "12 d". */
export function formatAge(ms: number): string {
  const d = Math.max(0, ms);
  if (d < MINUTE) {
    return '<1 min';
  }
  if (d < HOUR) {
    return `${Math.floor(d / MINUTE)} min`;
  }
  if (d < DAY) {
    return `${Math.floor(d / HOUR)} h`;
  }
  return `${Math.floor(d / DAY)} d`;
}

/** "just now", "5 min ago", "3 h ago", "12 d ago"; "never" when undefined. */
export function formatAgo(iso: string | undefined, now: number): string {
  if (!iso) {
    return 'never';
  }
  const ms = now - Date.parse(iso);
  return ms < MINUTE ? 'just now' : `${formatAge(ms)} ago`;
}

/** Local "2026-11-26 06:27" (what a person reads in a tooltip). */
export function formatLocal(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) {
    return iso;
  }
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** When the current version was made. */
export function currentVersionTime(c: CredentialMeta): string {
  return c.versions.find((v) => v.version === c.version)?.created_at ?? c.created_at;
}

/** True when the current version is older than `rotation.max_age_days`. */
export function isRotationDue(c: CredentialMeta, now: number): boolean {
  const maxDays = c.rotation?.max_age_days;
  return maxDays !== undefined && now - Date.parse(currentVersionTime(c)) > maxDays * DAY;
}

/** "v3 · 12 d" plus " · rotation due" when due. */
export function credentialDescription(c: CredentialMeta, now: number): string {
  const age = formatAge(now - Date.parse(currentVersionTime(c)));
  return `v${c.version} · ${age}${isRotationDue(c, now) ? ' · rotation due' : ''}${revealBadge(c)}`;
}

/** ` · never read` / ` · reveal asks` for the credential's own mode ('' for allow, the default). */
export function revealBadge(c: CredentialMeta): string {
  const own = Object.keys(c.reveal_overrides ?? {}).length > 0 ? '*' : '';
  switch (c.reveal) {
    case 'never':
      return ` · never read${own}`;
    case 'approve':
      return ` · reveal asks${own}`;
    default:
      return own ? ' · reveal varies' : '';
  }
}

/** "every agent" for `*`, else the ids; "no agent yet" when empty. */
export function describeAgents(allowed: readonly string[]): string {
  if (allowed.includes('*')) {
    return 'every agent';
  }
  return allowed.length === 0 ? 'no agent yet' : allowed.join(', ');
}
