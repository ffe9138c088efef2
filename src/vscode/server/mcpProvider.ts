/**
 * Publishes the "Agent Keyring" MCP server to in-editor agents (`contributes.mcpServerDefinitionProviders`
 * id `agentKeyring`). The definition carries no secret: the `vscode` agent's bearer token is added
 * only in `resolveMcpServerDefinition`, when VS Code actually starts the server.
 */
import * as vscode from 'vscode';
import type * as Http from '../../core/mcp/http';
import type { Logger } from '../../core/ports';
import type { ServerController } from './serverController';

export const MCP_PROVIDER_ID = 'agentKeyring';
/**
 * Tells our server this is VS Code's MCP client, so a refused token is answered 410 with the way
 * back instead of the 401 that sends VS Code into an OAuth sign-in (see `core/mcp/gate.ts`). Typed
 * as the core's literals, so the compiler checks they are the same.
 */
const EDITOR_CLIENT_HEADER: typeof Http.EDITOR_CLIENT_HEADER = 'x-agent-keyring-client';
const EDITOR_CLIENT: Record<typeof Http.EDITOR_CLIENT_HEADER, string> = { [EDITOR_CLIENT_HEADER]: 'vscode' };
export const MCP_SERVER_LABEL = 'Agent Keyring';

export interface McpProviderDeps {
  server: ServerController;
  /** This editor's chat agent: `vscode`, or `vscode.<user>.<host>` on a team store. */
  agentId: string;
  /** That agent's token, or undefined when the agent is revoked. */
  token(): Promise<string | undefined>;
  /** Renewals of that token so far, and an event when it is renewed (Rotate Agent Token, Add Agent). */
  tokenGeneration(): number;
  onDidRenewToken(listener: () => void): { dispose(): void };
  version: string;
  /** Shows why the server cannot be started (port taken, agent revoked). */
  explain(message: string): void;
  logger: Logger;
}

export function registerMcpProvider(deps: McpProviderDeps): vscode.Disposable {
  const changed = new vscode.EventEmitter<void>();
  const subscription = deps.server.onDidChange(() => changed.fire());
  // A new token: the definition's version changes with it, so VS Code sees the server changed and
  // resolves it again (with the new token) instead of going on with the old one.
  const renewal = deps.onDidRenewToken(() => changed.fire());
  const registration = vscode.lm.registerMcpServerDefinitionProvider(MCP_PROVIDER_ID, {
    onDidChangeMcpServerDefinitions: changed.event,
    provideMcpServerDefinitions: () => {
      const url = deps.server.url;
      deps.logger.info(
        url
          ? `MCP server definition offered to VS Code: ${url}`
          : 'No MCP server definition to offer: the server is not running.',
      );
      return url
        ? [
            new vscode.McpHttpServerDefinition(
              MCP_SERVER_LABEL,
              vscode.Uri.parse(url),
              { ...EDITOR_CLIENT },
              deps.tokenGeneration() > 0 ? `${deps.version}+token.${deps.tokenGeneration()}` : deps.version,
            ),
          ]
        : [];
    },
    resolveMcpServerDefinition: async (definition) => {
      if (!(definition instanceof vscode.McpHttpServerDefinition) || !deps.server.url) {
        deps.explain('The Agent Keyring server is not running here. Run "Agent Keyring: Start Server".');
        return undefined;
      }
      const token = await deps.token();
      if (!token) {
        deps.explain(
          `The built-in agent '${deps.agentId}' is revoked, so in-editor chat cannot use Agent Keyring. Add it again to reconnect.`,
        );
        return undefined;
      }
      definition.headers = { ...definition.headers, Authorization: `Bearer ${token}` };
      deps.logger.info(
        `VS Code is starting the MCP server ${definition.uri.toString()} as agent '${deps.agentId}'.`,
      );
      return definition;
    },
  });
  return vscode.Disposable.from(registration, subscription, renewal, changed);
}
