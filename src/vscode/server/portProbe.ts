/**
 * Asks a loopback port who is there, WITHOUT a token (a foreign program must never see ours): our
 * MCP host answers an unauthenticated POST with 401 and a JSON-RPC body naming Agent Keyring.
 * One small request on a fresh connection (no keep-alive pool left open). Free of `vscode`.
 */
import * as http from 'node:http';
import { MCP_PATH } from './mcpHost';
import type { PortOccupant } from './sharedServer';

/** How long a probe waits for an answer before calling it `unknown`. */
export const PROBE_TIMEOUT_MS = 2_000;
/** Our 401 body is well under this; a longer answer is not ours. */
const MAX_ANSWER_BYTES = 16 * 1024;

export function identifyPort(
  port: number,
  opts: { host?: string; timeoutMs?: number } = {},
): Promise<PortOccupant> {
  const timeoutMs = opts.timeoutMs ?? PROBE_TIMEOUT_MS;
  return new Promise((resolve) => {
    let settled = false;
    const body = '{}';
    const req = http.request({
      host: opts.host ?? '127.0.0.1',
      port,
      path: MCP_PATH,
      method: 'POST',
      agent: false,
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        'Content-Length': Buffer.byteLength(body),
      },
    });
    const timer = setTimeout(() => done('unknown'), timeoutMs);
    timer.unref?.();
    function done(who: PortOccupant): void {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(who);
    }
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) {
          done('foreign');
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        done(res.statusCode === 401 && text.includes('Agent Keyring') ? 'agentKeyring' : 'foreign');
      });
      res.on('error', () => done('unknown'));
    });
    req.on('error', (e: NodeJS.ErrnoException) =>
      // Nobody listens → free; an answer that is not HTTP (HPE_*) → not ours; reset, hang-up → unclear.
      done(e.code === 'ECONNREFUSED' ? 'free' : e.code?.startsWith('HPE_') ? 'foreign' : 'unknown'),
    );
    req.end(body);
  });
}
