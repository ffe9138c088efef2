/**
 * What a brokered call (`http_request`) may do with a credential: the method and path rules of
 * the scope it names, and where the value may be placed. Pure functions; no I/O, no values.
 *
 * - **Scope rules** (`scope_rules: { search_read: ['GET /api/v1/search*'] }`): a rule is
 *   `METHODS PATH` — `METHODS` is `*` or methods joined by `|` or `,` (`GET|HEAD`), `PATH` starts
 *   with `/` and `*` in it matches any run of characters (slashes included). The request's path
 *   (without the query) must match one rule of the named scope, whole.
 * - **Default** for a scope without rules: GET, HEAD and OPTIONS only — anything else needs a scope
 *   that the sensitive-scope anomaly rule covers (`publish`, `write`, `admin`, `delete` unless
 *   configured otherwise), so a POST can no longer slip past the approval under a harmless scope.
 * - **Placement** (`placement: ['header:Authorization']`): every `{{credential}}` placeholder must
 *   sit where an entry allows — `header:<Name>` (that header, any case), `header:*` (any header),
 *   `query:<param>` (that query parameter's value) or `path`. Without `placement`, anywhere.
 */
import { PolicyDeniedError } from '../errors';
import { CREDENTIAL_PLACEHOLDER, type CredentialMeta, type Scope } from '../model';

/** Methods that read only (RFC 9110 "safe"); allowed under any scope that has no rules. */
export const SAFE_METHODS: readonly string[] = ['GET', 'HEAD', 'OPTIONS'];

const METHOD_TOKEN = /^[A-Z]{1,16}$/;
// eslint-disable-next-line no-control-regex
const PATH_CHARS = /^\/[^\s\u0000-\u001f\u007f#?]*$/;
/** Percent-encoded `/`, `\` and `.`: an upstream may decode them into path structure after our check. */
const ENCODED_PATH_STRUCTURE = /%(2f|5c|2e)/i;

export interface ScopeRule {
  /** Upper-case methods, or undefined for any method. */
  methods?: ReadonlySet<string>;
  /** Anchored pattern over the URL path. */
  path: RegExp;
  /** The rule as written. */
  text: string;
}

/**
 * Parses one rule such as `GET /api/v1/search*` or `GET|HEAD /v1/*`.
 * @returns the rule, or a sentence saying what is wrong (never echoing more than the rule itself).
 */
export function parseScopeRule(text: string): ScopeRule | string {
  const m = /^(\S+) +(\S+)$/.exec(text.trim());
  if (!m) {
    return 'a rule must be "METHOD /path" such as "GET /api/v1/search*" (METHOD may be * or GET|HEAD)';
  }
  const [, methodPart, pathPart] = m;
  let methods: Set<string> | undefined;
  if (methodPart !== '*') {
    const list = methodPart.split(/[|,]/);
    if (list.some((x) => !METHOD_TOKEN.test(x))) {
      return 'a rule\'s methods must be * or upper-case methods joined by "|", such as GET|HEAD';
    }
    methods = new Set(list);
  }
  if (!PATH_CHARS.test(pathPart) || pathPart.length > 512) {
    return 'a rule\'s path must start with "/" and hold no spaces, "?" or "#" (at most 512 characters); * matches anything';
  }
  const source = pathPart
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return { methods, path: new RegExp(`^${source}$`), text: text.trim() };
}

/** Parses `PLACEMENT` entries; a sentence when one is not valid. */
export function placementProblem(entry: string): string | undefined {
  if (entry === 'path' || entry === 'header:*') {
    return undefined;
  }
  if (/^header:[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/.test(entry)) {
    return undefined;
  }
  if (/^query:[A-Za-z0-9_.~-]{1,128}$/.test(entry)) {
    return undefined;
  }
  return 'a placement must be "header:<Name>" (e.g. header:Authorization), "header:*", "query:<param>" (e.g. query:api_key) or "path"';
}

/**
 * Whether `method` on `path` is allowed under `scope` of this credential.
 *
 * @param sensitiveScopes the sensitive-scope anomaly rule's scopes (for the default).
 * @throws PolicyDeniedError `request_denied` with a message naming what is allowed.
 */
export function checkRequestRules(
  cred: Pick<CredentialMeta, 'name' | 'scope_rules'>,
  scope: Scope,
  method: string,
  url: URL,
  sensitiveScopes: readonly string[],
): void {
  const rules =
    cred.scope_rules && Object.hasOwn(cred.scope_rules, scope) ? cred.scope_rules[scope] : undefined;
  const shown = `${method} ${url.pathname}`;
  if (!rules || rules.length === 0) {
    if (SAFE_METHODS.includes(method) || sensitiveScopes.includes(scope)) {
      return;
    }
    throw new PolicyDeniedError(
      'request_denied',
      `Scope '${scope}' of '${cred.name}' has no request rules, so http_request may only read with it (GET, HEAD, OPTIONS); ${method} needs a scope that asks the user (${sensitiveScopes.map((s) => `'${s}'`).join(', ') || 'none configured'}). Retry with such a scope if the credential allows one, or ask the user to add a rule such as '${scope}=${method} ${url.pathname}' (agent-keyring credential edit ${cred.name} --scope-rule …).`,
      { credential: cred.name, scope, method, path: url.pathname, allowed: [...SAFE_METHODS] },
    );
  }
  if (ENCODED_PATH_STRUCTURE.test(url.pathname)) {
    throw new PolicyDeniedError(
      'request_denied',
      `The path of this request holds a percent-encoded '/', '\\' or '.', which scope rules cannot judge. Send the path with plain characters.`,
      { credential: cred.name, scope, method },
    );
  }
  const parsed = rules.map(parseScopeRule).filter((r): r is ScopeRule => typeof r !== 'string');
  const ok = parsed.some((r) => (!r.methods || r.methods.has(method)) && r.path.test(url.pathname));
  if (!ok) {
    throw new PolicyDeniedError(
      'request_denied',
      `Scope '${scope}' of '${cred.name}' does not allow ${shown}. It allows: ${rules.map((r) => `'${r}'`).join(', ')}. Send a request those rules allow, use another scope, or ask the user to change the rules.`,
      { credential: cred.name, scope, method, path: url.pathname, allowed: [...rules] },
    );
  }
}

/** A place where an agent put the `{{credential}}` placeholder. */
export type FoundPlacement =
  | { kind: 'header'; name: string }
  | { kind: 'query'; name: string }
  | { kind: 'path' }
  | { kind: 'other'; where: string };

/**
 * Every place the placeholder occurs in a request: header values, the URL's path, query values,
 * and anything else in the URL (`other`: a query parameter's name, the fragment).
 */
export function findPlacements(
  rawUrl: string,
  headers: Record<string, string> | undefined,
): FoundPlacement[] {
  const found: FoundPlacement[] = [];
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value.includes(CREDENTIAL_PLACEHOLDER)) {
      found.push({ kind: 'header', name });
    }
  }
  if (!rawUrl.includes(CREDENTIAL_PLACEHOLDER)) {
    return found;
  }
  const marker = 'akrplaceholdermarker';
  let url: URL;
  try {
    url = new URL(rawUrl.split(CREDENTIAL_PLACEHOLDER).join(marker));
  } catch {
    return [...found, { kind: 'other', where: 'the URL' }];
  }
  if (url.pathname.includes(marker)) {
    found.push({ kind: 'path' });
  }
  if (url.hash.includes(marker)) {
    found.push({ kind: 'other', where: 'the URL fragment' });
  }
  if (url.host.includes(marker) || url.username.includes(marker) || url.password.includes(marker)) {
    found.push({ kind: 'other', where: 'the host' });
  }
  for (const [name, value] of url.searchParams) {
    if (name.includes(marker)) {
      found.push({ kind: 'other', where: 'a query parameter name' });
    } else if (value.includes(marker)) {
      found.push({ kind: 'query', name });
    }
  }
  if (found.length === 0) {
    found.push({ kind: 'other', where: 'the URL' });
  }
  return found;
}

/**
 * Whether every placeholder sits where the credential's `placement` allows. Without `placement`,
 * anything but `other` is allowed (the host is refused elsewhere).
 *
 * @throws PolicyDeniedError `request_denied` naming the allowed placement.
 */
export function checkPlacement(
  cred: Pick<CredentialMeta, 'name' | 'placement'>,
  found: readonly FoundPlacement[],
): void {
  const allowed = cred.placement;
  for (const f of found) {
    if (f.kind === 'other') {
      throw new PolicyDeniedError(
        'request_denied',
        `The {{credential}} placeholder may not go in ${f.where}. Put it in ${allowed?.length ? describePlacement(allowed) : 'a header value, the URL path or a query parameter value'}.`,
        { credential: cred.name, placement: [...(allowed ?? [])] },
      );
    }
    if (!allowed || allowed.length === 0) {
      continue;
    }
    const ok = allowed.some((entry) => {
      if (f.kind === 'path') {
        return entry === 'path';
      }
      if (f.kind === 'header') {
        return entry === 'header:*' || entry.toLowerCase() === `header:${f.name.toLowerCase()}`;
      }
      return entry === `query:${f.name}`;
    });
    if (!ok) {
      const where =
        f.kind === 'path'
          ? 'the URL path'
          : f.kind === 'header'
            ? `header '${f.name}'`
            : `query parameter '${f.name}'`;
      throw new PolicyDeniedError(
        'request_denied',
        `Credential '${cred.name}' may not be placed in ${where}: it may only go in ${describePlacement(allowed)}. Move the {{credential}} placeholder there.`,
        { credential: cred.name, placement: [...allowed] },
      );
    }
  }
}

function describePlacement(allowed: readonly string[]): string {
  return allowed
    .map((e) =>
      e === 'path'
        ? 'the URL path'
        : e === 'header:*'
          ? 'any header value'
          : e.startsWith('header:')
            ? `header '${e.slice(7)}'`
            : `query parameter '${e.slice(6)}'`,
    )
    .join(' or ');
}
