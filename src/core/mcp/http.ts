/**
 * The Streamable HTTP host: plain `node:http` on a loopback address, path `/mcp`, one MCP session
 * (transport + {@link createCredentialServer}) per `initialize`, bound to the agent of the bearer
 * token that opened it.
 *
 * Checks, in order, each answered with a JSON-RPC error body (never HTML, never a stack trace):
 *  1. `Host` is exactly this server's loopback address (DNS-rebinding defence)     → 403
 *  2. an `Origin`, if present, is a loopback http origin (browser pages elsewhere)  → 403
 *  3. path is `/mcp`                                                                → 404
 *  4. `Authorization: Bearer <token>` of a known, unrevoked agent                   → 401
 *     and a session id belongs to that same agent                                   → 403 / 404
 *  5. POST: `Content-Type: application/json` (415), body ≤ maxBodyBytes (413), valid JSON (400 -32700)
 * No CORS headers are ever sent, so browsers cannot read responses cross-origin.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { isInitializeRequest, type Implementation } from '@modelcontextprotocol/sdk/types.js';
import type { KeyringApi } from '../api';
import { InvalidInputError } from '../errors';
import type { AgentMeta } from '../model';
import { NULL_LOGGER, SYSTEM_CLOCK, type Clock, type Disposable, type Logger } from '../ports';
import { createCredentialServer, type CredentialServer } from './server';
import { NodeStreamableHttpTransport } from './streamableHttpTransport';

export const MCP_PATH = '/mcp';
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;
export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60_000;
/** Sessions held at once; a runaway client cannot grow memory without bound. */
export const DEFAULT_MAX_SESSIONS = 512;
const SWEEP_INTERVAL_MS = 60_000;
/** Longest bearer token looked up (ours are far shorter); longer ones are refused unread. */
const MAX_TOKEN_CHARS = 512;
/** RFC 6750 `b64token`. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

const HOW_TO_GET_A_TOKEN =
  'Send `Authorization: Bearer <token>` with an Agent Keyring agent token. Create one in VS Code (Agent Keyring: Connect Agent…) or with `agent-keyring agent add <id>`; a revoked agent needs a new token.';

export interface HttpHostOptions {
  api: KeyringApi;
  /** TCP port; 0 picks a free one (tests). */
  port: number;
  /** Loopback address to bind (default `127.0.0.1`); anything else is refused. */
  host?: string;
  logger?: Logger;
  maxBodyBytes?: number;
  /** Drives idle-session expiry (tests pass a fake clock). */
  clock?: Clock;
  idleTimeoutMs?: number;
  maxSessions?: number;
  serverInfo?: Implementation;
}

export interface HttpHost {
  /** `http://127.0.0.1:<port>/mcp` */
  url: string;
  port: number;
  /** Closes every session, then the server and all its sockets. */
  close(): Promise<void>;
  sessionCount(): number;
}

interface Session {
  id: string;
  agentId: string;
  transport: NodeStreamableHttpTransport;
  mcp: CredentialServer;
  lastSeen: number;
  /** Requests (including open GET event streams) in progress: a session in use is never idle. */
  inFlight: number;
}

/** An answer that ends the request early: status, JSON-RPC error code and message. */
class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly rpcCode: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpRefusal';
  }
}

/**
 * Starts the host. Resolves once listening.
 * @throws an `Error` with `code: 'EADDRINUSE'` (and `port`) when the port is taken, so callers can
 *   offer another; {@link InvalidInputError} when `host` is not a loopback address.
 */
export async function startHttpHost(opts: HttpHostOptions): Promise<HttpHost> {
  const bindHost = opts.host ?? '127.0.0.1';
  if (!isLoopbackAddress(bindHost)) {
    throw new InvalidInputError(
      `Agent Keyring only listens on a loopback address (127.0.0.1, ::1 or localhost), not '${bindHost}'.`,
    );
  }
  const { api } = opts;
  const logger = opts.logger ?? NULL_LOGGER;
  const clock = opts.clock ?? SYSTEM_CLOCK;
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const maxSessions = opts.maxSessions ?? DEFAULT_MAX_SESSIONS;
  const sessions = new Map<string, Session>();
  let allowedHosts = new Set<string>();
  let closed = false;

  const closeSession = async (s: Session, why: string): Promise<void> => {
    if (sessions.get(s.id) !== s) {
      return;
    }
    sessions.delete(s.id);
    logger.debug(`MCP session ${s.id} of agent '${s.agentId}' closed (${why}).`);
    try {
      await s.mcp.dispose();
    } catch (e) {
      logger.warn(`Closing MCP session ${s.id} failed`, e);
    }
  };

  const authenticate = async (req: http.IncomingMessage): Promise<{ agent: AgentMeta; token: string }> => {
    const header = req.headers.authorization;
    if (!header) {
      // RFC 6750 §3: a challenge with no error code when no credentials were sent. There is
      // deliberately no `resource_metadata` parameter: Agent Keyring does not do OAuth. An SDK client
      // with an auth provider would otherwise go looking for OAuth metadata; without the parameter it
      // probes /.well-known/oauth-* on this origin, gets 404 JSON, and reports the 401 as is.
      throw new HttpRefusal(401, -32001, `Unauthorized: missing bearer token. ${HOW_TO_GET_A_TOKEN}`, {
        'WWW-Authenticate': 'Bearer realm="agent-keyring"',
      });
    }
    const match = header.length <= MAX_TOKEN_CHARS + 16 ? BEARER.exec(header) : null;
    const token = match?.[1];
    const agent = token && token.length <= MAX_TOKEN_CHARS ? await api.authenticate(token) : undefined;
    if (!token || !agent || agent.revoked_at) {
      void api.recordAuthFailure?.(agent ? 'revoked' : 'unknown', token ?? header, req.socket.remoteAddress);
      throw new HttpRefusal(
        401,
        -32001,
        `Unauthorized: the bearer token is unknown, malformed or revoked. ${HOW_TO_GET_A_TOKEN}`,
        {
          'WWW-Authenticate': 'Bearer realm="agent-keyring", error="invalid_token"',
        },
      );
    }
    return { agent, token };
  };

  const createSession = async (
    agent: AgentMeta,
  ): Promise<{ transport: NodeStreamableHttpTransport; session: () => Session | undefined }> => {
    if (sessions.size >= maxSessions) {
      throw new HttpRefusal(
        503,
        -32000,
        'Too many open MCP sessions. Close unused sessions (DELETE /mcp) or wait for idle ones to expire, then retry.',
      );
    }
    const mcp = createCredentialServer({ api, agentId: agent.id, logger, serverInfo: opts.serverInfo });
    let session: Session | undefined;
    // Our own node:http transport (same wire behaviour as the SDK's, JSON responses; see
    // streamableHttpTransport.ts for why).
    const transport = new NodeStreamableHttpTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => {
        session = { id, agentId: agent.id, transport, mcp, lastSeen: clock.now(), inFlight: 0 };
        sessions.set(id, session);
        logger.debug(`MCP session ${id} opened for agent '${agent.id}'.`);
      },
      onsessionclosed: (id) => {
        const s = sessions.get(id);
        if (s) {
          void closeSession(s, 'DELETE');
        }
      },
    });
    transport.onclose = () => {
      if (session) {
        void closeSession(session, 'transport closed');
      }
    };
    await mcp.server.connect(transport);
    return { transport, session: () => session };
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    // 1. Host: exactly our own address, so a rebound DNS name cannot reach us from a browser.
    const hostHeader = (req.headers.host ?? '').toLowerCase();
    if (!allowedHosts.has(hostHeader)) {
      throw new HttpRefusal(
        403,
        -32000,
        `Forbidden: the Host header must be this server's loopback address (e.g. 127.0.0.1:${port()}).`,
      );
    }
    // 2. Origin: only a loopback page may talk to us (none should; CLI agents send no Origin).
    const origin = req.headers.origin;
    if (origin !== undefined && !isLoopbackOrigin(origin)) {
      throw new HttpRefusal(
        403,
        -32000,
        'Forbidden: requests from web pages are not accepted (Origin is not a loopback http origin).',
      );
    }
    // 3. Path (the exact path is by far the common case; anything else is normalised first)
    const path = req.url === MCP_PATH ? MCP_PATH : pathOf(req.url);
    if (path !== MCP_PATH) {
      throw new HttpRefusal(404, -32000, `Not found: the MCP endpoint is ${MCP_PATH}.`);
    }
    // 4. Identity, then the session it may use.
    const { agent, token } = await authenticate(req);
    const method = req.method ?? '';
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      throw new HttpRefusal(405, -32000, 'Method not allowed: use POST, GET or DELETE on /mcp.', {
        Allow: 'GET, POST, DELETE',
      });
    }
    const sessionHeader = req.headers['mcp-session-id'];
    const sessionId = typeof sessionHeader === 'string' ? sessionHeader : undefined;
    let session: Session | undefined;
    if (sessionId !== undefined) {
      session = sessions.get(sessionId);
      if (!session) {
        throw new HttpRefusal(
          404,
          -32001,
          'Session not found: it expired or was closed. Start a new session (initialize without Mcp-Session-Id).',
        );
      }
      if (session.agentId !== agent.id) {
        throw new HttpRefusal(
          403,
          -32000,
          'Forbidden: this session belongs to another agent. Start a new session with your own token.',
        );
      }
    }
    // 5. Body
    let body: unknown;
    if (method === 'POST') {
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== 'application/json') {
        throw new HttpRefusal(
          415,
          -32000,
          'Unsupported Media Type: send the JSON-RPC message with Content-Type: application/json.',
        );
      }
      const text = await readBody(req, maxBodyBytes);
      try {
        body = JSON.parse(text);
      } catch {
        throw new HttpRefusal(400, -32700, 'Parse error: the request body is not valid JSON.');
      }
    }
    const auth: AuthInfo = { token, clientId: agent.id, scopes: [] };

    if (!session) {
      if (method !== 'POST' || !isInitialize(body)) {
        throw new HttpRefusal(
          400,
          -32000,
          'Bad Request: no session. Send initialize first (without Mcp-Session-Id), then send the Mcp-Session-Id it returns.',
        );
      }
      const created = await createSession(agent);
      await created.transport.handleRequest(req, res, body, auth);
      if (!created.session()) {
        // initialize was refused by the transport (it already answered); nothing to keep.
        await created.transport.close().catch(() => undefined);
      }
      return;
    }
    session.inFlight++;
    session.lastSeen = clock.now();
    try {
      await session.transport.handleRequest(req, res, body, auth);
    } finally {
      // A GET event stream stays open after handleRequest resolves; count it until the socket ends.
      const s = session;
      const done = (): void => {
        s.inFlight--;
        s.lastSeen = clock.now();
      };
      if (res.writableEnded || res.destroyed) {
        done();
      } else {
        res.once('close', done);
      }
    }
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof HttpRefusal) {
        if (e.status >= 500) {
          logger.warn(`MCP HTTP ${req.method} refused with ${e.status}: ${e.message}`);
        } else {
          logger.debug(`MCP HTTP ${req.method} refused with ${e.status}: ${e.message}`);
        }
        sendJsonError(res, e.status, e.rpcCode, e.message, e.headers);
        if (e.status === 413) {
          // Stop reading the rest of an oversized body; the connection is not reused.
          res.once('finish', () => req.socket.destroySoon());
        }
        return;
      }
      const reference = randomUUID().slice(0, 8);
      logger.error(`MCP HTTP request failed (reference ${reference})`, e);
      sendJsonError(
        res,
        500,
        -32603,
        `Internal error (reference ${reference}). Retry; if it persists ask the user to check the Agent Keyring log.`,
      );
    });
  });
  // Malformed HTTP never reaches the handler; answer it in JSON too rather than Node's bare 400.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = JSON.stringify({
      jsonrpc: '2.0',
      error: { code: -32600, message: 'Bad Request: malformed HTTP request.' },
      id: null,
    });
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      if (e.code === 'EADDRINUSE') {
        reject(
          Object.assign(
            new Error(
              `Port ${opts.port} on ${bindHost} is already in use (another Agent Keyring window or another program). Choose another port (setting agentKeyring.port or --port), or stop the other program.`,
              { cause: e },
            ),
            { code: 'EADDRINUSE', port: opts.port },
          ),
        );
      } else {
        reject(e);
      }
    };
    server.once('error', onError);
    server.listen(opts.port, bindHost, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (e) => logger.error('MCP HTTP server error', e));

  const port = (): number => (server.address() as AddressInfo).port;
  const boundPort = port();
  allowedHosts = new Set([`127.0.0.1:${boundPort}`, `localhost:${boundPort}`, `[::1]:${boundPort}`]);

  let sweepTimer: Disposable | undefined;
  const sweep = (): void => {
    const now = clock.now();
    for (const s of [...sessions.values()]) {
      if (s.inFlight === 0 && now - s.lastSeen >= idleTimeoutMs) {
        void closeSession(s, `idle for ${Math.round((now - s.lastSeen) / 60_000)} min`);
      }
    }
    if (!closed) {
      sweepTimer = clock.setTimeout(sweep, Math.min(SWEEP_INTERVAL_MS, idleTimeoutMs));
    }
  };
  sweepTimer = clock.setTimeout(sweep, Math.min(SWEEP_INTERVAL_MS, idleTimeoutMs));

  const displayHost = bindHost.includes(':') ? `[${bindHost}]` : bindHost;
  logger.info(`Agent Keyring MCP server listening on http://${displayHost}:${boundPort}${MCP_PATH}`);
  return {
    url: `http://${displayHost}:${boundPort}${MCP_PATH}`,
    port: boundPort,
    sessionCount: () => sessions.size,
    close: async () => {
      if (closed) {
        return;
      }
      closed = true;
      sweepTimer?.dispose();
      await Promise.all([...sessions.values()].map((s) => closeSession(s, 'server closing')));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/**
 * Reads at most `max` bytes. Refuses at once from `Content-Length`, and stops reading as soon as a
 * chunked body goes over — never buffers more than `max`.
 */
function readBody(req: http.IncomingMessage, max: number): Promise<string> {
  const tooLarge = () =>
    new HttpRefusal(413, -32000, `Payload Too Large: the request body must be at most ${max} bytes.`, {
      Connection: 'close',
    });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err?: Error): void => {
      if (done) {
        return;
      }
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (err) {
        req.pause();
        reject(err);
      } else {
        resolve(Buffer.concat(chunks).toString('utf8'));
      }
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        finish(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish();
    const onError = (e: Error): void => finish(e);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function sendJsonError(
  res: http.ServerResponse,
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    // Too late for a clean answer; end the exchange rather than leave the client hanging.
    res.destroy();
    return;
  }
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function isInitialize(body: unknown): boolean {
  return Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body);
}

function pathOf(url: string | undefined): string | undefined {
  try {
    return new URL(url ?? '', 'http://127.0.0.1').pathname;
  } catch {
    return undefined;
  }
}

function isLoopbackAddress(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** `http://127.0.0.1[:port]`, `http://localhost[:port]`, `http://[::1][:port]`; `null` and the rest are not. */
function isLoopbackOrigin(origin: string): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return (
    url.protocol === 'http:' &&
    (url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]') &&
    url.origin === origin.replace(/\/$/, '').toLowerCase()
  );
}
