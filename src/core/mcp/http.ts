/**
 * The HTTP front door: plain `node:http` on a loopback address, path `/mcp`, both protocol eras.
 * Read top to bottom, one request goes:
 *
 *  host (this file: listen, close, server timeouts)
 *   → gate (`gate.ts`: Host, Origin, path, token → the caller, method, body)
 *   → era: a 2026-07-28 POST (`modern.ts`: stateless, per-request `_meta` and headers) or the
 *     2025 era's sessions (`sessions.ts`: create on `initialize`, look up with the owner check)
 *   → transport (`streamableHttpTransport.ts` for sessions, `AgentTransport` for the modern era)
 *   → the agent-bound MCP server (`server.ts`), made for the caller the gate admitted (the session's
 *     or, in the modern era, the agent's): its tools (`tools/`) and resources (`resources.ts`) get
 *     that agent as a `CallContext`, never looking identity up again.
 *
 * Every refusal is one {@link Refusal} written by one JSON writer (`refusal.ts`). Revoking an agent
 * closes its sessions, event streams and `subscriptions/listen` streams.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { isInitializeRequest, type Implementation } from '@modelcontextprotocol/sdk/types.js';
import type { KeyringApi } from '../api';
import { InvalidInputError } from '../errors';
import type { AgentId } from '../model';
import { NULL_LOGGER, SYSTEM_CLOCK, type Clock, type Disposable, type Logger } from '../ports';
import {
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  Gate,
  MCP_PATH,
  isLoopbackAddress,
  type Caller,
} from './gate';
import { ListenHub } from './listen';
import { ModernEra, isModernPost } from './modern';
import { MODERN_PROTOCOL_VERSIONS } from './protocol';
import { Refusal, writeJsonError, writeRefusal } from './refusal';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_SESSIONS,
  DEFAULT_MAX_SESSIONS_PER_AGENT,
  SessionTable,
  type Session,
} from './sessions';

export { MCP_PATH, DEFAULT_MAX_BODY_BYTES, DEFAULT_BODY_TIMEOUT_MS } from './gate';
export { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_SESSIONS, DEFAULT_MAX_SESSIONS_PER_AGENT } from './sessions';
/** Time allowed to receive a request's headers (Node's `headersTimeout`). */
export const HEADERS_TIMEOUT_MS = 10_000;
/** Time allowed to receive a whole request (Node's `requestTimeout`); event streams are responses. */
export const REQUEST_TIMEOUT_MS = 30_000;

export interface HttpHostOptions {
  api: KeyringApi;
  /** TCP port; 0 picks a free one (tests). */
  port: number;
  /** Loopback address to bind (default `127.0.0.1`); anything else is refused. */
  host?: string;
  logger?: Logger;
  maxBodyBytes?: number;
  /** How long a POST body may take once the headers are in (default 10 s) → 408. */
  bodyTimeoutMs?: number;
  /** Drives idle-session expiry (tests pass a fake clock). */
  clock?: Clock;
  idleTimeoutMs?: number;
  maxSessions?: number;
  /** Sessions one agent may hold; at the limit its oldest idle session is closed for a new one. */
  maxSessionsPerAgent?: number;
  serverInfo?: Implementation;
}

export interface HttpHost {
  /** `http://127.0.0.1:<port>/mcp` */
  url: string;
  port: number;
  /** Closes every session and stream, then the server and all its sockets. */
  close(): Promise<void>;
  sessionCount(): number;
  /** Open `subscriptions/listen` streams (2026-07-28 era). */
  listenCount(): number;
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
  const gate = new Gate({
    api,
    maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    bodyTimeoutMs: opts.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
  });

  // Revocation: everything the agent holds open goes, whichever way we learn of it.
  const revoked = (agentId: AgentId, how: string): void => {
    void sessions.closeAgent(agentId, `agent revoked (${how})`);
    const streams = listen.closeAgent(agentId);
    void modern.dropAgent(agentId);
    logger.debug(`Agent '${agentId}' revoked: closed its sessions and ${streams} listen stream(s).`);
  };
  /** Before a rotation notice: is the caller's token still good? If not, close all it holds. */
  const stillAllowed = async (caller: Caller): Promise<boolean> => {
    const ok = await gate.stillValid(caller);
    if (!ok) {
      revoked(caller.agent.id, 'token no longer valid');
    }
    return ok;
  };
  const sessions = new SessionTable({
    api,
    logger,
    clock,
    idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    maxSessions: opts.maxSessions ?? DEFAULT_MAX_SESSIONS,
    maxSessionsPerAgent: opts.maxSessionsPerAgent ?? DEFAULT_MAX_SESSIONS_PER_AGENT,
    serverInfo: opts.serverInfo,
    stillAllowed,
  });
  const listen = new ListenHub({
    api,
    logger,
    stillValid: (caller) => gate.stillValid(caller),
    onRevoked: (agentId) => revoked(agentId, 'token no longer valid'),
  });
  const modern = new ModernEra({ api, logger, listen, serverInfo: opts.serverInfo });
  const revocation: Disposable | undefined = api.onDidRevokeAgent?.((agentId) => revoked(agentId, 'event'));

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const caller = await gate.admit(req);
    const method = req.method ?? '';
    const sessionHeader = req.headers['mcp-session-id'];
    const session = typeof sessionHeader === 'string' ? sessions.lookUp(sessionHeader, caller) : undefined;
    const body = method === 'POST' ? await gate.readJson(req) : undefined;

    if (!session && method === 'POST' && isModernPost(req, body)) {
      await modern.handle(req, res, body, caller);
      return;
    }
    if (!session && MODERN_PROTOCOL_VERSIONS.includes(String(req.headers['mcp-protocol-version']))) {
      throw new Refusal(
        405,
        -32000,
        `Method not allowed: protocol revision ${String(req.headers['mcp-protocol-version'])} has no ${method} on /mcp; POST each request (subscriptions/listen for notifications).`,
        { Allow: 'POST' },
      );
    }
    if (!session) {
      if (method !== 'POST' || !isInitialize(body)) {
        throw new Refusal(
          400,
          -32000,
          'Bad Request: no session. Send initialize first (without Mcp-Session-Id), then send the Mcp-Session-Id it returns.',
        );
      }
      const created = await sessions.open(caller);
      await created.transport.handleRequest(req, res, body);
      if (!created.session()) {
        // initialize was refused by the transport (it already answered); nothing to keep.
        await created.transport.close().catch(() => undefined);
      }
      return;
    }
    await serveInSession(session, req, res, body);
  };

  const serveInSession = async (
    s: Session,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: unknown,
  ): Promise<void> => {
    s.inFlight++;
    s.lastSeen = clock.now();
    try {
      await s.transport.handleRequest(req, res, body);
    } finally {
      // A GET event stream stays open after handleRequest resolves; count it until the socket ends.
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
      if (e instanceof Refusal) {
        if (e.status >= 500) {
          logger.warn(`MCP HTTP ${req.method} refused with ${e.status}: ${e.message}`);
        } else {
          logger.debug(`MCP HTTP ${req.method} refused with ${e.status}: ${e.message}`);
        }
        writeRefusal(res, e, true);
        if (e.status === 413 || e.status === 408) {
          // Stop reading the rest of the body; the connection is not reused.
          res.once('finish', () => req.socket.destroySoon());
        }
        return;
      }
      const reference = randomUUID().slice(0, 8);
      logger.error(`MCP HTTP request failed (reference ${reference})`, e);
      writeJsonError(
        res,
        500,
        -32603,
        `Internal error (reference ${reference}). Retry; if it persists ask the user to check the Agent Keyring log.`,
        { destroyIfStarted: true },
      );
    });
  });
  // A slow client cannot hold a socket for Node's default 300 s: headers within 10 s, the whole
  // request within 30 s (the gate's body deadline answers 408 sooner). Event streams are responses
  // and are not affected.
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  // Malformed HTTP never reaches the handler; answer it in JSON too rather than Node's bare 400.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({
      jsonrpc: '2.0',
      error: {
        code: -32600,
        message:
          status === 408
            ? 'Request Timeout: send the whole request at once.'
            : 'Bad Request: malformed HTTP request.',
      },
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
  }).catch(async (e: unknown) => {
    revocation?.dispose();
    listen.dispose();
    await sessions.dispose();
    throw e;
  });
  server.on('error', (e) => logger.error('MCP HTTP server error', e));

  const boundPort = (server.address() as AddressInfo).port;
  gate.listeningOn(boundPort);

  const displayHost = bindHost.includes(':') ? `[${bindHost}]` : bindHost;
  logger.info(`Agent Keyring MCP server listening on http://${displayHost}:${boundPort}${MCP_PATH}`);
  let closed = false;
  return {
    url: `http://${displayHost}:${boundPort}${MCP_PATH}`,
    port: boundPort,
    sessionCount: () => sessions.size,
    listenCount: () => listen.size,
    close: async () => {
      if (closed) {
        return;
      }
      closed = true;
      revocation?.dispose();
      listen.dispose();
      await Promise.all([sessions.dispose(), modern.dispose()]);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function isInitialize(body: unknown): boolean {
  return Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body);
}
