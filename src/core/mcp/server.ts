/**
 * The MCP server bound to one agent (the one its bearer token belongs to): one per 2025-era session
 * (`sessions.ts`), one per agent for the stateless 2026-07-28 era (`modern.ts`). It holds the four
 * tools (`tools/`, the caller passed down as a `CallContext`) and the `credential://{name}`
 * resources with their 2025-era subscriptions (`resources.ts`). ARCHITECTURE.md has the layers.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Implementation } from '@modelcontextprotocol/sdk/types.js';
import type { CallContext, KeyringApi } from '../api';
import { UnauthorizedError } from '../errors';
import type { AgentId, ClientInfo } from '../model';
import { NULL_LOGGER, type Logger } from '../ports';
import { CLIENT_INFO_META_KEY } from './protocol';
import { registerCredentialResources } from './resources';
import { registerTools, type ToolExtra } from './tools/index';

export const DEFAULT_SERVER_INFO: Implementation = { name: 'agent-keyring', version: '0.1.0' };
export { RESOURCE_NOT_FOUND } from './resources';
/** Client-supplied strings kept for the audit log are cut to this length. */
const MAX_CLIENT_FIELD_CHARS = 128;

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
   * The agent this session belongs to (from its bearer token, checked by the host). When left out,
   * each request's `authInfo.clientId` is used; when both are given they must agree.
   */
  agentId?: AgentId;
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

  const contextFor = (extra: ToolExtra): CallContext => {
    const fromAuth = extra.authInfo?.clientId;
    if (opts.agentId && fromAuth && fromAuth !== opts.agentId) {
      throw new UnauthorizedError(
        'This session belongs to another agent. Start a new MCP session with your own bearer token.',
      );
    }
    const agentId = opts.agentId ?? fromAuth;
    if (!agentId) {
      throw new UnauthorizedError();
    }
    const run = runMeta(extra);
    return run
      ? { agentId, client: clientInfo(server, extra), run }
      : { agentId, client: clientInfo(server, extra) };
  };

  registerTools(server, { api, logger, contextFor });
  const resources = registerCredentialResources(server, {
    api,
    logger,
    contextFor,
    stillAllowed: opts.stillAllowed,
  });

  // Tools per agent: when a policy change adds or hides a tool for this server's agent, the client
  // is told (notifications/tools/list_changed) and lists again.
  const toolWatch = watchToolList(server, api, opts.agentId, logger);

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
  agentId: AgentId | undefined,
  logger: Logger,
): { dispose(): void } | undefined {
  if (!agentId || !api.toolsFor || !api.onDidChangeMetadata) {
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

function clientInfo(server: McpServer, extra: ToolExtra): ClientInfo | null {
  const info: ClientInfo = {};
  // 2025 era: from initialize; 2026-07-28 era: each request's _meta says who the client is.
  const fromMeta = extra._meta?.[CLIENT_INFO_META_KEY] as { name?: unknown; version?: unknown } | undefined;
  const version =
    server.server.getClientVersion() ??
    (fromMeta && typeof fromMeta === 'object'
      ? {
          name: typeof fromMeta.name === 'string' ? fromMeta.name : '',
          version: typeof fromMeta.version === 'string' ? fromMeta.version : '',
        }
      : undefined);
  if (version?.name) {
    info.name = bounded(version.name);
  }
  if (version?.version) {
    info.version = bounded(version.version);
  }
  const conversation = extra._meta?.['vscode.conversationId'];
  if (typeof conversation === 'string' && conversation.length > 0) {
    info.conversation_id = bounded(conversation);
  }
  return Object.keys(info).length > 0 ? info : null;
}

/** The `_meta` key with which `agent-keyring run` marks its get_credential calls. */
export const RUN_META_KEY = 'agent-keyring/run';

/** `{command}` from a request's `_meta` {"agent-keyring/run": {command}}, when present and well-formed. */
function runMeta(extra: ToolExtra): { command: string } | undefined {
  const raw = extra._meta?.[RUN_META_KEY] as { command?: unknown } | undefined;
  if (!raw || typeof raw !== 'object' || typeof raw.command !== 'string' || raw.command.length === 0) {
    return undefined;
  }
  return { command: bounded(raw.command) };
}

function bounded(s: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, '');
  return clean.length > MAX_CLIENT_FIELD_CHARS ? clean.slice(0, MAX_CLIENT_FIELD_CHARS) : clean;
}
