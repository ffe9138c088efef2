/**
 * A {@link Clock} for tests: time only moves when the test moves it, local time is computed for a
 * fixed UTC offset (so tests give the same answer in every time zone), and timers fire when time is
 * advanced past their due time — never on their own.
 *
 *   const clock = new FakeClock('2026-03-02T08:00:00Z');          // UTC
 *   const tokyo = new FakeClock('2026-03-02T08:00:00Z', 9 * 60);   // UTC+09:00
 *   clock.advance(60_000);                                         // fires timers due by then
 */
import type { Clock, Disposable } from '../../src/core/ports';

interface PendingTimer {
  seq: number;
  at: number;
  fn: () => void;
}

/** Monday 2026-03-02 12:00 UTC: a plain working-day noon, so defaults never sit on an edge. */
export const FAKE_CLOCK_DEFAULT_START = '2026-03-02T12:00:00.000Z';

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: PendingTimer[] = [];

  /**
   * @param start ISO time or epoch milliseconds (default {@link FAKE_CLOCK_DEFAULT_START}).
   * @param utcOffsetMinutes offset of the pretend local time zone from UTC, e.g. `120` for UTC+02:00.
   */
  constructor(
    start: string | number = FAKE_CLOCK_DEFAULT_START,
    readonly utcOffsetMinutes = 0,
  ) {
    this.#now = toMs(start);
  }

  now(): number {
    return this.#now;
  }

  /** The current time as an ISO string (UTC). */
  iso(): string {
    return new Date(this.#now).toISOString();
  }

  localTime(ms: number): { hour: number; minute: number } {
    const local = new Date(ms + this.utcOffsetMinutes * 60_000);
    return { hour: local.getUTCHours(), minute: local.getUTCMinutes() };
  }

  setTimeout(fn: () => void, ms: number): Disposable {
    const timer: PendingTimer = { seq: this.#seq++, at: this.#now + Math.max(0, ms), fn };
    this.#timers.push(timer);
    return { dispose: () => this.#remove(timer) };
  }

  /** Moves time forward by `ms`, firing every timer due on the way, in due order. */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new Error(`FakeClock.advance needs a finite, non-negative number of ms (got ${ms}).`);
    }
    this.#runUntil(this.#now + ms);
  }

  /**
   * Jumps to a time (ISO or epoch ms). Forward jumps fire due timers like {@link advance};
   * backward jumps just move the clock (no timer fires).
   */
  set(time: string | number): void {
    const target = toMs(time);
    if (target <= this.#now) {
      this.#now = target;
      return;
    }
    this.#runUntil(target);
  }

  /** Timers scheduled and not yet fired or disposed. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  #runUntil(target: number): void {
    // Timers scheduled by a firing timer are picked up too if they fall before the target.
    for (;;) {
      const next = this.#nextDue(target);
      if (!next) {
        break;
      }
      this.#remove(next);
      this.#now = next.at;
      next.fn();
    }
    this.#now = target;
  }

  #nextDue(target: number): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const t of this.#timers) {
      if (t.at <= target && (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq))) {
        best = t;
      }
    }
    return best;
  }

  #remove(timer: PendingTimer): void {
    const i = this.#timers.indexOf(timer);
    if (i >= 0) {
      this.#timers.splice(i, 1);
    }
  }
}

function toMs(time: string | number): number {
  const ms = typeof time === 'number' ? time : Date.parse(time);
  if (!Number.isFinite(ms)) {
    throw new Error(`FakeClock needs an ISO time or epoch milliseconds (got '${String(time)}').`);
  }
  return ms;
}
