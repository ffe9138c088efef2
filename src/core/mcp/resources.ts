/**
 * The `credential://{name}` resources (metadata only, never a value) and how rotations reach the
 * agents that watch them:
 * - 2025 era: `resources/subscribe` on a session, `notifications/resources/updated` on its event
 *   stream ({@link registerCredentialResources});
 * - 2026-07-28 era: `subscriptions/listen` streams, see `listen.ts`.
 * Both send one notice per new version, and only while the agent may still use the credential.
 */
import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type ReadResourceResult,
} from '@modelcontextprotocol/sdk/types.js';
import type { CallContext, KeyringApi } from '../api';
import { ID_PATTERN, type AgentId, type CredentialMeta } from '../model';
import type { Disposable, Logger } from '../ports';
import { effectiveRevealMode } from '../policy/revealMode';
import { callContextOf, type RequestExtra } from './callContext';
import { isModernRequest } from './protocol';

export const URI_PREFIX = 'credential://';
/** JSON-RPC code the 2025 spec uses for an unknown resource. */
export const RESOURCE_NOT_FOUND = -32002;
/** The 2026-07-28 spec answers an unknown resource as invalid params. */
export const INVALID_PARAMS = -32602;

export function uriOf(name: string): string {
  return `${URI_PREFIX}${name}`;
}

/**
 * Metadata of the credential behind `uri` if the agent may use it, else a JSON-RPC "not found"
 * (`-32002` in the 2025 era, `-32602` in the 2026-07-28 era).
 */
export async function describe(
  api: KeyringApi,
  agentId: AgentId,
  uri: string,
  modern = false,
): Promise<CredentialMeta> {
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
      { code: modern ? INVALID_PARAMS : RESOURCE_NOT_FOUND, data: { code: 'not_found', uri: shown } },
    );
  }
  return meta;
}

/** The JSON a `credential://{name}` resource holds: metadata the agent may see, never a value. */
export function resourceJson(meta: CredentialMeta, agentId: AgentId): Record<string, unknown> {
  return {
    name: meta.name,
    description: meta.description,
    scopes: [...meta.allowed_scopes],
    version: meta.version,
    rotated_at: meta.versions[meta.versions.length - 1]?.created_at ?? meta.created_at,
    ttl_seconds: meta.ttl_seconds,
    allowed_hosts: [...(meta.allowed_hosts ?? [])],
    // How this agent may use it: its own reveal mode, the scopes' request rules, the placement.
    reveal: effectiveRevealMode(meta, agentId),
    scope_rules: structuredClone(meta.scope_rules ?? {}),
    placement: meta.placement ? [...meta.placement] : null,
  };
}

export interface ResourceHost {
  api: KeyringApi;
  logger: Logger;
  /** The agent every request to this server comes from (the caller the gate admitted). */
  agentId: AgentId;
  /** Checked before each notice: false when the agent was revoked (no notice is sent). */
  stillAllowed?: () => Promise<boolean>;
}

export interface CredentialResources extends Disposable {
  /** The resource URIs this server's client subscribed to (2025 era). */
  subscriptions(): string[];
}

/** Registers the resource template, list/read, and the 2025-era subscribe/unsubscribe on `server`. */
export function registerCredentialResources(server: McpServer, host: ResourceHost): CredentialResources {
  const { api, logger } = host;
  const contextFor = (extra: RequestExtra): CallContext =>
    callContextOf(host.agentId, extra, server.server.getClientVersion());
  /** uri → who subscribed and the version they were last told about. */
  const subscribed = new Map<string, { agentId: AgentId; version: number }>();

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
      const meta = await describe(api, ctx.agentId, uri.href, isModernRequest(extra._meta));
      return {
        contents: [
          {
            uri: uri.href,
            mimeType: 'application/json',
            text: JSON.stringify(resourceJson(meta, ctx.agentId), null, 2),
          },
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
    if (host.stillAllowed && !(await host.stillAllowed())) {
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

  return {
    subscriptions: () => [...subscribed.keys()],
    dispose: () => {
      rotation.dispose();
      subscribed.clear();
    },
  };
}
