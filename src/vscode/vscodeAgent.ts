/**
 * The built-in agent `vscode` (in-editor chat). Created on first activation; its bearer token is
 * kept in SecretStorage under {@link VSCODE_AGENT_TOKEN_KEY} and handed to VS Code only in
 * `resolveMcpServerDefinition` (never in a provided definition, never logged).
 */
import { VSCODE_AGENT_ID } from '../core/model';
import type { Logger, SecretBackend } from '../core/ports';
import type { CredentialStore } from '../core/store/credentialStore';

export const VSCODE_AGENT_TOKEN_KEY = `agent-token/${VSCODE_AGENT_ID}`;
const VSCODE_AGENT_LABEL = 'VS Code (in-editor chat)';

export type VscodeAgentToken =
  | { state: 'ok'; token: string }
  /** The user revoked the `vscode` agent: in-editor chat gets no token until it is added again. */
  | { state: 'revoked' };

/**
 * Returns a working token for the `vscode` agent: the stored one if it still authenticates,
 * else a fresh one (agent created on first use, or its token re-issued when the stored copy is
 * missing or stale, e.g. after SecretStorage was cleared). A revoked agent is left revoked.
 * @throws StoreError when the metadata cannot be written.
 */
export async function ensureVscodeAgentToken(
  store: CredentialStore,
  secrets: SecretBackend,
  logger: Logger,
): Promise<VscodeAgentToken> {
  const stored = await secrets.get(VSCODE_AGENT_TOKEN_KEY);
  if (stored && (await store.authenticate(stored))?.id === VSCODE_AGENT_ID) {
    return { state: 'ok', token: stored };
  }
  const existing = await store.getAgent(VSCODE_AGENT_ID);
  if (existing?.revoked_at) {
    logger.warn(
      `The built-in agent '${VSCODE_AGENT_ID}' is revoked; in-editor chat cannot use Agent Keyring until it is added again.`,
    );
    return { state: 'revoked' };
  }
  const issued = existing
    ? await store.rotateAgentToken(VSCODE_AGENT_ID)
    : await store.addAgent({ id: VSCODE_AGENT_ID, label: VSCODE_AGENT_LABEL });
  await secrets.store(VSCODE_AGENT_TOKEN_KEY, issued.token.reveal());
  logger.info(
    existing
      ? `Issued a new token for the built-in agent '${VSCODE_AGENT_ID}'.`
      : `Created the built-in agent '${VSCODE_AGENT_ID}'.`,
  );
  return { state: 'ok', token: issued.token.reveal() };
}

/**
 * {@link ensureVscodeAgentToken} one call at a time: whoever asks while a check is running (the
 * check activation starts, VS Code resolving the MCP definition) gets that same check, so two
 * callers can never each find no token and mint one. A later call checks again (the agent may have
 * been revoked or re-added since).
 */
export class VscodeAgentTokens {
  readonly #store: CredentialStore;
  readonly #secrets: SecretBackend;
  readonly #logger: Logger;
  #inFlight: Promise<VscodeAgentToken> | undefined;
  readonly #renewed = new Set<() => void>();
  /** Renewals so far: part of the MCP definition's version, so VS Code sees the server changed. */
  generation = 0;

  constructor(store: CredentialStore, secrets: SecretBackend, logger: Logger) {
    this.#store = store;
    this.#secrets = secrets;
    this.#logger = logger;
  }

  /**
   * A new token for the `vscode` agent, kept in SecretStorage and never shown: the agent is added
   * again if it was revoked (with no grants: give them again), else its token is rotated. The way
   * back for in-editor chat after a revoke or a leaked token. Waits for a running check first, so
   * the two never mint tokens side by side.
   * @throws StoreError when the metadata cannot be written.
   */
  async renew(): Promise<void> {
    await this.#inFlight?.catch(() => undefined);
    const renewal = (async (): Promise<VscodeAgentToken> => {
      const existing = await this.#store.getAgent(VSCODE_AGENT_ID);
      const issued =
        existing && !existing.revoked_at
          ? await this.#store.rotateAgentToken(VSCODE_AGENT_ID)
          : await this.#store.addAgent({ id: VSCODE_AGENT_ID, label: VSCODE_AGENT_LABEL });
      await this.#secrets.store(VSCODE_AGENT_TOKEN_KEY, issued.token.reveal());
      this.#logger.info(`Issued a new token for the built-in agent '${VSCODE_AGENT_ID}'.`);
      return { state: 'ok', token: issued.token.reveal() };
    })();
    this.#inFlight = renewal;
    try {
      await renewal;
    } finally {
      if (this.#inFlight === renewal) {
        this.#inFlight = undefined;
      }
    }
    this.generation++;
    for (const listener of this.#renewed) {
      listener();
    }
  }

  /** Fires after {@link renew} stored a new token. */
  onDidRenew(listener: () => void): { dispose(): void } {
    this.#renewed.add(listener);
    return { dispose: () => this.#renewed.delete(listener) };
  }

  /** The running check, or a new one. @throws StoreError when the metadata cannot be written. */
  get(): Promise<VscodeAgentToken> {
    if (!this.#inFlight) {
      const check = ensureVscodeAgentToken(this.#store, this.#secrets, this.#logger);
      this.#inFlight = check;
      const clear = (): void => {
        if (this.#inFlight === check) {
          this.#inFlight = undefined;
        }
      };
      check.then(clear, clear);
    }
    return this.#inFlight;
  }
}
