/**
 * Typed errors. Each carries a stable `code` (agents and tests match on it) and a message that
 * says what was wrong and what to do next. Messages name credentials and agents, never values:
 * error text is public API — the MCP layer sends it to the agent verbatim.
 */

export type ErrorCode =
  | 'not_found'
  | 'scope_denied'
  | 'agent_denied'
  | 'anomaly_denied'
  | 'approval_denied'
  | 'rate_limited'
  | 'invalid_input'
  | 'rotate_denied'
  | 'no_generator'
  | 'host_denied'
  | 'reveal_denied'
  | 'request_denied'
  | 'upstream_error'
  | 'unauthorized'
  | 'already_exists'
  | 'audit_unavailable'
  | 'store_error'
  | 'internal_error';

export class KeyringError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Machine-readable extras for `structuredContent` (never a value). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class CredentialNotFoundError extends KeyringError {
  constructor(name: string) {
    super(
      'not_found',
      `No credential named '${name}' is available to this agent. Call list_credentials to see the names you may use, or ask the user to add it in Agent Keyring.`,
      { credential: name },
    );
  }
}

export class InvalidInputError extends KeyringError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('invalid_input', message, details);
  }
}

export class AlreadyExistsError extends KeyringError {
  constructor(kind: 'credential' | 'agent', id: string) {
    super(
      'already_exists',
      `${kind === 'agent' ? 'An' : 'A'} ${kind} named '${id}' already exists. Pick another name, or ${kind === 'credential' ? 'rotate' : 'revoke'} the existing one first.`,
      { [kind]: id },
    );
  }
}

/** Policy or anomaly refusal; `code` says which. */
export class PolicyDeniedError extends KeyringError {
  constructor(
    code:
      | 'scope_denied'
      | 'agent_denied'
      | 'anomaly_denied'
      | 'approval_denied'
      | 'rate_limited'
      | 'rotate_denied'
      | 'host_denied'
      | 'reveal_denied'
      | 'request_denied',
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(code, message, details);
  }
}

export class NoGeneratorError extends KeyringError {
  constructor(name: string) {
    super(
      'no_generator',
      `Credential '${name}' has no generator, so a new value cannot be made here. Pass new_value, or ask the user to rotate it in the editor or with 'agent-keyring credential rotate ${name}'.`,
      { credential: name },
    );
  }
}

export class UpstreamError extends KeyringError {
  constructor(message: string) {
    super('upstream_error', message);
  }
}

export class UnauthorizedError extends KeyringError {
  constructor(
    message = 'Missing or unknown bearer token. Create an agent token with Agent Keyring (Connect Agent… or `agent-keyring agent add`) and send it as `Authorization: Bearer <token>`.',
  ) {
    super('unauthorized', message);
  }
}

/** The audit line could not be written; fail-closed, so nothing was released. */
export class AuditUnavailableError extends KeyringError {
  constructor() {
    super(
      'audit_unavailable',
      'The audit log cannot be written right now, so no credential was released (fail-closed). Ask the user to check the disk and the audit file, then retry.',
    );
  }
}

export class StoreError extends KeyringError {
  constructor(message: string) {
    super('store_error', message);
  }
}

export function isKeyringError(e: unknown): e is KeyringError {
  return e instanceof KeyringError;
}
