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
 * The forwarding path (line framing, batched writes, `id`/`method` scan, node:http keep-alive) is
 * `core/forward`, shared with `run --mcp`.
 *
 * stdout is the protocol: nothing but JSON-RPC is ever written there; diagnostics go to stderr.
 */
import { HttpForwarder } from '../../core/forward/httpForwarder';
import { BatchedWriter, LineFramer } from '../../core/forward/lineFramer';
import { COMMON_OPTIONS, UsageError, clip, parseCommand } from '../args';
import { HELP_HELP, STORE_HELP, type Command } from '../command';
import { DEFAULT_HOST, DEFAULT_PORT, makeLogger } from '../context';
import { scrub } from '../io';
import { resolveAgentToken } from './token';
import type { Logger } from '../../core/ports';

export const DEFAULT_URL = `http://${DEFAULT_HOST}:${DEFAULT_PORT}/mcp`;

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
  /** The client side (default: this process's stdin and stdout). */
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
}

/**
 * Runs the bridge until stdin ends (exit 0) or the server goes away (exit 1).
 * Resolves with the exit code; never writes anything but JSON-RPC to stdout.
 */
export function runBridge(opts: BridgeOptions): Promise<number> {
  const { url, token, logger } = opts;
  const input = opts.input ?? process.stdin;
  const output = opts.output ?? process.stdout;
  const toClient = new BatchedWriter((b) => output.write(b));
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
      input.off('data', onData);
      input.off('end', onEnd);
      void forwarder.close({ graceful: code === 0, terminate: code === 0 }).then(() => {
        toClient.flush();
        resolve(code);
      });
    };
    const forwarder = new HttpForwarder({
      url,
      headers: token !== undefined ? { authorization: `Bearer ${token}` } : undefined,
      dynamicHeaders: opts.headers,
      toClient: (line) => toClient.write(line),
      logger,
      unauthorizedHint:
        opts.unauthorizedHint ??
        'the server refused the token (HTTP 401): check AGENT_KEYRING_TOKEN (create one with agent-keyring agent add ID)',
      scrub,
      onFatal: (why) => shutdown(1, why),
    });
    const framer = new LineFramer((line) => forwarder.send(line));
    const onData = (b: Buffer | string): void => framer.push(typeof b === 'string' ? Buffer.from(b) : b);
    const onEnd = (): void => {
      framer.end();
      shutdown(0);
    };
    input.on('data', onData);
    input.on('end', onEnd);
    logger.debug(`bridge: forwarding stdio to ${url.href}`);
  });
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
