/**
 * The 2026-07-28 era on `/mcp`: stateless POSTs, each carrying its protocol version and client
 * capabilities/info in `params._meta` and the `MCP-Protocol-Version`, `Mcp-Method` (and, for
 * `tools/call` / `resources/read`, `Mcp-Name`) headers, which must agree with the body. No
 * `initialize`, no `Mcp-Session-Id`, no GET/DELETE.
 *
 * Order of checks (each a {@link Refusal} with the request's id):
 *  1. no batches with modern requests                                     → 400 -32600
 *  2. a JSON-RPC request or notification                                  → 400 -32600
 *  3. `MCP-Protocol-Version` present and equal to the body's `_meta` one  → 400 -32020 / -32602
 *  4. a revision served here                                              → 400 -32022 (data.supported)
 *  5. `Mcp-Method` (and `Mcp-Name`) equal to the body                     → 400 -32020
 *  6. `_meta` carries the client's capabilities                           → 400 -32602
 * Then: notifications → 202; `server/discover` and `subscriptions/listen` answered here; the tool
 * and resource methods go to the caller's agent-bound {@link CredentialServer} (one per agent,
 * reused across requests) through {@link AgentTransport}; any other method → -32601.
 */
import type * as http from 'node:http';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type {
  Implementation,
  JSONRPCMessage,
  MessageExtraInfo,
  RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import type { KeyringApi } from '../api';
import type { AgentId } from '../model';
import type { Logger } from '../ports';
import type { Caller } from './gate';
import type { ListenHub } from './listen';
import {
  CLIENT_CAPABILITIES_META_KEY,
  HEADER_MISMATCH,
  INVALID_PARAMS,
  INVALID_REQUEST,
  METHOD_NOT_FOUND,
  MODERN_PROTOCOL_VERSIONS,
  PROTOCOL_VERSION_META_KEY,
  SERVER_INFO_META_KEY,
  UNSUPPORTED_PROTOCOL_VERSION,
} from './protocol';
import { Refusal, writeJsonError } from './refusal';
import {
  createCredentialServer,
  DEFAULT_SERVER_INFO,
  SERVER_INSTRUCTIONS,
  type CredentialServer,
} from './server';
import { TOOLS } from './tools/index';

/** Methods the agent-bound server answers in this era. */
const SERVED = new Set([
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/read',
  'resources/templates/list',
]);
/** Methods whose `Mcp-Name` header must repeat a body field. */
const NAME_FIELD: Record<string, 'name' | 'uri'> = {
  'tools/call': 'name',
  'resources/read': 'uri',
  'prompts/get': 'name',
};
const TOOL_NAMES = new Set(TOOLS.map((t) => t.name));
/**
 * Results the 2026-07-28 client may cache must say for how long and for whom: never (`ttlMs: 0`)
 * and only this caller (`private`) — what an agent may see depends on its token, and a rotation
 * changes a resource at any time.
 */
const CACHEABLE = new Set([
  'server/discover',
  'tools/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'prompts/list',
]);

interface Message {
  jsonrpc?: unknown;
  id?: unknown;
  method?: unknown;
  params?: { _meta?: Record<string, unknown>; [k: string]: unknown };
}

/** Would this POST be served by the 2026-07-28 era (rather than the 2025 sessions)? */
export function isModernPost(req: http.IncomingMessage, body: unknown): boolean {
  const header = headerText(req.headers['mcp-protocol-version']);
  if (MODERN_PROTOCOL_VERSIONS.includes(header)) {
    return true;
  }
  if (Array.isArray(body)) {
    return body.some((m) => versionOf(m) !== undefined);
  }
  if (versionOf(body) !== undefined) {
    return true;
  }
  // An unknown revision in the header, outside any 2025 session and not an initialize: answer
  // with the list of revisions served here rather than "no session".
  return (
    header !== '' &&
    !SUPPORTED_PROTOCOL_VERSIONS.includes(header) &&
    req.headers['mcp-session-id'] === undefined &&
    (body as Message | undefined)?.method !== 'initialize'
  );
}

export interface ModernEraOptions {
  api: KeyringApi;
  logger: Logger;
  listen: ListenHub;
  serverInfo?: Implementation;
}

export class ModernEra {
  readonly #servers = new Map<AgentId, { mcp: CredentialServer; transport: AgentTransport }>();
  readonly #serverInfo: Implementation;

  constructor(private readonly opts: ModernEraOptions) {
    this.#serverInfo = opts.serverInfo ?? DEFAULT_SERVER_INFO;
  }

  async handle(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: unknown,
    caller: Caller,
  ): Promise<void> {
    if (Array.isArray(body)) {
      throw new Refusal(
        400,
        INVALID_REQUEST,
        'Bad Request: JSON-RPC batches may not carry requests of protocol revision 2026-07-28; send one request per POST.',
      );
    }
    const m = body as Message;
    if (typeof m !== 'object' || m === null || m.jsonrpc !== '2.0' || typeof m.method !== 'string') {
      throw new Refusal(
        400,
        INVALID_REQUEST,
        'Invalid Request: send one JSON-RPC 2.0 request or notification.',
      );
    }
    const id = typeof m.id === 'string' || typeof m.id === 'number' ? m.id : undefined;
    const refuse = (status: number, code: number, message: string, data?: unknown): Refusal =>
      new Refusal(status, code, message, {}, data, id ?? null);
    this.#checkHeaders(req, m, refuse);

    if (id === undefined) {
      if (m.method === 'notifications/cancelled') {
        const target = m.params?.requestId;
        if (typeof target === 'string' || typeof target === 'number') {
          this.opts.listen.cancel(caller.agent.id, target);
        }
      }
      res.writeHead(202).end();
      return;
    }
    switch (m.method) {
      case 'server/discover':
        return writeResult(res, id, m.method, this.#discover(), this.#serverInfo);
      case 'subscriptions/listen':
        return this.opts.listen.open(res, id, m.params, caller);
    }
    if (!SERVED.has(m.method)) {
      writeJsonError(res, 404, METHOD_NOT_FOUND, 'Method not found', { id });
      return;
    }
    if (m.method === 'tools/call' && !TOOL_NAMES.has(String(m.params?.name))) {
      const shown = String(m.params?.name).slice(0, 64);
      writeJsonError(
        res,
        200,
        INVALID_PARAMS,
        `Tool ${JSON.stringify(shown)} not found. The tools are ${[...TOOL_NAMES].join(', ')}; call one of them.`,
        { id },
      );
      return;
    }
    // The agent-bound server already knows the caller; the request needs nothing more to say who.
    const answer = await this.#serverFor(caller).transport.dispatch(m as JSONRPCMessage & { id: RequestId });
    if ('result' in answer) {
      return writeResult(res, id, m.method, answer.result, this.#serverInfo);
    }
    const error = (answer as { error: { code: number; message: string; data?: unknown } }).error;
    // An unknown URI outside credential:// is refused by the SDK without data; say which URI.
    const data =
      error.data === undefined && m.method === 'resources/read' && typeof m.params?.uri === 'string'
        ? { uri: m.params.uri.slice(0, 200) }
        : error.data;
    writeJsonError(res, 200, error.code, error.message, { id, data });
  }

  /** Forgets the agent-bound server of `agentId` (revoked). */
  async dropAgent(agentId: AgentId): Promise<void> {
    const entry = this.#servers.get(agentId);
    this.#servers.delete(agentId);
    await entry?.mcp.dispose();
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.#servers.keys()].map((id) => this.dropAgent(id)));
  }

  #discover(): Record<string, unknown> {
    return {
      supportedVersions: [...MODERN_PROTOCOL_VERSIONS, ...SUPPORTED_PROTOCOL_VERSIONS],
      capabilities: { resources: { subscribe: true, listChanged: false }, tools: {} },
      instructions: SERVER_INSTRUCTIONS,
    };
  }

  #checkHeaders(
    req: http.IncomingMessage,
    m: Message,
    refuse: (status: number, code: number, message: string, data?: unknown) => Refusal,
  ): void {
    const method = m.method as string;
    const meta = m.params?._meta;
    const bodyVersion = versionOf(m);
    const header = headerText(req.headers['mcp-protocol-version']);
    const mismatch = (headerValue: string, what: string): Refusal =>
      refuse(400, HEADER_MISMATCH, `Bad Request: the request headers and body disagree: ${what}`, {
        mismatch: { header: headerValue || '(missing)', body: what },
      });
    if (bodyVersion !== undefined && header === '') {
      throw mismatch(
        '',
        `the body envelope names protocol version ${bodyVersion} but the required MCP-Protocol-Version header is absent`,
      );
    }
    if (bodyVersion === undefined) {
      throw refuse(
        400,
        INVALID_PARAMS,
        `Invalid params: the MCP-Protocol-Version header names protocol revision ${header}, but the request is missing the required per-request envelope key ${PROTOCOL_VERSION_META_KEY} in params._meta.`,
        { envelope: { missing: [PROTOCOL_VERSION_META_KEY] } },
      );
    }
    if (bodyVersion !== header) {
      throw mismatch(
        header,
        `the body envelope names protocol version ${bodyVersion} but the MCP-Protocol-Version header names ${header}`,
      );
    }
    if (!MODERN_PROTOCOL_VERSIONS.includes(bodyVersion)) {
      throw refuse(
        400,
        UNSUPPORTED_PROTOCOL_VERSION,
        `Unsupported protocol version: ${bodyVersion.slice(0, 32)}. This server speaks ${MODERN_PROTOCOL_VERSIONS.join(', ')} (per request) and ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')} (with initialize).`,
        { supported: [...MODERN_PROTOCOL_VERSIONS], requested: bodyVersion.slice(0, 32) },
      );
    }
    const methodHeader = headerText(req.headers['mcp-method']);
    if (methodHeader !== method) {
      throw mismatch(
        methodHeader,
        methodHeader === ''
          ? `the body names method ${method} but the required Mcp-Method header is absent`
          : `the body names method ${method} but the Mcp-Method header names ${methodHeader}`,
      );
    }
    const field = NAME_FIELD[method];
    if (field !== undefined) {
      const value = m.params?.[field];
      const nameHeader = headerText(req.headers['mcp-name']);
      if (typeof value === 'string' && nameHeader !== value) {
        throw mismatch(
          nameHeader,
          nameHeader === ''
            ? `the body carries params.${field}=${JSON.stringify(value.slice(0, 80))} but the required Mcp-Name header is absent`
            : `the body carries params.${field}=${JSON.stringify(value.slice(0, 80))} but the Mcp-Name header names ${JSON.stringify(nameHeader.slice(0, 80))}`,
        );
      }
    }
    if (m.id !== undefined) {
      const caps = meta?.[CLIENT_CAPABILITIES_META_KEY];
      if (typeof caps !== 'object' || caps === null || Array.isArray(caps)) {
        throw refuse(
          400,
          INVALID_PARAMS,
          `Invalid _meta envelope for protocol revision ${bodyVersion}: ${CLIENT_CAPABILITIES_META_KEY}: missing. Send the client's capabilities (an object, {} for none) with every request.`,
          { envelope: { key: CLIENT_CAPABILITIES_META_KEY, problem: 'missing' } },
        );
      }
    }
  }

  #serverFor(caller: Caller): { mcp: CredentialServer; transport: AgentTransport } {
    let entry = this.#servers.get(caller.agent.id);
    if (!entry) {
      const mcp = createCredentialServer({
        api: this.opts.api,
        agentId: caller.agent.id,
        logger: this.opts.logger,
        serverInfo: this.#serverInfo,
      });
      const transport = new AgentTransport();
      void mcp.server.connect(transport);
      entry = { mcp, transport };
      this.#servers.set(caller.agent.id, entry);
    }
    return entry;
  }
}

/**
 * Connects one agent-bound MCP server to many stateless HTTP requests: each request is handed in
 * under a fresh internal id (two clients of the same agent may both use id 1) and its answer is
 * returned with the client's id restored. Notifications from the server that belong to no request
 * are dropped (the 2026-07-28 era delivers those on `subscriptions/listen` streams).
 */
export class AgentTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;
  #next = 0;
  #closed = false;
  readonly #pending = new Map<number, { id: RequestId; resolve: (m: JSONRPCMessage) => void }>();

  async start(): Promise<void> {}

  dispatch(message: JSONRPCMessage & { id: RequestId }, extra?: MessageExtraInfo): Promise<JSONRPCMessage> {
    if (this.#closed) {
      return Promise.reject(new Error('The agent server is closed.'));
    }
    const internal = ++this.#next;
    return new Promise((resolve) => {
      this.#pending.set(internal, { id: message.id, resolve });
      this.onmessage?.({ ...message, id: internal }, extra);
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const id = (message as { id?: unknown }).id;
    if (typeof id !== 'number' || !('result' in message || 'error' in message)) {
      return;
    }
    const waiting = this.#pending.get(id);
    if (waiting) {
      this.#pending.delete(id);
      waiting.resolve({ ...message, id: waiting.id });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    for (const [, waiting] of this.#pending) {
      waiting.resolve({
        jsonrpc: '2.0',
        id: waiting.id,
        error: { code: -32603, message: 'The server is closing; retry.' },
      });
    }
    this.#pending.clear();
    this.onclose?.();
  }
}

function writeResult(
  res: http.ServerResponse,
  id: RequestId,
  method: string,
  result: Record<string, unknown>,
  serverInfo: Implementation,
): void {
  const meta = (result._meta as Record<string, unknown> | undefined) ?? {};
  const cache = CACHEABLE.has(method) ? { ttlMs: 0, cacheScope: 'private' } : {};
  const text = JSON.stringify({
    jsonrpc: '2.0',
    id,
    result: {
      ...result,
      ...cache,
      resultType: 'complete',
      _meta: { ...meta, [SERVER_INFO_META_KEY]: serverInfo },
    },
  });
  res
    .writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) })
    .end(text);
}

function versionOf(m: unknown): string | undefined {
  const v = (m as Message | undefined)?.params?._meta?.[PROTOCOL_VERSION_META_KEY];
  return typeof v === 'string' ? v : undefined;
}

function headerText(v: string | string[] | undefined): string {
  return v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v;
}
