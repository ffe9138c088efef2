/**
 * Change notifications of a team store: one dedicated connection `LISTEN`s on
 * {@link NOTIFY_CHANNEL}; every metadata update and secret write sends `pg_notify` in its own
 * transaction, so every server hears about a commit right after it happens (sub-millisecond on one
 * host) and pushes it to its MCP subscribers.
 *
 * Payloads: `m:<revision>` (the metadata document changed), `s:<key>` (a secret entry changed) and
 * `r:<server>:<events>` (rate-rule events another server counted: postgresRateShare.ts), `g:`
 * (the approval grants changed: postgresGrantStore.ts) and `a:` (a server appended to the audit
 * trail: postgresStore.ts, at most a few times a second per server).
 * When the connection drops, it reconnects with backoff and then reports a metadata change, since
 * notifications sent meanwhile are lost (readers revalidate on every read anyway; this only keeps
 * subscriptions current).
 */
import { Client, type ClientConfig, type Notification } from 'pg';
import type { Disposable, Logger } from '../../ports';
import { NOTIFY_CHANNEL } from './schema';

const MAX_RETRY_MS = 5000;

export class PostgresChanges implements Disposable {
  private client: Client | undefined;
  private readonly metadataListeners = new Set<(revision: number | undefined) => void>();
  private readonly secretListeners = new Set<(key: string) => void>();
  private readonly rateListeners = new Set<(payload: string) => void>();
  private readonly grantListeners = new Set<() => void>();
  private readonly auditListeners = new Set<() => void>();
  private closed = false;
  private retryMs = 100;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Queries on the listening connection take turns (pg deprecates overlapping ones on a client). */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: ClientConfig,
    private readonly display: string,
    private readonly logger: Logger,
  ) {}

  /** Connects and starts listening. @throws the connection error (the caller wraps it). */
  async start(): Promise<void> {
    await this.connect();
  }

  /** `revision` is undefined after a reconnect (something may have changed meanwhile). */
  onMetadata(listener: (revision: number | undefined) => void): Disposable {
    this.metadataListeners.add(listener);
    return { dispose: () => this.metadataListeners.delete(listener) };
  }

  onSecret(listener: (key: string) => void): Disposable {
    this.secretListeners.add(listener);
    return { dispose: () => this.secretListeners.delete(listener) };
  }

  /** `payload` is what follows `r:` (lost while the connection is down: rate state is best effort). */
  onRate(listener: (payload: string) => void): Disposable {
    this.rateListeners.add(listener);
    return { dispose: () => this.rateListeners.delete(listener) };
  }

  /** Fires when the approval grants changed, and after a reconnect (some change may have been missed). */
  onGrants(listener: () => void): Disposable {
    this.grantListeners.add(listener);
    return { dispose: () => this.grantListeners.delete(listener) };
  }

  /** Fires when a server appended to the audit trail, and after a reconnect (appends may have been missed). */
  onAudit(listener: () => void): Disposable {
    this.auditListeners.add(listener);
    return { dispose: () => this.auditListeners.delete(listener) };
  }

  /**
   * One round trip on the listening connection, which is idle apart from notifications: a health
   * probe that does not queue behind a busy pool (the bench's 50 agents kept the statement pool busy
   * for seconds, and a probe there read that as an outage).
   * @throws when the connection is down or the database does not answer.
   */
  async ping(): Promise<void> {
    const c = this.client;
    if (!c) {
      throw new Error('the connection to the database is down');
    }
    await this.inTurn(() => c.query('SELECT 1'));
  }

  /**
   * Sends `payload` on {@link NOTIFY_CHANNEL} over the listening connection (not the pool, whose
   * connections the requests need). Resolves false, without sending, while the connection is down.
   */
  async notify(payload: string): Promise<boolean> {
    const c = this.client;
    if (!c) {
      return false;
    }
    await this.inTurn(() => c.query('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, payload]));
    return true;
  }

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(fn, fn);
    this.turn = run.catch(() => undefined);
    return run;
  }

  /** Stops listening and closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }

  dispose(): void {
    void this.close();
  }

  private async connect(): Promise<void> {
    const c = new Client(this.config);
    c.on('notification', (n: Notification) => this.dispatch(n.payload));
    c.on('error', (e: Error) => {
      this.logger.warn(
        `Team store ${this.display}: the change-notification connection failed (${e.message}).`,
      );
      this.lost(c);
    });
    c.on('end', () => this.lost(c));
    try {
      await c.connect();
      await c.query(`LISTEN ${NOTIFY_CHANNEL}`);
    } catch (e) {
      await c.end().catch(() => undefined);
      throw e;
    }
    if (this.closed) {
      await c.end().catch(() => undefined);
      return;
    }
    this.client = c;
    this.retryMs = 100;
  }

  private lost(c: Client): void {
    if (this.closed || this.client !== c) {
      return;
    }
    this.client = undefined;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.retryTimer = setTimeout(() => {
      this.connect().then(
        () => {
          if (!this.closed) {
            this.logger.info(`Team store ${this.display}: change notifications are back.`);
            this.fireMetadata(undefined);
            this.fireGrants();
            this.fireAudit();
          }
        },
        () => {
          this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
          if (!this.closed) {
            this.scheduleReconnect();
          }
        },
      );
    }, this.retryMs);
    this.retryTimer.unref();
  }

  private dispatch(payload: string | undefined): void {
    if (!payload) {
      return;
    }
    if (payload.startsWith('m:')) {
      const rev = Number(payload.slice(2));
      this.fireMetadata(Number.isSafeInteger(rev) ? rev : undefined);
    } else if (payload.startsWith('g:')) {
      this.fireGrants();
    } else if (payload.startsWith('a:')) {
      this.fireAudit();
    } else if (payload.startsWith('r:')) {
      const rest = payload.slice(2);
      for (const l of [...this.rateListeners]) {
        this.safely(() => l(rest));
      }
    } else if (payload.startsWith('s:')) {
      const key = payload.slice(2);
      for (const l of [...this.secretListeners]) {
        this.safely(() => l(key));
      }
    }
  }

  private fireAudit(): void {
    for (const l of [...this.auditListeners]) {
      this.safely(() => l());
    }
  }

  private fireMetadata(revision: number | undefined): void {
    for (const l of [...this.metadataListeners]) {
      this.safely(() => l(revision));
    }
  }

  private fireGrants(): void {
    for (const l of [...this.grantListeners]) {
      this.safely(l);
    }
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.logger.error(`A change listener failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
