/**
 * Whether the keyring's store answers (a team store's database): a probe runs every `intervalMs`
 * in the background, so a request checks a boolean, never waits for the database first. While the
 * store is unreachable the HTTP host refuses MCP requests with 503 and a JSON-RPC error that says
 * so, and `GET /healthz` answers `degraded`; the next probe that succeeds makes it `ok` again.
 * A file store has no probe: always ok.
 */
import type { Disposable, Logger } from '../ports';
import { Refusal } from './refusal';

/** How often the background probe runs. */
export const DEFAULT_HEALTH_INTERVAL_MS = 1000;
/** A probe that takes longer counts as unreachable (a database host that drops packets). */
export const DEFAULT_PROBE_TIMEOUT_MS = 3000;

export interface StoreHealthOptions {
  /** Resolves when the store answers; rejects (any error) when it does not. */
  probe(): Promise<void>;
  /** The store as users know it, password masked (e.g. `postgres://akr:***@db:5432/team`). */
  display: string;
  logger: Logger;
  intervalMs?: number;
  probeTimeoutMs?: number;
}

export class StoreHealth implements Disposable {
  #ok = true;
  #reason = '';
  #running: Promise<boolean> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: StoreHealthOptions) {}

  /** The last probe's verdict (true until a probe fails). */
  get ok(): boolean {
    return this.#ok;
  }

  /** Starts the background probe (unref'd: it never keeps the process alive). */
  start(): this {
    this.#timer ??= setInterval(() => void this.check(), this.opts.intervalMs ?? DEFAULT_HEALTH_INTERVAL_MS);
    this.#timer.unref();
    return this;
  }

  /** Probes now (or joins the probe in flight); resolves with the verdict. Never rejects. */
  check(): Promise<boolean> {
    this.#running ??= this.#probe().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /** The 503 a request gets while the store is unreachable. */
  refusal(): Refusal {
    return new Refusal(
      503,
      -32000,
      `Service Unavailable: the keyring's store ${this.opts.display} is unreachable${this.#reason ? ` (${this.#reason})` : ''}. Nothing was released or changed. Retry in a few seconds; GET /healthz answers "ok" when it is back.`,
      { 'Retry-After': '2' },
    );
  }

  dispose(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #probe(): Promise<boolean> {
    const timeoutMs = this.opts.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.opts.probe(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      if (!this.#ok) {
        this.opts.logger.info(`The store ${this.opts.display} answers again: serving requests.`);
      }
      this.#ok = true;
      this.#reason = '';
    } catch (e) {
      // The reason is the store's own (already password-free) message, clipped: no values pass here.
      const reason = (e instanceof Error ? e.message : String(e)).slice(0, 160);
      if (this.#ok) {
        this.opts.logger.warn(
          `The store ${this.opts.display} is unreachable (${reason}): refusing requests with 503 until it answers.`,
        );
      }
      this.#ok = false;
      this.#reason = 'no answer from the database';
    } finally {
      clearTimeout(timer);
    }
    return this.#ok;
  }
}
