/**
 * The MCP server bound to one agent (the one its bearer token belongs to, as the gate found it):
 * one per 2025-era session (`sessions.ts`), one per agent for the stateless 2026-07-28 era
 * (`modern.ts`). It holds the four tools (`tools/`) and the `credential://{name}` resources with
 * their 2025-era subscriptions (`resources.ts`); both are given the agent when they are registered
 * and build each request's `CallContext` from it (`callContext.ts`), so identity is never looked
 * up again below the gate. ARCHITECTURE.md has the layers.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Implementation } from '@modelcontextprotocol/sdk/types.js';
import type { KeyringApi } from '../api';
import type { AgentId } from '../model';
import { NULL_LOGGER, type Logger } from '../ports';
import { registerCredentialResources } from './resources';
import { registerTools } from './tools/index';

export const DEFAULT_SERVER_INFO: Implementation = { name: 'agent-keyring', version: '0.1.0' };
export { RESOURCE_NOT_FOUND } from './resources';
export { RUN_META_KEY } from './callContext';

export const SERVER_INSTRUCTIONS = [
  'Agent Keyring holds the API keys and tokens you may use, by name and scope. Your identity comes from your bearer token.',
  'Start with list_credentials to see names and scopes.',
  'Prefer http_request: put {{credential}} in a header or the URL and the server fills in the key, sends the request and redacts the key from the response, so you never see it.',
  'Use get_credential only when you must hand the value to something yourself; do not store, print or repeat it, and ask again after the lease expires.',
  'rotate_credential is only for credentials that name you as a rotation agent.',
  'Some keys are used, never read: get_credential refuses them with reveal_denied; use http_request with them.',
  'Refusals are tool errors with a stable code in structuredContent (for example scope_denied, approval_denied, host_denied, request_denied) and a message saying what to do next; do not retry a refusal unchanged.',
  'Resources credential://{name} describe each credential you may use (never the value); subscribe to be told when one is rotated.',
].join('\n');

export interface CredentialServerOptions {
  api: KeyringApi;
  /**
   * The agent this server serves: the caller whose bearer token the gate checked (the host makes
   * one server per 2025-era session and one per agent for the 2026-07-28 era, so every request
   * that reaches it is this agent's). Passed down to the tools and resources as is.
   */
  agentId: AgentId;
  logger?: Logger;
  serverInfo?: Implementation;
  /** Checked before each rotation notice: false once the agent is revoked (no notice is sent). */
  stillAllowed?: () => Promise<boolean>;
}

export interface CredentialServer {
  server: McpServer;
  /** The resource URIs this session is subscribed to. */
  subscriptions(): string[];
  /** Stops listening for rotations and closes the server (and with it its transport). */
  dispose(): Promise<void>;
}

/**
 * Builds the MCP server for one session. Never throws on bad requests: tool refusals are
 * `isError` results, resource refusals JSON-RPC errors with a clear message.
 */
export function createCredentialServer(opts: CredentialServerOptions): CredentialServer {
  const { api } = opts;
  const logger = opts.logger ?? NULL_LOGGER;
  const server = new McpServer(opts.serverInfo ?? DEFAULT_SERVER_INFO, {
    instructions: SERVER_INSTRUCTIONS,
    capabilities: { resources: { subscribe: true, listChanged: true }, tools: {} },
  });

  const { agentId } = opts;
  registerTools(server, { api, logger, agentId });
  const resources = registerCredentialResources(server, {
    api,
    logger,
    agentId,
    stillAllowed: opts.stillAllowed,
  });

  // Tools per agent: when a policy change adds or hides a tool for this server's agent, the client
  // is told (notifications/tools/list_changed) and lists again.
  const toolWatch = watchToolList(server, api, agentId, logger);

  let disposed = false;
  return {
    server,
    subscriptions: () => resources.subscriptions(),
    dispose: async () => {
      if (disposed) {
        return;
      }
      disposed = true;
      resources.dispose();
      toolWatch?.dispose();
      await server.close();
    },
  };
}

function watchToolList(
  server: McpServer,
  api: KeyringApi,
  agentId: AgentId,
  logger: Logger,
): { dispose(): void } | undefined {
  if (!api.toolsFor || !api.onDidChangeMetadata) {
    return undefined;
  }
  const toolsFor = api.toolsFor.bind(api);
  const key = (tools: ReadonlySet<string>): string => [...tools].sort().join(',');
  let known: Promise<string> = toolsFor(agentId).then(key, () => '');
  return api.onDidChangeMetadata(() => {
    const previous = known;
    known = toolsFor(agentId).then(key, () => '');
    void Promise.all([previous, known])
      .then(async ([before, after]) => {
        if (before !== after && server.isConnected()) {
          await server.server.sendToolListChanged();
        }
      })
      .catch((e: unknown) => logger.warn('Could not send tools/list_changed', e));
  });
}
