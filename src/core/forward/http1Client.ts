/**
 * A lean HTTP/1.1 keep-alive client for the forwarding path (`agent-keyring bridge`,
 * `run --mcp --upstream`): one pre-built header block per request, the answer framed from the
 * bytes (status line, `content-length`, chunked, or until close) by an incremental parser, idle
 * connections kept and reused.
 *
 * Why not `node:http`: its `ClientRequest`/`IncomingMessage` objects, header validation and
 * stream plumbing per message were the bridge's largest own cost in a CPU profile (bench/RESULTS.md,
 * "Forwarding and brokered calls"). A forwarded MCP message needs none of that: a POST whose body
 * is the line's bytes, and a JSON body or an SSE stream back.
 *
 * One request per connection at a time (no pipelining). A response is collected whole (capped) or,
 * when `onResponse` asks for it, handed on chunk by chunk (SSE). Every failure — refused
 * connection, a connection closed mid-answer, a response that is not HTTP/1.x, a head or body over
 * its cap, a timeout — reaches `onError` once, with a message that says what happened and never
 * holds a header value.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { FORWARD_MAX_RESPONSE_BYTES, FORWARD_MAX_RESPONSE_HEAD_BYTES } from '../limits';

/** Idle keep-alive connections are closed after this (below Node's server default of 5 s, so the
 *  client, not the server, closes an idle connection and a request never races the server's close). */
const IDLE_MS = 4_000;
const CRLF = 0x0a;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

export class Http1Error extends Error {
  /** `ECONNREFUSED`, `ECONNRESET`, … for network failures; `EPROTO` for a bad answer; `ETIMEDOUT`. */
  readonly code: string;
  /**
   * The request went out on a reused keep-alive connection that the server closed before any byte
   * of an answer: the server never took it, so it may be sent again on a new connection.
   */
  retryable = false;

  constructor(message: string, code: string) {
    super(message);
    this.name = 'Http1Error';
    this.code = code;
  }
}

export interface Http1Response {
  status: number;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
}

export interface Http1Handlers {
  /** The head arrived. Return true to get the body through `onChunk` as it arrives. */
  onResponse(res: Http1Response): boolean;
  onChunk?(chunk: Buffer): void;
  /** The answer is complete: its whole body (empty when it was streamed). */
  onEnd(body: Buffer): void;
  onError(e: Http1Error): void;
}

export interface Http1Request {
  method: string;
  /** Path and query (default: the client's URL's). */
  path?: string;
  /** Extra header lines, each `name: value\r\n` (see `headerLines`). */
  headers: string;
  body?: Buffer;
  /** Fails the request with ETIMEDOUT when it has no complete answer by then (default: none). */
  timeoutMs?: number;
}

export interface Http1ClientOptions {
  url: URL;
  /** Header lines sent on every request (see `headerLines`). */
  headers?: string;
  /** TLS options for https (e.g. `ca`); the system's CAs and NODE_EXTRA_CA_CERTS apply by default. */
  tls?: tls.ConnectionOptions;
  maxResponseBytes?: number;
}

/**
 * `name: value\r\n` lines for `headers`; throws for a name that is not an HTTP token or a value
 * with a line break or control character (the message names the header, never its value).
 */
export function headerLines(headers: Record<string, string> | undefined): string {
  let out = '';
  if (headers) {
    for (const name of Object.keys(headers)) {
      const value = headers[name];
      if (!HEADER_NAME.test(name)) {
        throw new Http1Error(`'${name.slice(0, 40)}' is not a valid HTTP header name`, 'EINVAL');
      }
      if (BAD_HEADER_VALUE.test(value)) {
        throw new Http1Error(
          `the value of header '${name}' holds a line break or control character; fix the value`,
          'EINVAL',
        );
      }
      out += `${name}: ${value}\r\n`;
    }
  }
  return out;
}

/** What `Http1Client.request` returns: `abort()` drops the request and its connection. */
export interface Http1Pending {
  abort(): void;
}

export class Http1Client {
  readonly #host: string;
  readonly #port: number;
  readonly #secure: boolean;
  readonly #tls: tls.ConnectionOptions | undefined;
  readonly #path: string;
  readonly #hostLine: string;
  readonly #fixed: string;
  readonly #maxBody: number;
  readonly #idle: Connection[] = [];
  readonly #busy = new Set<Connection>();
  #closed = false;

  constructor(opts: Http1ClientOptions) {
    const { url } = opts;
    this.#secure = url.protocol === 'https:';
    this.#host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.#port = url.port ? Number(url.port) : this.#secure ? 443 : 80;
    this.#tls = opts.tls;
    this.#path = `${url.pathname}${url.search}`;
    this.#hostLine = ` HTTP/1.1\r\nhost: ${url.host}\r\n`;
    this.#fixed = opts.headers ?? '';
    this.#maxBody = opts.maxResponseBytes ?? FORWARD_MAX_RESPONSE_BYTES;
  }

  /** Open connections (idle + busy), for tests. */
  get connections(): number {
    return this.#idle.filter((c) => !c.dead).length + this.#busy.size;
  }

  request(req: Http1Request, handlers: Http1Handlers): Http1Pending {
    if (this.#closed) {
      const e = new Http1Error('the client is closed', 'ECANCELED');
      queueMicrotask(() => handlers.onError(e));
      return { abort: () => undefined };
    }
    let conn = this.#idle.pop();
    while (conn && conn.dead) {
      conn = this.#idle.pop();
    }
    if (!conn) {
      conn = new Connection(this.#connect(), this.#maxBody, (c) => this.#release(c));
    }
    this.#busy.add(conn);
    const body = req.body;
    const head =
      `${req.method} ${req.path ?? this.#path}${this.#hostLine}${this.#fixed}${req.headers}` +
      (body !== undefined ? `content-length: ${body.length}\r\n\r\n` : '\r\n');
    conn.send(req.method, head, body, handlers, req.timeoutMs);
    const c = conn;
    return { abort: () => c.abort() };
  }

  /** Closes every connection; requests in flight fail with ECANCELED. */
  close(): void {
    this.#closed = true;
    for (const c of this.#idle.splice(0)) {
      c.destroy();
    }
    for (const c of [...this.#busy]) {
      c.cancel();
    }
    this.#busy.clear();
  }

  #connect(): net.Socket {
    if (this.#secure) {
      const s = tls.connect({
        host: this.#host,
        port: this.#port,
        ...(net.isIP(this.#host) === 0 ? { servername: this.#host } : {}),
        ALPNProtocols: ['http/1.1'],
        ...this.#tls,
      });
      s.setNoDelay(true);
      return s;
    }
    return net.connect({ host: this.#host, port: this.#port, noDelay: true });
  }

  #release(c: Connection): void {
    this.#busy.delete(c);
    if (c.dead) {
      const i = this.#idle.indexOf(c);
      if (i >= 0) {
        this.#idle.splice(i, 1);
      }
    } else if (!this.#closed) {
      this.#idle.push(c);
    }
  }
}

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
  Done,
}

/** One socket; one request at a time. */
class Connection {
  readonly #socket: net.Socket;
  readonly #maxBody: number;
  readonly #onIdle: (c: Connection) => void;
  #dead = false;
  #handlers: Http1Handlers | undefined;
  #method = '';
  #timer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  // parser state
  #state = State.Done;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #remaining = 0;
  #stream = false;
  #body: Buffer[] = [];
  #bodyBytes = 0;
  #keepAlive = true;
  #status = 0;
  /** Answers completed on this connection (more than 0: a reused connection). */
  #served = 0;
  /** Bytes of the current answer received so far. */
  #received = 0;

  constructor(socket: net.Socket, maxBody: number, onIdle: (c: Connection) => void) {
    this.#socket = socket;
    this.#maxBody = maxBody;
    this.#onIdle = onIdle;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      const err = new Http1Error(e.code ? `${e.message} (${e.code})` : e.message, e.code ?? 'ECONNRESET');
      err.retryable =
        this.#served > 0 && this.#received === 0 && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
      this.#fail(err);
    });
    socket.on('close', () => {
      this.#dead = true;
      clearTimeout(this.#idleTimer);
      if (this.#state === State.UntilClose) {
        this.#complete();
        return;
      }
      const e = new Http1Error(
        'the server closed the connection before its answer was complete',
        'ECONNRESET',
      );
      e.retryable = this.#served > 0 && this.#received === 0;
      this.#fail(e);
    });
  }

  get dead(): boolean {
    return this.#dead;
  }

  send(
    method: string,
    head: string,
    body: Buffer | undefined,
    handlers: Http1Handlers,
    timeoutMs: number | undefined,
  ): void {
    clearTimeout(this.#idleTimer);
    this.#handlers = handlers;
    this.#method = method;
    this.#state = State.Head;
    this.#keepAlive = true;
    this.#stream = false;
    this.#body = [];
    this.#bodyBytes = 0;
    this.#received = 0;
    if (timeoutMs !== undefined) {
      this.#timer = setTimeout(
        () => this.#fail(new Http1Error(`no complete answer within ${timeoutMs} ms`, 'ETIMEDOUT')),
        timeoutMs,
      );
    }
    if (body === undefined || body.length === 0) {
      this.#socket.write(head, 'latin1');
    } else if (body.length < 16_384) {
      this.#socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body]));
    } else {
      this.#socket.cork();
      this.#socket.write(head, 'latin1');
      this.#socket.write(body);
      this.#socket.uncork();
    }
  }

  /** Drops the request without calling back (the caller gave up on it). */
  abort(): void {
    this.#fail(new Http1Error('the request was cancelled', 'ECANCELED'), true);
  }

  /** Fails the request in flight with ECANCELED (the client is closing). */
  cancel(): void {
    this.#fail(new Http1Error('the client was closed before the answer arrived', 'ECANCELED'));
  }

  destroy(): void {
    this.#dead = true;
    clearTimeout(this.#idleTimer);
    this.#socket.destroy();
  }

  /** Fails the request in flight (once) and drops the connection. */
  #fail(e: Http1Error, quiet = false): void {
    const h = this.#handlers;
    this.#handlers = undefined;
    clearTimeout(this.#timer);
    this.#state = State.Done;
    this.destroy();
    this.#onIdle(this);
    if (h && !quiet) {
      h.onError(e);
    }
  }

  #protocolError(what: string): void {
    this.#fail(new Http1Error(`the server's answer is not valid HTTP/1.1: ${what}`, 'EPROTO'));
  }

  #onData(chunk: Buffer): void {
    this.#received += chunk.length;
    if (!this.#handlers) {
      // Bytes nobody asked for (an idle connection): it cannot be trusted for the next request.
      this.destroy();
      return;
    }
    let buf = chunk;
    let pos = 0;
    while (pos < buf.length && this.#handlers) {
      switch (this.#state) {
        case State.Head: {
          const joined = this.#take(buf, pos);
          const end = findHeadEnd(joined, Math.max(0, this.#pendingBytes - 3));
          if (end < 0) {
            this.#pending = [joined];
            this.#pendingBytes = joined.length;
            if (this.#pendingBytes > FORWARD_MAX_RESPONSE_HEAD_BYTES) {
              this.#protocolError(`its head is larger than ${FORWARD_MAX_RESPONSE_HEAD_BYTES} bytes`);
            }
            return;
          }
          this.#clearPending();
          if (end > FORWARD_MAX_RESPONSE_HEAD_BYTES) {
            this.#protocolError(`its head is larger than ${FORWARD_MAX_RESPONSE_HEAD_BYTES} bytes`);
            return;
          }
          if (!this.#parseHead(joined.toString('latin1', 0, end))) {
            return;
          }
          buf = joined;
          pos = end + 4;
          break;
        }
        case State.Length: {
          const n = Math.min(this.#remaining, buf.length - pos);
          this.#data(buf.subarray(pos, pos + n));
          pos += n;
          this.#remaining -= n;
          if (this.#remaining === 0 && this.#handlers) {
            this.#complete();
            return;
          }
          break;
        }
        case State.ChunkSize:
        case State.Trailers: {
          const nl = buf.indexOf(CRLF, pos);
          if (nl < 0) {
            this.#pending.push(buf.subarray(pos));
            this.#pendingBytes += buf.length - pos;
            if (this.#pendingBytes > 1024) {
              this.#protocolError('a chunk-size or trailer line is too long');
            }
            return;
          }
          let line = buf.toString('latin1', pos, nl);
          if (this.#pending.length > 0) {
            line = Buffer.concat(this.#pending).toString('latin1') + line;
            this.#clearPending();
          }
          pos = nl + 1;
          if (line.endsWith('\r')) {
            line = line.slice(0, -1);
          }
          if (this.#state === State.Trailers) {
            if (line === '') {
              this.#complete();
              return;
            }
            break;
          }
          const semi = line.indexOf(';');
          const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
          if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) {
            this.#protocolError(`bad chunk size '${hex.slice(0, 20)}'`);
            return;
          }
          const size = parseInt(hex, 16);
          if (size === 0) {
            this.#state = State.Trailers;
          } else {
            this.#remaining = size;
            this.#state = State.ChunkData;
          }
          break;
        }
        case State.ChunkData: {
          const n = Math.min(this.#remaining, buf.length - pos);
          this.#data(buf.subarray(pos, pos + n));
          pos += n;
          this.#remaining -= n;
          if (this.#remaining === 0) {
            this.#state = State.ChunkEnd;
            this.#remaining = 2;
          }
          break;
        }
        case State.ChunkEnd: {
          // The CRLF after a chunk's data (read byte by byte: it may be split across reads).
          const b = buf[pos];
          if ((this.#remaining === 2 && b !== 0x0d) || (this.#remaining === 1 && b !== 0x0a)) {
            this.#protocolError('a chunk is longer than its size says');
            return;
          }
          pos++;
          this.#remaining--;
          if (this.#remaining === 0) {
            this.#state = State.ChunkSize;
          }
          break;
        }
        case State.UntilClose:
          this.#data(buf.subarray(pos));
          pos = buf.length;
          break;
        case State.Done:
          // More bytes after a complete answer: not a keep-alive server we can trust.
          this.destroy();
          return;
      }
    }
  }

  /** The bytes kept from earlier reads joined with the rest of this one. */
  #take(buf: Buffer, pos: number): Buffer {
    const rest = pos === 0 ? buf : buf.subarray(pos);
    return this.#pending.length === 0 ? rest : Buffer.concat([...this.#pending, rest]);
  }

  #clearPending(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
  }

  /** Returns false when the answer is complete or the connection failed (nothing more to parse). */
  #parseHead(head: string): boolean {
    const lines = head.split('\r\n');
    const statusLine = lines[0];
    const m = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(statusLine);
    if (!m) {
      this.#protocolError(`status line '${statusLine.slice(0, 40).replace(/[^\x20-\x7e]/g, '?')}'`);
      return false;
    }
    const status = Number(m[2]);
    const headers: Record<string, string> = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(':');
      if (colon <= 0) {
        this.#protocolError('a header line without a name');
        return false;
      }
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    if (status >= 100 && status < 200) {
      // 1xx (e.g. 100 Continue): the real answer follows.
      this.#state = State.Head;
      return true;
    }
    const connection = (headers.connection ?? '').toLowerCase();
    this.#keepAlive = m[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive');
    this.#status = status;
    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    if (this.#method === 'HEAD' || status === 204 || status === 304) {
      this.#state = State.Length;
      this.#remaining = 0;
    } else if (te !== undefined && te.toLowerCase().includes('chunked')) {
      this.#state = State.ChunkSize;
    } else if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) {
        this.#protocolError(`content-length '${cl.slice(0, 20)}'`);
        return false;
      }
      this.#remaining = Number(cl);
      this.#state = State.Length;
    } else {
      this.#state = State.UntilClose;
      this.#keepAlive = false;
    }
    const h = this.#handlers;
    if (!h) {
      return false;
    }
    this.#stream = h.onResponse({ status, headers }) === true;
    if (!this.#handlers) {
      return false;
    }
    if (this.#state === State.Length && this.#remaining > this.#maxBody && !this.#stream) {
      this.#tooLarge();
      return false;
    }
    if (this.#state === State.Length && this.#remaining === 0) {
      this.#complete();
      return false;
    }
    return true;
  }

  #tooLarge(): void {
    this.#fail(
      new Http1Error(
        `the server's answer (HTTP ${this.#status}) is larger than ${this.#maxBody} bytes; not passed on`,
        'E2BIG',
      ),
    );
  }

  #data(part: Buffer): void {
    if (part.length === 0) {
      return;
    }
    if (this.#stream) {
      this.#handlers?.onChunk?.(part);
      return;
    }
    this.#bodyBytes += part.length;
    if (this.#bodyBytes > this.#maxBody) {
      this.#tooLarge();
      return;
    }
    this.#body.push(part);
  }

  #complete(): void {
    const h = this.#handlers;
    this.#handlers = undefined;
    clearTimeout(this.#timer);
    this.#state = State.Done;
    this.#served++;
    const body = this.#body.length === 1 ? this.#body[0] : Buffer.concat(this.#body);
    this.#body = [];
    if (!this.#keepAlive) {
      this.destroy();
    } else if (!this.#dead) {
      this.#idleTimer = setTimeout(() => this.destroy(), IDLE_MS);
      this.#idleTimer.unref();
    }
    this.#onIdle(this);
    h?.onEnd(body);
  }
}

/** Index of `\r\n\r\n` in `buf` at or after `from`, or -1. */
function findHeadEnd(buf: Buffer, from: number): number {
  return buf.indexOf('\r\n\r\n', from, 'latin1');
}
