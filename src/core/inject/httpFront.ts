/**
 * The local-HTTP front of `agent-keyring run --mcp --upstream URL --listen 127.0.0.1:PORT`: a
 * Streamable HTTP MCP endpoint on loopback (`http://127.0.0.1:PORT/mcp`) that forwards every
 * request to the upstream MCP server with the credential's header added, asked for per request
 * (a rotated value is used from the next request on). Bodies and answers (JSON or an SSE stream)
 * are piped through unchanged.
 *
 * Protected from other local processes like the keyring's own server: it binds loopback only,
 * accepts only a loopback `Host` (DNS rebinding) and no foreign `Origin`, and every request must
 * carry `Authorization: Bearer <token>` — the agent token `run` itself was started with, so only
 * a process that could fetch the credential anyway may use the front. That header is never
 * forwarded; the upstream gets only the headers `--header` names plus the MCP ones.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Logger } from '../ports';

/** The path the front serves. */
export const FRONT_PATH = '/mcp';
/** Request headers passed on to the upstream (besides the configured ones). */
const FORWARDED_REQUEST_HEADERS = [
  'content-type',
  'accept',
  'mcp-session-id',
  'mcp-protocol-version',
  'mcp-method',
  'mcp-name',
  'last-event-id',
];
/** Response headers that belong to one connection, not to the answer. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
]);
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export interface HttpFrontOptions {
  /** Loopback address to bind (checked by the caller: 127.0.0.1, ::1 or localhost). */
  host: string;
  /** 0: any free port. */
  port: number;
  upstream: URL;
  /** The bearer token a local client must send. */
  token: string;
  /** The upstream headers with the credential's current value (asked for per request). */
  headers: () => Record<string, string>;
  logger: Logger;
  /** Applied to diagnostics (removes secrets the process knows). */
  scrub: (text: string) => string;
}

export interface HttpFront {
  /** `http://127.0.0.1:PORT/mcp`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function refuse(res: http.ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message } });
  res.writeHead(status, {
    'content-type': 'application/json',
    ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}),
  });
  res.end(body);
}

/** The `Host` header names this front on loopback (any port spelling is compared exactly). */
function hostIsOurs(host: string | undefined, port: number): boolean {
  if (!host) {
    return false;
  }
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host.toLowerCase());
  return m !== null && LOOPBACK_HOSTS.has(m[1]) && Number(m[2] ?? '80') === port;
}

function originIsLoopback(origin: string): boolean {
  try {
    return LOOPBACK_HOSTS.has(new URL(origin).hostname.toLowerCase());
  } catch {
    return false;
  }
}

/**
 * Starts the front. @throws an Error with `code` `EADDRINUSE` (or another listen error) when the
 * port cannot be bound.
 */
export async function startHttpFront(opts: HttpFrontOptions): Promise<HttpFront> {
  const expected = digest(`Bearer ${opts.token}`);
  const secure = opts.upstream.protocol === 'https:';
  const agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  const request = secure ? https.request : http.request;
  let port = opts.port;

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (!hostIsOurs(req.headers.host, port)) {
      refuse(res, 403, `The Host header must be this front's loopback address (127.0.0.1:${port}).`);
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !originIsLoopback(origin)) {
      refuse(res, 403, 'Requests from web pages of other origins are refused.');
      return;
    }
    const auth = req.headers.authorization ?? '';
    if (!timingSafeEqual(digest(auth), expected)) {
      refuse(
        res,
        401,
        "Send this agent's token as 'Authorization: Bearer <token>' (the token agent-keyring run was started with).",
      );
      return;
    }
    if (path !== FRONT_PATH) {
      refuse(res, 404, `Not found: the MCP endpoint is ${FRONT_PATH}.`);
      return;
    }
    if (req.method !== 'POST' && req.method !== 'GET' && req.method !== 'DELETE') {
      res.setHeader('allow', 'GET, POST, DELETE');
      refuse(res, 405, 'Method not allowed: use POST, GET or DELETE.');
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const v = req.headers[name];
      if (typeof v === 'string') {
        headers[name] = v;
      }
    }
    if (req.headers['content-length'] !== undefined) {
      headers['content-length'] = req.headers['content-length'];
    }
    Object.assign(headers, opts.headers());
    const up = request(opts.upstream, { method: req.method, headers, agent });
    up.on('response', (upRes) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(upRes.headers)) {
        if (v !== undefined && !HOP_BY_HOP.has(k)) {
          out[k] = v;
        }
      }
      res.writeHead(upRes.statusCode ?? 502, out);
      res.flushHeaders();
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
    });
    up.on('error', (e: NodeJS.ErrnoException) => {
      opts.logger.warn(
        `run --listen: the upstream ${opts.upstream.host} failed (${opts.scrub(e.code ?? e.message)})`,
      );
      if (!res.headersSent) {
        refuse(
          res,
          502,
          `The upstream MCP server at ${opts.upstream.host} could not be reached (${e.code ?? 'error'}); check that it is up, then retry.`,
        );
      } else {
        res.destroy();
      }
    });
    // The client went away (e.g. closed its event stream): so does the upstream request.
    res.on('close', () => {
      if (!res.writableFinished) {
        up.destroy();
      }
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : opts.port;
  const hostPart = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${hostPart}:${port}${FRONT_PATH}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
