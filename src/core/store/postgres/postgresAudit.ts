/**
 * The audit trail of a team store (README "Team keyring on PostgreSQL"): every server of the store
 * appends to one hash chain in the database, and `audit verify|export`, the anomaly rules' replay
 * and the other readers read it back.
 *
 * Write path ({@link PostgresAuditStorage}), one transaction per batch on a connection of its own
 * (`synchronous_commit` on: a batch is durable when its COMMIT returns):
 * - the locking path: `BEGIN; SET LOCAL synchronous_commit TO on; SELECT … FROM akr_audit_head …
 *   FOR UPDATE` (one round trip: the head row is locked, so writers of every server take turns) →
 *   take the batch (everything queued meanwhile joins it) → seal it from that head (the keyed chain,
 *   exactly as the file store) → one statement inserting every row and moving the head → `COMMIT`.
 *   Three round trips per batch, however many events it holds.
 * - the fast path, while this server wrote the last batch: the batch is sealed from the head it
 *   left, and ONE statement (its own transaction) moves the head only if it is still that one
 *   (`UPDATE … WHERE seq = … AND hash = …`, which waits for and then re-checks a concurrent
 *   writer's row lock) and inserts the rows only if it did. One round trip; when another server
 *   wrote meanwhile nothing is written and the batch takes the locking path.
 * No COMMIT, no resolve: the log then refuses every caller of the batch (`audit_unavailable`).
 *
 * Read path ({@link PostgresAuditSource}): rows in `seq` order, filtered in SQL on the indexed
 * columns, paged by `seq` (constant memory); verify reads the head and the rows in one
 * REPEATABLE READ snapshot, so writers going on meanwhile do not make the end look off.
 */
import { Pool, type PoolClient, type QueryResult } from 'pg';
import {
  AGENT_TOOLS,
  type AuditFilter,
  type AuditQueryOptions,
  type AuditQueryResult,
  type AuditRecord,
  auditPage,
  parseEvent,
} from '../../audit/auditReader';
import type { AuditSource } from '../../audit/auditSource';
import { type AuditStorage, type PreparedAuditEvent, sealBatch } from '../../audit/auditStorage';
import { type ChainKey, GENESIS_HASH } from '../../audit/chain';
import { type AuditVerifyResult, ChainWalk, type VerifyOptions } from '../../audit/verify';
import type { AuditEvent } from '../../model';
import type { Disposable, Logger } from '../../ports';
import type { PostgresChanges } from './postgresChanges';
import type { PostgresDb } from './postgresDb';

/** Rows read per query when streaming the trail. */
const PAGE_ROWS = 1000;
/** A statement of the audit path that takes longer fails the batch (closed) instead of hanging its callers. */
const AUDIT_QUERY_TIMEOUT_MS = 15_000;

const LOCK_HEAD_SQL =
  'BEGIN; SET LOCAL synchronous_commit TO on; SELECT seq::text AS seq, hash FROM akr_audit_head WHERE id = 1 FOR UPDATE';

/**
 * The fast path: moves the head from ($1, $10) to ($1 + rows, $9) and inserts the rows, or does
 * nothing (n = 0) when the head is no longer ($1, $10).
 */
const FAST_SQL = `WITH head AS (
  UPDATE akr_audit_head SET seq = $1::bigint + cardinality($8::text[]), hash = $9, updated_at = now()
  WHERE id = 1 AND seq = $1::bigint AND hash = $10
  RETURNING 1
), rows AS (
  INSERT INTO akr_audit (seq, ts, agent_id, client_name, credential, tool, decision, line)
  SELECT $1::bigint + u.o, u.ts::timestamptz, u.agent_id, u.client_name, u.credential, u.tool, u.decision, u.line
  FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
    WITH ORDINALITY AS u(ts, agent_id, client_name, credential, tool, decision, line, o)
  WHERE EXISTS (SELECT 1 FROM head)
  RETURNING 1
)
SELECT (SELECT count(*) FROM head)::int AS moved, (SELECT count(*) FROM rows)::int AS n`;

/** Inserts the batch's rows ($1 = head seq; row i gets seq $1 + i) and moves the head, in one statement. */
const INSERT_SQL = `WITH rows AS (
  INSERT INTO akr_audit (seq, ts, agent_id, client_name, credential, tool, decision, line)
  SELECT $1::bigint + u.o, u.ts::timestamptz, u.agent_id, u.client_name, u.credential, u.tool, u.decision, u.line
  FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
    WITH ORDINALITY AS u(ts, agent_id, client_name, credential, tool, decision, line, o)
  RETURNING 1
)
UPDATE akr_audit_head SET seq = $1::bigint + (SELECT count(*) FROM rows), hash = $9, updated_at = now() WHERE id = 1`;

/** Appends sealed batches to a team store's audit table (see the file comment). */
export class PostgresAuditStorage implements AuditStorage {
  readonly where: string;
  readonly #db: PostgresDb;
  /** One connection: this process's batches take turns anyway (the log writes one at a time). */
  readonly #pool: Pool;
  /** The head this server's last batch left (seq as text), or undefined: take the locking path. */
  #head: { seq: string; hash: string } | undefined;

  constructor(db: PostgresDb, logger: Logger) {
    this.#db = db;
    this.where = `the audit trail of ${db.display}`;
    this.#pool = new Pool({ ...db.config, max: 1, query_timeout: AUDIT_QUERY_TIMEOUT_MS });
    this.#pool.on('error', (e: Error) =>
      logger.warn(`Team store ${db.display}: the audit connection failed while idle (${db.reason(e)}).`),
    );
    // The fast path commits on its own: durable only with synchronous_commit on (whatever the
    // database's default). Queued before the connection's first statement.
    this.#pool.on('connect', (client) => {
      client.query('SET synchronous_commit TO on').catch(() => undefined);
    });
  }

  async appendBatch(
    take: () => readonly PreparedAuditEvent[],
    chainKey: ChainKey | undefined,
  ): Promise<AuditEvent[]> {
    let client: PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (e) {
      throw this.#db.error(e, 'writing the audit trail');
    }
    let broken = false;
    const cached = this.#head;
    this.#head = undefined; // set again only by a durable batch
    try {
      let inputs: readonly PreparedAuditEvent[] | undefined;
      if (cached) {
        inputs = take();
        const sealed = sealBatch(inputs, cached.hash, chainKey);
        const r = await client.query<{ moved: number; n: number }>(FAST_SQL, [
          ...rowParams(cached.seq, inputs, sealed),
          cached.hash,
        ]);
        if (r.rows[0]?.moved === 1 && r.rows[0].n === inputs.length) {
          this.#head = { seq: addSeq(cached.seq, inputs.length), hash: sealed.head };
          return sealed.events;
        }
        // Another server wrote since our last batch: nothing was written; lock and reseal below.
      }
      const results = (await client.query(LOCK_HEAD_SQL)) as unknown as QueryResult<{
        seq: string;
        hash: string;
      }>[];
      const head = results[results.length - 1]?.rows[0];
      if (!head) {
        throw new Error('the audit head row is missing (run agent-keyring store upgrade)');
      }
      const batch = inputs ?? take();
      const sealed = sealBatch(batch, head.hash, chainKey);
      if (batch.length > 0) {
        await client.query(INSERT_SQL, rowParams(head.seq, batch, sealed));
      }
      await client.query('COMMIT');
      this.#head = { seq: addSeq(head.seq, batch.length), hash: sealed.head };
      return sealed.events;
    } catch (e) {
      try {
        await client.query('ROLLBACK'); // outside a transaction (fast path) only a warning
      } catch {
        broken = true;
      }
      throw this.#db.error(e, 'writing the audit trail');
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.#pool.end().catch(() => undefined);
  }
}

/** Reads a team store's audit trail (see the file comment). */
export class PostgresAuditSource implements AuditSource {
  readonly where: string;
  readonly path = undefined;

  constructor(
    private readonly db: PostgresDb,
    private readonly changes?: PostgresChanges,
  ) {
    this.where = `the audit trail of ${db.display}`;
  }

  onDidChange(listener: () => void): Disposable {
    return this.changes?.onAudit(listener) ?? { dispose: () => undefined };
  }

  async *records(filter: AuditFilter = {}): AsyncGenerator<AuditRecord> {
    const params: unknown[] = [];
    const where = whereOf(filter, params);
    let after = '0';
    for (;;) {
      const rows = await this.db.query<{ seq: string; line: string }>(
        `SELECT seq::text AS seq, line FROM akr_audit WHERE seq > $${params.length + 1}::bigint${where ? ` AND ${where}` : ''} ORDER BY akr_audit.seq LIMIT ${PAGE_ROWS}`,
        [...params, after],
        'reading the audit trail',
      );
      for (const row of rows) {
        const event = parseEvent(row.line);
        if (event) {
          yield { line: row.line, event };
        }
      }
      if (rows.length < PAGE_ROWS) {
        return;
      }
      after = rows[rows.length - 1].seq;
    }
  }

  async query(filter: AuditFilter = {}, options: AuditQueryOptions = {}): Promise<AuditQueryResult> {
    const { offset, limit } = auditPage(options);
    const params: unknown[] = [];
    const where = whereOf(filter, params);
    const cond = where ? ` WHERE ${where}` : '';
    const [count] = await this.db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM akr_audit${cond}`,
      params,
      'counting audit events',
    );
    const rows = await this.db.query<{ line: string }>(
      `SELECT line FROM akr_audit${cond} ORDER BY seq ${options.newestFirst ? 'DESC' : 'ASC'} OFFSET ${offset} LIMIT ${limit}`,
      params,
      'reading audit events',
    );
    const events: AuditEvent[] = [];
    for (const row of rows) {
      const e = parseEvent(row.line);
      if (e) {
        events.push(e);
      }
    }
    return { total: Number(count?.n ?? 0), events };
  }

  /**
   * Checks every row in `seq` order (content, keyed hash, link to the row before, no gap in `seq`)
   * and the end against the head row (deleted last rows, rows added outside Agent Keyring). "Line n"
   * in a reason is the n-th row in `seq` order.
   */
  async verify(opts: VerifyOptions = {}): Promise<AuditVerifyResult> {
    let client: PoolClient;
    try {
      client = await this.db.statements.connect();
    } catch (e) {
      throw this.db.error(e, 'verifying the audit trail');
    }
    let broken = false;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const head = (
        await client.query<{ seq: string; hash: string }>(
          'SELECT seq::text AS seq, hash FROM akr_audit_head WHERE id = 1',
        )
      ).rows[0];
      const walk = new ChainWalk(opts.chainKeys);
      let after = '0';
      for (;;) {
        const rows = (
          await client.query<{ seq: string; line: string }>(
            `SELECT seq::text AS seq, line FROM akr_audit WHERE seq > $1::bigint ORDER BY akr_audit.seq LIMIT ${PAGE_ROWS}`,
            [after],
          )
        ).rows;
        for (const row of rows) {
          const position = walk.count + 1;
          if (!walk.firstBad && row.seq !== String(position)) {
            walk.firstBad = {
              line: position,
              reason: `line ${position}: missing — the rows jump from seq ${position - 1} to seq ${row.seq} (rows were deleted).`,
            };
          }
          walk.add(row.line);
        }
        if (rows.length < PAGE_ROWS) {
          break;
        }
        after = rows[rows.length - 1].seq;
      }
      await client.query('COMMIT');
      const n = walk.count;
      if (walk.firstBad) {
        return walk.withLines({ ok: false, count: n, firstBad: walk.firstBad });
      }
      const recorded = head ? Number(head.seq) : -1;
      let result: AuditVerifyResult = { ok: true, count: n };
      if (!head) {
        result = bad(
          n,
          0,
          'the audit head row is missing (deleted?), so deleted last rows cannot be ruled out.',
        );
      } else if (n < recorded) {
        result = bad(
          n,
          n + 1,
          `line ${n + 1}: missing — the trail ends at seq ${n}, but its head row records ${recorded} event(s) (the last rows were deleted).`,
        );
      } else if (n > recorded) {
        result = bad(
          n,
          recorded + 1,
          `line ${recorded + 1}: after the end recorded in the head row (seq ${recorded}): rows were added outside Agent Keyring.`,
        );
      } else if (walk.lastHash !== head.hash && !(n === 0 && head.hash === GENESIS_HASH)) {
        result = bad(
          n,
          n,
          `line ${n}: its hash differs from the one recorded in the head row (the row was replaced, or rows were removed and others written in their place).`,
        );
      }
      return walk.withUnknownKeyWarning(walk.withLines(result));
    } catch (e) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw this.db.error(e, 'verifying the audit trail');
    } finally {
      client.release(broken);
    }
  }
}

/** $1–$9 of {@link INSERT_SQL} (and of {@link FAST_SQL}, which adds the expected head hash as $10). */
function rowParams(
  headSeq: string,
  inputs: readonly PreparedAuditEvent[],
  sealed: { events: AuditEvent[]; lines: string[]; head: string },
): unknown[] {
  return [
    headSeq,
    inputs.map((e) => new Date(Date.parse(e.ts)).toISOString()),
    inputs.map((e) => e.agent_id ?? null),
    sealed.events.map((e) => e.client?.name ?? null),
    inputs.map((e) => e.credential ?? null),
    inputs.map((e) => e.tool),
    inputs.map((e) => e.decision),
    sealed.lines,
    sealed.head,
  ];
}

function addSeq(seq: string, n: number): string {
  return (BigInt(seq) + BigInt(n)).toString();
}

function bad(count: number, line: number, reason: string): AuditVerifyResult {
  return { ok: false, count, firstBad: { line, reason } };
}

/** The SQL condition of `filter` (pushing its parameters), or '' for none; mirrors auditReader's filter. */
function whereOf(filter: AuditFilter, params: unknown[]): string {
  const conds: string[] = [];
  const p = (v: unknown): string => {
    params.push(v);
    return `$${params.length}`;
  };
  if (filter.agent_id !== undefined) {
    // As the file reader: the agent of an agent's request, or the person a change was made by.
    const who = p(filter.agent_id);
    conds.push(
      `(agent_id = ${who} OR (client_name = ${who} AND tool <> ALL(${p([...AGENT_TOOLS])}::text[])))`,
    );
  }
  if (filter.credential !== undefined) {
    conds.push(`credential = ${p(filter.credential)}`);
  }
  if (filter.tool !== undefined) {
    conds.push(`tool = ${p(filter.tool)}`);
  }
  if (filter.decision !== undefined) {
    const decisions = typeof filter.decision === 'string' ? [filter.decision] : [...filter.decision];
    conds.push(`decision = ANY(${p(decisions)}::text[])`);
  }
  if (filter.since !== undefined && Number.isFinite(filter.since)) {
    conds.push(`ts >= ${p(new Date(filter.since).toISOString())}::timestamptz`);
  }
  if (filter.until !== undefined && Number.isFinite(filter.until)) {
    conds.push(`ts < ${p(new Date(filter.until).toISOString())}::timestamptz`);
  }
  return conds.join(' AND ');
}

/**
 * Tells the other servers (and editors) of a team store that this one appended to the audit trail
 * (`a:` on the notification channel), so their Audit views reload: at most once per `intervalMs`,
 * the first append at once and the rest of a burst in one trailing notice. Best effort — a notice
 * lost while the listening connection is down is made up by the reconnect's catch-all event.
 */
export class AuditAppendNotice implements Disposable {
  #last = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly changes: Pick<PostgresChanges, 'notify'>,
    private readonly intervalMs = 250,
  ) {}

  appended(): void {
    if (this.#timer) {
      return;
    }
    const wait = this.#last + this.intervalMs - Date.now();
    if (wait <= 0) {
      this.#send();
    } else {
      this.#timer = setTimeout(() => this.#send(), wait);
      this.#timer.unref();
    }
  }

  /** Sends a pending notice now (before the store closes), and waits for what is in flight. */
  async flush(): Promise<void> {
    if (this.#timer) {
      this.#send();
    }
    await this.#sending;
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #send(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#last = Date.now();
    this.#sending = this.changes.notify('a:').catch(() => undefined);
  }
}
