/**
 * KeyringAdmin: the one entry for a human's changes (the CLI, the editor's commands, `.env` and
 * MCP-config imports). Each action validates its input once (the store's zod schemas), makes the
 * change, and writes its one audit line — so no front end pairs a store call with a hand-written
 * audit call, and no front end reaches the store.
 *
 * Audit behaviour per action (unchanged from before the admin existed): a human's change happens
 * and its audit line is best effort (a failed write is logged; a rotation also returns
 * `audit_warning` for the caller to show). Agents' requests are decided in {@link KeyringService},
 * fail-closed, and never come through here.
 *
 * Reads for listings and pickers go through the same object ({@link KeyringReader}), so a front
 * end needs nothing else. Values are never read back, only compared ({@link currentValueEquals}).
 */
import { timingSafeEqual } from 'node:crypto';
import type { RotateResult } from './api';
import { CredentialNotFoundError, InvalidInputError } from './errors';
import {
  DEFAULT_REVEAL_MODE,
  REVEAL_MODES,
  type AgentId,
  type AgentMeta,
  type AuditDecision,
  type CredentialMeta,
  type CredentialName,
  type Lease,
  type RevealMode,
  type RotationGenerator,
  type SecretValue,
} from './model';
import type { Disposable, Logger } from './ports';
import type { Actor, KeyringService } from './service';
import { AgentNotFoundError, type CredentialStore } from './store/credentialStore';
import {
  AgentInputSchema,
  CredentialInputSchema,
  CredentialPatchSchema,
  parseInput,
  type AgentInputRaw,
  type CredentialInputRaw,
  type CredentialPatch,
} from './store/schemas';
import type { LeaseFilter } from './store/leaseStore';

/** What a front end may read: metadata only (never a value or a token), and a change signal. */
export interface KeyringReader {
  getCredential(name: CredentialName): Promise<CredentialMeta | undefined>;
  listCredentials(): Promise<CredentialMeta[]>;
  getAgent(id: AgentId): Promise<AgentMeta | undefined>;
  listAgents(): Promise<AgentMeta[]>;
  /** Fires after any change to credentials or agents, in this process or another. */
  onDidChange(listener: () => void): Disposable;
}

/** The audit line's `tool` for a credential that was created (by hand or by an import). */
export type CreateTool = 'add_credential' | 'import_env' | 'import_mcp_config' | 'migrate';

export interface AddCredentialOptions {
  /** Audit `tool`; default `add_credential`. */
  tool?: CreateTool;
  /** Audit `reason`; default `by <actor>`. */
  reason?: string;
}

/** One credential of an all-or-nothing {@link KeyringAdmin.addCredentials}. */
export interface BatchCredential {
  input: CredentialInputRaw;
  value: SecretValue;
  /** Audit `reason` of this credential's line. */
  reason: string;
}

/**
 * {@link KeyringAdmin.addCredentials} failed at `index`: the `rolledBack` credentials created
 * before it were removed again (unless `rollbackFailed` names some that could not be). `cause`
 * is the error of the failed one (a typed KeyringError, or anything a backend threw).
 */
export class BatchAddError extends Error {
  constructor(
    readonly cause: unknown,
    readonly index: number,
    readonly rolledBack: number,
    readonly rollbackFailed: readonly CredentialName[],
  ) {
    super(`Adding credential ${index + 1} of a batch failed; ${rolledBack} created before it were removed.`);
    this.name = 'BatchAddError';
  }
}

/** How a reveal mode is set: for everyone, or for one agent (`default` removes its own mode). */
export type RevealChange = { mode: RevealMode } | { agent: AgentId; mode: RevealMode | 'default' };

export interface KeyringAdminDeps {
  store: CredentialStore;
  service: KeyringService;
  logger: Logger;
}

export class KeyringAdmin implements KeyringReader {
  readonly #store: CredentialStore;
  readonly #service: KeyringService;
  readonly #logger: Logger;

  constructor(deps: KeyringAdminDeps) {
    this.#store = deps.store;
    this.#service = deps.service;
    this.#logger = deps.logger;
  }

  // ---------------------------------------------------------------- reads (metadata only)

  getCredential(name: CredentialName): Promise<CredentialMeta | undefined> {
    return this.#store.getCredential(name);
  }

  listCredentials(): Promise<CredentialMeta[]> {
    return this.#store.listCredentials();
  }

  getAgent(id: AgentId): Promise<AgentMeta | undefined> {
    return this.#store.getAgent(id);
  }

  listAgents(): Promise<AgentMeta[]> {
    return this.#store.listAgents();
  }

  /** Leases handed out (a team store: by every server). Never a value. */
  leases(filter?: LeaseFilter): Promise<Lease[]> {
    return this.#service.leases(filter);
  }

  onDidChange(listener: () => void): Disposable {
    return this.#store.onDidChange(listener);
  }

  /**
   * Whether `value` is the credential's current value (constant time; false when it has none or
   * its value cannot be read). For imports that skip a value that is already there.
   */
  async currentValueEquals(name: CredentialName, value: SecretValue): Promise<boolean> {
    const current = await this.#store.readCurrentValue(name).catch(() => undefined);
    if (!current) {
      return false;
    }
    const a = Buffer.from(current.value.reveal(), 'utf8');
    const b = Buffer.from(value.reveal(), 'utf8');
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /**
   * A new random value from `generator` (default alphabet: ASCII letters and digits).
   * @throws InvalidInputError when length is not 16–256 or the alphabet is unusable.
   */
  generateValue(generator: RotationGenerator): SecretValue {
    return this.#store.generateValue(generator);
  }

  // ---------------------------------------------------------------- credentials

  /**
   * Adds a credential at version 1 and audits it (`created`).
   * @throws InvalidInputError (bad input or value); AlreadyExistsError; StoreError.
   */
  async addCredential(
    input: CredentialInputRaw,
    value: SecretValue,
    actor: Actor,
    opts: AddCredentialOptions = {},
  ): Promise<CredentialMeta> {
    const meta = await this.#store.addCredential(input, value, actor);
    await this.#record(opts.tool ?? 'add_credential', 'created', {
      credential: meta.name,
      version: meta.version,
      reason: opts.reason,
      actor,
    });
    return meta;
  }

  /**
   * Adds several credentials, all or nothing: every input is validated before anything is stored;
   * if one fails to store, those created before it are removed again and a {@link BatchAddError}
   * says which. Audited (`created`, one line each) only once all exist.
   * @throws InvalidInputError (before anything is stored); AlreadyExistsError; BatchAddError.
   */
  async addCredentials(
    items: readonly BatchCredential[],
    actor: Actor,
    tool: CreateTool,
  ): Promise<CredentialMeta[]> {
    for (const item of items) {
      parseInput(CredentialInputSchema, item.input, 'credential');
    }
    const created: CredentialMeta[] = [];
    for (const [index, item] of items.entries()) {
      try {
        created.push(await this.#store.addCredential(item.input, item.value, actor));
      } catch (e) {
        const failed: CredentialName[] = [];
        for (const done of created) {
          await this.#store.removeCredential(done.name).catch(() => {
            failed.push(done.name);
            this.#logger.error(
              `Could not remove '${done.name}' after a failed batch of credentials. Remove it by hand.`,
            );
          });
        }
        throw new BatchAddError(e, index, created.length - failed.length, failed);
      }
    }
    for (const [index, meta] of created.entries()) {
      await this.#record(tool, 'created', {
        credential: meta.name,
        version: meta.version,
        reason: items[index].reason,
        actor,
      });
    }
    return created;
  }

  /**
   * Changes a credential's policy (scopes, agents, TTL, hosts, rotation policy, reveal modes,
   * scope rules, placement; `null` clears an optional field). Audited (`updated`) with the fields
   * that changed, or `reason` when given (a function gets the updated metadata).
   * @throws InvalidInputError (bad patch, nothing to change); CredentialNotFoundError; StoreError.
   */
  async updateCredential(
    name: CredentialName,
    patch: CredentialPatch | Record<string, unknown>,
    actor: Actor,
    opts: { reason?: string | ((updated: CredentialMeta) => string) } = {},
  ): Promise<CredentialMeta> {
    const valid = parseInput(CredentialPatchSchema, patch, 'change');
    const fields = Object.keys(valid);
    if (fields.length === 0) {
      throw new InvalidInputError(
        `Nothing to change for '${name}': give at least one of scopes, agents, ttl, hosts, rotation agents, description, rotation, reveal, scope rules or placement.`,
      );
    }
    const meta = await this.#store.updateCredential(name, valid);
    await this.#record('update_credential', 'updated', {
      credential: name,
      version: meta.version,
      reason:
        typeof opts.reason === 'function'
          ? opts.reason(meta)
          : (opts.reason ?? `changed ${fields.join(', ')} by ${actor}`),
      actor,
    });
    return meta;
  }

  /**
   * Lets `agents` use the credential (adds them to `allowed_agents`; `*` means every agent).
   * @throws CredentialNotFoundError; InvalidInputError; StoreError.
   */
  async grant(name: CredentialName, agents: readonly AgentId[], actor: Actor): Promise<CredentialMeta> {
    const cred = await this.#requireCredential(name);
    const next = [...new Set([...cred.allowed_agents, ...agents])];
    return this.updateCredential(name, { allowed_agents: next }, actor, {
      reason: `granted to ${agents.join(', ')} by ${actor}`,
    });
  }

  /**
   * Stops `agents` using the credential (removes them from `allowed_agents` and `rotation_agents`).
   * @throws CredentialNotFoundError; InvalidInputError; StoreError.
   */
  async ungrant(name: CredentialName, agents: readonly AgentId[], actor: Actor): Promise<CredentialMeta> {
    const cred = await this.#requireCredential(name);
    const drop = new Set(agents);
    const rotators = cred.rotation_agents?.filter((a) => !drop.has(a));
    return this.updateCredential(
      name,
      {
        allowed_agents: cred.allowed_agents.filter((a) => !drop.has(a)),
        ...(cred.rotation_agents ? { rotation_agents: rotators?.length ? rotators : null } : {}),
      },
      actor,
      { reason: `ungranted from ${agents.join(', ')} by ${actor}` },
    );
  }

  /**
   * Sets the credential's reveal mode for every agent, or one agent's own mode (`default`
   * removes it, so the agent follows the credential's). Audited with the resulting modes.
   * @throws InvalidInputError (unknown mode); CredentialNotFoundError; StoreError.
   */
  async setRevealMode(name: CredentialName, change: RevealChange, actor: Actor): Promise<CredentialMeta> {
    const cred = await this.#requireCredential(name);
    const forAgent = 'agent' in change;
    if (
      !(REVEAL_MODES as readonly string[]).includes(change.mode) &&
      !(forAgent && change.mode === 'default')
    ) {
      throw new InvalidInputError(
        `Reveal mode must be allow, approve or never${forAgent ? ', or default for an agent' : ''}.`,
      );
    }
    let patch: CredentialPatch;
    if (!forAgent) {
      patch = { reveal: change.mode };
    } else {
      const overrides: Record<string, RevealMode> = { ...cred.reveal_overrides };
      if (change.mode === 'default') {
        delete overrides[change.agent];
      } else {
        overrides[change.agent] = change.mode;
      }
      patch = { reveal_overrides: Object.keys(overrides).length ? overrides : null };
    }
    const meta = await this.#store.updateCredential(name, parseInput(CredentialPatchSchema, patch, 'change'));
    await this.#record('update_credential', 'updated', {
      credential: name,
      version: meta.version,
      reason: `reveal ${describeRevealModes(meta)} (by ${actor})`,
      actor,
    });
    return meta;
  }

  /**
   * Removes a credential and every stored version of its value; audited (`removed`).
   * @returns the metadata it had. @throws CredentialNotFoundError; StoreError.
   */
  async removeCredential(name: CredentialName, actor: Actor): Promise<CredentialMeta> {
    const cred = await this.#requireCredential(name);
    await this.#store.removeCredential(name);
    await this.#record('remove_credential', 'removed', { credential: name, version: cred.version, actor });
    return cred;
  }

  /**
   * A human's rotation: `value`, or one from the credential's generator. The new version is
   * current at once; the previous one stays valid for `graceSeconds` (default
   * {@link DEFAULT_GRACE_SECONDS}, at most {@link MAX_GRACE_SECONDS}). Audited (`rotated`) by the
   * service, which also tells rotation listeners — once.
   * @throws CredentialNotFoundError; NoGeneratorError; InvalidInputError; StoreError.
   */
  rotateCredential(
    name: CredentialName,
    opts: { value?: SecretValue; graceSeconds?: number },
    actor: Actor,
  ): Promise<RotateResult & { audit_warning?: string }> {
    return this.#service.rotate(name, { ...opts, actor });
  }

  // ---------------------------------------------------------------- agents

  /**
   * Adds an agent; returns its bearer token (shown once; only its hash is stored). Audited
   * (`agent_added`). @throws InvalidInputError; AlreadyExistsError (a live agent has the id); StoreError.
   */
  async addAgent(input: AgentInputRaw, actor: Actor): Promise<{ agent: AgentMeta; token: SecretValue }> {
    const parsed = parseInput(AgentInputSchema, input, 'agent');
    const added = await this.#store.addAgent({
      id: parsed.id,
      label: parsed.label ?? parsed.id,
      ...(parsed.active_hours ? { active_hours: parsed.active_hours } : {}),
    });
    await this.#record('add_agent', 'agent_added', { agent_id: added.agent.id, actor });
    return added;
  }

  /**
   * Records that an agent was added back whose token is issued elsewhere (the editor's built-in
   * `vscode` agent, whose token goes straight to SecretStorage). Audited (`agent_added`).
   * @throws AgentNotFoundError when no live agent has the id.
   */
  async recordAgentReissued(id: AgentId, actor: Actor): Promise<void> {
    const agent = await this.#store.getAgent(id);
    if (!agent || agent.revoked_at) {
      throw new AgentNotFoundError(id);
    }
    await this.#record('add_agent', 'agent_added', { agent_id: id, actor });
  }

  /**
   * Revokes an agent: its token stops working, its leases are revoked, its grants are removed
   * (the service does it and audits `agent_revoked`, and tells revocation listeners).
   * @throws AgentNotFoundError; StoreError.
   */
  async revokeAgent(id: AgentId, actor: Actor): Promise<{ removedFrom: CredentialName[] }> {
    if (!(await this.#store.getAgent(id))) {
      throw new AgentNotFoundError(id);
    }
    return this.#service.revokeAgent(id, actor);
  }

  /**
   * Gives a live agent a new token (the old one stops working at once); audited (`updated`).
   * @throws AgentNotFoundError; InvalidInputError (revoked: add it again); StoreError.
   */
  async rotateAgentToken(id: AgentId, actor: Actor): Promise<{ agent: AgentMeta; token: SecretValue }> {
    const rotated = await this.#store.rotateAgentToken(id);
    await this.#record('rotate_agent_token', 'updated', {
      agent_id: id,
      reason: `new token by ${actor}`,
      actor,
    });
    return rotated;
  }

  /**
   * Records a token rotation made elsewhere (the built-in `vscode` agent renews its own token into
   * SecretStorage). Audited (`updated`).
   */
  async recordAgentTokenRenewed(id: AgentId, actor: Actor): Promise<void> {
    await this.#record('rotate_agent_token', 'updated', {
      agent_id: id,
      reason: `new token by ${actor}`,
      actor,
    });
  }

  // ---------------------------------------------------------------- internals

  async #requireCredential(name: CredentialName): Promise<CredentialMeta> {
    const cred = await this.#store.getCredential(name);
    if (!cred) {
      throw new CredentialNotFoundError(name);
    }
    return cred;
  }

  #record(
    tool: string,
    decision: AuditDecision,
    fields: { credential?: string; agent_id?: string; version?: number; reason?: string; actor: Actor },
  ): Promise<void> {
    return this.#service.recordAdmin(tool, decision, fields);
  }
}

/** `never`, or `never (vscode: allow)` when agents have their own modes. */
export function describeRevealModes(c: CredentialMeta): string {
  const base = c.reveal ?? DEFAULT_REVEAL_MODE;
  const own = Object.entries(c.reveal_overrides ?? {}).map(([a, m]) => `${a}: ${m}`);
  return own.length ? `${base} (${own.join(', ')})` : base;
}
