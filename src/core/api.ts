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
   * Records a request refused for its bearer token (the host's 401) in the audit log, aggregated
   * and never with the token itself. Optional for hosts over other APIs; never throws.
   */
  recordAuthFailure?(kind: 'unknown' | 'revoked', token: string, remote?: string): Promise<void>;
}
