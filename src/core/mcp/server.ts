/**
 * One MCP server per session, bound to the agent its bearer token belongs to: the four tools
 * (`tools/`), the `credential://{name}` resources (metadata only) and resource subscriptions that
 * fire `notifications/resources/updated` when a credential is rotated.
 */
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type Implementation,
  type ReadResourceResult,
} from '@modelcontextprotocol/sdk/types.js';
import type { CallContext, KeyringApi } from '../api';
import { UnauthorizedError } from '../errors';
import { ID_PATTERN, type AgentId, type ClientInfo, type CredentialMeta } from '../model';
import { NULL_LOGGER, type Logger } from '../ports';
import { registerTools, type ToolExtra } from './tools/index';

export const DEFAULT_SERVER_INFO: Implementation = { name: 'agent-keyring', version: '0.1.0' };
/** JSON-RPC code the MCP spec uses for an unknown resource. */
export const RESOURCE_NOT_FOUND = -32002;
const URI_PREFIX = 'credential://';
/** Client-supplied strings kept for the audit log are cut to this length. */
const MAX_CLIENT_FIELD_CHARS = 128;

export const SERVER_INSTRUCTIONS = [
  'Agent Keyring holds the API keys and tokens you may use, by name and scope. Your identity comes from your bearer token.',
  'Start with list_credentials to see names and scopes.',
  'Prefer http_request: put {{credential}} in a header or the URL and the server fills in the key, sends the request and redacts the key from the response, so you never see it.',
  'Use get_credential only when you must hand the value to something yourself; do not store, print or repeat it, and ask again after the lease expires.',
  'rotate_credential is only for credentials that name you as a rotation agent.',
  'Refusals are tool errors with a stable code in structuredContent (for example scope_denied, approval_denied, host_denied) and a message saying what to do next; do not retry a refusal unchanged.',
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
  /** uri → who subscribed and the version they were last told about. */
  const subscribed = new Map<string, { agentId: AgentId; version: number }>();

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

  server.registerResource(
    'credential',
    new ResourceTemplate(`${URI_PREFIX}{name}`, {
      list: async (extra) => {
        const ctx = contextFor(extra);
        const list = await api.listCredentials(ctx);
        return {
          resources: list.map((c) => ({
            uri: uriOf(c.name),
            name: c.name,
            title: c.name,
            description: c.description,
            mimeType: 'application/json',
          })),
        };
      },
    }),
    {
      title: 'Credential metadata',
      description:
        'Metadata of a credential you may use: description, scopes, version, last rotation, lease TTL, allowed hosts. Never the value.',
      mimeType: 'application/json',
    },
    async (uri, _variables, extra): Promise<ReadResourceResult> => {
      const ctx = contextFor(extra);
      const meta = await describe(api, ctx.agentId, uri.href);
      return {
        contents: [
          { uri: uri.href, mimeType: 'application/json', text: JSON.stringify(resourceJson(meta), null, 2) },
        ],
      };
    },
  );

  server.server.setRequestHandler(SubscribeRequestSchema, async (request, extra) => {
    const ctx = contextFor(extra);
    // Only a credential this agent may use can be watched; the check also validates the URI.
    const meta = await describe(api, ctx.agentId, request.params.uri);
    subscribed.set(request.params.uri, { agentId: ctx.agentId, version: meta.version });
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    subscribed.delete(request.params.uri);
    return {};
  });

  const notifyIfChanged = async (uri: string): Promise<void> => {
    const sub = subscribed.get(uri);
    if (!sub || !server.isConnected()) {
      return;
    }
    // One notice per new version, and only while the agent may still use the credential: the
    // same rotation can be reported twice (this process, then the store's change event).
    const meta = await api.describeCredential(sub.agentId, uri.slice(URI_PREFIX.length));
    if (!meta || meta.version === sub.version || subscribed.get(uri) !== sub) {
      return;
    }
    sub.version = meta.version;
    // The list of credential:// resources does not change on rotation (same URIs and names), so no
    // list_changed; subscribers are told the resource itself changed.
    await server.server.sendResourceUpdated({ uri });
  };
  const rotation = api.onDidRotate((name) => {
    const uri = uriOf(name);
    notifyIfChanged(uri).catch((e: unknown) => logger.warn(`Could not send resources/updated for ${uri}`, e));
  });

  let disposed = false;
  return {
    server,
    subscriptions: () => [...subscribed.keys()],
    dispose: async () => {
      if (disposed) {
        return;
      }
      disposed = true;
      rotation.dispose();
      subscribed.clear();
      await server.close();
    },
  };
}

function uriOf(name: string): string {
  return `${URI_PREFIX}${name}`;
}

/** Metadata of the credential behind `uri` if the agent may use it, else a JSON-RPC "not found". */
async function describe(api: KeyringApi, agentId: AgentId, uri: string): Promise<CredentialMeta> {
  const name = uri.startsWith(URI_PREFIX) ? uri.slice(URI_PREFIX.length) : undefined;
  const meta =
    name !== undefined && ID_PATTERN.test(name) ? await api.describeCredential(agentId, name) : undefined;
  if (!meta) {
    const shown = uri.length > 80 ? `${uri.slice(0, 80)}…` : uri;
    // A plain Error with a numeric code: the SDK sends `code`, `message` and `data` as they are
    // (an McpError would prefix its message with "MCP error -32002:" once more on the client).
    throw Object.assign(
      new Error(
        `No credential resource ${JSON.stringify(shown)} is available to this agent. Resources are credential://<name> for the names resources/list (or the list_credentials tool) shows you.`,
      ),
      { code: RESOURCE_NOT_FOUND, data: { code: 'not_found' } },
    );
  }
  return meta;
}

/** The JSON a `credential://{name}` resource holds: metadata the agent may see, never a value. */
function resourceJson(meta: CredentialMeta): Record<string, unknown> {
  return {
    name: meta.name,
    description: meta.description,
    scopes: [...meta.allowed_scopes],
    version: meta.version,
    rotated_at: meta.versions[meta.versions.length - 1]?.created_at ?? meta.created_at,
    ttl_seconds: meta.ttl_seconds,
    allowed_hosts: [...(meta.allowed_hosts ?? [])],
  };
}

function clientInfo(server: McpServer, extra: ToolExtra): ClientInfo | null {
  const info: ClientInfo = {};
  const version = server.server.getClientVersion();
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
