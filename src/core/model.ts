/**
 * Agent Keyring's data model: what the store persists, what the audit log records and what the
 * service hands out. No value of a secret ever lives in these types except {@link SecretValue},
 * which refuses to print itself.
 */

/** `^[a-z0-9][a-z0-9_.-]{0,63}$` — shared by credential names and agent ids (README.md). */
export const ID_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
/** Scope strings: a little wider than ids so `repo:write`-style scopes work. */
export const SCOPE_PATTERN = /^[a-z0-9][a-z0-9_.:-]{0,63}$/;
/** The built-in agent that stands for in-editor chat (Copilot agent mode). */
export const VSCODE_AGENT_ID = 'vscode';
/** Scopes that, by default, are held for the human's approval. */
export const DEFAULT_SENSITIVE_SCOPES: readonly string[] = ['publish', 'write', 'admin', 'delete'];
export { DEFAULT_GRACE_SECONDS, DEFAULT_TTL_SECONDS } from './limits';
/** Placeholder that `http_request` replaces with the value, server-side. */
export const CREDENTIAL_PLACEHOLDER = '{{credential}}';

export type CredentialName = string;
export type AgentId = string;
export type Scope = string;
/** ISO-8601 timestamp in UTC, e.g. `2026-11-26T06:27:37.000Z`. */
export type IsoTime = string;

/**
 * A secret value in memory. `toString()`, `toJSON()` and `util.inspect` all print
 * `[redacted]`, so an accidental log line, error text or JSON dump cannot leak it.
 * Call {@link SecretValue.reveal} only at the one place the value is handed over.
 */
export class SecretValue {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  /** The raw value. Only for the hand-over (tool result, upstream request, encryption). */
  reveal(): string {
    return this.#value;
  }
  get length(): number {
    return this.#value.length;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'SecretValue([redacted])';
  }
}

export interface RotationGenerator {
  /** Characters in the generated value (16–256). */
  length: number;
  /** Characters to draw from; default: letters and digits. */
  alphabet?: string;
}

export interface RotationPolicy {
  /** Rotation is due after this many days (badge in the editor, `rotation_due` in listings). */
  max_age_days?: number;
  /** Lets `rotate_credential` / `credential rotate --generate` make the new value. */
  generator?: RotationGenerator;
}

export interface CredentialVersion {
  version: number;
  created_at: IsoTime;
  /** `cli`, `vscode-user`, or an agent id when an agent rotated it. */
  rotated_by: string;
}

/**
 * Whether `get_credential` may hand the value to an agent (README "Use, don't read"):
 * `allow` (the default), `approve` (each reveal asks the human; headless it is refused) or
 * `never` (broker-only: the key is used through `http_request` or `agent-keyring run`, never read).
 */
export type RevealMode = 'allow' | 'approve' | 'never';
export const REVEAL_MODES: readonly RevealMode[] = ['allow', 'approve', 'never'];
export const DEFAULT_REVEAL_MODE: RevealMode = 'allow';

/**
 * Where `http_request` may place the value: `header:<Name>` (that header, any case),
 * `header:*` (any header, never the URL), `query:<param>` (that query parameter) or `path`.
 */
export type Placement = string;

/** Metadata of one credential. The value lives in the {@link SecretBackend} only. */
export interface CredentialMeta {
  name: CredentialName;
  description: string;
  allowed_scopes: Scope[];
  /** Agent ids, or `['*']` for every agent. */
  allowed_agents: string[];
  ttl_seconds: number;
  /** Hosts `http_request` may send this credential to (`api.example.com` or `host:port`). */
  allowed_hosts?: string[];
  /** Agents that may call `rotate_credential` on it (default: nobody). */
  rotation_agents?: AgentId[];
  rotation?: RotationPolicy;
  /** Reveal mode for every agent (absent = `allow`, which is how older metadata files read). */
  reveal?: RevealMode;
  /** Per-agent reveal modes that replace {@link reveal} for that agent (either direction). */
  reveal_overrides?: Record<AgentId, RevealMode>;
  /**
   * What a brokered call (`http_request`) may do under each scope: rules such as
   * `GET /api/v1/search*` (method or `*`, then a path pattern where `*` matches anything).
   * A scope without rules gets the default: GET/HEAD/OPTIONS only, unless the scope is sensitive.
   */
  scope_rules?: Record<Scope, string[]>;
  /** Where `http_request` may put the value (absent = anywhere in headers, path or query). */
  placement?: Placement[];
  /** Current version number (the last entry of `versions`). */
  version: number;
  /** Every version ever made, oldest first; values of old versions may be gone. */
  versions: CredentialVersion[];
  /** The previous version still works upstream until then (grace period after a rotation). */
  previous_valid_until?: IsoTime;
  created_at: IsoTime;
}

export interface AgentMeta {
  id: AgentId;
  label: string;
  /** SHA-256 (hex) of the bearer token; the token itself is shown once and never stored. */
  token_sha256: string;
  created_at: IsoTime;
  last_seen_at?: IsoTime;
  /** Local-time window such as `08:00-20:00` (may wrap midnight: `22:00-06:00`). */
  active_hours?: string;
  /** Set when revoked: a revoked agent's token no longer authenticates. */
  revoked_at?: IsoTime;
  /** Credentials this agent has used, with the first time (drives the first-use rule). */
  first_used?: Record<CredentialName, IsoTime>;
}

export interface Lease {
  lease_id: string;
  agent_id: AgentId;
  credential: CredentialName;
  version: number;
  scope: Scope;
  issued_at: IsoTime;
  expires_at: IsoTime;
  revoked_at?: IsoTime;
}

/** The metadata document: everything but secret values. Persisted atomically as one file. */
export interface KeyringMetadata {
  schema: 1;
  credentials: Record<CredentialName, CredentialMeta>;
  agents: Record<AgentId, AgentMeta>;
}

export function emptyMetadata(): KeyringMetadata {
  return { schema: 1, credentials: {}, agents: {} };
}

/** Key under which a credential version's value lives in the {@link SecretBackend}. */
export function secretKey(name: CredentialName, version: number): string {
  return `credential/${name}/v${version}`;
}

/** Key of the HMAC key used for audit `value_fingerprint`s. */
export const AUDIT_KEY_SECRET = 'audit/hmac-key';

export type AuditDecision =
  | 'allow'
  | 'deny'
  | 'approved'
  | 'alert'
  | 'rotated'
  | 'created'
  | 'updated'
  | 'removed'
  | 'agent_added'
  | 'agent_revoked'
  | 'listed'
  | 'http';

export interface ClientInfo {
  name?: string;
  version?: string;
  /** `vscode.conversationId` from the request's `_meta`, when VS Code sends one. */
  conversation_id?: string;
}

/** One line of the audit log (README.md, "Security model"). Never carries a value. */
export interface AuditEvent {
  ts: IsoTime;
  agent_id: string | null;
  claimed_agent_id: string | null;
  credential: string | null;
  scope: string | null;
  tool: string;
  decision: AuditDecision;
  code: string | null;
  reason: string | null;
  lease_id: string | null;
  version: number | null;
  value_fingerprint: string | null;
  client: ClientInfo | null;
  /** Anomaly rules that fired for this request (empty when none). */
  rules?: string[];
  /**
   * Who decided a request held for approval, and how (absent on other lines and on lines written
   * before this field existed): see {@link ApprovalOutcome}.
   */
  approval?: ApprovalOutcome;
  /**
   * The refusal text, when `reason` keeps the agent's own stated reason (a denial of a request that
   * gave one). Absent otherwise: then a denial's `reason` is the refusal text, as on older lines.
   */
  refusal?: string;
  /** `hmac-sha256:<key id>` on a keyed line (see audit/chain.ts); absent on the older plain SHA-256 lines. */
  chain?: string;
  prev_hash: string;
  hash: string;
}

/**
 * How a request held for approval was decided: by the person (`once`, `hour`, `session` — the
 * "Allow …" buttons; `deny` — Deny, Esc or closing the dialog), by an earlier "Allow for 1 hour /
 * this session" still in force (`grant`), by nobody in time (`timeout`), or with nobody to ask (a
 * headless server: `no_approver`).
 */
export type ApprovalOutcome = 'once' | 'hour' | 'session' | 'grant' | 'deny' | 'timeout' | 'no_approver';
export const APPROVAL_OUTCOMES: readonly ApprovalOutcome[] = [
  'once',
  'hour',
  'session',
  'grant',
  'deny',
  'timeout',
  'no_approver',
];

/** What a caller hands to the audit log; `ts`, `prev_hash` and `hash` are filled in. */
export type AuditEventInput = Omit<AuditEvent, 'ts' | 'prev_hash' | 'hash' | 'chain'> & { ts?: IsoTime };

/** Actions an anomaly rule can take (README.md, "Security model"). */
export type RuleAction = 'alert' | 'approve' | 'deny' | 'off';

export type AnomalyRuleId =
  | 'outside_active_hours'
  | 'agent_id_mismatch'
  | 'sensitive_scope'
  | 'burst'
  | 'probing'
  | 'first_use'
  | 'unusual_hours';

export interface AnomalyConfig {
  actions: Record<AnomalyRuleId, RuleAction>;
  sensitive_scopes: string[];
  /** Requests per minute per agent above which `burst` fires. */
  burst_per_minute: number;
  /** Denials within `probing_window_minutes` that lock the agent out. */
  probing_denials: number;
  probing_window_minutes: number;
  probing_lockout_minutes: number;
  /** Days of history before `unusual_hours` starts judging. */
  learning_days: number;
}

export const DEFAULT_ANOMALY_CONFIG: AnomalyConfig = {
  actions: {
    outside_active_hours: 'deny',
    agent_id_mismatch: 'deny',
    sensitive_scope: 'approve',
    burst: 'deny',
    probing: 'deny',
    first_use: 'alert',
    unusual_hours: 'alert',
  },
  sensitive_scopes: [...DEFAULT_SENSITIVE_SCOPES],
  burst_per_minute: 60,
  probing_denials: 5,
  probing_window_minutes: 10,
  probing_lockout_minutes: 15,
  learning_days: 7,
};
