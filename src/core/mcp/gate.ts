/**
 * The gate: every check a request passes before any MCP code sees it, in order, each failing with
 * one {@link Refusal}:
 *  1. exactly one `Host`, and it is this server's address or public name (DNS rebinding)   → 400 / 403
 *  2. an `Origin`, if present, is a loopback http origin or this server's own public origin → 403
 *  3. path is `/mcp`                                                                          → 404
 *  4. `Authorization: Bearer <token>` of a known, unrevoked agent — the one identity check    → 401
 *  5. method is POST, GET or DELETE                                                           → 405
 *  6. POST body: `Content-Type: application/json` (415), at most `maxBodyBytes` (413), in
 *     within `bodyTimeoutMs` (408), valid JSON (400 -32700)
 * No CORS headers are ever sent, so browsers cannot read responses cross-origin.
 */
import type * as http from 'node:http';
import type { KeyringApi } from '../api';
import { MAX_BODY_BYTES } from '../limits';
import type { AgentMeta } from '../model';
import { Refusal } from './refusal';

export const MCP_PATH = '/mcp';
export const DEFAULT_MAX_BODY_BYTES = MAX_BODY_BYTES;
/** How long a POST body may take to arrive once the headers are in (a slow body holds a socket). */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;
/** Longest bearer token looked up (ours are far shorter); longer ones are refused unread. */
const MAX_TOKEN_CHARS = 512;
/** RFC 6750 `b64token`. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

const HOW_TO_GET_A_TOKEN =
  'Send `Authorization: Bearer <token>` with an Agent Keyring agent token. Create one in VS Code (Agent Keyring: Connect Agent…) or with `agent-keyring agent add <id>`; a revoked agent needs a new token.';

/**
 * Sent (value `vscode`) by the MCP server definition our extension gives VS Code. VS Code's MCP
 * client treats ANY 401 or 403 as the start of an OAuth sign-in (`isAuthStatusCode` in
 * microsoft/vscode `src/vs/workbench/api/common/extHostMcp.ts`, `_fetchWithAuthRetry` →
 * `createAuthMetadata`, which falls back to default OAuth endpoints even without a
 * `WWW-Authenticate` challenge, then Dynamic Client Registration and a client-id prompt). So that
 * client's refused token is answered 410 instead, with the way back in the message; every other
 * client keeps the 401 the MCP specification asks for.
 */
export const EDITOR_CLIENT_HEADER = 'x-agent-keyring-client';
/** The status of a refused token for the editor's client: not 401/403 (see above), and not retried. */
export const EDITOR_REFUSED_STATUS = 410;
const EDITOR_WAY_BACK =
  "In VS Code, run \"Agent Keyring: Rotate Agent Token\" and pick 'vscode' (it also brings a revoked 'vscode' agent back); in-editor chat then reconnects with the new token.";

/** Who is calling: the agent of the bearer token (checked once per request, here). */
export interface Caller {
  agent: AgentMeta;
  token: string;
}

export interface GateOptions {
  api: KeyringApi;
  maxBodyBytes: number;
  bodyTimeoutMs: number;
  /** Told when the editor's own client (see {@link EDITOR_CLIENT_HEADER}) is refused for its token. */
  onEditorRefused?: () => void;
}

export class Gate {
  #allowedHosts = new Set<string>();
  #port = 0;

  constructor(private readonly opts: GateOptions) {}

  #allowedOrigins = new Set<string>();

  /**
   * Called once the port is known: the Host values accepted from then on — the loopback names, the
   * bound address, and each public name (`host` alone, as a client on the default port sends it,
   * and `host:port`; a name given with a port is accepted with that port only). The same hosts
   * with this server's scheme are the accepted non-loopback `Origin`s.
   */
  listeningOn(
    port: number,
    where: { bindHost?: string; publicNames?: readonly string[]; tls?: boolean } = {},
  ): void {
    this.#port = port;
    const hosts = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
    if (where.bindHost && !['0.0.0.0', '::'].includes(where.bindHost)) {
      hosts.push(`${where.bindHost.includes(':') ? `[${where.bindHost}]` : where.bindHost}:${port}`);
    }
    const extra: string[] = [];
    for (const name of where.publicNames ?? []) {
      const n = name.toLowerCase();
      extra.push(...(/:\d+$/.test(n) ? [n] : [n, `${n}:${port}`]));
    }
    hosts.push(...extra);
    this.#allowedHosts = new Set(hosts.map((h) => h.toLowerCase()));
    const scheme = where.tls ? 'https' : 'http';
    this.#allowedOrigins = new Set(
      hosts.slice(3).map((h) => {
        try {
          return new URL(`${scheme}://${h}`).origin;
        } catch {
          return '';
        }
      }),
    );
    this.#allowedOrigins.delete('');
  }

  /** Checks 1–5. Resolves with the caller, or rejects with a {@link Refusal}. */
  async admit(req: http.IncomingMessage): Promise<Caller> {
    this.checkSource(req);
    const path = req.url === MCP_PATH ? MCP_PATH : pathOf(req.url);
    if (path !== MCP_PATH) {
      throw new Refusal(404, -32000, `Not found: the MCP endpoint is ${MCP_PATH}.`);
    }
    const caller = await this.authenticate(
      req.headers.authorization,
      req.socket.remoteAddress,
      req.headers[EDITOR_CLIENT_HEADER] === 'vscode',
    );
    const method = req.method ?? '';
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      throw new Refusal(405, -32000, 'Method not allowed: use POST, GET or DELETE on /mcp.', {
        Allow: 'GET, POST, DELETE',
      });
    }
    return caller;
  }

  /** Check 6: the parsed JSON body of a POST. */
  async readJson(req: http.IncomingMessage): Promise<unknown> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') {
      throw new Refusal(
        415,
        -32000,
        'Unsupported Media Type: send the JSON-RPC message with Content-Type: application/json.',
      );
    }
    const text = await readBody(req, this.opts.maxBodyBytes, this.opts.bodyTimeoutMs);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new Refusal(400, -32700, 'Parse error: the request body is not valid JSON.');
    }
  }

  /** Is `token` still the token of an unrevoked agent (for long-lived streams)? */
  async stillValid(caller: Caller): Promise<boolean> {
    const agent = await this.opts.api.authenticate(caller.token).catch(() => undefined);
    return agent !== undefined && !agent.revoked_at && agent.id === caller.agent.id;
  }

  /** Checks 1–2 (Host, Origin): all that the one unauthenticated endpoint (the attach proof) passes. */
  checkSource(req: http.IncomingMessage): void {
    this.checkHost(req);
    this.checkOrigin(req.headers.origin);
  }

  private checkOrigin(origin: string | undefined): void {
    // Only a loopback page, or a page of this server's own public name, may talk to us (none
    // should; CLI agents send no Origin).
    if (
      origin !== undefined &&
      !isLoopbackOrigin(origin) &&
      !this.#allowedOrigins.has(origin.toLowerCase())
    ) {
      throw new Refusal(
        403,
        -32000,
        "Forbidden: requests from web pages are not accepted (Origin is not a loopback http origin or this server's public name).",
      );
    }
  }

  private checkHost(req: http.IncomingMessage): void {
    // Node keeps the first of several Host headers; a request with two is ambiguous (a proxy in
    // between may route on the other one), so it is refused as malformed (RFC 9112 §3.2).
    const hosts = req.headersDistinct.host;
    if (hosts !== undefined && hosts.length > 1) {
      throw new Refusal(400, -32000, 'Bad Request: send exactly one Host header.');
    }
    const hostHeader = (req.headers.host ?? '').toLowerCase();
    if (!this.#allowedHosts.has(hostHeader)) {
      throw new Refusal(
        403,
        -32000,
        `Forbidden: the Host header must be this server's address (e.g. 127.0.0.1:${this.#port}) or a name given with --public-name.`,
      );
    }
  }

  private async authenticate(
    header: string | undefined,
    remote: string | undefined,
    editor: boolean,
  ): Promise<Caller> {
    if (!header && editor) {
      throw this.editorRefusal('VS Code sent no Agent Keyring token.');
    }
    if (!header) {
      // RFC 6750 §3: a challenge with no error code when no credentials were sent. There is
      // deliberately no `resource_metadata` parameter: Agent Keyring does not do OAuth. An SDK client
      // with an auth provider would otherwise go looking for OAuth metadata; without the parameter it
      // probes /.well-known/oauth-* on this origin, gets 404 JSON, and reports the 401 as is.
      throw new Refusal(401, -32001, `Unauthorized: missing bearer token. ${HOW_TO_GET_A_TOKEN}`, {
        'WWW-Authenticate': 'Bearer realm="agent-keyring"',
      });
    }
    const match = header.length <= MAX_TOKEN_CHARS + 16 ? BEARER.exec(header) : null;
    const token = match?.[1];
    const agent =
      token && token.length <= MAX_TOKEN_CHARS ? await this.opts.api.authenticate(token) : undefined;
    if (!token || !agent || agent.revoked_at) {
      // Audited, aggregated and never with the token: an operator sees a revoked agent knocking.
      void this.opts.api.recordAuthFailure?.(agent ? 'revoked' : 'unknown', token ?? header, remote);
      if (editor) {
        throw this.editorRefusal(
          `The Agent Keyring token VS Code sent for in-editor chat is ${agent ? 'revoked' : 'unknown (replaced or revoked)'}.`,
        );
      }
      throw new Refusal(
        401,
        -32001,
        `Unauthorized: the bearer token is unknown, malformed or revoked. ${HOW_TO_GET_A_TOKEN}`,
        { 'WWW-Authenticate': 'Bearer realm="agent-keyring", error="invalid_token"' },
      );
    }
    return { agent, token };
  }

  /** The refusal for the editor's client: no 401/403 (no OAuth sign-in), the way back named. */
  private editorRefusal(what: string): Refusal {
    try {
      this.opts.onEditorRefused?.();
    } catch {
      // a listener's failure must not change the answer
    }
    return new Refusal(EDITOR_REFUSED_STATUS, -32001, `${what} ${EDITOR_WAY_BACK}`);
  }
}

/**
 * Reads at most `max` bytes within `timeoutMs`. Refuses at once from `Content-Length`, stops
 * reading as soon as a chunked body goes over, and never buffers more than `max`.
 */
export function readBody(req: http.IncomingMessage, max: number, timeoutMs: number): Promise<string> {
  const tooLarge = () =>
    new Refusal(413, -32000, `Payload Too Large: the request body must be at most ${max} bytes.`, {
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
      clearTimeout(deadline);
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
    const deadline = setTimeout(
      () =>
        finish(
          new Refusal(
            408,
            -32000,
            `Request Timeout: the request body did not arrive within ${Math.round(timeoutMs / 1000)} s. Send the whole body at once.`,
            { Connection: 'close' },
          ),
        ),
      timeoutMs,
    );
    deadline.unref();
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** The path of a request URL (without the query), or undefined when it does not parse. */
export function pathOf(url: string | undefined): string | undefined {
  try {
    return new URL(url ?? '', 'http://127.0.0.1').pathname;
  } catch {
    return undefined;
  }
}

export function isLoopbackAddress(host: string): boolean {
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
