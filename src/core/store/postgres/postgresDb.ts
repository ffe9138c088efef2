/**
 * The connections of one team store: a pool for single statements (reads, secret writes) and a
 * separate pool for metadata transactions. A metadata transaction holds its connection while the
 * credential store writes a value (through the statement pool) inside it, so the two must not
 * share connections: with one pool, N concurrent updates could hold all N connections and wait
 * forever for an (N+1)th.
 *
 * Every database failure becomes a {@link StoreError} naming the store by its masked URL, with the
 * password removed from whatever the driver said.
 */
import { Pool, type ClientConfig, type PoolClient, type QueryResultRow } from 'pg';
import { KeyringError, StoreError } from '../../errors';
import type { Logger } from '../../ports';
import { maskStoreUrl, storeUrlPassword } from './storeUrl';

export interface PostgresDbOptions {
  logger: Logger;
  /** Connections for single statements (default 4). */
  poolSize?: number;
  /** Connections for metadata transactions (default 1: one process's updates take turns anyway). */
  writerPoolSize?: number;
}

export class PostgresDb {
  readonly display: string;
  readonly config: ClientConfig;
  readonly statements: Pool;
  readonly writers: Pool;
  private readonly password: string | undefined;

  constructor(url: string, opts: PostgresDbOptions) {
    this.display = maskStoreUrl(url);
    this.password = storeUrlPassword(url);
    this.config = {
      connectionString: url.trim(),
      application_name: 'agent-keyring',
      connectionTimeoutMillis: 5000,
    };
    this.statements = new Pool({ ...this.config, max: opts.poolSize ?? 4 });
    this.writers = new Pool({ ...this.config, max: opts.writerPoolSize ?? 1 });
    // An idle connection that breaks (database restart) must not crash the process: the pool
    // drops it and the next query opens a new one.
    for (const pool of [this.statements, this.writers]) {
      pool.on('error', (e: Error) =>
        opts.logger.warn(`Team store ${this.display}: an idle connection failed (${this.reason(e)}).`),
      );
    }
  }

  /** One statement on the statement pool; failures become a StoreError saying what failed. */
  async query<R extends QueryResultRow>(sql: string, params: unknown[], what: string): Promise<R[]> {
    try {
      return (await this.statements.query<R>(sql, params)).rows;
    } catch (e) {
      throw this.error(e, what);
    }
  }

  /**
   * Runs `fn` in a transaction on the writer pool: COMMIT when it returns, ROLLBACK when it throws.
   * A database failure becomes a StoreError; whatever `fn` itself throws passes unchanged.
   */
  async transaction<T>(what: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.writers.connect();
    } catch (e) {
      throw this.error(e, what);
    }
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (e) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw e instanceof KeyringError ? e : isDriverError(e) ? this.error(e, what) : e;
    } finally {
      client.release(broken);
    }
  }

  /** A StoreError for a driver failure during `what` (never containing the password). */
  error(e: unknown, what: string): StoreError {
    if (e instanceof StoreError) {
      return e;
    }
    return new StoreError(
      `The team store ${this.display} failed while ${what}: ${this.reason(e)}. Check that PostgreSQL is running and reachable with these credentials, then retry.`,
    );
  }

  /** The driver's message, clipped, with the password (if the URL has one) masked. */
  reason(e: unknown): string {
    let msg = e instanceof Error ? e.message : String(e);
    if (e instanceof AggregateError && e.errors.length > 0 && !msg) {
      msg = e.errors.map((x: unknown) => (x instanceof Error ? x.message : String(x))).join('; ');
    }
    if (this.password) {
      msg = msg.split(this.password).join('***');
    }
    msg = msg || 'no reason given';
    return msg.length > 200 ? `${msg.slice(0, 200)}…` : msg;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.statements.end(), this.writers.end()]);
  }
}

/** An error from the driver or the connection (not from our own code inside a transaction). */
function isDriverError(e: unknown): boolean {
  if (!(e instanceof Error)) {
    return false;
  }
  const code = (e as { code?: unknown }).code;
  return (
    typeof code === 'string' ||
    e.constructor.name === 'DatabaseError' ||
    /Connection terminated|connection timeout|Client has encountered a connection error/i.test(e.message)
  );
}
