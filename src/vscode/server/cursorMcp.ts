/**
 * Cursor: the in-editor server registered through Cursor's extension API for MCP servers,
 * `vscode.cursor.mcp.registerServer({ name, server: { url, headers } })` / `unregisterServer(name)`
 * (cursor.com/docs/extension-api, "Extension API reference"), so Cursor's agent gets Agent Keyring
 * with the built-in `vscode` agent's token held in memory, never in `.cursor/mcp.json`. Feature
 * detected: in VS Code (no `vscode.cursor`) nothing happens. Kept free of the `vscode` import (the
 * caller passes the namespace), so it is unit-tested in plain Node with a fake API.
 */
import type { Logger } from '../../core/ports';

/** The part of Cursor's `vscode.cursor.mcp` namespace used here (as documented). */
export interface CursorMcpApi {
  registerServer(config: { name: string; server: { url: string; headers?: Record<string, string> } }): void;
  unregisterServer(serverName: string): void;
}

/** Name of the server in Cursor's MCP list. */
export const CURSOR_SERVER_NAME = 'Agent Keyring';

/** `vscodeNamespace.cursor.mcp` when it has both functions; undefined elsewhere (VS Code, VSCodium…). */
export function findCursorMcpApi(vscodeNamespace: unknown): CursorMcpApi | undefined {
  const mcp = (vscodeNamespace as { cursor?: { mcp?: Partial<CursorMcpApi> } } | undefined)?.cursor?.mcp;
  if (typeof mcp?.registerServer !== 'function' || typeof mcp.unregisterServer !== 'function') {
    return undefined;
  }
  const api = mcp as CursorMcpApi;
  return {
    registerServer: (config) => api.registerServer(config),
    unregisterServer: (name) => api.unregisterServer(name),
  };
}

export interface CursorMcpDeps {
  /** The server's MCP URL while it runs here or in another window; undefined otherwise. */
  url(): string | undefined;
  /** The `vscode` agent's token, or undefined when that agent is revoked. */
  token(): Promise<string | undefined>;
  onDidChangeServer(listener: () => void): { dispose(): void };
  onDidRenewToken(listener: () => void): { dispose(): void };
  logger: Logger;
}

/**
 * Keeps Cursor's registration in step: registered with the current URL and token while the server
 * runs and the agent exists, re-registered when either changes, unregistered when the server stops
 * and on dispose. `synced` settles after the latest change has been applied (for tests).
 */
export class CursorMcpRegistration {
  readonly #api: CursorMcpApi;
  readonly #deps: CursorMcpDeps;
  readonly #subscriptions: Array<{ dispose(): void }>;
  /** What Cursor has now: the URL and a generation of the token (never the token itself kept twice). */
  #current: { url: string; token: string } | undefined;
  #queue: Promise<void> = Promise.resolve();
  #disposed = false;

  constructor(api: CursorMcpApi, deps: CursorMcpDeps) {
    this.#api = api;
    this.#deps = deps;
    this.#subscriptions = [
      deps.onDidChangeServer(() => this.#sync()),
      deps.onDidRenewToken(() => this.#sync()),
    ];
    this.#sync();
  }

  /** Settles once every change seen so far is applied. */
  get synced(): Promise<void> {
    return this.#queue;
  }

  #sync(): void {
    this.#queue = this.#queue.then(() => this.#apply()).catch(() => undefined);
  }

  async #apply(): Promise<void> {
    if (this.#disposed) {
      return;
    }
    const url = this.#deps.url();
    const token = url ? await this.#deps.token() : undefined;
    if (this.#disposed) {
      return;
    }
    const wanted = url && token ? { url, token } : undefined;
    if (wanted?.url === this.#current?.url && wanted?.token === this.#current?.token) {
      return;
    }
    this.#unregister();
    if (!wanted) {
      return;
    }
    try {
      this.#api.registerServer({
        name: CURSOR_SERVER_NAME,
        server: { url: wanted.url, headers: { Authorization: `Bearer ${wanted.token}` } },
      });
      this.#current = wanted;
      this.#deps.logger.info(
        `Registered ${wanted.url} with Cursor as agent 'vscode' (token kept in memory).`,
      );
    } catch (e) {
      // Cursor's message is not ours to trust with a token: only its type is logged.
      this.#deps.logger.warn(
        `Cursor refused the MCP server registration (${e instanceof Error ? e.name : 'error'}); Cursor's agent cannot use Agent Keyring in this window.`,
      );
    }
  }

  #unregister(): void {
    if (!this.#current) {
      return;
    }
    this.#current = undefined;
    try {
      this.#api.unregisterServer(CURSOR_SERVER_NAME);
    } catch (e) {
      this.#deps.logger.warn(
        `Cursor could not unregister the MCP server (${e instanceof Error ? e.name : 'error'}).`,
      );
    }
  }

  dispose(): void {
    this.#disposed = true;
    for (const s of this.#subscriptions) {
      s.dispose();
    }
    this.#unregister();
  }
}
