/**
 * Who serves the MCP port for this window: the state machine behind {@link ServerController}, kept
 * free of `vscode` (ports, clock and logger are injected) so it is unit-tested in plain Node.
 *
 * Several VS Code windows share one server. The first window binds the port and serves; the others
 * find it taken by an Agent Keyring server and attach (they use it, and their views read the same
 * files) — but only once that server has proved it serves THIS store (the attach challenge of
 * `core/attach/attachProof.ts`): a server of another store, an older build or a program imitating
 * our 401 is `otherKeyring`, never attached, and the in-editor token is never offered to it.
 * While attached, a cheap probe — one unauthenticated request that our host answers 401, then the
 * store proof — runs every `probeMs`. When it finds the port free or the server not answering,
 * this window tries to bind at once; if it wins, it serves (takeover), so closing the serving
 * window costs agents at most a probe period. When another window won the race, this one stays attached to it. A foreign
 * program on the port is never fought: the window stops using the port (`portInUse`) and says so.
 * Probes that fail without an answer back off (`probeMs` doubling up to `maxProbeMs`).
 */
import type { AttachProofResult } from '../../core/attach/attachProof';
import type { Clock, Disposable, Logger } from '../../core/ports';

export type ServerState =
  | { kind: 'stopped' }
  | { kind: 'starting'; port: number }
  | { kind: 'running'; port: number; url: string }
  /** Another Agent Keyring (another window) serves this port; we use it, and take over if it goes. */
  | { kind: 'attached'; port: number; url: string }
  /** Something else holds the port. */
  | { kind: 'portInUse'; port: number }
  /** An Agent Keyring-looking server holds the port but could not prove it serves this store. */
  | { kind: 'otherKeyring'; port: number }
  | { kind: 'failed'; port: number; message: string };

/** What answers on a port: our server, another program, nobody, or no clear answer (busy, hung). */
export type PortOccupant = 'agentKeyring' | 'foreign' | 'free' | 'unknown';

/** The listening MCP host (the core's `HttpHost`). */
export interface ServingHost {
  url: string;
  port: number;
  close(): Promise<void>;
  sessionCount(): number;
}

/** Why the state changed: a start/stop asked for it, or the attached-window probe found out. */
export type ChangeCause = 'request' | 'probe';

export interface SharedServerDeps {
  /** Binds and serves; rejects with `code: 'EADDRINUSE'` when the port is taken. */
  listen(port: number): Promise<ServingHost>;
  /** Asks the port who is there, without sending any token. */
  identify(port: number): Promise<PortOccupant>;
  /** Asks the Agent Keyring server on `port` to prove it serves this window's store (no token sent). */
  prove(port: number): Promise<AttachProofResult>;
  clock: Pick<Clock, 'setTimeout'>;
  logger: Logger;
  /** Probe period while attached (default {@link ATTACHED_PROBE_MS}). */
  probeMs?: number;
  /** Longest wait between probes after failures (default {@link MAX_PROBE_MS}). */
  maxProbeMs?: number;
  /** The URL of the server on `port` (for the attached state). */
  urlOf(port: number): string;
}

const NOT_THIS_KEYRING = (port: number): string =>
  `The server on port ${port} answers like Agent Keyring but could not prove it serves this window's store (another store, an older Agent Keyring, or a program imitating one): not attached, and the in-editor token is not sent to it.`;

/** While attached, how often the other window's server is checked. */
export const ATTACHED_PROBE_MS = 2_000;
/** Ceiling of the back-off after probes that got no clear answer. */
export const MAX_PROBE_MS = 30_000;

export class SharedServer implements Disposable {
  readonly #deps: SharedServerDeps;
  readonly #probeMs: number;
  readonly #maxProbeMs: number;
  readonly #listeners = new Set<(state: ServerState, cause: ChangeCause) => void>();
  #state: ServerState = { kind: 'stopped' };
  #host: ServingHost | undefined;
  /** Serialises start, stop and probes so none interleave. */
  #queue: Promise<unknown> = Promise.resolve();
  #probeTimer: Disposable | undefined;
  /** Bumped by every start/stop: a probe scheduled before it does nothing. */
  #epoch = 0;
  /** Probes in a row that got no clear answer (drives the back-off). */
  #failures = 0;
  #closed = false;

  constructor(deps: SharedServerDeps) {
    this.#deps = deps;
    this.#probeMs = deps.probeMs ?? ATTACHED_PROBE_MS;
    this.#maxProbeMs = Math.max(this.#probeMs, deps.maxProbeMs ?? MAX_PROBE_MS);
  }

  get state(): ServerState {
    return this.#state;
  }

  /** The URL agents in this window should use, when there is a server to use. */
  get url(): string | undefined {
    return this.#state.kind === 'running' || this.#state.kind === 'attached' ? this.#state.url : undefined;
  }

  /** Open MCP sessions on this window's host (0 when attached to another window or stopped). */
  get sessionCount(): number {
    return this.#host?.sessionCount() ?? 0;
  }

  /** Milliseconds until the next probe when one is scheduled now (tests and the log read it). */
  get nextProbeDelay(): number | undefined {
    return this.#probeTimer ? this.#delay() : undefined;
  }

  onDidChange(listener: (state: ServerState, cause: ChangeCause) => void): Disposable {
    this.#listeners.add(listener);
    return { dispose: () => this.#listeners.delete(listener) };
  }

  /** Serves on `port`, or attaches to the Agent Keyring server already there. */
  start(port: number): Promise<ServerState> {
    return this.#enqueue(async () => {
      if (this.#closed) {
        return this.#state;
      }
      this.#epoch++;
      this.#stopProbing();
      await this.#stopHost();
      this.#set({ kind: 'starting', port }, 'request');
      this.#set(await this.#claim(port), 'request');
      if (this.#state.kind === 'attached') {
        this.#failures = 0;
        this.#scheduleProbe(port);
      }
      return this.#state;
    });
  }

  /** Stops serving (or using the other window's server) and stops probing. */
  stop(): Promise<void> {
    return this.#enqueue(async () => {
      this.#epoch++;
      this.#stopProbing();
      await this.#stopHost();
      this.#set({ kind: 'stopped' }, 'request');
    });
  }

  /** Stops for good (the promise `deactivate()` waits for); later starts do nothing. */
  async close(): Promise<void> {
    await this.stop();
    this.#closed = true;
    this.#listeners.clear();
  }

  dispose(): void {
    void this.close();
  }

  /** Resolves when every queued start, stop and probe has finished (tests). */
  whenIdle(): Promise<void> {
    return this.#queue.then(() => undefined);
  }

  /** Binds `port`, or finds out who holds it. */
  async #claim(port: number): Promise<ServerState> {
    const { logger } = this.#deps;
    for (let attempt = 0; ; attempt++) {
      const bound = await this.#tryListen(port);
      if (bound.state) {
        return bound.state;
      }
      const who = await this.#occupant(port);
      if (who === 'sameStore') {
        logger.info(
          `Port ${port} is served by another Agent Keyring window on this store (it proved it); this window uses it and takes over if that window closes.`,
        );
        return { kind: 'attached', port, url: this.#deps.urlOf(port) };
      }
      if (who === 'otherKeyring') {
        logger.warn(NOT_THIS_KEYRING(port));
        return { kind: 'otherKeyring', port };
      }
      if (who === 'free' && attempt === 0) {
        // The holder left between our bind and the probe (a window closing): try once more.
        continue;
      }
      logger.info(`Port ${port} is in use by another program; Agent Keyring is not serving.`);
      return { kind: 'portInUse', port };
    }
  }

  /** `state` when bound (running) or failed for a reason other than the port being taken. */
  async #tryListen(port: number): Promise<{ state?: ServerState }> {
    try {
      this.#host = await this.#deps.listen(port);
      return { state: { kind: 'running', port: this.#host.port, url: this.#host.url } };
    } catch (e) {
      if ((e as { code?: unknown }).code === 'EADDRINUSE') {
        return {};
      }
      const message = e instanceof Error ? e.message : String(e);
      this.#deps.logger.error(`Could not start the MCP server on port ${port}: ${message}`);
      return { state: { kind: 'failed', port, message } };
    }
  }

  /** One probe while attached: still there → wait; gone → take over; foreign → let go. */
  async #probe(port: number, epoch: number): Promise<void> {
    if (epoch !== this.#epoch || this.#closed || this.#state.kind !== 'attached') {
      return;
    }
    const { logger } = this.#deps;
    const who = await this.#occupant(port);
    if (who === 'sameStore') {
      this.#failures = 0;
      this.#scheduleProbe(port);
      return;
    }
    if (who === 'foreign' || who === 'otherKeyring') {
      this.#letGo(port, who);
      return;
    }
    // Nobody answers (the serving window closed or crashed) or not clearly: try to serve, now.
    const bound = await this.#tryListen(port);
    if (bound.state) {
      if (bound.state.kind === 'running') {
        logger.info(`The window that served port ${port} is gone; this window serves it now.`);
      }
      this.#failures = 0;
      this.#set(bound.state, 'probe');
      return;
    }
    // Someone holds the port after all: another window that was quicker, or a foreign program.
    const holder = who === 'free' ? await this.#occupant(port) : who;
    if (holder === 'sameStore') {
      logger.info(`Another Agent Keyring window serves port ${port} now; this window stays attached to it.`);
      this.#failures = 0;
    } else if (holder === 'foreign' || holder === 'otherKeyring') {
      this.#letGo(port, holder);
      return;
    } else {
      this.#failures++;
      logger.debug(
        `The Agent Keyring server on port ${port} does not answer and the port is still taken; next check in ${this.#delay()} ms.`,
      );
    }
    this.#scheduleProbe(port);
  }

  /**
   * Who holds `port`: `identify` (one tokenless request), and for an Agent Keyring-looking answer
   * the store proof. A 401 that looks like ours is not enough: anyone can copy it.
   */
  async #occupant(port: number): Promise<'sameStore' | 'otherKeyring' | 'foreign' | 'free' | 'unknown'> {
    const who = await this.#deps.identify(port);
    if (who !== 'agentKeyring') {
      return who;
    }
    const proof = await this.#deps.prove(port);
    return proof === 'sameStore' ? 'sameStore' : proof === 'unproven' ? 'otherKeyring' : 'unknown';
  }

  /** Something else answers on the port: never fight it for the port, never send it a token. */
  #letGo(port: number, who: 'foreign' | 'otherKeyring'): void {
    if (who === 'otherKeyring') {
      this.#deps.logger.warn(`${NOT_THIS_KEYRING(port)} This window stopped using it.`);
      this.#set({ kind: 'otherKeyring', port }, 'probe');
      return;
    }
    this.#deps.logger.warn(
      `Port ${port} is now answered by a program that is not Agent Keyring; this window stopped using it.`,
    );
    this.#set({ kind: 'portInUse', port }, 'probe');
  }

  #delay(): number {
    return Math.min(this.#probeMs * 2 ** Math.min(this.#failures, 30), this.#maxProbeMs);
  }

  #scheduleProbe(port: number): void {
    this.#stopProbing();
    const epoch = this.#epoch;
    this.#probeTimer = this.#deps.clock.setTimeout(() => {
      this.#probeTimer = undefined;
      void this.#enqueue(() => this.#probe(port, epoch)).catch((e: unknown) =>
        this.#deps.logger.warn(`Checking the server on port ${port} failed: ${(e as Error)?.message}`),
      );
    }, this.#delay());
  }

  #stopProbing(): void {
    this.#probeTimer?.dispose();
    this.#probeTimer = undefined;
  }

  async #stopHost(): Promise<void> {
    const host = this.#host;
    this.#host = undefined;
    if (host) {
      await host.close();
      this.#deps.logger.info('MCP server stopped.');
    }
  }

  #set(state: ServerState, cause: ChangeCause): void {
    this.#state = state;
    for (const l of [...this.#listeners]) {
      try {
        l(state, cause);
      } catch (e) {
        this.#deps.logger.error(`A server state listener threw: ${(e as Error)?.message}`);
      }
    }
  }

  #enqueue<T>(job: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(job, job);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}
