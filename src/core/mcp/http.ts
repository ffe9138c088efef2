/**
 * The HTTP front door: plain `node:http` on a loopback address (or `node:https` with a certificate,
 * on any address), path `/mcp`, both protocol eras, and `/healthz` for a load balancer.
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
import * as https from 'node:https';
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
  pathOf,
  type Caller,
} from './gate';
import { ATTACH_PROOF_PATH } from '../attach/attachProof';
import { serveAttachProof } from './attachEndpoint';
import { ListenHub } from './listen';
import { ModernEra, isModernPost } from './modern';
import { MODERN_PROTOCOL_VERSIONS } from './protocol';
import { Refusal, writeJsonError, writeRefusal } from './refusal';
import type { StoreHealth } from './storeHealth';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_SESSIONS,
  DEFAULT_MAX_SESSIONS_PER_AGENT,
  SessionTable,
  type Session,
} from './sessions';

/** migrate's start check, loaded with this file (the SDK client is in server.js). */
export { probeStdioServer } from './stdioProbe';

export {
  MCP_PATH,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_BODY_TIMEOUT_MS,
  EDITOR_CLIENT_HEADER,
  EDITOR_REFUSED_STATUS,
} from './gate';
export { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_SESSIONS, DEFAULT_MAX_SESSIONS_PER_AGENT } from './sessions';
/** Time allowed to receive a request's headers (Node's `headersTimeout`). */
export const HEADERS_TIMEOUT_MS = 10_000;
/** Time allowed to receive a whole request (Node's `requestTimeout`); event streams are responses. */
export const REQUEST_TIMEOUT_MS = 30_000;

export interface HttpHostOptions {
  api: KeyringApi;
  /** TCP port; 0 picks a free one (tests). */
  port: number;
  /** Address to bind (default `127.0.0.1`); a non-loopback address only with {@link tls}. */
  host?: string;
  /** Serve HTTPS with this certificate chain and private key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * Names (`host` or `host:port`) clients reach this server by, accepted by the Host and Origin
   * checks; the first one is the URL the host reports.
   */
  publicNames?: readonly string[];
  /** The store's health: while it is not ok, MCP requests get 503 and `/healthz` says degraded. */
  health?: StoreHealth;
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
  /**
   * The store's attach proof key (`core/attach/attachProof.ts`): with it, the host answers the
   * attach challenge of VS Code windows on the same store; without it, that path is a 404.
   */
  attachProofKey?: Buffer;
  /** Told when VS Code's own MCP client is refused for its token (the window shows the way back). */
  onEditorRefused?: () => void;
}

export interface HttpHost {
  /** `http://127.0.0.1:<port>/mcp` (https, and the first public name, when configured). */
  url: string;
  port: number;
  /** Closes every session and stream, then the server and all its sockets. */
  close(): Promise<void>;
  sessionCount(): number;
  /** Open `subscriptions/listen` streams (2026-07-28 era). */
  listenCount(): number;
}

/** The unauthenticated health path for a load balancer: `{"status":"ok"|"degraded"}`, nothing else. */
export const HEALTH_PATH = '/healthz';

/**
 * Starts the host. Resolves once listening.
 * @throws an `Error` with `code: 'EADDRINUSE'` (and `port`) when the port is taken, so callers can
 *   offer another; {@link InvalidInputError} when `host` is not a loopback address and there is no
 *   `tls` (bearer tokens never cross a network in clear text).
 */
export async function startHttpHost(opts: HttpHostOptions): Promise<HttpHost> {
  const bindHost = opts.host ?? '127.0.0.1';
  if (!isLoopbackAddress(bindHost) && !opts.tls) {
    throw new InvalidInputError(
      `Agent Keyring listens on a non-loopback address ('${bindHost}') only over TLS (agents send their tokens with every request): give a certificate and key (agent-keyring serve --tls-cert FILE --tls-key FILE), or bind 127.0.0.1.`,
    );
  }
  const health = opts.health;
  const { api } = opts;
  const logger = opts.logger ?? NULL_LOGGER;
  const clock = opts.clock ?? SYSTEM_CLOCK;
  const gate = new Gate({
    api,
    maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    bodyTimeoutMs: opts.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
    onEditorRefused: opts.onEditorRefused,
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

  const attachProofKey = opts.attachProofKey;
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (req.url === HEALTH_PATH) {
      await answerHealth(req, res, health);
      return;
    }
    if (attachProofKey && req.url?.startsWith(ATTACH_PROOF_PATH) && pathOf(req.url) === ATTACH_PROOF_PATH) {
      gate.checkSource(req);
      serveAttachProof(req, res, attachProofKey, boundPort);
      return;
    }
    // Before the token check, which may need the store: one clear 503 rather than a 500 per step.
    if (health && !health.ok) {
      throw health.refusal();
    }
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

  /** Set once listening (no request is handled before). */
  let boundPort = 0;
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
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
  };
  const server = opts.tls
    ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest)
    : http.createServer(onRequest);
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

  boundPort = (server.address() as AddressInfo).port;
  gate.listeningOn(boundPort, { bindHost, publicNames: opts.publicNames, tls: opts.tls !== undefined });
  health?.start();

  const scheme = opts.tls ? 'https' : 'http';
  const displayHost = bindHost.includes(':') ? `[${bindHost}]` : bindHost;
  const publicName = opts.publicNames?.[0];
  const url = publicName
    ? `${scheme}://${/:\d+$/.test(publicName) ? publicName : `${publicName}:${boundPort}`}${MCP_PATH}`
    : `${scheme}://${displayHost}:${boundPort}${MCP_PATH}`;
  logger.info(`Agent Keyring MCP server listening on ${scheme}://${displayHost}:${boundPort}${MCP_PATH}`);
  let closed = false;
  return {
    url,
    port: boundPort,
    sessionCount: () => sessions.size,
    listenCount: () => listen.size,
    close: async () => {
      if (closed) {
        return;
      }
      closed = true;
      health?.dispose();
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

/**
 * `GET /healthz` for a load balancer: no token, no Host check (a balancer probes by address), and
 * no data beyond the verdict — 200 `{"status":"ok"}` or 503 `{"status":"degraded"}`.
 */
async function answerHealth(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  health: StoreHealth | undefined,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    throw new Refusal(405, -32000, `Method not allowed: use GET on ${HEALTH_PATH}.`, { Allow: 'GET, HEAD' });
  }
  const ok = health ? await health.check() : true;
  const body = JSON.stringify({ status: ok ? 'ok' : 'degraded' });
  res.writeHead(ok ? 200 : 503, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function isInitialize(body: unknown): boolean {
  return Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body);
}
