/**
 * This window's MCP server as the editor sees it: published to in-editor agents (with the
 * built-in `vscode` agent's token) and started once activation is over — loading its code
 * (dist/server.js) and binding the port happen after `activate()` has returned, and the log says
 * when it was ready.
 */
import * as vscode from 'vscode';
import type { Logger } from '../../core/ports';
import type { VscodeAgentTokens } from '../vscodeAgent';
import { hostLoadMs } from './mcpHost';
import { CursorMcpRegistration, findCursorMcpApi } from './cursorMcp';
import { registerMcpProvider } from './mcpProvider';
import type { ServerController } from './serverController';
import { reportState } from './serverReport';

export interface ServerStartDeps {
  server: ServerController;
  /** The configured port, read when the server starts (a change made meanwhile counts). */
  port(): number;
  /** Resolves once the audit key is in SecretStorage (first run writes it in the background). */
  auditKeyStored(): Promise<void>;
  /** True once the extension is being deactivated. */
  stopped(): boolean;
  logger: Logger;
  /** `performance.now()` when activate() was entered. */
  startedAt: number;
}

/**
 * Starts the MCP server on the turn after activation, and logs how long after the start of
 * activation it was ready. No credential is released before the audit key is stored: if that
 * write failed, the server is not started and the person is told.
 */
export async function startServerAfterActivation(deps: ServerStartDeps): Promise<void> {
  const { server, logger } = deps;
  await new Promise<void>((resolve) => setImmediate(resolve));
  try {
    await deps.auditKeyStored();
  } catch (e) {
    const message = `Could not store the audit key in SecretStorage (${e instanceof Error ? e.message : String(e)}), so the MCP server was not started.`;
    logger.error(message);
    void vscode.window.showErrorMessage(
      `Agent Keyring: ${message} Fix the cause, then run "Developer: Reload Window".`,
    );
    return;
  }
  if (deps.stopped()) {
    return;
  }
  const state = await server.start(deps.port());
  const since = `${(performance.now() - deps.startedAt).toFixed(1)} ms since activation start`;
  const loaded = hostLoadMs();
  const code = loaded === undefined ? '' : ` (server code loaded in ${loaded.toFixed(1)} ms)`;
  logger.info(
    state.kind === 'running'
      ? `MCP server listening in ${since}${code}.`
      : `MCP server not listening (${state.kind}), ${since}${code}.`,
  );
  void reportState(state, server, logger, { quietWhenFine: true });
}

/**
 * Publishes the server to in-editor agents. Published before the server listens: VS Code's first
 * query gets no definition, and the provider offers it as soon as the server's state changes to
 * running (or attached). In Cursor it is also registered through `vscode.cursor.mcp` (cursorMcp.ts).
 */
export function publishToEditor(
  server: ServerController,
  vscodeAgent: VscodeAgentTokens,
  version: string,
  logger: Logger,
): vscode.Disposable {
  const token = async (): Promise<string | undefined> => {
    const t = await vscodeAgent.get();
    return t.state === 'ok' ? t.token : undefined;
  };
  const provider = registerMcpProvider({
    server,
    agentId: vscodeAgent.id,
    version,
    token,
    tokenGeneration: () => vscodeAgent.generation,
    onDidRenewToken: (listener) => vscodeAgent.onDidRenew(listener),
    explain: (message) => void vscode.window.showWarningMessage(`Agent Keyring: ${message}`),
    logger,
  });
  // In Cursor, also through its own MCP extension API (feature-detected; nothing in VS Code).
  const cursor = findCursorMcpApi(vscode);
  if (!cursor) {
    return provider;
  }
  logger.info("Cursor's MCP extension API found: the server is registered with Cursor as well.");
  const registration = new CursorMcpRegistration(cursor, {
    url: () => server.url,
    token,
    onDidChangeServer: (listener) => server.onDidChange(() => listener()),
    onDidRenewToken: (listener) => vscodeAgent.onDidRenew(listener),
    logger,
  });
  return vscode.Disposable.from(provider, registration);
}
