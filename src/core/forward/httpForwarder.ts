/**
 * stdio JSON-RPC lines → Streamable HTTP, the HTTP side of `agent-keyring bridge` and
 * `run --mcp --upstream`. Each client line is POSTed as it is (its bytes are the body); each
 * message the server sends back — a JSON body or the events of an SSE answer, and the session's
 * GET event stream — goes to the client as one line, its bytes unchanged (a message that holds a
 * line break is re-serialised once so the line framing stays intact; a batch is split into lines).
 *
 * Why not the SDK's `StreamableHTTPClientTransport`: it parses and zod-validates every message
 * both ways, goes through fetch/undici and Web streams, and reconnects on its own — measured at
 * 2× (one agent) to 6× (ten) the direct HTTP latency (bench/RESULTS.md). This is a lean HTTP/1.1
 * keep-alive client (`http1Client`: pre-built header block, framing parsed from the bytes), a scan for `id`/`method` (`jsonRpcPeek`) instead of a parse, and a full
 * parse only where a value is needed: the client's 2026-07-28 `_meta` (the era's headers) and the
 * answer to `initialize` (the negotiated protocol version).
 *
 * Both protocol eras (README.md, "Protocol eras"): a 2025-era `initialize` opens a session
 * (`Mcp-Session-Id`, then `MCP-Protocol-Version` on every request, and a GET event stream after
 * `notifications/initialized`); a 2026-07-28 message is sent with its era's headers
 * (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`) and no session. A JSON-RPC error the server
 * answers with an HTTP 4xx reaches the client as that error; any other failure of a request
 * becomes a JSON-RPC error (-32000) for it — the client is never left without an answer.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../ports';
import { Http1Client, headerLines, type Http1Pending } from './http1Client';
import { peekJsonRpc } from './jsonRpcPeek';

/** JSON-RPC error code for a request the forwarder could not deliver or get an answer for. */
export const FORWARD_ERROR_CODE = -32000;
const PROTOCOL_VERSION_META_KEY = 'io.modelcontextprotocol/protocolVersion';
const NAMED_METHODS = new Set(['tools/call', 'resources/read', 'prompts/get']);
const NETWORK_FAILURES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE']);
const RECONNECT_DELAYS_MS = [250, 500];
const POST_HEADERS = 'content-type: application/json\r\naccept: application/json, text/event-stream\r\n';
/** A session id as the spec allows (visible ASCII), so it can go into a header line as it is. */
const SESSION_ID = /^[\x21-\x7e]{1,256}$/;
/** On the end of stdin, requests still waiting for an answer get this long. */
const END_GRACE_MS = 1_000;

export interface HttpForwarderOptions {
  url: URL;
  /** Headers sent on every request (e.g. `Authorization: Bearer <agent token>`). */
  headers?: Record<string, string>;
  /** Headers asked for per request (a rotated credential is used on the next one). */
  dynamicHeaders?: () => Record<string, string>;
  /** Receives each message for the client as one line (`\n` included). */
  toClient: (line: Buffer) => void;
  logger: Logger;
  /** What an HTTP 401 means to the user. */
  unauthorizedHint: string;
  /** Applied to every diagnostic and error text (removes secrets the process knows). */
  scrub: (text: string) => string;
  /** The server is gone (refused connection, lost event stream): the forwarder stops. */
  onFatal: (why: string) => void;
}

interface Outgoing {
  /** The request's id (canonical JSON text) when it is a request; undefined for notifications and answers. */
  id: string | undefined;
  method: string | undefined;
  body: Buffer;
  /** 2026-07-28: the protocol version from `_meta`; such a message gets no session header. */
  modernVersion: string | undefined;
  name: string | undefined;
}

function clip(s: string, max: number): string {
  const one = s.replace(/[\r\n\t]/g, ' ');
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

/** Minimal `text/event-stream` reader: calls `onData` with each event's data. */
class SseReader {
  #text = '';
  #data: string[] = [];
  #event = '';

  constructor(private readonly onData: (data: string) => void) {}

  push(chunk: string): void {
    this.#text += chunk;
    let nl = this.#text.indexOf('\n');
    while (nl >= 0) {
      let line = this.#text.slice(0, nl);
      this.#text = this.#text.slice(nl + 1);
      if (line.endsWith('\r')) {
        line = line.slice(0, -1);
      }
      this.#line(line);
      nl = this.#text.indexOf('\n');
    }
  }

  #line(line: string): void {
    if (line === '') {
      if (this.#data.length > 0 && (this.#event === '' || this.#event === 'message')) {
        this.onData(this.#data.join('\n'));
      }
      this.#data = [];
      this.#event = '';
      return;
    }
    if (line.startsWith(':')) {
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'data') {
      this.#data.push(value);
    } else if (field === 'event') {
      this.#event = value;
    }
  }
}

export class HttpForwarder {
  readonly #opts: HttpForwarderOptions;
  readonly #client: Http1Client;
  #sessionId: string | undefined;
  #protocolVersion: string | undefined;
  /** Requests sent and not answered yet (id → abort). */
  readonly #inFlight = new Map<string, { method: string | undefined; req: Http1Pending }>();
  readonly #streams = new Set<Http1Pending>();
  #getStream: Http1Pending | undefined;
  #closing = false;

  constructor(opts: HttpForwarderOptions) {
    this.#opts = opts;
    // The fixed part of every request's head, built (and checked) once.
    this.#client = new Http1Client({ url: opts.url, headers: headerLines(opts.headers) });
  }

  /** Forwards one line from the client (a JSON-RPC message). */
  send(line: Buffer): void {
    if (this.#closing) {
      return;
    }
    let end = line.length;
    while (end > 0 && (line[end - 1] === 0x0a || line[end - 1] === 0x0d)) {
      end--;
    }
    if (end === 0) {
      return;
    }
    const body = line.subarray(0, end);
    const out = this.#describe(body);
    if (!out) {
      this.#opts.logger.warn(
        `bridge: bad input on stdin (not a JSON-RPC message object): ${this.#opts.scrub(clip(body.toString('utf8'), 80))}`,
      );
      return;
    }
    this.#post(out);
  }

  /**
   * Stops: waits (≤ 1 s) for requests still waiting for an answer when `graceful`, ends the
   * session (DELETE) when asked, and closes every connection.
   */
  async close(opts: { graceful: boolean; terminate: boolean }): Promise<void> {
    if (opts.graceful) {
      const deadline = Date.now() + END_GRACE_MS;
      while (
        [...this.#inFlight.values()].some((f) => f.method !== 'subscriptions/listen') &&
        Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    this.#closing = true;
    this.#getStream?.abort();
    for (const s of this.#streams) {
      s.abort();
    }
    for (const f of this.#inFlight.values()) {
      f.req.abort();
    }
    if (opts.terminate && this.#sessionId !== undefined) {
      let headers: string;
      try {
        headers = this.#headers(undefined);
      } catch {
        headers = '';
      }
      await new Promise<void>((resolve) => {
        this.#client.request(
          { method: 'DELETE', headers, timeoutMs: END_GRACE_MS },
          { onResponse: () => false, onEnd: () => resolve(), onError: () => resolve() },
        );
      });
    }
    this.#client.close();
  }

  // ---------------------------------------------------------------- client → server

  #describe(body: Buffer): Outgoing | undefined {
    const peek = peekJsonRpc(body);
    if (!peek) {
      return undefined;
    }
    const out: Outgoing = {
      id: peek.hasMethod ? peek.id : undefined,
      method: peek.method,
      body,
      modernVersion: undefined,
      name: undefined,
    };
    // Only a message that names the 2026-07-28 era in `_meta` is parsed, for that era's headers.
    if (peek.hasMethod && body.includes(PROTOCOL_VERSION_META_KEY)) {
      try {
        const m = JSON.parse(body.toString('utf8')) as {
          params?: { _meta?: Record<string, unknown>; name?: unknown; uri?: unknown };
        };
        const version = m.params?._meta?.[PROTOCOL_VERSION_META_KEY];
        if (typeof version === 'string') {
          out.modernVersion = version;
          const name = peek.method === 'resources/read' ? m.params?.uri : m.params?.name;
          if (typeof name === 'string' && peek.method !== undefined && NAMED_METHODS.has(peek.method)) {
            out.name = name;
          }
        }
      } catch {
        // Not JSON after all: the server answers it.
      }
    }
    return out;
  }

  /** The per-request header lines (the fixed ones are the client's); throws for a bad value. */
  #headers(out: Outgoing | undefined): string {
    let h = this.#opts.dynamicHeaders ? headerLines(this.#opts.dynamicHeaders()) : '';
    if (out?.modernVersion !== undefined) {
      h += headerLines({ 'mcp-protocol-version': out.modernVersion });
      if (out.method !== undefined) {
        h += headerLines({ 'mcp-method': out.method });
      }
      if (out.name !== undefined) {
        h += headerLines({ 'mcp-name': out.name });
      }
      return h;
    }
    if (this.#sessionId !== undefined) {
      h += `mcp-session-id: ${this.#sessionId}\r\n`;
    }
    if (this.#protocolVersion !== undefined) {
      h += `mcp-protocol-version: ${this.#protocolVersion}\r\n`;
    }
    return h;
  }

  #post(out: Outgoing, retried = false): void {
    let answered = false;
    const deliver = (line: Buffer, id: string | undefined): void => {
      if (out.id !== undefined && id === out.id) {
        answered = true;
        this.#inFlight.delete(out.id);
      }
      if (!this.#closing) {
        this.#opts.toClient(line);
      }
    };
    const fail = (reason: string): void => {
      if (out.id !== undefined) {
        this.#inFlight.delete(out.id);
      }
      this.#opts.logger.warn(`bridge: could not forward ${out.method ?? 'a response'}: ${reason}`);
      if (out.id !== undefined && !answered && !this.#closing) {
        answered = true;
        this.#errorToClient(out.id, `Agent Keyring bridge: ${reason}`);
      }
    };
    let headers: string;
    try {
      headers = this.#headers(out) + POST_HEADERS;
    } catch (e) {
      fail(this.#opts.scrub(clip((e as Error).message, 300)));
      return;
    }
    let status = 0;
    let sse: SseReader | undefined;
    let decoder: StringDecoder | undefined;
    const req = this.#client.request(
      { method: 'POST', headers, body: out.body },
      {
        onResponse: (res) => {
          status = res.status;
          const sid = res.headers['mcp-session-id'];
          if (sid !== undefined && out.modernVersion === undefined && SESSION_ID.test(sid)) {
            this.#sessionId = sid;
          }
          const type = res.headers['content-type'] ?? '';
          if (status === 202 || (status >= 200 && status < 300 && out.id === undefined && !type)) {
            status = 202;
            return false;
          }
          if (status >= 200 && status < 300 && type.includes('text/event-stream')) {
            this.#streams.add(req);
            decoder = new StringDecoder('utf8');
            sse = new SseReader((data) => this.#fromServer(Buffer.from(data), deliver));
            return true;
          }
          return false;
        },
        onChunk: (chunk) => sse?.push(decoder?.write(chunk) ?? ''),
        onError: (e) => {
          this.#streams.delete(req);
          if (this.#closing) {
            return;
          }
          if (sse) {
            if (!answered) {
              fail('the event stream broke before the answer; retry the request');
            }
            return;
          }
          if (e.retryable && !retried) {
            // A kept-alive connection the server closed just then: it never took the request.
            this.#post(out, true);
            return;
          }
          const reason = this.#opts.scrub(clip(e.message, 300));
          fail(reason);
          if (NETWORK_FAILURES.has(e.code)) {
            this.#opts.onFatal(
              `bridge: the server at ${this.#opts.url.href} is not reachable (${reason}). Start it, then restart the client.`,
            );
          }
        },
        onEnd: (text) => {
          if (status === 202) {
            if (out.method === 'notifications/initialized' && this.#sessionId !== undefined) {
              this.#openEventStream(0);
            }
            return;
          }
          if (sse) {
            this.#streams.delete(req);
            if (!answered) {
              fail('the server ended its event stream before answering; retry the request');
            }
            return;
          }
          if (status >= 200 && status < 300) {
            if (out.method === 'initialize' && out.modernVersion === undefined) {
              this.#noteProtocolVersion(text);
            }
            this.#fromServer(text, deliver);
          } else if (status === 401) {
            fail(this.#opts.unauthorizedHint);
          } else if (status === 403) {
            fail(
              `the server refused the request (HTTP 403): is ${this.#opts.url.host} the server's own loopback address?`,
            );
          } else {
            // A JSON-RPC error answered with an HTTP error status goes to the client as that error.
            const peek = peekJsonRpc(text);
            if (peek && out.id !== undefined && peek.id === out.id && text.includes('"error"')) {
              this.#fromServer(text, deliver);
            } else {
              fail(
                `HTTP ${status} from ${this.#opts.url.host}: ${this.#opts.scrub(clip(text.toString('utf8'), 300))}`,
              );
            }
          }
          if (out.id !== undefined && !answered) {
            fail(`the server's answer (HTTP ${status}) held no answer to this request; retry it`);
          }
        },
      },
    );
    if (out.id !== undefined && !answered) {
      this.#inFlight.set(out.id, { method: out.method, req });
    }
  }

  #noteProtocolVersion(text: Buffer): void {
    try {
      const v = (JSON.parse(text.toString('utf8')) as { result?: { protocolVersion?: unknown } }).result
        ?.protocolVersion;
      // Goes into a header line as it is: visible ASCII only (the spec's versions are dates).
      if (typeof v === 'string' && SESSION_ID.test(v)) {
        this.#protocolVersion = v;
      }
    } catch {
      // Not JSON: passed on, and the client will see it is not an answer.
    }
  }

  // ---------------------------------------------------------------- server → client

  /** One message (or batch) from the server to the client, as line(s). */
  #fromServer(text: Buffer, deliver: (line: Buffer, id: string | undefined) => void): void {
    let start = 0;
    while (start < text.length && (text[start] === 0x20 || text[start] === 0x0a || text[start] === 0x0d)) {
      start++;
    }
    if (start === text.length) {
      return;
    }
    const peek = text.indexOf(0x0a, start) < 0 ? peekJsonRpc(text.subarray(start)) : undefined;
    if (peek) {
      // The common case: one message on one line — its bytes as they are.
      deliver(Buffer.concat([text.subarray(start), NEWLINE]), peek.id);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text.toString('utf8'));
    } catch {
      this.#opts.logger.warn(
        `bridge: the server sent something that is not JSON-RPC; not passed on: ${this.#opts.scrub(clip(text.toString('utf8'), 80))}`,
      );
      return;
    }
    for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
      if (m && typeof m === 'object' && !Array.isArray(m)) {
        const id = (m as { id?: unknown }).id;
        deliver(Buffer.from(`${JSON.stringify(m)}\n`), id === undefined ? undefined : JSON.stringify(id));
      }
    }
  }

  #errorToClient(id: string, message: string): void {
    const error = JSON.stringify({ code: FORWARD_ERROR_CODE, message: this.#opts.scrub(message) });
    this.#opts.toClient(Buffer.from(`{"jsonrpc":"2.0","id":${id},"error":${error}}\n`));
  }

  /** The session's GET event stream (server → client notifications), reopened twice if it drops. */
  #openEventStream(attempt: number): void {
    if (this.#closing || this.#sessionId === undefined) {
      return;
    }
    let headers: string;
    try {
      headers = `${this.#headers(undefined)}accept: text/event-stream\r\n`;
    } catch (e) {
      this.#opts.logger.warn(`bridge: no event stream: ${this.#opts.scrub(clip((e as Error).message, 300))}`);
      return;
    }
    let streaming = false;
    const lost = (why: string): void => {
      if (this.#closing || this.#getStream !== req) {
        return;
      }
      this.#getStream = undefined;
      if (attempt < RECONNECT_DELAYS_MS.length) {
        setTimeout(() => this.#openEventStream(attempt + 1), RECONNECT_DELAYS_MS[attempt]).unref();
        return;
      }
      this.#opts.onFatal(
        `bridge: lost the connection to ${this.#opts.url.href} (the server stopped? ${why}). Restart the client once the server is back.`,
      );
    };
    const decoder = new StringDecoder('utf8');
    const sse = new SseReader((data) =>
      this.#fromServer(Buffer.from(data), (line) => !this.#closing && this.#opts.toClient(line)),
    );
    const req: Http1Pending = this.#client.request(
      { method: 'GET', headers },
      {
        onResponse: (res) => {
          const status = res.status;
          if (status === 405) {
            // The server offers no event stream: nothing to listen to.
            this.#getStream = undefined;
            return false;
          }
          if (status < 200 || status >= 300) {
            // Session gone (404) or refused: reconnecting cannot bring it back.
            attempt = RECONNECT_DELAYS_MS.length;
            lost(`HTTP ${status}`);
            return false;
          }
          attempt = 0;
          streaming = true;
          return true;
        },
        onChunk: (chunk) => sse.push(decoder.write(chunk)),
        onEnd: () => {
          if (streaming) {
            lost('event stream ended');
          }
        },
        onError: (e) => lost(streaming ? 'event stream broke' : e.code),
      },
    );
    this.#getStream = req;
  }
}

const NEWLINE = Buffer.from('\n');
