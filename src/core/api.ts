/**
 * What the MCP layer (and the CLI, and the VS Code adapter) call on the keyring. Implemented by
 * `KeyringService` in `service.ts`. Every method throws a {@link KeyringError} subclass with a
 * stable `code` on refusal; anything else is an internal error.
 */
import type { Disposable } from './ports';
import type {
  AgentId,
  AgentMeta,
  ClientInfo,
  CredentialMeta,
  CredentialName,
  IsoTime,
  Scope,
  SecretValue,
} from './model';

/** Who is calling: identity comes from the bearer token, never from a tool argument. */
export interface CallContext {
  /** The agent the bearer token belongs to. */
  agentId: AgentId;
  client?: ClientInfo | null;
  /**
   * Set when the request comes from `agent-keyring run` (the MCP layer reads it from the request's
   * `_meta` {"agent-keyring/run": {command}}): the release is audited as `tool: run` and names the
   * command. It grants nothing a plain get_credential would not.
   */
  run?: { command: string };
}

/** One key asked for by `agent-keyring run`. */
export interface InjectRequest {
  name: CredentialName;
  scope: Scope;
}

/** One key released to `agent-keyring run`. */
export interface InjectedCredential {
  name: CredentialName;
  scope: Scope;
  value: SecretValue;
  version: number;
  lease_id: string;
  /**
   * True when the credential's policy forbids showing the value (reveal mode `never`): the runner
   * must mask it in the child's output whatever `--no-mask` says. Always false until the reveal
   * modes exist; the lead wires it to `effectiveRevealMode` at merge.
   */
  mustMask: boolean;
}

export interface GetCredentialArgs {
  name: CredentialName;
  scope: Scope;
  /** Compatibility only: recorded as `claimed_agent_id`; a mismatch is an anomaly. */
  agent_id?: string;
  reason?: string;
}

export interface GetCredentialResult {
  name: CredentialName;
  scope: Scope;
  value: SecretValue;
  version: number;
  lease_id: string;
  expires_in: number;
  expires_at: IsoTime;
}

export interface CredentialListing {
  name: CredentialName;
  description: string;
  scopes: Scope[];
  version: number;
  rotated_at: IsoTime;
}

export interface RotateArgs {
  name: CredentialName;
  new_value?: SecretValue;
  grace_seconds?: number;
}

export interface RotateResult {
  name: CredentialName;
  version: number;
  previous_version: number;
  previous_valid_until: IsoTime | null;
}

export interface HttpRequestArgs {
  credential: CredentialName;
  scope: Scope;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  agent_id?: string;
  reason?: string;
}

export interface HttpRequestResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface KeyringApi {
  /** The agent a bearer token belongs to, or undefined (unknown, revoked, malformed). */
  authenticate(token: string): Promise<AgentMeta | undefined>;
  getCredential(ctx: CallContext, args: GetCredentialArgs): Promise<GetCredentialResult>;
  listCredentials(ctx: CallContext): Promise<CredentialListing[]>;
  rotateCredential(ctx: CallContext, args: RotateArgs): Promise<RotateResult>;
  httpRequest(ctx: CallContext, args: HttpRequestArgs): Promise<HttpRequestResult>;
  /** Metadata of one credential if this agent may use it (for `credential://{name}`), else undefined. */
  describeCredential(agentId: AgentId, name: CredentialName): Promise<CredentialMeta | undefined>;
  /** Fires with the credential name after any rotation, by any process or window. */
  onDidRotate(listener: (name: CredentialName) => void): Disposable;
  /**
   * Fires with the agent id when an agent is revoked in this process (the HTTP host then closes its
   * sessions and streams). Optional: hosts also re-check the token before each rotation notice.
   */
  onDidRevokeAgent?(listener: (agentId: AgentId) => void): Disposable;
  /**
   * The tools this agent can use (README "Tools per agent"): `list_credentials` always;
   * `get_credential` if a credential it may use is not reveal `never` for it; `http_request` if one
   * has allowed hosts; `rotate_credential` if one names it in `rotation_agents`. Left out: every tool.
   */
  toolsFor?(agentId: AgentId): Promise<ReadonlySet<string>>;
  /** Fires after the metadata (policies, agents) changed, in this or another process. */
  onDidChangeMetadata?(listener: () => void): Disposable;
  /**
   * Records a request refused for its bearer token (the host's 401) in the audit log, aggregated
   * and never with the token itself. Optional for hosts over other APIs; never throws.
   */
  recordAuthFailure?(kind: 'unknown' | 'revoked', token: string, remote?: string): Promise<void>;
}
