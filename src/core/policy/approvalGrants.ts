/**
 * Remembers the human's "Allow for 1 hour" and "Allow for this session" answers per (agent,
 * credential, scope, use) — `use` is the kind of request that was shown (`get_credential`,
 * `http_request`, `run`), so allowing a brokered call never silently allows a reveal. `has()` is a
 * synchronous look-up in memory.
 *
 * A session grant lasts until this process (the server, or the editor session) ends: a restart asks
 * again, which errs on the side of the human. An hour grant is in memory too, unless a
 * {@link GrantStore} is attached (the team store: every server of the store and a restart know it,
 * and a revocation anywhere drops it everywhere).
 */
import type { AgentId, CredentialName, Scope } from '../model';
import type { Clock, Disposable, Logger } from '../ports';

/** An hour grant as a {@link GrantStore} keeps it. */
export interface StoredGrant {
  agentId: AgentId;
  credential: CredentialName;
  scope: Scope;
  use: string;
  /** Epoch ms (exclusive). */
  untilMs: number;
}

/** Shared hour grants (postgres/postgresGrantStore.ts). */
export interface GrantStore {
  /** The unexpired grants. */
  load(): Promise<StoredGrant[]>;
  /** Adds or extends (never shortens) a grant. */
  save(grant: StoredGrant): Promise<void>;
  revokeAgent(agentId: AgentId): Promise<void>;
  revokeCredential(credential: CredentialName): Promise<void>;
  /** Fires when any server changed the grants (or changes may have been missed): load again. */
  onDidChange(listener: () => void): Disposable;
}

interface Grant {
  agentId: AgentId;
  credential: CredentialName;
  scope: Scope;
  use: string;
  /** Epoch ms (exclusive); `Infinity` for the rest of the session. */
  untilMs: number;
}

/** `untilMs` of a grant that lasts until this process ends ("Allow for this session"). */
export const SESSION_GRANT = Number.POSITIVE_INFINITY;

export class ApprovalGrants {
  readonly #clock: Clock;
  readonly #grants = new Map<string, Grant>();
  #store: { store: GrantStore; logger: Logger; subscription: Disposable } | undefined;
  /** Writes to the attached store under way (awaited by {@link settled}). */
  readonly #pending = new Set<Promise<void>>();
  /** Bumped by every local change: a load started before one must not undo it. */
  #changes = 0;

  /** Takes the clock directly or as `{ clock }`. */
  constructor(deps: Clock | { clock: Clock }) {
    this.#clock = 'clock' in deps ? deps.clock : deps;
  }

  /** Whether an unexpired grant covers exactly this agent, credential, scope and use. Never throws. */
  has(agentId: AgentId, credential: CredentialName, scope: Scope, use = ''): boolean {
    const key = keyOf(agentId, credential, scope, use);
    const g = this.#grants.get(key);
    if (!g) {
      return false;
    }
    if (g.untilMs <= this.#clock.now()) {
      this.#grants.delete(key);
      return false;
    }
    return true;
  }

  /**
   * Allows this agent/credential/scope/use until `untilMs` (epoch ms, exclusive; {@link SESSION_GRANT}
   * for the session). A later grant for the same key extends it; an earlier one never shortens it;
   * one already expired is ignored.
   */
  grant(agentId: AgentId, credential: CredentialName, scope: Scope, untilMs: number, use = ''): void {
    const now = this.#clock.now();
    this.#prune(now);
    if (!(untilMs > now)) {
      return;
    }
    const key = keyOf(agentId, credential, scope, use);
    const existing = this.#grants.get(key);
    if (!existing || existing.untilMs < untilMs) {
      this.#changes++;
      this.#grants.set(key, { agentId, credential, scope, use, untilMs });
      if (this.#store && untilMs !== SESSION_GRANT) {
        const { store, logger } = this.#store;
        this.#track(store.save({ agentId, credential, scope, use, untilMs }), (e: unknown) =>
          logger.warn(
            `An approval grant for '${agentId}' on '${credential}' was not shared with the other servers`,
            e,
          ),
        );
      }
    }
  }

  /** Drops every grant of this agent (revoked agent), here and in an attached store. Returns how many were dropped here. */
  revokeAgent(agentId: AgentId): number {
    this.#shared((s) => s.revokeAgent(agentId), `of '${agentId}'`);
    return this.#dropWhere((g) => g.agentId === agentId);
  }

  /** Drops every grant on this credential (removed or re-created credential), here and in an attached store. */
  revokeCredential(credential: CredentialName): number {
    this.#shared((s) => s.revokeCredential(credential), `on '${credential}'`);
    return this.#dropWhere((g) => g.credential === credential);
  }

  /**
   * Drops the grants whose credential or agent is gone (the predicates answer false), here and in
   * an attached store: called after the store changed, so a credential removed or an agent revoked
   * through any server or process drops its grants here too. Returns how many were dropped here.
   */
  dropStale(liveCredential: (name: CredentialName) => boolean, liveAgent: (id: AgentId) => boolean): number {
    const credentials = new Set<CredentialName>();
    const agents = new Set<AgentId>();
    for (const g of this.#grants.values()) {
      if (!liveCredential(g.credential)) {
        credentials.add(g.credential);
      } else if (!liveAgent(g.agentId)) {
        agents.add(g.agentId);
      }
    }
    let n = 0;
    for (const c of credentials) {
      n += this.revokeCredential(c);
    }
    for (const a of agents) {
      n += this.revokeAgent(a);
    }
    return n;
  }

  /**
   * Keeps hour grants in `store` from now on: loads the ones there (and again whenever it reports a
   * change), and writes every new hour grant and revocation to it. Session grants stay here.
   * @throws the store's error when the first load fails.
   */
  async attach(store: GrantStore, logger: Logger): Promise<Disposable> {
    const subscription = store.onDidChange(() => void this.#reload(store, logger));
    this.#store = { store, logger, subscription };
    await this.#load(store);
    return {
      dispose: () => {
        subscription.dispose();
        if (this.#store?.store === store) {
          this.#store = undefined;
        }
      },
    };
  }

  clear(): void {
    this.#changes++;
    this.#grants.clear();
  }

  /** Unexpired grants (for the status bar / tests). */
  get size(): number {
    this.#prune(this.#clock.now());
    return this.#grants.size;
  }

  #prune(now: number): void {
    this.#dropWhere((g) => g.untilMs <= now);
  }

  #shared(fn: (s: GrantStore) => Promise<void>, what: string): void {
    if (!this.#store) {
      return;
    }
    const { store, logger } = this.#store;
    this.#track(fn(store), (e: unknown) =>
      logger.warn(`The approval grants ${what} could not be dropped on the other servers`, e),
    );
  }

  #track(write: Promise<void>, onError: (e: unknown) => void): void {
    const p = write.catch(onError);
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  /** Resolves when the writes to the attached store started so far are done (call before closing it). */
  async settled(): Promise<void> {
    await Promise.all([...this.#pending]);
  }

  async #reload(store: GrantStore, logger: Logger): Promise<void> {
    try {
      await this.#load(store);
    } catch (e) {
      logger.warn('Could not reload the shared approval grants', e);
    }
  }

  /**
   * Replaces the hour grants with the store's (session grants stay). When a local change raced the
   * load, only adds what is missing (that change reaches the store and comes back with its
   * notification, which loads again).
   */
  async #load(store: GrantStore): Promise<void> {
    const before = this.#changes;
    const loaded = await store.load();
    if (this.#changes === before) {
      for (const [key, g] of this.#grants) {
        if (g.untilMs !== SESSION_GRANT) {
          this.#grants.delete(key);
        }
      }
    }
    const now = this.#clock.now();
    for (const g of loaded) {
      const key = keyOf(g.agentId, g.credential, g.scope, g.use);
      if (g.untilMs > now && !this.#grants.has(key)) {
        this.#grants.set(key, { ...g });
      }
    }
  }

  #dropWhere(pred: (g: Grant) => boolean): number {
    let n = 0;
    for (const [key, g] of this.#grants) {
      if (pred(g)) {
        this.#grants.delete(key);
        n++;
      }
    }
    if (n > 0) {
      this.#changes++;
    }
    return n;
  }
}

function keyOf(agentId: string, credential: string, scope: string, use: string): string {
  // JSON keeps the parts apart whatever characters they hold.
  return JSON.stringify([agentId, credential, scope, use]);
}
