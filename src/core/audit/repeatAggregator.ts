/**
 * Bounded aggregation of repeated audit events (refusals, failed authentications): the first event
 * of a kind within a window is written in full at once; the same kind again within the window is
 * only counted, and one summary line with the count is written when the window ends (or on
 * {@link RepeatAggregator.flush}). A client hammering the server therefore costs one audit line per
 * kind per window instead of one fsync'd line per call, and the operator still sees that it
 * happened, how often, and when.
 *
 * Memory and lines per window are bounded by `maxKeys`: kinds past it are counted together in one
 * overflow summary.
 */
import type { AuditEventInput } from '../model';
import type { Clock, Disposable, Logger } from '../ports';

export interface RepeatAggregatorOptions {
  clock: Clock;
  logger: Logger;
  /** Length of a window, ms (default 60 000). */
  windowMs?: number;
  /** Kinds tracked at once (default 1000); more are counted in the overflow summary. */
  maxKeys?: number;
  /** Writes one audit event; failures are the writer's to log (this never rejects because of it). */
  write: (event: AuditEventInput) => Promise<void>;
  /** The summary of `count` events of kinds past `maxKeys`, seen from `firstMs` to `lastMs`. */
  overflowEvent: (count: number, firstMs: number, lastMs: number) => AuditEventInput;
}

interface Entry {
  windowEnd: number;
  /** Events after the first one (those not written). */
  count: number;
  firstRepeatMs: number;
  lastMs: number;
  event: AuditEventInput;
}

export class RepeatAggregator implements Disposable {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #write: (event: AuditEventInput) => Promise<void>;
  readonly #overflowEvent: RepeatAggregatorOptions['overflowEvent'];
  readonly #entries = new Map<string, Entry>();
  #overflow: { windowEnd: number; count: number; firstMs: number; lastMs: number } | undefined;
  #timer: Disposable | undefined;
  #disposed = false;

  constructor(opts: RepeatAggregatorOptions) {
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#windowMs = opts.windowMs ?? 60_000;
    this.#maxKeys = opts.maxKeys ?? 1000;
    this.#write = opts.write;
    this.#overflowEvent = opts.overflowEvent;
  }

  /**
   * Records one event of kind `key`. Resolves once it is written (the first of its kind in the
   * window) or counted (a repeat). Never rejects.
   */
  async record(key: string, event: AuditEventInput): Promise<void> {
    const now = this.#clock.now();
    const entry = this.#entries.get(key);
    if (entry && now < entry.windowEnd) {
      if (entry.count === 0) {
        entry.firstRepeatMs = now;
      }
      entry.count++;
      entry.lastMs = now;
      entry.event = event;
      return;
    }
    const writes: Promise<void>[] = [];
    if (entry) {
      this.#entries.delete(key);
      writes.push(this.#writeSummary(entry));
    }
    if (this.#entries.size >= this.#maxKeys && !this.#disposed) {
      this.#sweep(now, writes);
    }
    if (this.#entries.size >= this.#maxKeys && !this.#disposed) {
      const o = this.#overflow;
      if (o && now < o.windowEnd) {
        o.count++;
        o.lastMs = now;
      } else {
        if (o) {
          writes.push(this.#writeOverflow(o));
        }
        this.#overflow = { windowEnd: now + this.#windowMs, count: 1, firstMs: now, lastMs: now };
      }
      this.#schedule();
      await Promise.all(writes);
      return;
    }
    if (!this.#disposed) {
      this.#entries.set(key, {
        windowEnd: now + this.#windowMs,
        count: 0,
        firstRepeatMs: 0,
        lastMs: now,
        event,
      });
      this.#schedule();
    }
    writes.push(this.#safeWrite(event));
    await Promise.all(writes);
  }

  /** Writes every pending summary now (e.g. before the log closes) and forgets the windows. */
  async flush(): Promise<void> {
    const writes: Promise<void>[] = [];
    this.#sweep(Infinity, writes);
    await Promise.all(writes);
  }

  /** Stops the timer; call {@link flush} first to keep pending counts. */
  dispose(): void {
    this.#disposed = true;
    this.#timer?.dispose();
    this.#timer = undefined;
  }

  /** Ends every window that is over by `now` (all of them for Infinity), writing its summary. */
  #sweep(now: number, writes: Promise<void>[]): void {
    for (const [key, e] of this.#entries) {
      if (e.windowEnd <= now) {
        this.#entries.delete(key);
        if (e.count > 0) {
          writes.push(this.#writeSummary(e));
        }
      }
    }
    if (this.#overflow && this.#overflow.windowEnd <= now) {
      writes.push(this.#writeOverflow(this.#overflow));
      this.#overflow = undefined;
    }
  }

  #schedule(): void {
    if (this.#timer || this.#disposed) {
      return;
    }
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      const writes: Promise<void>[] = [];
      this.#sweep(this.#clock.now(), writes);
      void Promise.all(writes);
      if (this.#entries.size > 0 || this.#overflow) {
        this.#schedule();
      }
    }, this.#windowMs);
  }

  #writeSummary(e: Entry): Promise<void> {
    if (e.count === 0) {
      return Promise.resolve();
    }
    const first = new Date(e.firstRepeatMs).toISOString();
    const last = new Date(e.lastMs).toISOString();
    const what = e.count === 1 ? '1 more identical event' : `${e.count} more identical events`;
    return this.#safeWrite({
      ...e.event,
      reason:
        `${what} from ${first} to ${last} (aggregated: the first of the window was recorded in full). ${e.event.reason ?? ''}`.trim(),
    });
  }

  #writeOverflow(o: { count: number; firstMs: number; lastMs: number }): Promise<void> {
    return this.#safeWrite(this.#overflowEvent(o.count, o.firstMs, o.lastMs));
  }

  async #safeWrite(event: AuditEventInput): Promise<void> {
    try {
      await this.#write(event);
    } catch (e) {
      try {
        this.#logger.error(`Audit: an aggregated '${event.decision}' event could not be written.`, e);
      } catch {
        // a broken logger must not break the request path
      }
    }
  }
}
