/**
 * Policy checks on credential metadata (README.md): who may use a credential, with which
 * scope, who may rotate it, and where `http_request` may send it. Pure functions over
 * {@link CredentialMeta}: no I/O, no clock, no values — they run before the anomaly rules.
 */
import { CredentialNotFoundError, InvalidInputError, PolicyDeniedError } from '../errors';
import {
  CREDENTIAL_PLACEHOLDER,
  type AgentId,
  type CredentialMeta,
  type CredentialName,
  type Scope,
} from '../model';

/** `allowed_agents` entry that admits every agent. */
export const ANY_AGENT = '*';

const DEFAULT_PORTS: Record<string, string> = { 'https:': '443', 'http:': '80' };

/**
 * Whether `agentId` may use (and so see) the credential: it is named in `allowed_agents`, or
 * `allowed_agents` holds `*`. Drives `list_credentials` and the `credential://` resources.
 * Never throws.
 */
export function canSee(cred: CredentialMeta, agentId: AgentId): boolean {
  return cred.allowed_agents.includes(ANY_AGENT) || cred.allowed_agents.includes(agentId);
}

/**
 * The policy check for `get_credential` and `http_request`.
 *
 * @returns the credential's metadata, for chaining.
 * @throws CredentialNotFoundError (`not_found`) when `cred` is undefined.
 * @throws PolicyDeniedError `agent_denied` when the agent is not in `allowed_agents` (and no `*`).
 * @throws PolicyDeniedError `scope_denied` when `scope` is not in `allowed_scopes`; the message
 *   lists the scopes that are allowed.
 */
export function checkAccess(
  cred: CredentialMeta | undefined,
  name: CredentialName,
  agentId: AgentId,
  scope: Scope,
): CredentialMeta {
  if (!cred) {
    throw new CredentialNotFoundError(name);
  }
  if (!canSee(cred, agentId)) {
    throw new PolicyDeniedError(
      'agent_denied',
      `Agent '${agentId}' is not allowed to use '${cred.name}'. Ask the user to grant it in Agent Keyring (Credentials → Edit Scopes…).`,
      { credential: cred.name, agent_id: agentId },
    );
  }
  if (!cred.allowed_scopes.includes(scope)) {
    const allowed = cred.allowed_scopes.length
      ? `Allowed scopes: ${cred.allowed_scopes.map((s) => `'${s}'`).join(', ')}. Retry with one of them, or ask`
      : 'It allows no scopes yet. Ask';
    throw new PolicyDeniedError(
      'scope_denied',
      `Credential '${cred.name}' is not allowed for scope '${scope}'. ${allowed} the user to add '${scope}' in Agent Keyring (Credentials → Edit Scopes…).`,
      { credential: cred.name, scope, allowed_scopes: [...cred.allowed_scopes] },
    );
  }
  return cred;
}

/**
 * Whether `agentId` may call `rotate_credential` on this credential: only agents listed in
 * `rotation_agents` may (default: nobody; humans rotate in the editor). `*` is not special here —
 * rotation rights are granted agent by agent.
 *
 * @throws PolicyDeniedError `rotate_denied` otherwise.
 */
export function checkRotate(cred: CredentialMeta, agentId: AgentId): void {
  if (!(cred.rotation_agents ?? []).includes(agentId)) {
    throw new PolicyDeniedError(
      'rotate_denied',
      `Agent '${agentId}' may not rotate '${cred.name}'. Ask the user to rotate it in Agent Keyring (Rotate Credential), or to add '${agentId}' to its rotation agents.`,
      { credential: cred.name, agent_id: agentId },
    );
  }
}

/**
 * Whether `http_request` may send this credential to `url`. An `allowed_hosts` entry without a
 * port (`api.example.com`) admits that host on the scheme's default port only; an entry with a
 * port (`localhost:8080`, `api.example.com:443`) admits exactly that host and port. Host names
 * compare case-insensitively and ignore a trailing dot. Only `https:` is admitted, unless the
 * entry says `http://` explicitly (`http://intranet.example`) or the host is loopback
 * (`localhost`, `127.0.0.0/8`, `[::1]`): the key never travels in cleartext by accident.
 *
 * @throws InvalidInputError when the scheme is not `http:` or `https:`, or the host contains the
 *   `{{credential}}` placeholder.
 * @throws PolicyDeniedError `host_denied` when the credential has no `allowed_hosts`, or none
 *   matches; the message says how to allow the host.
 */
export function checkHost(cred: CredentialMeta, url: URL): void {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InvalidInputError(
      `http_request only sends credentials over http: or https:, not '${url.protocol}'. Use an https:// URL.`,
      { field: 'url' },
    );
  }
  const hostname = normalizeHostname(url.hostname);
  if (
    url.host.includes(CREDENTIAL_PLACEHOLDER) ||
    decodeURIComponentSafe(url.host).includes(CREDENTIAL_PLACEHOLDER)
  ) {
    throw new InvalidInputError(
      `The ${CREDENTIAL_PLACEHOLDER} placeholder may appear in the URL's path or query or in a header, never in its host.`,
      { field: 'url' },
    );
  }
  const port = url.port || DEFAULT_PORTS[url.protocol];
  const usesDefaultPort = url.port === '';
  const shownHost = usesDefaultPort ? hostname : `${hostname}:${url.port}`;
  const allowed = cred.allowed_hosts ?? [];
  if (allowed.length === 0) {
    throw new PolicyDeniedError(
      'host_denied',
      `Credential '${cred.name}' has no allowed hosts, so http_request cannot send it anywhere. Ask the user to add '${shownHost}' to its allowed hosts in Agent Keyring.`,
      { credential: cred.name, host: shownHost, allowed_hosts: [] },
    );
  }
  let cleartextOnly = false;
  const ok = allowed.some((entry) => {
    const parsed = parseHostEntry(entry);
    if (!parsed || parsed.hostname !== hostname) {
      return false;
    }
    const portOk = parsed.port === undefined ? usesDefaultPort : parsed.port === port;
    if (!portOk) {
      return false;
    }
    if (url.protocol === 'http:' && parsed.scheme !== 'http:' && !isLoopbackHost(hostname)) {
      cleartextOnly = true;
      return false;
    }
    // An entry naming http:// still admits https:// (never weaker than asked).
    return parsed.scheme === undefined || parsed.scheme === url.protocol || url.protocol === 'https:';
  });
  if (!ok && cleartextOnly) {
    throw new PolicyDeniedError(
      'host_denied',
      `Credential '${cred.name}' is only sent to '${shownHost}' over https://, so the key never travels unencrypted. Use https://${url.host}${url.pathname === '/' ? '' : '/…'}, or ask the user to allow 'http://${shownHost}' explicitly in its allowed hosts.`,
      { credential: cred.name, host: shownHost, allowed_hosts: [...allowed] },
    );
  }
  if (!ok) {
    throw new PolicyDeniedError(
      'host_denied',
      `Credential '${cred.name}' may not be sent to '${shownHost}'. Allowed hosts: ${allowed.map((h) => `'${h}'`).join(', ')}. Use one of them, or ask the user to add '${shownHost}' to its allowed hosts in Agent Keyring.`,
      { credential: cred.name, host: shownHost, allowed_hosts: [...allowed] },
    );
  }
}

/**
 * `[scheme://]host[:port]` (`host` may be `[v6]`) → normalised parts; undefined when unparseable.
 * `scheme` is set only when the entry names one (`http://…` or `https://…`).
 */
function parseHostEntry(entry: string): { hostname: string; port?: string; scheme?: string } | undefined {
  let text = entry.trim();
  let scheme: string | undefined;
  const sm = /^(https?):\/\//i.exec(text);
  if (sm) {
    scheme = `${sm[1].toLowerCase()}:`;
    text = text.slice(sm[0].length);
  }
  const m = /^(\[[^\]]+\]|[^:[\]/]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m) {
    return undefined;
  }
  try {
    // Let WHATWG URL normalise the host exactly as it did for the request (case, IDN, IPv4 forms).
    const hostname = normalizeHostname(new URL(`http://${m[1]}/`).hostname);
    const port = m[2] === undefined ? undefined : String(Number(m[2]));
    return { hostname, ...(port !== undefined ? { port } : {}), ...(scheme ? { scheme } : {}) };
  } catch {
    return undefined;
  }
}

/** `localhost`, `127.0.0.0/8` or `[::1]` (as WHATWG URL normalises them). */
export function isLoopbackHost(hostname: string): boolean {
  return (
    hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

function normalizeHostname(hostname: string): string {
  const lower = hostname.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
