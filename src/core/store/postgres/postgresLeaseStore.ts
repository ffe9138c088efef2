/**
 * {@link LeaseStore} over `akr_leases` (migration 3): a lease handed out by any server is listed by
 * every server, and after a restart; revoking an agent marks its leases revoked for all of them.
 *
 * Cost and ordering: `add()` only queues. The leases queued within {@link LEASE_BATCH_MS} go in one
 * multi-row INSERT (one round trip for all the calls answered meanwhile: at 60 sequential calls a
 * second about one per three calls, under concurrency far fewer), written after each lease's audit
 * line was made durable and at most that long after its value reached the agent — never awaited
 * by the hand-out, so a slow or lost database costs a listing, not a refusal
 * (failures are logged; the audit line stays the record). `revokeAgent`, `list` and `flush` first
 * wait for the queued inserts, so a lease this server handed out before them is included. A lease
 * inserted (by any server) for an agent already revoked in the metadata is stored revoked, so a
 * hand-out racing a revocation on another server is not left active.
 */
import type { AgentId, IsoTime, Lease } from '../../model';
import type { Logger } from '../../ports';
import type { LeaseFilter, LeaseStore } from '../leaseStore';
import { MAX_LEASES_IN_MEMORY } from '../leaseStore';
import type { PostgresDb } from './postgresDb';

/** How long leases wait to be written together (as the rate-state notifications: postgresRateShare.ts). */
export const LEASE_BATCH_MS = 50;
/** Rows per INSERT (a batch larger than this is split). */
const INSERT_CHUNK = 1000;
/** Expired leases are deleted at most this often (as the memory store forgets them). */
const SWEEP_INTERVAL_MS = 60_000;

interface Row {
  lease_id: string;
  agent_id: string;
  credential: string;
  version: number;
  scope: string;
  issued_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

export class PostgresLeaseStore implements LeaseStore {
  #queued: Lease[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** The inserts under way (each resolves, never rejects). */
  #writing: Promise<void> = Promise.resolve();
  #nextSweep = 0;

  constructor(
    private readonly db: PostgresDb,
    private readonly logger: Logger,
  ) {}

  add(lease: Lease): void {
    this.#queued.push(lease);
    this.#timer ??= setTimeout(() => void this.#write(), LEASE_BATCH_MS);
  }

  async revokeAgent(agentId: AgentId, at: IsoTime): Promise<number> {
    await this.flush();
    const rows = await this.db.query<{ lease_id: string }>(
      'UPDATE akr_leases SET revoked_at = $2 WHERE agent_id = $1 AND revoked_at IS NULL RETURNING lease_id',
      [agentId, at],
      `marking the leases of '${agentId}' revoked`,
    );
    return rows.length;
  }

  async list(filter?: LeaseFilter): Promise<Lease[]> {
    await this.flush();
    const rows = await this.db.query<Row>(
      `SELECT lease_id, agent_id, credential, version, scope, issued_at, expires_at, revoked_at
         FROM akr_leases
        WHERE ($1::text IS NULL OR agent_id = $1)
          AND (NOT $2 OR (revoked_at IS NULL AND expires_at > now()))
        ORDER BY issued_at, lease_id
        LIMIT $3`,
      [filter?.agentId ?? null, filter?.activeOnly === true, MAX_LEASES_IN_MEMORY],
      'listing the leases',
    );
    return rows.map(toLease);
  }

  /** Waits for every lease added so far to be written (or its failure logged). */
  async flush(): Promise<void> {
    if (this.#queued.length > 0) {
      await this.#write();
    }
    await this.#writing;
  }

  #write(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#queued;
    this.#queued = [];
    if (batch.length === 0) {
      return this.#writing;
    }
    // One insert after another, so `flush` waiting for the last one waits for all.
    this.#writing = this.#writing.then(() => this.#insert(batch));
    return this.#writing;
  }

  async #insert(batch: Lease[]): Promise<void> {
    try {
      for (let i = 0; i < batch.length; i += INSERT_CHUNK) {
        const chunk = batch.slice(i, i + INSERT_CHUNK);
        await this.db.query(
          `INSERT INTO akr_leases (lease_id, agent_id, credential, version, scope, issued_at, expires_at, revoked_at)
           SELECT l.id, l.agent, l.cred, l.ver, l.scope, l.issued, l.expires,
                  (SELECT (m.doc -> 'agents' -> l.agent ->> 'revoked_at')::timestamptz FROM akr_metadata m WHERE m.id = 1)
             FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[], $7::timestamptz[])
                  AS l(id, agent, cred, ver, scope, issued, expires)
           ON CONFLICT (lease_id) DO NOTHING`,
          [
            chunk.map((l) => l.lease_id),
            chunk.map((l) => l.agent_id),
            chunk.map((l) => l.credential),
            chunk.map((l) => l.version),
            chunk.map((l) => l.scope),
            chunk.map((l) => l.issued_at),
            chunk.map((l) => l.expires_at),
          ],
          'recording leases',
        );
      }
      const now = Date.now();
      if (now >= this.#nextSweep) {
        this.#nextSweep = now + SWEEP_INTERVAL_MS;
        await this.db.query(
          'DELETE FROM akr_leases WHERE expires_at <= now()',
          [],
          'forgetting expired leases',
        );
      }
    } catch (e) {
      this.logger.warn(
        `${batch.length} lease(s) could not be recorded in the team store (their audit lines are the record): ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
}

function toLease(r: Row): Lease {
  return {
    lease_id: r.lease_id,
    agent_id: r.agent_id,
    credential: r.credential,
    version: r.version,
    scope: r.scope,
    issued_at: r.issued_at.toISOString(),
    expires_at: r.expires_at.toISOString(),
    ...(r.revoked_at ? { revoked_at: r.revoked_at.toISOString() } : {}),
  };
}
