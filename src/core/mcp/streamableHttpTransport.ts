/**
 * A Streamable HTTP server transport for one MCP session, written directly on `node:http`.
 *
 * It replaces the SDK's `StreamableHTTPServerTransport`, which in SDK 1.32 turns every Node request
 * into a Web `Request` and every answer into a Web `Response` (through `@hono/node-server`), parses
 * each message with zod several times (`JSONRPCMessageSchema`, `isJSONRPCRequest`,
 * `isInitializeRequest`, and `isJSONRPCResultResponse` over the whole result on the way out) and
 * builds a `ReadableStream` or a Promise per POST — about a third of the server's CPU per call in
 * the bench profile. The wire behaviour is the SDK's, status for status and message for message
 * (`server/webStandardStreamableHttp.js` of SDK 1.32.2), in the configuration Agent Keyring used
 * (stateful sessions, JSON responses, no event store):
 *
 * POST (`Accept` must list `application/json` and `text/event-stream`, else 406; a client that
 * accepts only `text/event-stream` gets its answers as an SSE stream instead of 406)
 *  - a JSON-RPC message or a batch (at most 100) → each message checked against the JSON-RPC
 *    schema (a structural check for the common shapes, the SDK's zod schema for anything else);
 *    invalid → 400 -32700;
 *  - `initialize` opens the session (`Mcp-Session-Id` generated, `onsessioninitialized`); a second
 *    one → 400 -32600; an initialize in a batch of several → 400 -32600;
 *  - anything else needs the session: not initialized → 400, no `Mcp-Session-Id` → 400, another id
 *    → 404 -32001; an unsupported `Mcp-Protocol-Version` → 400;
 *  - only notifications/responses → 202, no body; requests → 200 with the response (one object, or
 *    an array for several requests) once every request of the POST is answered.
 * GET → the session's one event stream (`text/event-stream`, keep-alive comments every 15 s);
 *   a second one → 409; `Accept` without `text/event-stream` → 406. Server notifications that
 *   belong to no request (e.g. `notifications/resources/updated`) go there, or nowhere when no
 *   stream is open (as in the SDK without an event store).
 * DELETE → `onsessionclosed`, 200, and the transport closes.
 * After close: 404 -32001 `Session not found` for every request; POSTs still waiting are answered
 * with the same error rather than left hanging.
 *
 * Transport-level refusals are `Refusal`s written by the one JSON writer (`refusal.ts`), never HTML.
 * Host, Origin, path, token, method, content type and body size are the gate's (`gate.ts`), checked
 * before this runs; this transport checks only what is about the session and the JSON-RPC messages.
 */
import type * as http from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  isInitializeRequest,
  JSONRPCMessageSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCMessage,
  type MessageExtraInfo,
  type RequestId,
  type RequestInfo,
} from '@modelcontextprotocol/sdk/types.js';
import { Refusal, writeJsonError, writeRefusal } from './refusal';

/** Largest JSON-RPC batch accepted (the SDK's `MAX_BATCH_SIZE`). */
export const MAX_BATCH_MESSAGES = 100;
/** Interval of the SSE keep-alive comment (the SDK's default). */
export const SSE_KEEP_ALIVE_MS = 15_000;

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
} as const;

export interface NodeStreamableHttpTransportOptions {
  /** Makes the session id at `initialize`. */
  sessionIdGenerator: () => string;
  /** Called synchronously when `initialize` opened the session (before the answer is sent). */
  onsessioninitialized?: (sessionId: string) => void;
  /** Called on DELETE, before the transport closes. */
  onsessionclosed?: (sessionId: string) => void;
  /** Keep-alive comment interval for event streams (ms); 0 turns it off. */
  keepAliveMs?: number;
}

/** One POST waiting for the responses to its requests. */
interface PendingPost {
  res: http.ServerResponse;
  /** Request ids of this POST, in message order. */
  ids: RequestId[];
  responses: Map<RequestId, JSONRPCMessage>;
  /** Answer as an SSE stream (the client accepts only `text/event-stream`). */
  sse: boolean;
  keepAlive: NodeJS.Timeout | undefined;
  finished: boolean;
}

/**
 * Server-side Streamable HTTP transport for one session, on `node:http` (see the module comment).
 * Connect it to an `McpServer` with `server.connect(transport)`, then hand it each HTTP request of
 * the session with {@link handleRequest}.
 */
export class NodeStreamableHttpTransport implements Transport {
  sessionId?: string;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;

  readonly #options: NodeStreamableHttpTransportOptions;
  #started = false;
  #initialized = false;
  #closed = false;
  /** Request id → the POST that carried it. */
  readonly #pending = new Map<RequestId, PendingPost>();
  #standalone: { res: http.ServerResponse; keepAlive: NodeJS.Timeout | undefined } | undefined;

  constructor(options: NodeStreamableHttpTransportOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    if (this.#started) {
      throw new Error('Transport already started');
    }
    this.#started = true;
  }

  /**
   * Handles one HTTP request of this session. Resolves once the request is answered (for a GET,
   * once its event stream is open). Never throws for bad input: every refusal is an HTTP answer.
   * @param body the request body, already parsed from JSON (required for POST).
   * @param authInfo handed to the server with each message (`extra.authInfo`).
   */
  async handleRequest(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body?: unknown,
    authInfo?: AuthInfo,
  ): Promise<void> {
    try {
      if (this.#closed) {
        throw new Refusal(404, -32001, 'Session not found');
      }
      switch (req.method) {
        case 'POST':
          return this.#handlePost(req, res, body, authInfo);
        case 'GET':
          return this.#handleGet(req, res);
        case 'DELETE':
          return this.#handleDelete(req, res);
        default:
          this.#error('Method not allowed.');
          writeJsonError(res, 405, -32000, 'Method not allowed.', {
            headers: { Allow: 'GET, POST, DELETE' },
          });
          return;
      }
    } catch (e) {
      if (e instanceof Refusal) {
        this.#error(e.message);
        writeRefusal(res, e);
        return;
      }
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    if (this.#standalone) {
      this.#endStandalone(this.#standalone);
    }
    for (const post of new Set(this.#pending.values())) {
      this.#abandon(post);
    }
    this.#pending.clear();
    this.onclose?.();
  }

  /**
   * Sends a message from the server: a response (or a message related to a request) goes to the
   * POST that carried that request; anything else to the session's event stream, if one is open.
   * @throws when a response has no POST waiting for it (as the SDK transport does).
   */
  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const isResponse = 'result' in message || 'error' in message;
    const requestId = isResponse ? (message as { id?: RequestId }).id : options?.relatedRequestId;
    if (requestId === undefined) {
      if (isResponse) {
        throw new Error(
          'Cannot send a response on a standalone SSE stream unless resuming a previous client request',
        );
      }
      const stream = this.#standalone;
      if (stream) {
        writeSseEvent(stream.res, message);
      }
      return;
    }
    const post = this.#pending.get(requestId);
    if (!post) {
      if (this.#closed) {
        return; // answered with "Session not found" when the session closed
      }
      throw new Error(`No connection established for request ID: ${String(requestId)}`);
    }
    if (post.sse && !post.finished) {
      writeSseEvent(post.res, message);
    }
    if (!isResponse) {
      return; // JSON mode has nowhere to put a notification tied to a request (as in the SDK)
    }
    post.responses.set(requestId, message);
    if (post.responses.size < post.ids.length) {
      return;
    }
    for (const id of post.ids) {
      this.#pending.delete(id);
    }
    this.#finish(post);
  }

  // ------------------------------------------------------------------ POST

  #handlePost(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: unknown,
    authInfo: AuthInfo | undefined,
  ): void {
    const accept = headerText(req.headers.accept);
    const acceptsJson = accept.includes('application/json');
    const acceptsSse = accept.includes('text/event-stream');
    if (!acceptsSse) {
      throw new Refusal(
        406,
        -32000,
        'Not Acceptable: Client must accept both application/json and text/event-stream',
      );
    }
    // Content type, size and JSON syntax were checked by the gate (gate.ts) before the body was parsed.
    if (body === undefined) {
      throw new Refusal(400, -32700, 'Parse error: Invalid JSON');
    }
    if (Array.isArray(body) && body.length > MAX_BATCH_MESSAGES) {
      throw new Refusal(400, -32600, `Invalid Request: Batch must not exceed ${MAX_BATCH_MESSAGES} messages`);
    }
    const messages = parseMessages(body);
    if (!messages) {
      throw new Refusal(400, -32700, 'Parse error: Invalid JSON-RPC message');
    }
    const initializing = messages.some(
      (m) => 'method' in m && m.method === 'initialize' && isInitializeRequest(m),
    );
    if (initializing) {
      if (this.#initialized && this.sessionId !== undefined) {
        throw new Refusal(400, -32600, 'Invalid Request: Server already initialized');
      }
      if (messages.length > 1) {
        throw new Refusal(400, -32600, 'Invalid Request: Only one initialization request is allowed');
      }
      this.sessionId = this.#options.sessionIdGenerator();
      this.#initialized = true;
      this.#options.onsessioninitialized?.(this.sessionId);
    } else {
      this.#checkSession(req);
    }
    const extra: MessageExtraInfo = { authInfo, requestInfo: requestInfoOf(req) };
    const ids: RequestId[] = [];
    for (const m of messages) {
      if ('method' in m && 'id' in m) {
        ids.push(m.id);
      }
    }
    if (ids.length === 0) {
      for (const m of messages) {
        this.onmessage?.(m, extra);
      }
      res.writeHead(202).end();
      return;
    }
    for (const id of ids) {
      if (this.#pending.has(id)) {
        throw new Refusal(
          400,
          -32600,
          `Invalid Request: a request with id ${JSON.stringify(id)} is already in progress in this session; use a new id.`,
        );
      }
    }
    const post: PendingPost = {
      res,
      ids,
      responses: new Map(),
      sse: !acceptsJson,
      keepAlive: undefined,
      finished: false,
    };
    for (const id of ids) {
      this.#pending.set(id, post);
    }
    if (post.sse) {
      res.writeHead(200, this.#sseHeaders());
      res.flushHeaders();
      post.keepAlive = this.#keepAlive(res);
      res.once('close', () => clearInterval(post.keepAlive));
    }
    // A client that goes away before the answer is not tracked: the answer arrives anyway (every
    // request gets one), clears the entries and is written nowhere.
    for (const m of messages) {
      this.onmessage?.(m, extra);
    }
  }

  #finish(post: PendingPost): void {
    if (post.finished) {
      return;
    }
    post.finished = true;
    clearInterval(post.keepAlive);
    if (post.sse) {
      post.res.end();
      return;
    }
    if (post.res.destroyed) {
      return;
    }
    const answers = post.ids.map((id) => post.responses.get(id));
    const text = JSON.stringify(answers.length === 1 ? answers[0] : answers);
    const headers: http.OutgoingHttpHeaders = {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
    };
    if (this.sessionId !== undefined) {
      headers['mcp-session-id'] = this.sessionId;
    }
    post.res.writeHead(200, headers).end(text);
  }

  /** A POST still waiting when the session closes: answered "Session not found", not left hanging. */
  #abandon(post: PendingPost): void {
    if (post.finished) {
      return;
    }
    post.finished = true;
    clearInterval(post.keepAlive);
    if (post.res.headersSent) {
      post.res.end();
    } else {
      writeJsonError(post.res, 404, -32001, 'Session not found');
    }
  }

  // ------------------------------------------------------------------ GET / DELETE

  #handleGet(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!headerText(req.headers.accept).includes('text/event-stream')) {
      throw new Refusal(406, -32000, 'Not Acceptable: Client must accept text/event-stream');
    }
    this.#checkSession(req);
    if (this.#standalone) {
      throw new Refusal(409, -32000, 'Conflict: Only one SSE stream is allowed per session');
    }
    res.writeHead(200, this.#sseHeaders());
    res.flushHeaders();
    const stream = { res, keepAlive: this.#keepAlive(res) };
    this.#standalone = stream;
    res.once('close', () => {
      clearInterval(stream.keepAlive);
      if (this.#standalone === stream) {
        this.#standalone = undefined;
      }
    });
  }

  #handleDelete(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.#checkSession(req);
    try {
      this.#options.onsessionclosed?.(this.sessionId as string);
      res.writeHead(200).end();
    } finally {
      void this.close();
    }
  }

  #endStandalone(stream: { res: http.ServerResponse; keepAlive: NodeJS.Timeout | undefined }): void {
    clearInterval(stream.keepAlive);
    this.#standalone = undefined;
    stream.res.end();
  }

  // ------------------------------------------------------------------ shared checks

  /** Session and protocol-version checks for every request but `initialize` (SDK order and wording). */
  #checkSession(req: http.IncomingMessage): void {
    if (!this.#initialized) {
      throw new Refusal(400, -32000, 'Bad Request: Server not initialized');
    }
    const id = req.headers['mcp-session-id'];
    if (!id) {
      throw new Refusal(400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    }
    if (id !== this.sessionId) {
      throw new Refusal(404, -32001, 'Session not found');
    }
    const version = req.headers['mcp-protocol-version'];
    if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(headerText(version))) {
      throw new Refusal(
        400,
        -32000,
        `Bad Request: Unsupported protocol version: ${headerText(version)} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`,
      );
    }
  }

  #sseHeaders(): http.OutgoingHttpHeaders {
    return this.sessionId !== undefined ? { ...SSE_HEADERS, 'mcp-session-id': this.sessionId } : SSE_HEADERS;
  }

  #keepAlive(res: http.ServerResponse): NodeJS.Timeout | undefined {
    const ms = this.#options.keepAliveMs ?? SSE_KEEP_ALIVE_MS;
    if (!(ms > 0)) {
      return undefined;
    }
    const timer = setInterval(() => {
      if (!res.writableEnded && !res.destroyed) {
        res.write(': keepalive\n\n');
      }
    }, ms);
    timer.unref();
    return timer;
  }

  #error(message: string): void {
    this.onerror?.(new Error(message));
  }
}

// ------------------------------------------------------------------ helpers

function headerText(v: string | string[] | undefined): string {
  return v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v;
}

function writeSseEvent(res: http.ServerResponse, message: JSONRPCMessage): void {
  if (!res.writableEnded && !res.destroyed) {
    res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }
}

/** `extra.requestInfo`: the headers as Node parsed them; the URL built only if someone reads it. */
function requestInfoOf(req: http.IncomingMessage): RequestInfo {
  let url: URL | undefined;
  return {
    headers: req.headers,
    get url(): URL {
      url ??= new URL(req.url ?? '/', `http://${headerText(req.headers.host) || 'localhost'}`);
      return url;
    },
  };
}

/** The body's messages when every one is a valid JSON-RPC message, else undefined. */
function parseMessages(body: unknown): JSONRPCMessage[] | undefined {
  const raw = Array.isArray(body) ? body : [body];
  const out: JSONRPCMessage[] = new Array<JSONRPCMessage>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const m = raw[i] as unknown;
    if (isPlainJsonRpc(m)) {
      out[i] = m;
      continue;
    }
    const parsed = JSONRPCMessageSchema.safeParse(m);
    if (!parsed.success) {
      return undefined;
    }
    out[i] = parsed.data;
  }
  return out;
}

const REQUEST_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);
const NOTIFICATION_KEYS = new Set(['jsonrpc', 'method', 'params']);
const RESULT_KEYS = new Set(['jsonrpc', 'id', 'result']);

/**
 * The common shapes checked without zod — a request, a notification or a result response exactly
 * as `JSONRPCMessageSchema` accepts them (strict top level, `jsonrpc: "2.0"`, id a string or a safe
 * integer, params/result an object) and carrying no `_meta` (whose fields have their own rules).
 * False means "not decided here": the caller then asks the SDK's zod schema, which has the last word.
 */
function isPlainJsonRpc(m: unknown): m is JSONRPCMessage {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) {
    return false;
  }
  const o = m as Record<string, unknown>;
  if (o.jsonrpc !== '2.0') {
    return false;
  }
  const hasId = 'id' in o;
  if (hasId && typeof o.id !== 'string' && !Number.isSafeInteger(o.id)) {
    return false;
  }
  let allowed: Set<string>;
  let payload: unknown;
  if (typeof o.method === 'string') {
    allowed = hasId ? REQUEST_KEYS : NOTIFICATION_KEYS;
    payload = o.params;
    if (payload === undefined && 'params' in o) {
      return false;
    }
  } else if (hasId && 'result' in o) {
    allowed = RESULT_KEYS;
    payload = o.result;
  } else {
    return false;
  }
  for (const k of Object.keys(o)) {
    if (!allowed.has(k)) {
      return false;
    }
  }
  if (payload === undefined) {
    return allowed !== RESULT_KEYS;
  }
  return (
    typeof payload === 'object' &&
    payload !== null &&
    !Array.isArray(payload) &&
    !Object.prototype.hasOwnProperty.call(payload, '_meta')
  );
}
