/**
 * Remembers the human's "Allow for 1 hour" and "Allow for this session" answers per (agent,
 * credential, scope, use) — `use` is the kind of request that was shown (`get_credential`,
 * `http_request`, `run`), so allowing a brokered call never silently allows a reveal. In memory
 * only: a session grant lasts until this process (the server, or the editor session) ends, and a
 * restart asks again, which errs on the side of the human.
 */
import type { AgentId, CredentialName, Scope } from '../model';
import type { Clock } from '../ports';

interface Grant {
  agentId: AgentId;
  credential: CredentialName;
  scope: Scope;
  /** Epoch ms (exclusive); `Infinity` for the rest of the session. */
  untilMs: number;
}

/** `untilMs` of a grant that lasts until this process ends ("Allow for this session"). */
export const SESSION_GRANT = Number.POSITIVE_INFINITY;

export class ApprovalGrants {
  readonly #clock: Clock;
  readonly #grants = new Map<string, Grant>();

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
      this.#grants.set(key, { agentId, credential, scope, untilMs });
    }
  }

  /** Drops every grant of this agent (revoked agent). Returns how many were dropped. */
  revokeAgent(agentId: AgentId): number {
    return this.#dropWhere((g) => g.agentId === agentId);
  }

  /** Drops every grant on this credential (revoked or re-scoped credential). */
  revokeCredential(credential: CredentialName): number {
    return this.#dropWhere((g) => g.credential === credential);
  }

  clear(): void {
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

  #dropWhere(pred: (g: Grant) => boolean): number {
    let n = 0;
    for (const [key, g] of this.#grants) {
      if (pred(g)) {
        this.#grants.delete(key);
        n++;
      }
    }
    return n;
  }
}

function keyOf(agentId: string, credential: string, scope: string, use: string): string {
  // JSON keeps the parts apart whatever characters they hold.
  return JSON.stringify([agentId, credential, scope, use]);
}
