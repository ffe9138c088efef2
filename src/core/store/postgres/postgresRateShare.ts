/**
 * Shares the anomaly rules' rate state between the servers of one team store, so that an agent
 * cannot escape the burst limit or a probing lockout by reaching another replica: every request and
 * denial an engine counts is batched (for {@link RATE_SHARE_FLUSH_MS}) into one `pg_notify` on the
 * store's channel, sent on the listening connection, and every other server counts it too
 * (`AnomalyEngine.applyRemote`). The hot path only appends to an array; nothing waits for the
 * database, and the statement pool the requests use is not touched (sent there, one notification
 * every 10 ms starved 50 agents of connections in the bench).
 *
 * Best effort by design: events sent while a server's notification connection is down are lost
 * (the windows are one minute long), and a server that starts later begins with empty windows.
 * Payloads carry agent ids, kinds and times only.
 */
import { randomBytes } from 'node:crypto';
import type { AnomalyEngine, RateEvent } from '../../policy/anomalyEngine';
import type { Disposable, Logger } from '../../ports';
import type { PostgresChanges } from './postgresChanges';

/** How long events wait to be sent together. */
export const RATE_SHARE_FLUSH_MS = 50;
/** Events per notification (a payload must stay under PostgreSQL's 8000 bytes; ids are ≤ 64 chars). */
const EVENTS_PER_NOTIFY = 60;

type Wire = [agent: string, kind: 0 | 1, at: number];

export class PostgresRateShare implements Disposable {
  readonly #id = randomBytes(6).toString('hex');
  #batch: RateEvent[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #subscriptions: Disposable[];

  constructor(
    private readonly changes: PostgresChanges,
    private readonly engine: AnomalyEngine,
    private readonly logger: Logger,
  ) {
    this.#subscriptions = [
      changes.onRate((payload) => this.#receive(payload)),
      engine.shareRateState((e) => this.#queue(e)),
    ];
  }

  dispose(): void {
    for (const s of this.#subscriptions) {
      s.dispose();
    }
    clearTimeout(this.#timer);
    this.#flush();
  }

  #queue(e: RateEvent): void {
    this.#batch.push(e);
    this.#timer ??= setTimeout(() => this.#flush(), RATE_SHARE_FLUSH_MS);
  }

  #flush(): void {
    this.#timer = undefined;
    const events = this.#batch;
    this.#batch = [];
    for (let i = 0; i < events.length; i += EVENTS_PER_NOTIFY) {
      const wire: Wire[] = events
        .slice(i, i + EVENTS_PER_NOTIFY)
        .map((e) => [e.agent, e.kind === 'request' ? 0 : 1, e.at]);
      this.changes.notify(`r:${this.#id}:${JSON.stringify(wire)}`).then(
        (sent) => {
          if (!sent) {
            this.logger.debug('Rate state not shared: the notification connection is down.');
          }
        },
        (e: unknown) =>
          this.logger.debug(
            `Rate state not shared with the other servers (${e instanceof Error ? e.message : String(e)}).`,
          ),
      );
    }
  }

  #receive(payload: string): void {
    const sep = payload.indexOf(':');
    if (sep < 0 || payload.slice(0, sep) === this.#id) {
      return; // our own events, already counted
    }
    let wire: unknown;
    try {
      wire = JSON.parse(payload.slice(sep + 1));
    } catch {
      return;
    }
    if (!Array.isArray(wire)) {
      return;
    }
    for (const w of wire as unknown[]) {
      if (
        Array.isArray(w) &&
        typeof w[0] === 'string' &&
        (w[1] === 0 || w[1] === 1) &&
        typeof w[2] === 'number'
      ) {
        this.engine.applyRemote({ agent: w[0], kind: w[1] === 0 ? 'request' : 'denial', at: w[2] });
      }
    }
  }
}
