// A minimal HTTP/1.1 keep-alive client over one `net.Socket`, for the load generator.
//
// Why not `http.request`: Node's HTTP client costs ~0.1 ms of CPU per request (agent bookkeeping,
// IncomingMessage/ClientRequest objects, stream machinery). On a 2-core machine where the load
// generator shares the cores with the server, that made the generator — not the server — the
// bottleneck: the plain-`node:http` "limit" server measured ~7,000 calls/s with it, against
// ~45,000 with autocannon. This client writes one pre-built header block + body per request and
// parses the answer with indexOf on the bytes: status line, `content-length` or chunked framing
// (SDK SSE responses are chunked), and the few headers the bench needs. One request in flight per
// connection (no pipelining), exactly like an MCP client over keep-alive.
import * as net from 'node:net';

const CRLF_CRLF = Buffer.from('\r\n\r\n');

/**
 * One keep-alive connection. `request()` resolves with { status, headers, body: Buffer }; headers
 * holds lower-cased names of `content-type`, `mcp-session-id` and `connection` only.
 */
export class RawHttpConnection {
  #socket;
  #host;
  #port;
  #buf = Buffer.alloc(0);
  #pending; // { resolve, reject, timer }
  #closed = false;
  #timeoutMs;

  constructor(url, { timeoutMs = 30_000 } = {}) {
    this.#host = url.hostname;
    this.#port = Number(url.port);
    this.#timeoutMs = timeoutMs;
  }

  async connect() {
    await new Promise((resolve, reject) => {
      const s = net.connect({ host: this.#host, port: this.#port, noDelay: true });
      s.once('connect', resolve);
      s.once('error', reject);
      this.#socket = s;
    });
    this.#socket.on('data', (chunk) => this.#onData(chunk));
    this.#socket.on('error', (e) => this.#fail(e));
    this.#socket.on('close', () => {
      this.#closed = true;
      this.#fail(new Error('connection closed by the server'));
    });
  }

  /**
   * Sends `head` (request line + headers, WITHOUT content-length and the blank line) and `body`.
   * @param {string} head
   * @param {string} body
   */
  request(head, body) {
    if (this.#closed) {
      return Promise.reject(new Error('connection is closed'));
    }
    if (this.#pending) {
      return Promise.reject(new Error('one request at a time per connection'));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.#fail(new Error(`no answer within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
      this.#pending = { resolve, reject, timer };
      this.#socket.write(`${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  }

  close() {
    this.#closed = true;
    this.#socket?.destroy();
  }

  #fail(e) {
    const p = this.#pending;
    if (p) {
      this.#pending = undefined;
      clearTimeout(p.timer);
      p.reject(e);
    }
  }

  #onData(chunk) {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const p = this.#pending;
    if (!p) {
      // Bytes nobody asked for: a protocol error on this connection.
      this.#buf = Buffer.alloc(0);
      return;
    }
    let parsed;
    try {
      parsed = parseResponse(this.#buf);
    } catch (e) {
      this.#buf = Buffer.alloc(0);
      this.#fail(e);
      this.close();
      return;
    }
    if (!parsed) {
      return; // incomplete: wait for more bytes
    }
    this.#buf = this.#buf.subarray(parsed.consumed);
    this.#pending = undefined;
    clearTimeout(p.timer);
    p.resolve(parsed.response);
    if (parsed.response.headers.connection === 'close') {
      this.close();
    }
  }
}

/**
 * Parses one HTTP/1.1 response at the start of `buf`. Returns undefined when more bytes are
 * needed, else { response, consumed }. Throws on framing it does not support.
 */
export function parseResponse(buf) {
  const headEnd = buf.indexOf(CRLF_CRLF);
  if (headEnd < 0) {
    return undefined;
  }
  const head = buf.toString('latin1', 0, headEnd);
  const lines = head.split('\r\n');
  const status = Number(lines[0].slice(9, 12));
  if (!lines[0].startsWith('HTTP/1.') || !Number.isInteger(status)) {
    throw new Error(`not an HTTP/1.x response: ${lines[0].slice(0, 40)}`);
  }
  const headers = {};
  let contentLength;
  let chunked = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon < 0) {
      continue;
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') {
      contentLength = Number(value);
    } else if (name === 'transfer-encoding') {
      chunked = value.toLowerCase().includes('chunked');
    } else if (name === 'content-type' || name === 'mcp-session-id' || name === 'connection') {
      headers[name] = name === 'connection' ? value.toLowerCase() : value;
    }
  }
  const bodyStart = headEnd + 4;
  if (chunked) {
    const parts = [];
    let pos = bodyStart;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos, 'latin1');
      if (lineEnd < 0) {
        return undefined;
      }
      const size = parseInt(buf.toString('latin1', pos, lineEnd), 16);
      if (!Number.isFinite(size)) {
        throw new Error('bad chunk size');
      }
      const dataStart = lineEnd + 2;
      if (size === 0) {
        // Last chunk; no trailers expected: the final CRLF.
        if (buf.length < dataStart + 2) {
          return undefined;
        }
        return {
          response: { status, headers, body: Buffer.concat(parts) },
          consumed: dataStart + 2,
        };
      }
      if (buf.length < dataStart + size + 2) {
        return undefined;
      }
      parts.push(buf.subarray(dataStart, dataStart + size));
      pos = dataStart + size + 2;
    }
  }
  const length = contentLength ?? 0; // 1xx/204/304 or bodiless 202: no body
  if (buf.length < bodyStart + length) {
    return undefined;
  }
  return {
    response: { status, headers, body: buf.subarray(bodyStart, bodyStart + length) },
    consumed: bodyStart + length,
  };
}

/** The request line + fixed headers for `method` on `url` (ends with CRLF, no blank line). */
export function requestHead(method, url, headers) {
  let head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\nconnection: keep-alive\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    head += `${k}: ${v}\r\n`;
  }
  return head;
}
