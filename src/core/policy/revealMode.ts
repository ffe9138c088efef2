/**
 * Reveal modes ("use, don't read"): whether `get_credential` may hand a credential's value to an
 * agent. Pure functions over {@link CredentialMeta}; no I/O.
 *
 * Model: the credential carries `reveal` (for every agent; absent = `allow`, so metadata written
 * before reveal modes existed reads as it always behaved) and `reveal_overrides` (agent id → mode),
 * which replaces `reveal` for that agent in either direction — an operator can make a key
 * broker-only for everyone but one trusted agent, or allow it for everyone but one.
 *
 * Injection (`agent-keyring run`) is not a reveal: a mode of `never` still lets `run` put the value
 * into a child's environment, but callers must then force masking of the child's output (see
 * {@link mustMaskOutput}).
 */
import { PolicyDeniedError } from '../errors';
import { DEFAULT_REVEAL_MODE, type AgentId, type CredentialMeta, type RevealMode } from '../model';

/** The reveal mode that applies when `agentId` asks for this credential. Never throws. */
export function effectiveRevealMode(
  cred: Pick<CredentialMeta, 'reveal' | 'reveal_overrides'>,
  agentId: AgentId,
): RevealMode {
  const overrides = cred.reveal_overrides;
  if (overrides && Object.hasOwn(overrides, agentId)) {
    return overrides[agentId];
  }
  return cred.reveal ?? DEFAULT_REVEAL_MODE;
}

/** True when output of a process the value was injected into must be masked whatever the flags say. */
export function mustMaskOutput(
  cred: Pick<CredentialMeta, 'reveal' | 'reveal_overrides'>,
  agentId: AgentId,
): boolean {
  return effectiveRevealMode(cred, agentId) === 'never';
}

/**
 * The refusal for a reveal that the mode `never` does not allow. Its message tells the agent how to
 * use the key without reading it.
 */
export function revealDenied(
  cred: Pick<CredentialMeta, 'name' | 'allowed_hosts'>,
  scope: string,
): PolicyDeniedError {
  const broker = cred.allowed_hosts?.length
    ? `Use http_request with credential '${cred.name}' and the {{credential}} placeholder (allowed hosts: ${cred.allowed_hosts.join(', ')}), or ask the user to run your command with 'agent-keyring run --env VAR=${cred.name}:${scope} -- …'.`
    : `Ask the user to run your command with 'agent-keyring run --env VAR=${cred.name}:${scope} -- …', or to add allowed hosts so you can use http_request.`;
  return new PolicyDeniedError(
    'reveal_denied',
    `Credential '${cred.name}' is used, never read: its value is not handed to agents. ${broker}`,
    { credential: cred.name, scope, reveal: 'never' },
  );
}
