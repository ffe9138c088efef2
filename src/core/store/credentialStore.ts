/**
 * Domain operations on credentials and agents, over a {@link MetadataStore} (policies, versions,
 * agents) and a {@link SecretBackend} (values). Used by the keyring service, the CLI and the
 * VS Code adapter; knows nothing about MCP or VS Code.
 *
 * Consistency rules:
 * - A value is written BEFORE the metadata points at it, inside the metadata update (so under
 *   the metadata lock, which also serialises version numbers across processes). The secret
 *   backend uses its own lock, so this nesting cannot deadlock. A crash leaves the old state
 *   (plus at most an orphan value that the next rotation overwrites) or the new state.
 * - Values are deleted inside the metadata update too, so a concurrent remove + re-add of the
 *   same name can never lose the new credential's value.
 * - Errors are typed (errors.ts) and never contain a value.
 */
import * as crypto from 'node:crypto';
import {
  AlreadyExistsError,
  CredentialNotFoundError,
  InvalidInputError,
  KeyringError,
  StoreError,
} from '../errors';
import {
  type AgentId,
  type AgentMeta,
  type CredentialMeta,
  type CredentialName,
  type IsoTime,
  type KeyringMetadata,
  type RotationGenerator,
  SecretValue,
  secretKey,
} from '../model';
import { MAX_GRACE_SECONDS, MAX_VALUE_BYTES } from '../limits';
import type { Clock, Disposable, Logger, MetadataStore, SecretBackend } from '../ports';
import {
  AgentInputSchema,
  type AgentInputRaw,
  CredentialInputSchema,
  type CredentialInput,
  type CredentialInputRaw,
  CredentialPatchSchema,
  type CredentialPatch,
  DEFAULT_ALPHABET,
  RotationGeneratorSchema,
  parseInput,
} from './schemas';

export interface CredentialStoreDeps {
  metadata: MetadataStore;
  secrets: SecretBackend;
  clock: Clock;
  logger: Logger;
}

export interface RotateOptions {
  value: SecretValue;
  /** Seconds the previous value stays valid upstream (0 = no grace period). */
  graceSeconds: number;
  /** Who rotated: `cli`, `vscode-user`, or an agent id. */
  actor: string;
}

export interface RotateOutcome {
  name: CredentialName;
  version: number;
  previous_version: number;
  previous_valid_until: IsoTime | null;
}

/** Token format: `akr_` + base64url of 32 random bytes. */
export const AGENT_TOKEN_PREFIX = 'akr_';
const TOKEN_PATTERN = /^akr_[A-Za-z0-9_-]{43}$/;
/** At most one `last_seen_at` write per agent per minute. */
export const SEEN_THROTTLE_MS = 60_000;
const MAX_ACTOR_LENGTH = 128;

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
const iso = (ms: number): IsoTime => new Date(ms).toISOString();
const sha256Hex = (s: string): string => crypto.createHash('sha256').update(s, 'utf8').digest('hex');

export class AgentNotFoundError extends KeyringError {
  constructor(id: string) {
    super(
      'not_found',
      `No agent with id '${id}'. List agents in the Agents view or with 'agent-keyring agent list', then retry with an existing id.`,
      { agent: id },
    );
  }
}

export class CredentialStore {
  private readonly metadata: MetadataStore;
  private readonly secrets: SecretBackend;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private tokenIndex: { doc: KeyringMetadata; byHash: Map<string, AgentId> } | undefined;
  private readonly lastSeenWrite = new Map<AgentId, number>();

  constructor(deps: CredentialStoreDeps) {
    this.metadata = deps.metadata;
    this.secrets = deps.secrets;
    this.clock = deps.clock;
    this.logger = deps.logger;
  }

  // ---------------------------------------------------------------- reads

  /** The whole metadata document, current as of this call. Do not mutate it (it may be frozen). */
  snapshot(): Promise<KeyringMetadata> {
    return this.metadata.read();
  }

  /** The credential's metadata, or undefined. */
  async getCredential(name: CredentialName): Promise<CredentialMeta | undefined> {
    const doc = await this.metadata.read();
    return hasOwn(doc.credentials, name) ? doc.credentials[name] : undefined;
  }

  /** All credentials, sorted by name. */
  async listCredentials(): Promise<CredentialMeta[]> {
    const doc = await this.metadata.read();
    return Object.values(doc.credentials).sort((a, b) => cmp(a.name, b.name));
  }

  /** The agent's metadata (revoked ones included), or undefined. */
  async getAgent(id: AgentId): Promise<AgentMeta | undefined> {
    const doc = await this.metadata.read();
    return hasOwn(doc.agents, id) ? doc.agents[id] : undefined;
  }

  /** All agents (revoked ones included), sorted by id. */
  async listAgents(): Promise<AgentMeta[]> {
    const doc = await this.metadata.read();
    return Object.values(doc.agents).sort((a, b) => cmp(a.id, b.id));
  }

  /**
   * The stored value of one version, or undefined when that version's value is gone (versions
   * older than the previous one are deleted at rotation).
   * @throws CredentialNotFoundError when no such credential exists; StoreError when the backend fails.
   */
  async readValue(name: CredentialName, version: number): Promise<SecretValue | undefined> {
    if (!(await this.getCredential(name))) {
      throw new CredentialNotFoundError(name);
    }
    const v = await this.secrets.get(secretKey(name, version));
    return v === undefined ? undefined : new SecretValue(v);
  }

  /**
   * The stored value of one version, for a caller that already holds a metadata snapshot naming
   * that version (the request path: one metadata revalidation per request). Unlike
   * {@link readValue} it does not re-read the metadata; the secret backend still revalidates.
   * @returns undefined when that version's value is gone.
   * @throws StoreError when the backend fails.
   */
  async readVersionValue(name: CredentialName, version: number): Promise<SecretValue | undefined> {
    const v = await this.secrets.get(secretKey(name, version));
    return v === undefined ? undefined : new SecretValue(v);
  }

  /**
   * The current version and its value, consistent with each other even while another process
   * rotates (re-reads the metadata if the value it pointed at was just superseded).
   * @throws CredentialNotFoundError; StoreError when the current value is missing from the backend.
   */
  async readCurrentValue(name: CredentialName): Promise<{ version: number; value: SecretValue }> {
    for (let attempt = 0; ; attempt++) {
      const meta = await this.getCredential(name);
      if (!meta) {
        throw new CredentialNotFoundError(name);
      }
      const v = await this.secrets.get(secretKey(name, meta.version));
      if (v !== undefined) {
        return { version: meta.version, value: new SecretValue(v) };
      }
      const again = await this.getCredential(name);
      if (!again) {
        throw new CredentialNotFoundError(name);
      }
      if (again.version === meta.version || attempt >= 5) {
        throw new StoreError(
          `The value of credential '${name}' (version ${meta.version}) is missing from the secret store. Rotate the credential to give it a new value.`,
        );
      }
    }
  }

  /** Fires after the metadata changed, in this or another process. */
  onDidChange(listener: () => void): Disposable {
    return this.metadata.onDidChange(listener);
  }

  // ---------------------------------------------------------------- credentials

  /**
   * Adds a credential at version 1. The value is stored before the metadata names it.
   * @throws InvalidInputError (bad input, empty or oversized value); AlreadyExistsError; StoreError.
   */
  async addCredential(input: CredentialInputRaw, value: SecretValue, actor: string): Promise<CredentialMeta> {
    const parsed = parseInput(CredentialInputSchema, input, 'credential');
    checkValue(value, parsed.name);
    checkActor(actor);
    return this.metadata.update(async (draft) => {
      if (hasOwn(draft.credentials, parsed.name)) {
        throw new AlreadyExistsError('credential', parsed.name);
      }
      const now = iso(this.clock.now());
      await this.secrets.store(secretKey(parsed.name, 1), value.reveal());
      const meta: CredentialMeta = {
        name: parsed.name,
        description: parsed.description,
        allowed_scopes: parsed.allowed_scopes,
        allowed_agents: parsed.allowed_agents,
        ttl_seconds: parsed.ttl_seconds,
        ...(parsed.allowed_hosts ? { allowed_hosts: parsed.allowed_hosts } : {}),
        ...(parsed.rotation_agents ? { rotation_agents: parsed.rotation_agents } : {}),
        ...(parsed.rotation ? { rotation: parsed.rotation } : {}),
        ...(parsed.reveal && parsed.reveal !== 'allow' ? { reveal: parsed.reveal } : {}),
        ...(parsed.reveal_overrides && Object.keys(parsed.reveal_overrides).length
          ? { reveal_overrides: parsed.reveal_overrides }
          : {}),
        ...(parsed.scope_rules && Object.keys(parsed.scope_rules).length
          ? { scope_rules: parsed.scope_rules }
          : {}),
        ...(parsed.placement ? { placement: parsed.placement } : {}),
        version: 1,
        versions: [{ version: 1, created_at: now, rotated_by: actor }],
        created_at: now,
      };
      draft.credentials[parsed.name] = meta;
      return meta;
    });
  }

  /**
   * Changes a credential's policy fields (any subset; `null` clears an optional field). The name
   * cannot change.
   * @throws InvalidInputError; CredentialNotFoundError; StoreError.
   */
  async updateCredential(
    name: CredentialName,
    patch: Partial<CredentialInput> | CredentialPatch,
  ): Promise<CredentialMeta> {
    const p = parseInput(CredentialPatchSchema, patch, 'credential change');
    if (p.name !== undefined && p.name !== name) {
      throw new InvalidInputError(
        `Credential '${name}' cannot be renamed. Add a credential named '${p.name}' with the same value and remove '${name}' instead.`,
      );
    }
    return this.metadata.update((draft) => {
      const cred = requireCredential(draft, name);
      if (p.description !== undefined) {
        cred.description = p.description;
      }
      if (p.allowed_scopes !== undefined) {
        cred.allowed_scopes = p.allowed_scopes;
      }
      if (p.allowed_agents !== undefined) {
        cred.allowed_agents = p.allowed_agents;
      }
      if (p.ttl_seconds !== undefined) {
        cred.ttl_seconds = p.ttl_seconds;
      }
      setOptional(cred, 'allowed_hosts', p.allowed_hosts);
      setOptional(cred, 'rotation_agents', p.rotation_agents);
      setOptional(cred, 'rotation', p.rotation);
      if (p.reveal !== undefined) {
        if (p.reveal === 'allow') {
          delete cred.reveal;
        } else {
          cred.reveal = p.reveal;
        }
      }
      // An empty object clears the field, like null.
      setOptional(cred, 'reveal_overrides', emptyToNull(p.reveal_overrides));
      setOptional(cred, 'scope_rules', emptyToNull(p.scope_rules));
      setOptional(cred, 'placement', p.placement);
      if (cred.scope_rules) {
        const unknown = Object.keys(cred.scope_rules).filter((sc) => !cred.allowed_scopes.includes(sc));
        if (p.scope_rules && unknown.some((sc) => Object.hasOwn(p.scope_rules ?? {}, sc))) {
          throw new InvalidInputError(
            `Invalid credential change: scope_rules name ${unknown.map((sc) => `'${sc}'`).join(', ')}, which '${name}' does not allow. Add the scope to its scopes, or remove its rules.`,
          );
        }
        // A scope that was removed takes its rules with it (re-added, it starts from the safe default).
        for (const sc of unknown) {
          delete cred.scope_rules[sc];
        }
        if (Object.keys(cred.scope_rules).length === 0) {
          delete cred.scope_rules;
        }
      }
      return cred;
    });
  }

  /**
   * Removes a credential and the values of all its versions (and forgets agents' first use of it).
   * @throws CredentialNotFoundError; StoreError.
   */
  async removeCredential(name: CredentialName): Promise<void> {
    await this.metadata.update(async (draft) => {
      const cred = requireCredential(draft, name);
      for (const v of cred.versions) {
        await this.secrets.delete(secretKey(name, v.version));
      }
      delete draft.credentials[name];
      for (const agent of Object.values(draft.agents)) {
        if (agent.first_used && hasOwn(agent.first_used, name)) {
          delete agent.first_used[name];
        }
      }
    });
    this.logger.info(`Credential '${name}' removed with all its stored versions.`);
  }

  /**
   * Makes `value` the new current version at once. The previous value stays stored and valid
   * until `previous_valid_until` (now + grace; null when grace is 0); values of older versions
   * are deleted. Rotations are serialised across processes: concurrent rotations each get their
   * own version, none lost.
   * @throws InvalidInputError (bad value, grace or actor); CredentialNotFoundError; StoreError.
   */
  async rotate(name: CredentialName, opts: RotateOptions): Promise<RotateOutcome> {
    checkValue(opts.value, name);
    checkActor(opts.actor);
    if (
      !Number.isInteger(opts.graceSeconds) ||
      opts.graceSeconds < 0 ||
      opts.graceSeconds > MAX_GRACE_SECONDS
    ) {
      throw new InvalidInputError(
        `grace_seconds must be a whole number from 0 to ${MAX_GRACE_SECONDS} (30 days). Use 0 to retire the previous value at once.`,
      );
    }
    const outcome = await this.metadata.update(async (draft): Promise<RotateOutcome> => {
      const cred = requireCredential(draft, name);
      const previous = cred.version;
      const next = Math.max(previous, ...cred.versions.map((v) => v.version)) + 1;
      const nowMs = this.clock.now();
      // Value first: until the metadata below is committed, nobody points at it.
      await this.secrets.store(secretKey(name, next), opts.value.reveal());
      for (const v of cred.versions) {
        if (v.version < previous) {
          await this.secrets.delete(secretKey(name, v.version));
        }
      }
      cred.versions.push({ version: next, created_at: iso(nowMs), rotated_by: opts.actor });
      cred.version = next;
      const until = opts.graceSeconds > 0 ? iso(nowMs + opts.graceSeconds * 1000) : null;
      if (until) {
        cred.previous_valid_until = until;
      } else {
        delete cred.previous_valid_until;
      }
      return { name, version: next, previous_version: previous, previous_valid_until: until };
    });
    this.logger.info(`Credential '${name}' rotated to version ${outcome.version} by ${opts.actor}.`);
    return outcome;
  }

  /**
   * A new random value: `length` characters drawn uniformly (rejection sampling, no modulo bias)
   * from `alphabet` (default ASCII letters and digits).
   * @throws InvalidInputError when length is not 16–256 or the alphabet is not 2–256 distinct characters.
   */
  generateValue(generator: RotationGenerator): SecretValue {
    const g = parseInput(RotationGeneratorSchema, generator, 'generator');
    return new SecretValue(randomString(g.length, g.alphabet ?? DEFAULT_ALPHABET));
  }

  // ---------------------------------------------------------------- agents

  /**
   * Adds an agent and returns its bearer token (shown once; only its SHA-256 is stored). An id
   * that belongs to a revoked agent is reused for the new agent.
   * @throws InvalidInputError; AlreadyExistsError (a live agent has the id); StoreError.
   */
  async addAgent(input: AgentInputRaw): Promise<{ agent: AgentMeta; token: SecretValue }> {
    const parsed = parseInput(AgentInputSchema, input, 'agent');
    const token = newToken();
    const agent = await this.metadata.update((draft) => {
      if (hasOwn(draft.agents, parsed.id) && !draft.agents[parsed.id].revoked_at) {
        throw new AlreadyExistsError('agent', parsed.id);
      }
      const meta: AgentMeta = {
        id: parsed.id,
        label: parsed.label ?? parsed.id,
        token_sha256: sha256Hex(token),
        created_at: iso(this.clock.now()),
        ...(parsed.active_hours ? { active_hours: parsed.active_hours } : {}),
      };
      draft.agents[parsed.id] = meta;
      return meta;
    });
    this.lastSeenWrite.delete(parsed.id);
    return { agent, token: new SecretValue(token) };
  }

  /**
   * Revokes an agent: its token stops working at once (the agent stays listed, marked revoked),
   * and it is removed from every credential's `allowed_agents` and `rotation_agents` in the same
   * write — so adding the id again starts with no grants (they must be given again).
   * @returns the agent and the credentials it was removed from.
   * @throws AgentNotFoundError; StoreError.
   */
  async revokeAgent(id: AgentId): Promise<AgentMeta & { removed_from?: CredentialName[] }> {
    return this.metadata.update((draft) => {
      const agent = requireAgent(draft, id);
      agent.revoked_at ??= iso(this.clock.now());
      const removedFrom: CredentialName[] = [];
      for (const cred of Object.values(draft.credentials)) {
        const allowed = cred.allowed_agents.filter((a) => a !== id);
        const rotators = cred.rotation_agents?.filter((a) => a !== id);
        if (
          allowed.length !== cred.allowed_agents.length ||
          rotators?.length !== cred.rotation_agents?.length
        ) {
          removedFrom.push(cred.name);
          cred.allowed_agents = allowed;
          if (rotators) {
            cred.rotation_agents = rotators;
          }
        }
      }
      return { ...structuredClone(agent), removed_from: removedFrom.sort() };
    });
  }

  /**
   * The agent a bearer token belongs to, revoked ones included (for the audit of refused tokens),
   * or undefined. Not an authentication: use {@link authenticate} for that.
   */
  async agentForToken(token: string): Promise<AgentMeta | undefined> {
    if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) {
      return undefined;
    }
    const hash = sha256Hex(token);
    const doc = await this.metadata.read();
    return Object.values(doc.agents).find((a) => a.token_sha256 === hash);
  }

  /** Deletes an agent entirely. @throws AgentNotFoundError; StoreError. */
  async removeAgent(id: AgentId): Promise<void> {
    await this.metadata.update((draft) => {
      requireAgent(draft, id);
      delete draft.agents[id];
    });
    this.lastSeenWrite.delete(id);
  }

  /**
   * Gives an agent a new token; the old one stops working at once.
   * @throws AgentNotFoundError; InvalidInputError (revoked agent: add it again instead); StoreError.
   */
  async rotateAgentToken(id: AgentId): Promise<{ agent: AgentMeta; token: SecretValue }> {
    const token = newToken();
    const agent = await this.metadata.update((draft) => {
      const a = requireAgent(draft, id);
      if (a.revoked_at) {
        throw new InvalidInputError(
          `Agent '${id}' is revoked, so it gets no new token. Add it again to give it a fresh one.`,
        );
      }
      a.token_sha256 = sha256Hex(token);
      return a;
    });
    return { agent, token: new SecretValue(token) };
  }

  /**
   * The live agent a bearer token belongs to, or undefined (malformed, unknown or revoked).
   * Constant-time comparison of the hashes; the lookup index is rebuilt only when the metadata
   * document changes.
   */
  async authenticate(token: string): Promise<AgentMeta | undefined> {
    if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) {
      return undefined;
    }
    const doc = await this.metadata.read();
    if (this.tokenIndex?.doc !== doc) {
      const byHash = new Map<string, AgentId>();
      for (const a of Object.values(doc.agents)) {
        byHash.set(a.token_sha256, a.id);
      }
      this.tokenIndex = { doc, byHash };
    }
    const hash = sha256Hex(token);
    const id = this.tokenIndex.byHash.get(hash);
    if (id === undefined || !hasOwn(doc.agents, id)) {
      return undefined;
    }
    const agent = doc.agents[id];
    const a = Buffer.from(hash, 'hex');
    const b = Buffer.from(agent.token_sha256, 'hex');
    if (a.length !== b.length || !crypto.timingSafeEqual(a, b) || agent.revoked_at) {
      return undefined;
    }
    return agent;
  }

  /**
   * Records that an agent was seen at `atMs`. Throttled: at most one metadata write per agent per
   * minute (by this process's clock, and skipped when the stored time is already that recent), so
   * the request path does not write a file per call. Unknown agents are ignored.
   */
  async markSeen(agentId: AgentId, atMs: number): Promise<void> {
    const now = this.clock.now();
    const last = this.lastSeenWrite.get(agentId);
    if (last !== undefined && now - last < SEEN_THROTTLE_MS && now >= last) {
      return;
    }
    const recent = (a: AgentMeta | undefined): boolean => {
      if (!a?.last_seen_at) {
        return false;
      }
      const prev = Date.parse(a.last_seen_at);
      return atMs >= prev && atMs - prev < SEEN_THROTTLE_MS;
    };
    const current = await this.getAgent(agentId);
    this.lastSeenWrite.set(agentId, now);
    if (!current || recent(current)) {
      return;
    }
    await this.metadata.update((draft) => {
      const a = hasOwn(draft.agents, agentId) ? draft.agents[agentId] : undefined;
      if (!a || recent(a)) {
        return;
      }
      const prev = a.last_seen_at ? Date.parse(a.last_seen_at) : -Infinity;
      a.last_seen_at = iso(Math.max(atMs, prev));
    });
  }

  /**
   * Records the first time an agent used a credential (drives the first-use anomaly rule).
   * Returns true when this call recorded it, false when it was already known or the agent is unknown.
   */
  async recordFirstUse(agentId: AgentId, name: CredentialName, atMs: number): Promise<boolean> {
    const a = await this.getAgent(agentId);
    if (!a || (a.first_used && hasOwn(a.first_used, name))) {
      return false;
    }
    return this.metadata.update((draft) => {
      const agent = hasOwn(draft.agents, agentId) ? draft.agents[agentId] : undefined;
      if (!agent) {
        return false;
      }
      agent.first_used ??= {};
      if (hasOwn(agent.first_used, name)) {
        return false;
      }
      agent.first_used[name] = iso(atMs);
      return true;
    });
  }
}

/**
 * `length` characters drawn uniformly from `alphabet` (split by code point) with
 * `crypto.randomBytes` and rejection sampling: a byte is used only if it falls below the largest
 * multiple of the alphabet size, so every character is equally likely.
 */
export function randomString(length: number, alphabet: string): string {
  const chars = Array.from(alphabet);
  const n = chars.length;
  if (n < 2 || n > 256) {
    throw new InvalidInputError('The alphabet must have 2–256 distinct characters.');
  }
  const limit = 256 - (256 % n);
  const out: string[] = [];
  while (out.length < length) {
    for (const b of crypto.randomBytes(Math.max(16, (length - out.length) * 2))) {
      if (b < limit) {
        out.push(chars[b % n]);
        if (out.length === length) {
          break;
        }
      }
    }
  }
  return out.join('');
}

function newToken(): string {
  return AGENT_TOKEN_PREFIX + crypto.randomBytes(32).toString('base64url');
}

function requireCredential(doc: KeyringMetadata, name: CredentialName): CredentialMeta {
  if (!hasOwn(doc.credentials, name)) {
    throw new CredentialNotFoundError(name);
  }
  return doc.credentials[name];
}

function requireAgent(doc: KeyringMetadata, id: AgentId): AgentMeta {
  if (!hasOwn(doc.agents, id)) {
    throw new AgentNotFoundError(id);
  }
  return doc.agents[id];
}

function emptyToNull<T extends object>(value: T | null | undefined): T | null | undefined {
  return value && Object.keys(value).length === 0 ? null : value;
}

function setOptional<
  K extends
    'allowed_hosts' | 'rotation_agents' | 'rotation' | 'reveal_overrides' | 'scope_rules' | 'placement',
>(cred: CredentialMeta, key: K, value: CredentialMeta[K] | null | undefined): void {
  if (value === null) {
    delete cred[key];
  } else if (value !== undefined) {
    cred[key] = value;
  }
}

function checkValue(value: SecretValue, name: string): void {
  if (!(value instanceof SecretValue)) {
    throw new InvalidInputError(`The value for credential '${name}' must be passed as a SecretValue.`);
  }
  const raw = value.reveal();
  if (raw.length === 0) {
    throw new InvalidInputError(
      `The value for credential '${name}' is empty. Paste the key itself, or use a generator.`,
    );
  }
  if (Buffer.byteLength(raw, 'utf8') > MAX_VALUE_BYTES) {
    throw new InvalidInputError(
      `The value for credential '${name}' is larger than 64 KiB. Store the key itself, not a file.`,
    );
  }
}

function checkActor(actor: string): void {
  if (typeof actor !== 'string' || actor.length === 0 || actor.length > MAX_ACTOR_LENGTH) {
    throw new InvalidInputError(
      `The actor (who made the change) must be a non-empty string of at most ${MAX_ACTOR_LENGTH} characters, such as 'cli' or an agent id.`,
    );
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
