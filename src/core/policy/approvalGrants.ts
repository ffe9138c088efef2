/**
 * Remembers the human's "Allow for 1 hour" answers (DESIGN §4) per (agent, credential, scope),
 * so the same request is not asked again until the grant expires. In memory only: a restart asks
 * again, which errs on the side of the human.
 */
import type { AgentId, CredentialName, Scope } from '../model';
import type { Clock } from '../ports';

interface Grant {
  agentId: AgentId;
  credential: CredentialName;
  scope: Scope;
  untilMs: number;
}

export class ApprovalGrants {
  readonly #clock: Clock;
  readonly #grants = new Map<string, Grant>();

  /** Takes the clock directly or as `{ clock }`. */
  constructor(deps: Clock | { clock: Clock }) {
    this.#clock = 'clock' in deps ? deps.clock : deps;
  }

  /** Whether an unexpired grant covers exactly this agent, credential and scope. Never throws. */
  has(agentId: AgentId, credential: CredentialName, scope: Scope): boolean {
    const key = keyOf(agentId, credential, scope);
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
   * Allows this agent/credential/scope until `untilMs` (epoch ms, exclusive). A later grant for
   * the same key extends it; an earlier one never shortens it; one already expired is ignored.
   */
  grant(agentId: AgentId, credential: CredentialName, scope: Scope, untilMs: number): void {
    const now = this.#clock.now();
    this.#prune(now);
    if (!(untilMs > now)) {
      return;
    }
    const key = keyOf(agentId, credential, scope);
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

function keyOf(agentId: string, credential: string, scope: string): string {
  // JSON keeps the three parts apart whatever characters they hold.
  return JSON.stringify([agentId, credential, scope]);
}
