/**
 * Asks a loopback port who is there, WITHOUT a token (a foreign program must never see ours): our
 * MCP host answers an unauthenticated POST with 401 and a JSON-RPC body naming Agent Keyring.
 * One small request on a fresh connection (no keep-alive pool left open). Free of `vscode`.
 */
import { smallRequest } from '../../core/net/smallRequest';
import { MCP_PATH } from './mcpHost';
import type { PortOccupant } from './sharedServer';

/** How long a probe waits for an answer before calling it `unknown`. */
export const PROBE_TIMEOUT_MS = 2_000;
/** Our 401 body is well under this; a longer answer is not ours. */
const MAX_ANSWER_BYTES = 16 * 1024;

export async function identifyPort(
  port: number,
  opts: { host?: string; timeoutMs?: number } = {},
): Promise<PortOccupant> {
  const body = '{}';
  const answer = await smallRequest({
    host: opts.host ?? '127.0.0.1',
    port,
    path: MCP_PATH,
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      'Content-Length': Buffer.byteLength(body),
    },
    body,
    timeoutMs: opts.timeoutMs ?? PROBE_TIMEOUT_MS,
    maxBytes: MAX_ANSWER_BYTES,
  });
  switch (answer.kind) {
    case 'answer':
      return answer.status === 401 && answer.body.toString('utf8').includes('Agent Keyring')
        ? 'agentKeyring'
        : 'foreign';
    // Nobody listens → free; an answer that is not HTTP (HPE_*) or too long → not ours; reset,
    // hang-up, no answer in time → unclear.
    case 'refused':
      return 'free';
    case 'tooLarge':
    case 'notHttp':
      return 'foreign';
    case 'noAnswer':
      return 'unknown';
  }
}
