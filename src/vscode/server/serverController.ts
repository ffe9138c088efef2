/**
 * Runs the MCP HTTP host for this window, and knows what to do when its port is taken: another
 * Agent Keyring window already serving (this window attaches to it, and takes the port over when
 * that window closes), or a foreign program (this window serves nothing and says so; the MCP
 * definition is withheld so the in-editor token is never sent to that program). The state machine
 * is {@link SharedServer} (plain Node, unit-tested); this is its VS Code face: events as a
 * `vscode.EventEmitter`, and the person told when the probe finds the port lost.
 */
import * as vscode from 'vscode';
import type { KeyringApi } from '../../core/api';
import { MCP_PATH, startHttpHost } from './mcpHost';
import { SYSTEM_CLOCK, type Logger } from '../../core/ports';
import { identifyPort } from './portProbe';
import { reportState } from './serverReport';
import { SharedServer, type ServerState } from './sharedServer';

export type { ServerState } from './sharedServer';

export function mcpUrl(port: number): string {
  return `http://127.0.0.1:${port}${MCP_PATH}`;
}

export class ServerController implements vscode.Disposable {
  readonly #server: SharedServer;
  readonly #onDidChange = new vscode.EventEmitter<ServerState>();
  readonly onDidChange = this.#onDidChange.event;

  constructor(api: KeyringApi, logger: Logger) {
    this.#server = new SharedServer({
      listen: (port) => startHttpHost({ api, port, host: '127.0.0.1', logger }),
      identify: (port) => identifyPort(port),
      clock: SYSTEM_CLOCK,
      logger,
      urlOf: mcpUrl,
    });
    this.#server.onDidChange((state, cause) => {
      this.#onDidChange.fire(state);
      // A start reports its own outcome; a probe that lost the port must say so itself.
      if (cause === 'probe' && (state.kind === 'portInUse' || state.kind === 'failed')) {
        void reportState(state, this, logger);
      }
    });
  }

  get state(): ServerState {
    return this.#server.state;
  }

  /** The URL agents in this window should use, when there is a server to use. */
  get url(): string | undefined {
    return this.#server.url;
  }

  /** Open MCP sessions on this window's host (0 when attached to another window or stopped). */
  get sessionCount(): number {
    return this.#server.sessionCount;
  }

  start(port: number): Promise<ServerState> {
    return this.#server.start(port);
  }

  stop(): Promise<void> {
    return this.#server.stop();
  }

  /** Closes the server; the promise `deactivate()` waits for. */
  async close(): Promise<void> {
    await this.#server.close();
    this.#onDidChange.dispose();
  }

  dispose(): void {
    void this.close();
  }
}
