/**
 * Import from .env as a plan, checked whole, then carried out all or nothing:
 * - {@link suggestImport}: one suggestion per key with a value — name, scopes, whether it looks
 *   like a secret, whether a credential of that name exists, and whether the key is defined twice.
 * - {@link checkImport}: every problem of the chosen plan at once (unknown or duplicate key, empty
 *   or oversized value, bad name, scope or agent, two keys with one name). Nothing is stored when
 *   any problem is found.
 * - {@link runImport}: creates the new credentials (removing them again if one fails, so nothing
 *   is half-imported), then rotates the existing ones the user chose to rotate; skips the others.
 *   Never overwrites silently.
 * Messages and log lines name keys and credentials, never values.
 */
import { BatchAddError, type KeyringAdmin } from '../admin';
import { InvalidInputError, KeyringError } from '../errors';
import { MAX_VALUE_BYTES } from '../limits';
import type { Logger } from '../ports';
import { CredentialPatchSchema, formatZodError } from '../store/schemas';
import type { ParsedEnv } from './envFile';
import { freeName, looksSecret, suggestName, suggestScopes } from './suggest';

/** What to do when a credential with the chosen name exists already. */
export type IfExists = 'skip' | 'rotate';

export interface ImportChoice {
  key: string;
  name: string;
  scopes: string[];
  agents: string[];
  /** Default `skip`: an existing credential is never changed unless asked. */
  ifExists: IfExists;
}

export interface KeySuggestion {
  key: string;
  /** 1-based line of the effective definition (0: unknown). */
  line: number;
  /** Every line the key is defined on; more than one makes it unimportable until fixed. */
  lines: number[];
  name: string;
  scopes: string[];
  /** Why these scopes ("package registry", "default"). */
  why: string;
  /** The key's name says it is a secret: selected by default. */
  secretLike: boolean;
  /** A credential named `name` exists: skipped unless rotated or renamed. */
  exists: boolean;
}

export interface ImportOutcome {
  imported: { key: string; name: string }[];
  rotated: { key: string; name: string; version: number }[];
  /** Chosen keys whose credential exists and was left as it is. */
  skipped: { key: string; name: string }[];
  /** Chosen for rotation, but the credential holds this value already: nothing to do. */
  unchanged: { key: string; name: string }[];
}

export interface ImportDeps {
  /** Every change goes through the admin (validated once, audited). */
  admin: KeyringAdmin;
  logger: Logger;
}

const MAX_PROBLEMS = 6;

/**
 * One suggestion per key with a value, in file order. Names are unique within the file
 * (`foo_key`, `foo_key_2` for keys that differ only in case); `exists` says which collide with
 * `existing` credentials.
 */
export function suggestImport(parsed: ParsedEnv, existing: ReadonlySet<string>): KeySuggestion[] {
  const used = new Set<string>();
  return parsed.keys
    .filter((k) => !k.empty)
    .map((k) => {
      const name = freeName(suggestName(k.key), (n) => used.has(n));
      used.add(name);
      const { scopes, why } = suggestScopes(k.key);
      return {
        key: k.key,
        line: k.line,
        lines: k.lines,
        name,
        scopes,
        why,
        secretLike: looksSecret(k.key),
        exists: existing.has(name),
      };
    });
}

/** The suggestion as a choice: suggested name and scopes, the given agents, skip if it exists. */
export function choiceOf(s: KeySuggestion, agents: string[] = []): ImportChoice {
  return { key: s.key, name: s.name, scopes: [...s.scopes], agents: [...agents], ifExists: 'skip' };
}

/** `'K' is defined 2 times in .env (lines 3 and 9)…`, or undefined when the key is defined once. */
export function duplicateProblem(key: string, lines: readonly number[], label: string): string | undefined {
  if (lines.length < 2) {
    return undefined;
  }
  const list = `${lines.slice(0, -1).join(', ')} and ${lines[lines.length - 1]}`;
  return `'${key}' is defined ${lines.length} times in ${label} (lines ${list}), so which value to import is unclear. Keep one definition, then import again.`;
}

const shortKey = (k: string): string => (k.length > 64 ? `${k.slice(0, 64)}…` : k);

/**
 * Checks the whole plan against the file; returns quietly when it can be imported.
 * @throws InvalidInputError listing every problem (up to 6), ending "Nothing was imported."
 */
export function checkImport(parsed: ParsedEnv, choices: readonly ImportChoice[], label: string): void {
  const problems: string[] = [];
  if (choices.length === 0) {
    problems.push('No key was chosen.');
  }
  const seenKeys = new Set<string>();
  const seenNames = new Map<string, string>();
  for (const c of choices) {
    const key = shortKey(c.key);
    const found = parsed.keys.find((k) => k.key === c.key);
    if (!found) {
      problems.push(`${label} defines no key '${key}'. Pick one of its keys.`);
      continue;
    }
    if (seenKeys.has(c.key)) {
      problems.push(`'${key}' is chosen twice. Choose each key once.`);
      continue;
    }
    seenKeys.add(c.key);
    const dup = duplicateProblem(c.key, found.lines, label);
    if (dup) {
      problems.push(dup);
    }
    const value = parsed.value(c.key);
    if (!value || value.length === 0) {
      problems.push(`'${key}' has no value in ${label}. Give it one, or leave it out.`);
    } else if (Buffer.byteLength(value.reveal(), 'utf8') > MAX_VALUE_BYTES) {
      problems.push(`'${key}' holds more than 64 KiB, which is not an API key. Leave it out.`);
    }
    const r = CredentialPatchSchema.safeParse({
      name: c.name,
      allowed_scopes: c.scopes,
      allowed_agents: c.agents,
    });
    if (!r.success) {
      problems.push(`'${key}': ${formatZodError(r.error)}`);
    }
    const other = seenNames.get(c.name);
    if (other !== undefined) {
      problems.push(`'${key}' and '${other}' would both become '${c.name}'. Give one another name.`);
    } else {
      seenNames.set(c.name, key);
    }
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, MAX_PROBLEMS);
    if (problems.length > MAX_PROBLEMS) {
      shown.push(`And ${problems.length - MAX_PROBLEMS} more problems.`);
    }
    throw new InvalidInputError(`${shown.join(' ')} Nothing was imported from ${label}.`, {
      problems: problems.length,
    });
  }
}

/**
 * Carries out a checked plan (call {@link checkImport} first). Existing credentials are looked
 * up again here: one that appeared since the user chose is skipped, not overwritten. New
 * credentials are created first; if one fails, those created by this call are removed again and
 * the error says nothing was imported. Then the chosen rotations (grace 0, audited by the service).
 * @throws KeyringError (its message ends with what was and was not imported).
 */
export async function runImport(
  deps: ImportDeps,
  parsed: ParsedEnv,
  choices: readonly ImportChoice[],
  opts: { label: string; actor: string; ttlSeconds: number },
): Promise<ImportOutcome> {
  const outcome: ImportOutcome = { imported: [], rotated: [], skipped: [], unchanged: [] };
  const creates: ImportChoice[] = [];
  const rotations: ImportChoice[] = [];
  for (const c of choices) {
    if (await deps.admin.getCredential(c.name)) {
      if (c.ifExists === 'rotate') {
        rotations.push(c);
      } else {
        outcome.skipped.push({ key: c.key, name: c.name });
      }
    } else {
      creates.push(c);
    }
  }
  const valueOf = (key: string) => {
    const v = parsed.value(key);
    if (!v) {
      throw new InvalidInputError(`${opts.label} has no value for '${shortKey(key)}'. Nothing was imported.`);
    }
    return v;
  };

  // All or nothing, audited once all exist (the admin removes what it created if one fails).
  const batch = creates.map((c) => ({
    input: {
      name: c.name,
      description: `Imported from ${opts.label} (${c.key})`,
      allowed_scopes: c.scopes,
      allowed_agents: c.agents,
      ttl_seconds: opts.ttlSeconds,
    },
    value: valueOf(c.key),
    reason: `imported from ${opts.label} (${c.key}) by ${opts.actor}`,
  }));
  try {
    const created = await deps.admin.addCredentials(batch, opts.actor, 'import_env');
    created.forEach((meta, i) => outcome.imported.push({ key: creates[i].key, name: meta.name }));
  } catch (e) {
    if (!(e instanceof BatchAddError)) {
      throw withSuffix(e, `Nothing was imported from ${opts.label}.`);
    }
    const key = shortKey(creates[e.index].key);
    const left = e.rollbackFailed.length
      ? ` (${e.rollbackFailed.map((n) => `'${n}'`).join(', ')} could not be removed: remove by hand)`
      : '';
    throw withSuffix(
      e.cause,
      e.index > 0
        ? `Importing '${key}' failed, so the ${e.index} credential(s) created before it were removed again${left}: nothing was imported from ${opts.label}.`
        : `Nothing was imported from ${opts.label}.`,
    );
  }

  for (const c of rotations) {
    try {
      // A missing current value is what rotating repairs: compare only when there is one.
      if (await deps.admin.currentValueEquals(c.name, valueOf(c.key))) {
        outcome.unchanged.push({ key: c.key, name: c.name });
        continue;
      }
      const r = await deps.admin.rotateCredential(
        c.name,
        { value: valueOf(c.key), graceSeconds: 0 },
        opts.actor,
      );
      outcome.rotated.push({ key: c.key, name: c.name, version: r.version });
    } catch (e) {
      const done = [
        ...outcome.imported.map((i) => `imported '${i.name}'`),
        ...outcome.rotated.map((r) => `rotated '${r.name}'`),
      ];
      throw withSuffix(
        e,
        `Rotating '${c.name}' from ${opts.label} failed${done.length > 0 ? ` after this import ${done.join(', ')}` : ''}; the rest was not imported.`,
      );
    }
  }
  return outcome;
}

/** A KeyringError with `suffix` added; anything else stays as it is (its message is not trusted). */
function withSuffix(e: unknown, suffix: string): unknown {
  if (e instanceof KeyringError) {
    const out = new KeyringError(e.code, `${e.message} ${suffix}`, e.details);
    out.name = e.name;
    return out;
  }
  return e;
}

function names(list: readonly { name: string }[]): string {
  const shown = list.slice(0, 5).map((i) => i.name);
  return list.length > 5 ? `${shown.join(', ')}, …` : shown.join(', ');
}

/**
 * One sentence for the person: `Imported 4 keys from .env, skipped 1 (already exists: github_token).`
 * Names credentials, never values.
 */
export function summarizeImport(outcome: ImportOutcome, label: string): string {
  const n = outcome.imported.length;
  const parts = [
    `Imported ${n} ${n === 1 ? 'key' : 'keys'} from ${label}${n > 0 ? ` (${names(outcome.imported)})` : ''}`,
  ];
  if (outcome.rotated.length > 0) {
    parts.push(
      `rotated ${outcome.rotated.length} (${outcome.rotated
        .map((r) => `${r.name} → v${r.version}`)
        .slice(0, 5)
        .join(', ')})`,
    );
  }
  if (outcome.unchanged.length > 0) {
    parts.push(`${outcome.unchanged.length} already up to date (${names(outcome.unchanged)})`);
  }
  if (outcome.skipped.length > 0) {
    parts.push(
      `skipped ${outcome.skipped.length} (already ${outcome.skipped.length === 1 ? 'exists' : 'exist'}: ${names(outcome.skipped)})`,
    );
  }
  return `${parts.join(', ')}.`;
}
