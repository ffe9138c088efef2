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

/** Which agent stands for this editor's chat, and where its token is kept. */
export interface EditorAgent {
  id: string;
  label: string;
  /** Key of its token in `secrets` (the editor's SecretStorage). */
  tokenKey: string;
}

/**
 * True for an editor's own chat agent: `vscode`, or on a team store any editor's `vscode.<user>.<host>`
 * (lists of agents to connect a client as, and the walkthrough's "an agent is connected", skip them).
 */
export function isEditorAgentId(id: string): boolean {
  return id === VSCODE_AGENT_ID || id.startsWith(`${VSCODE_AGENT_ID}.`);
}

/** On the editor's own store: the agent `vscode`. */
export const LOCAL_EDITOR_AGENT: EditorAgent = {
  id: VSCODE_AGENT_ID,
  label: VSCODE_AGENT_LABEL,
  tokenKey: VSCODE_AGENT_TOKEN_KEY,
};

/**
 * On a team store every editor has an agent of its own (`vscode.<user>.<host>`), so teammates'
 * editors never rotate each other's token; its token stays in this editor's SecretStorage, under a
 * key naming the store.
 */
export function teamEditorAgent(id: string, storeUrl: string): EditorAgent {
  return {
    id,
    label: `VS Code (in-editor chat) of ${id.slice('vscode.'.length)}`,
    tokenKey: `team-store/agent-token/${id}/${storeUrl}`,
  };
}

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
  agent: EditorAgent = LOCAL_EDITOR_AGENT,
): Promise<VscodeAgentToken> {
  const stored = await secrets.get(agent.tokenKey);
  if (stored && (await store.authenticate(stored))?.id === agent.id) {
    return { state: 'ok', token: stored };
  }
  const existing = await store.getAgent(agent.id);
  if (existing?.revoked_at) {
    logger.warn(
      `The built-in agent '${agent.id}' is revoked; in-editor chat cannot use Agent Keyring until it is added again.`,
    );
    return { state: 'revoked' };
  }
  const issued = existing
    ? await store.rotateAgentToken(agent.id)
    : await store.addAgent({ id: agent.id, label: agent.label });
  await secrets.store(agent.tokenKey, issued.token.reveal());
  logger.info(
    existing
      ? `Issued a new token for the built-in agent '${agent.id}'.`
      : `Created the built-in agent '${agent.id}'.`,
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
  readonly #agent: EditorAgent;
  #inFlight: Promise<VscodeAgentToken> | undefined;
  readonly #renewed = new Set<() => void>();
  /** Renewals so far: part of the MCP definition's version, so VS Code sees the server changed. */
  generation = 0;

  constructor(
    store: CredentialStore,
    secrets: SecretBackend,
    logger: Logger,
    agent: EditorAgent = LOCAL_EDITOR_AGENT,
  ) {
    this.#store = store;
    this.#secrets = secrets;
    this.#logger = logger;
    this.#agent = agent;
  }

  /** The id of the agent that stands for this editor's chat. */
  get id(): string {
    return this.#agent.id;
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
      const { id, label, tokenKey } = this.#agent;
      const existing = await this.#store.getAgent(id);
      const issued =
        existing && !existing.revoked_at
          ? await this.#store.rotateAgentToken(id)
          : await this.#store.addAgent({ id, label });
      await this.#secrets.store(tokenKey, issued.token.reveal());
      this.#logger.info(`Issued a new token for the built-in agent '${id}'.`);
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
      const check = ensureVscodeAgentToken(this.#store, this.#secrets, this.#logger, this.#agent);
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
