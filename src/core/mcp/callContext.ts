/**
 * The caller of one MCP request as the tools and resources see it ({@link CallContext}): the agent
 * the server was built for — the gate's one identity check per request, passed down when the
 * agent-bound server was made — plus what the request says about the client: its name and version
 * (2025 era: from `initialize`; 2026-07-28 era: the request's `_meta`), VS Code's conversation id,
 * and `agent-keyring run`'s command. Nothing here checks identity again.
 */
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Implementation, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { CallContext } from '../api';
import type { AgentId, ClientInfo } from '../model';
import { CLIENT_INFO_META_KEY } from './protocol';

/** What the SDK hands each request handler (the request's `_meta`, auth info, abort signal …). */
export type RequestExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** The `_meta` key with which `agent-keyring run` marks its get_credential calls. */
export const RUN_META_KEY = 'agent-keyring/run';
/** Client-supplied strings kept for the audit log are cut to this length. */
const MAX_CLIENT_FIELD_CHARS = 128;

/**
 * The call context of one request of `agentId`.
 * @param initialized the client's `initialize` info (2025 era), when there was one.
 */
export function callContextOf(
  agentId: AgentId,
  extra: RequestExtra,
  initialized: Implementation | undefined,
): CallContext {
  const client = clientInfo(extra, initialized);
  const run = runMeta(extra);
  return run ? { agentId, client, run } : { agentId, client };
}

function clientInfo(extra: RequestExtra, initialized: Implementation | undefined): ClientInfo | null {
  const info: ClientInfo = {};
  // 2025 era: from initialize; 2026-07-28 era: each request's _meta says who the client is.
  const fromMeta = extra._meta?.[CLIENT_INFO_META_KEY] as { name?: unknown; version?: unknown } | undefined;
  const version =
    initialized ??
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

/** `{command}` from a request's `_meta` {"agent-keyring/run": {command}}, when present and well-formed. */
function runMeta(extra: RequestExtra): { command: string } | undefined {
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
