/**
 * What `agent-keyring run` injects: `VAR=credential[:scope]` from `--env` flags and from an env
 * template file (`--env-file`, one such line each; blank lines and `#` comments are skipped).
 * Parsing never echoes more than a bounded, single-line piece of the input.
 */
import { InvalidInputError } from '../errors';
import { ID_PATTERN } from '../model';

/** One variable to set in the child: its name, the credential, and the scope (undefined: default). */
export interface EnvSpec {
  variable: string;
  credential: string;
  scope: string | undefined;
}

/** Environment variable names we set: portable shell names. */
const VARIABLE_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Scopes as the store accepts them. */
const SCOPE_PATTERN = /^[a-z0-9][a-z0-9_.:-]{0,63}$/;
/** Variables that belong to Agent Keyring itself: never handed to a child. */
export const KEYRING_TOKEN_VARIABLE = /^AGENT_KEYRING_TOKEN(_|$)/;

function shown(s: string): string {
  const one = s.replace(/[\r\n\t]/g, ' ');
  return one.length > 60 ? `${one.slice(0, 60)}…` : one;
}

/**
 * Parses one `VAR=credential[:scope]`.
 * @param where names the source in errors (`--env`, `.env.keyring line 3`).
 * @throws InvalidInputError naming what to fix.
 */
export function parseEnvSpec(raw: string, where = '--env'): EnvSpec {
  const eq = raw.indexOf('=');
  if (eq <= 0) {
    throw new InvalidInputError(
      `${where} '${shown(raw)}' must look like VAR=credential or VAR=credential:scope (e.g. OPENAI_API_KEY=openai_api_key:chat).`,
    );
  }
  const variable = raw.slice(0, eq).trim();
  const target = raw.slice(eq + 1).trim();
  if (!VARIABLE_PATTERN.test(variable)) {
    throw new InvalidInputError(
      `${where}: '${shown(variable)}' is not a valid variable name; use letters, digits and _ (not starting with a digit).`,
    );
  }
  if (KEYRING_TOKEN_VARIABLE.test(variable)) {
    throw new InvalidInputError(
      `${where}: ${variable} is Agent Keyring's own token variable and is never passed to the command; pick another variable name.`,
    );
  }
  const colon = target.indexOf(':');
  const credential = colon < 0 ? target : target.slice(0, colon);
  const scope = colon < 0 ? undefined : target.slice(colon + 1);
  if (!ID_PATTERN.test(credential)) {
    throw new InvalidInputError(
      `${where}: '${shown(credential)}' (for ${variable}) is not a credential name; names are lower-case letters, digits and _ . - (see 'agent-keyring credential list').`,
    );
  }
  if (scope !== undefined && !SCOPE_PATTERN.test(scope)) {
    throw new InvalidInputError(
      `${where}: '${shown(scope)}' (for ${variable}) is not a scope; write ${variable}=${credential}:SCOPE with one of the credential's scopes, or leave ':SCOPE' out.`,
    );
  }
  return { variable, credential, scope };
}

/**
 * Parses an env template: one `VAR=credential[:scope]` per line (an optional leading `export `
 * is allowed), blank lines and `#` comments skipped.
 * @throws InvalidInputError naming the file and line.
 */
export function parseEnvTemplate(text: string, fileName: string): EnvSpec[] {
  const specs: EnvSpec[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) {
      return;
    }
    specs.push(parseEnvSpec(t.replace(/^export\s+/, ''), `${fileName} line ${i + 1}`));
  });
  return specs;
}

/**
 * Merges specs in order; the same variable twice is an error (which one was meant?).
 * @throws InvalidInputError
 */
export function mergeSpecs(specs: readonly EnvSpec[]): EnvSpec[] {
  const seen = new Map<string, EnvSpec>();
  for (const s of specs) {
    if (seen.has(s.variable)) {
      throw new InvalidInputError(`${s.variable} is given twice (--env / --env-file); keep one of them.`);
    }
    seen.set(s.variable, s);
  }
  return [...seen.values()];
}

/**
 * The scope to ask for when the spec names none: the credential's only scope.
 * @throws InvalidInputError when the credential has several scopes (the message lists them).
 */
export function defaultScope(spec: EnvSpec, scopes: readonly string[]): string {
  if (spec.scope !== undefined) {
    return spec.scope;
  }
  if (scopes.length === 1) {
    return scopes[0];
  }
  throw new InvalidInputError(
    `${spec.variable}=${spec.credential} needs a scope: '${spec.credential}' has ${scopes.length === 0 ? 'none you may use' : `several (${scopes.join(', ')})`}. Write ${spec.variable}=${spec.credential}:SCOPE.`,
  );
}

/**
 * The child's environment: the parent's, minus Agent Keyring's own token variables (and
 * `tokenVariable`, when the token came from another one), plus the injected values.
 */
export function buildChildEnv(
  parent: NodeJS.ProcessEnv,
  injected: Readonly<Record<string, string>>,
  opts: { tokenVariable?: string; forceColor?: boolean } = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(parent)) {
    if (v !== undefined && !KEYRING_TOKEN_VARIABLE.test(k) && k !== opts.tokenVariable) {
      env[k] = v;
    }
  }
  if (opts.forceColor && env.FORCE_COLOR === undefined && env.NO_COLOR === undefined) {
    env.FORCE_COLOR = '1';
  }
  return { ...env, ...injected };
}
