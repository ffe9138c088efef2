/**
 * Runs the MCP HTTP host for this window, and knows what to do when its port is taken: another
 * Agent Keyring window already serving (this window attaches to it), or a foreign program (this
 * window serves nothing and says so; the MCP definition is withheld so the in-editor token is never
 * sent to that program).
 */
import * as vscode from 'vscode';
import type { KeyringApi } from '../core/api';
import { MCP_PATH, startHttpHost, type HttpHost } from '../core/mcp/http';
import type { Logger } from '../core/ports';

export type ServerState =
  | { kind: 'stopped' }
  | { kind: 'starting'; port: number }
  | { kind: 'running'; port: number; url: string }
  /** Another Agent Keyring (another window) serves this port; we use it. */
  | { kind: 'attached'; port: number; url: string }
  /** Something else holds the port. */
  | { kind: 'portInUse'; port: number }
  | { kind: 'failed'; port: number; message: string };

export function mcpUrl(port: number): string {
  return `http://127.0.0.1:${port}${MCP_PATH}`;
}

export class ServerController implements vscode.Disposable {
  readonly #api: KeyringApi;
  readonly #logger: Logger;
  readonly #onDidChange = new vscode.EventEmitter<ServerState>();
  readonly onDidChange = this.#onDidChange.event;
  #state: ServerState = { kind: 'stopped' };
  #host: HttpHost | undefined;
  /** Serialises start/stop so a quick Stop → Start cannot interleave. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(api: KeyringApi, logger: Logger) {
    this.#api = api;
    this.#logger = logger;
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

  start(port: number): Promise<ServerState> {
    return this.#enqueue(async () => {
      await this.#stopHost();
      this.#set({ kind: 'starting', port });
      try {
        this.#host = await startHttpHost({ api: this.#api, port, host: '127.0.0.1', logger: this.#logger });
        this.#set({ kind: 'running', port: this.#host.port, url: this.#host.url });
      } catch (e) {
        if ((e as { code?: unknown }).code === 'EADDRINUSE') {
          const ours = await isAgentKeyringServer(port);
          this.#logger.info(
            ours
              ? `Port ${port} is served by another Agent Keyring window; this window uses it.`
              : `Port ${port} is in use by another program; Agent Keyring is not serving.`,
          );
          this.#set(ours ? { kind: 'attached', port, url: mcpUrl(port) } : { kind: 'portInUse', port });
        } else {
          const message = e instanceof Error ? e.message : String(e);
          this.#logger.error(`Could not start the MCP server on port ${port}: ${message}`);
          this.#set({ kind: 'failed', port, message });
        }
      }
      return this.#state;
    });
  }

  stop(): Promise<void> {
    return this.#enqueue(async () => {
      await this.#stopHost();
      this.#set({ kind: 'stopped' });
    });
  }

  /** Closes the server; the promise `deactivate()` waits for. */
  async close(): Promise<void> {
    await this.stop();
    this.#onDidChange.dispose();
  }

  dispose(): void {
    void this.close();
  }

  async #stopHost(): Promise<void> {
    const host = this.#host;
    this.#host = undefined;
    if (host) {
      await host.close();
      this.#logger.info('MCP server stopped.');
    }
  }

  #set(state: ServerState): void {
    this.#state = state;
    this.#onDidChange.fire(state);
  }

  #enqueue<T>(job: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(job, job);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}

/**
 * Whether an Agent Keyring server answers on the port. Asks WITHOUT a token (a foreign program
 * must never see ours): our host answers 401 with a JSON-RPC body that names Agent Keyring.
 */
async function isAgentKeyringServer(port: number): Promise<boolean> {
  try {
    const res = await fetch(mcpUrl(port), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: '{}',
      signal: AbortSignal.timeout(2_000),
    });
    const text = await res.text();
    return res.status === 401 && text.includes('Agent Keyring');
  } catch {
    return false;
  }
}
