/**
 * Where the leases handed out are kept, for `leases()` (views, `agent-keyring leases`) and for
 * revoking an agent's leases. The record of a hand-out is its audit line, made durable before the
 * value is released; a lease is added here after that line, so a store that loses a lease (a crash
 * before it was written, or the memory bound below) loses a listing, never the record.
 *
 * {@link MemoryLeaseStore} (file store, editor): this process's leases only. The team store keeps
 * them in PostgreSQL (postgres/postgresLeaseStore.ts) so every server lists every server's leases.
 */
import type { AgentId, IsoTime, Lease } from '../model';
import type { Clock } from '../ports';

export interface LeaseFilter {
  agentId?: string;
  /** Only leases neither revoked nor expired. */
  activeOnly?: boolean;
}

export interface LeaseStore {
  /** Records a lease just handed out. Never throws: a store that writes later reports failures itself. */
  add(lease: Lease): void;
  /** Marks every unrevoked lease of the agent revoked at `at`; resolves with how many. */
  revokeAgent(agentId: AgentId, at: IsoTime): Promise<number>;
  /** Leases known (oldest first), expired ones possibly already forgotten. */
  list(filter?: LeaseFilter): Promise<Lease[]>;
  /** Resolves when every lease added so far is written (a no-op in memory). */
  flush(): Promise<void>;
}

/** Expired leases are swept from memory at most this often (the sweep is O(leases)). */
const LEASE_SWEEP_INTERVAL_MS = 60_000;
/** Leases kept in memory at most; past it the oldest are forgotten (they stay in the audit log). */
export const MAX_LEASES_IN_MEMORY = 50_000;

/** The leases of this process, in memory: swept of expired ones at most once a minute, bounded. */
export class MemoryLeaseStore implements LeaseStore {
  /** In issue order (Map keeps insertion order), so the oldest come first. */
  readonly #leases = new Map<string, Lease>();
  #nextSweep = 0;

  constructor(private readonly clock: Clock) {}

  add(lease: Lease): void {
    const now = this.clock.now();
    if (now >= this.#nextSweep) {
      this.#nextSweep = now + LEASE_SWEEP_INTERVAL_MS;
      for (const [id, l] of this.#leases) {
        if (Date.parse(l.expires_at) <= now) {
          this.#leases.delete(id);
        }
      }
    }
    for (const id of this.#leases.keys()) {
      if (this.#leases.size < MAX_LEASES_IN_MEMORY) {
        break;
      }
      this.#leases.delete(id);
    }
    this.#leases.set(lease.lease_id, lease);
  }

  revokeAgent(agentId: AgentId, at: IsoTime): Promise<number> {
    let n = 0;
    for (const lease of this.#leases.values()) {
      if (lease.agent_id === agentId && !lease.revoked_at) {
        lease.revoked_at = at;
        n++;
      }
    }
    return Promise.resolve(n);
  }

  list(filter?: LeaseFilter): Promise<Lease[]> {
    const now = this.clock.now();
    return Promise.resolve(
      [...this.#leases.values()].filter((l) => matches(l, filter, now)).map((l) => ({ ...l })),
    );
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }
}

/** Whether `lease` passes `filter` at `nowMs`. */
export function matches(lease: Lease, filter: LeaseFilter | undefined, nowMs: number): boolean {
  return (
    (!filter?.agentId || lease.agent_id === filter.agentId) &&
    (!filter?.activeOnly || (!lease.revoked_at && Date.parse(lease.expires_at) > nowMs))
  );
}
