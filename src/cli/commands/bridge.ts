/**
 * `agent-keyring bridge`: stdio ↔ Streamable HTTP, for MCP clients that can only start a stdio
 * server. JSON-RPC messages are forwarded verbatim both ways (requests, responses and
 * notifications such as `notifications/resources/updated`). The agent's token comes from
 * `AGENT_KEYRING_TOKEN` and is sent as `Authorization: Bearer …` on every HTTP request.
 *
 * Clients of either protocol era work: a 2025-era client's `initialize` opens a session as before;
 * a 2026-07-28 message (its `params._meta` names the protocol version) is sent with the headers that
 * era requires (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`), and a refusal the server sends as
 * an HTTP 4xx with a JSON-RPC error body (e.g. -32022 for an unsupported revision) reaches the
 * client as that JSON-RPC error.
 *
 * stdout is the protocol: nothing but JSON-RPC is ever written there; diagnostics go to stderr.
 */
import type { StreamableHTTPError as StreamableHTTPErrorClass } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { COMMON_OPTIONS, UsageError, clip, parseCommand } from '../args';
import { HELP_HELP, STORE_HELP, type Command } from '../command';
import { DEFAULT_HOST, DEFAULT_PORT, makeLogger } from '../context';
import { scrub } from '../io';
import { resolveAgentToken } from './token';
import type { Logger } from '../../core/ports';

export const DEFAULT_URL = `http://${DEFAULT_HOST}:${DEFAULT_PORT}/mcp`;

/** JSON-RPC error code the bridge answers with when it could not deliver a request. */
const BRIDGE_ERROR = -32000;

type Message = JSONRPCMessage & {
  id?: string | number;
  method?: string;
  result?: { protocolVersion?: unknown };
};

export interface BridgeOptions {
  url: URL;
  /** Sent as `Authorization: Bearer …` on every request (the Agent Keyring server's own token). */
  token?: string;
  /**
   * Headers added to every HTTP request, asked for per request (so a rotated credential is used
   * on the next one): `agent-keyring run --upstream` fills in a credential this way.
   */
  headers?: () => Record<string, string>;
  /** What an HTTP 401 means to the user (default: check AGENT_KEYRING_TOKEN). */
  unauthorizedHint?: string;
  logger: Logger;
}

/**
 * Runs the bridge until stdin ends (exit 0) or the server goes away (exit 1).
 * Resolves with the exit code; never writes anything but JSON-RPC to stdout.
 */
export async function runBridge(opts: BridgeOptions): Promise<number> {
  const { url, token, headers, logger } = opts;
  // Loaded on demand: other commands start faster without the MCP SDK.
  const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
  const { StreamableHTTPClientTransport, StreamableHTTPError } =
    await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const describeSendError = (e: unknown): string =>
    describeError(e, url, StreamableHTTPError, opts.unauthorizedHint);
  const isConnectionFailure = (e: unknown): boolean => isNetworkFailure(e, StreamableHTTPError);
  const local = new StdioServerTransport();
  const remote = new StreamableHTTPClientTransport(url, {
    requestInit: token !== undefined ? { headers: { Authorization: `Bearer ${token}` } } : undefined,
    // Per-request headers (run --upstream: the credential's current value), then the era's headers.
    fetch: headers
      ? (input, init) => {
          const merged = new Headers(init?.headers);
          for (const [k, v] of Object.entries(headers())) {
            merged.set(k, v);
          }
          return eraAwareFetch(input, { ...init, headers: merged });
        }
      : eraAwareFetch,
    // Sessions live in the server's memory, so a server that went away will not know this one
    // when it is back: give up soon and let the client restart the bridge.
    reconnectionOptions: {
      initialReconnectionDelay: 250,
      maxReconnectionDelay: 2000,
      reconnectionDelayGrowFactor: 2,
      maxRetries: 2,
    },
  });
  const initializeIds = new Set<string | number>();

  return new Promise<number>((resolve) => {
    let closing = false;
    const shutdown = (code: number, why?: string): void => {
      if (closing) {
        return;
      }
      closing = true;
      if (why) {
        logger.error(why);
      } else {
        logger.debug('bridge: stdin ended, closing.');
      }
      process.stdin.off('end', onStdinEnd);
      void (async () => {
        // Ending the session is polite, not required: a server that is gone cannot answer it.
        if (code === 0) {
          await remote.terminateSession().catch(() => undefined);
        }
        await remote.close().catch(() => undefined);
        await local.close().catch(() => undefined);
        resolve(code);
      })();
    };
    const onStdinEnd = (): void => shutdown(0);

    local.onmessage = (message) => {
      const m = message as Message;
      if (m.method === 'initialize' && m.id !== undefined) {
        initializeIds.add(m.id);
      }
      remote.send(message).catch((e: unknown) => {
        const reason = describeSendError(e);
        logger.warn(`bridge: could not forward ${m.method ?? 'a response'}: ${reason}`);
        if (m.method !== undefined && m.id !== undefined && !closing) {
          void local.send({
            jsonrpc: '2.0',
            id: m.id,
            error: { code: BRIDGE_ERROR, message: scrub(`Agent Keyring bridge: ${reason}`) },
          });
        }
        if (isConnectionFailure(e)) {
          shutdown(
            1,
            `bridge: the Agent Keyring server at ${url.href} is not reachable (${reason}). Start it (agent-keyring serve, or VS Code), then restart the client.`,
          );
        }
      });
    };
    remote.onmessage = (message) => {
      const m = message as Message;
      // The HTTP transport must send MCP-Protocol-Version after initialization; the SDK client
      // would tell it, so the bridge does it from the initialize result it forwards.
      if (m.id !== undefined && initializeIds.delete(m.id) && typeof m.result?.protocolVersion === 'string') {
        remote.setProtocolVersion(m.result.protocolVersion);
      }
      if (!closing) {
        void local.send(message);
      }
    };
    remote.onerror = (e) => {
      if (closing) {
        return;
      }
      // A refused connection (e.g. the event stream could not be opened because the server just
      // stopped) or reconnection given up: the server is gone, and its sessions with it.
      if (/Maximum reconnection attempts/.test(e.message) || isConnectionFailure(e)) {
        shutdown(
          1,
          `bridge: lost the connection to ${url.href} (the server stopped?). Restart the client once the server is back.`,
        );
        return;
      }
      logger.debug(`bridge: HTTP transport: ${scrub(e.message)}`);
    };
    remote.onclose = () => shutdown(1, `bridge: the connection to ${url.href} closed.`);
    local.onerror = (e) => logger.warn(`bridge: bad input on stdin: ${scrub(e.message)}`);
    local.onclose = () => shutdown(0);
    process.stdin.on('end', onStdinEnd);

    void (async () => {
      try {
        await remote.start();
        await local.start();
        logger.debug(`bridge: forwarding stdio to ${url.href}`);
      } catch (e) {
        shutdown(1, `bridge: could not start: ${describeSendError(e)}`);
      }
    })();
  });
}

const PROTOCOL_VERSION_META_KEY = 'io.modelcontextprotocol/protocolVersion';

/**
 * `fetch` for the bridge's HTTP transport: a POST carrying one 2026-07-28 message gets that era's
 * headers from its body, and a JSON-RPC error answered with HTTP 4xx is handed on as a 200 so the
 * transport delivers it to the client instead of failing the send.
 */
async function eraAwareFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const body = typeof init?.body === 'string' ? init.body : undefined;
  const message = body !== undefined && body.startsWith('{') ? parseMessage(body) : undefined;
  const version = message?.params?._meta?.[PROTOCOL_VERSION_META_KEY];
  if (typeof version !== 'string' || typeof message?.method !== 'string') {
    return fetch(input, init);
  }
  const headers = new Headers(init?.headers);
  headers.set('mcp-protocol-version', version);
  headers.set('mcp-method', message.method);
  headers.delete('mcp-session-id');
  const name = message.method === 'resources/read' ? message.params?.uri : message.params?.name;
  if (typeof name === 'string' && /^(tools\/call|resources\/read|prompts\/get)$/.test(message.method)) {
    headers.set('mcp-name', name);
  }
  const response = await fetch(input, { ...init, headers });
  if (response.status >= 400 && response.status < 500 && message.id !== undefined) {
    const text = await response.text();
    const parsed = parseMessage(text) as { error?: unknown } | undefined;
    if (parsed?.error !== undefined) {
      return new Response(text, { status: 200, headers: { 'content-type': 'application/json' } });
    }
    return new Response(text, { status: response.status, headers: response.headers });
  }
  return response;
}

function parseMessage(text: string):
  | {
      id?: unknown;
      method?: unknown;
      params?: { _meta?: Record<string, unknown>; name?: unknown; uri?: unknown };
    }
  | undefined {
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function isNetworkFailure(e: unknown, HttpError: typeof StreamableHTTPErrorClass): boolean {
  if (e instanceof HttpError) {
    return false;
  }
  const cause = (e as { cause?: { code?: string } }).cause;
  return (
    e instanceof TypeError ||
    ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTFOUND'].includes(cause?.code ?? '')
  );
}

function describeError(
  e: unknown,
  url: URL,
  HttpError: typeof StreamableHTTPErrorClass,
  unauthorizedHint?: string,
): string {
  if (e instanceof HttpError) {
    if (e.code === 401) {
      return (
        unauthorizedHint ??
        'the server refused the token (HTTP 401): check AGENT_KEYRING_TOKEN (create one with agent-keyring agent add ID)'
      );
    }
    if (e.code === 403) {
      return `the server refused the request (HTTP 403): is ${url.host} the server's own loopback address?`;
    }
    return scrub(clip(e.message, 300));
  }
  const cause = (e as { cause?: { code?: string } }).cause?.code;
  const message = e instanceof Error ? e.message : String(e);
  return scrub(clip(cause ? `${message} (${cause})` : message, 300));
}

export const bridgeCommand: Command = {
  name: 'bridge',
  summary: 'stdio ↔ HTTP bridge for MCP clients that only speak stdio',
  usage: `Usage: agent-keyring bridge [--url URL] [--agent ID | --token-env NAME] [--store DIR]

Connects an MCP client that can only start stdio servers to a running Agent Keyring server
(VS Code or 'agent-keyring serve'). Messages are forwarded both ways unchanged.

Example client config:
  { "command": "agent-keyring", "args": ["bridge", "--agent", "research-agent"],
    "env": { "AGENT_KEYRING_TOKEN_RESEARCH_AGENT": "\${AGENT_KEYRING_TOKEN_RESEARCH_AGENT}" } }

Options:
  --url URL         the server's MCP endpoint (default: $AGENT_KEYRING_URL, else ${DEFAULT_URL})
  --agent ID        use agent ID's token: $AGENT_KEYRING_TOKEN_<ID> (ID upper-cased, other characters
                    as _), else the token saved for ID ('agent rotate-token ID --save-token'),
                    else $AGENT_KEYRING_TOKEN
  --token-env NAME  read the token from variable NAME only
${STORE_HELP}
                  (where --agent looks for a saved token)
${HELP_HELP}

Environment:
  AGENT_KEYRING_TOKEN   the token when neither --agent nor --token-env is given`,
  async run(argv, globals) {
    const { values } = parseCommand(
      argv,
      {
        ...COMMON_OPTIONS,
        url: { type: 'string' },
        agent: { type: 'string' },
        'token-env': { type: 'string' },
      },
      0,
    );
    const raw = values.url ?? (process.env.AGENT_KEYRING_URL?.trim() || DEFAULT_URL);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new UsageError(`--url must be an absolute URL such as ${DEFAULT_URL} (got '${clip(raw, 60)}')`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UsageError(`--url must start with http:// or https:// (got '${clip(url.protocol, 20)}')`);
    }
    const token = await resolveAgentToken({
      ...(values.agent !== undefined ? { agent: values.agent } : {}),
      ...(values['token-env'] !== undefined ? { tokenEnv: values['token-env'] } : {}),
      ...((values.store ?? globals.store) !== undefined ? { store: values.store ?? globals.store } : {}),
      missingExit: 2,
    });
    return runBridge({ url, token, logger: makeLogger('warn') });
  },
};
