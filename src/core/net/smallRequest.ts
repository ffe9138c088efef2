/**
 * One small HTTP request on a fresh connection (no keep-alive pool left open), for the loopback
 * checks a window makes before it trusts a port: who answers (`vscode/server/portProbe.ts`) and
 * whether it proves this store (`attach/attachProof.ts`). Bounded in time and in answer size;
 * never throws. Sends only what the caller gives it (never a token).
 */
import * as http from 'node:http';

export type SmallAnswer =
  /** An HTTP answer, read in full. */
  | { kind: 'answer'; status: number; body: Buffer }
  /** An HTTP answer larger than `maxBytes` (stopped reading). */
  | { kind: 'tooLarge' }
  /** Not HTTP (the parser refused it: `HPE_*`). */
  | { kind: 'notHttp' }
  /** Nobody listens. */
  | { kind: 'refused' }
  /** No answer in time, a reset, a hang-up. */
  | { kind: 'noAnswer' };

export function smallRequest(opts: {
  host: string;
  port: number;
  path: string;
  method: 'GET' | 'POST';
  headers: http.OutgoingHttpHeaders;
  body?: string;
  timeoutMs: number;
  maxBytes: number;
}): Promise<SmallAnswer> {
  return new Promise((resolve) => {
    let settled = false;
    const req = http.request({
      host: opts.host,
      port: opts.port,
      path: opts.path,
      method: opts.method,
      agent: false,
      headers: opts.headers,
    });
    const timer = setTimeout(() => done({ kind: 'noAnswer' }), opts.timeoutMs);
    timer.unref?.();
    function done(answer: SmallAnswer): void {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(answer);
    }
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBytes) {
          done({ kind: 'tooLarge' });
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => done({ kind: 'answer', status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', () => done({ kind: 'noAnswer' }));
    });
    req.on('error', (e: NodeJS.ErrnoException) =>
      done(
        e.code === 'ECONNREFUSED'
          ? { kind: 'refused' }
          : e.code?.startsWith('HPE_')
            ? { kind: 'notHttp' }
            : { kind: 'noAnswer' },
      ),
    );
    req.end(opts.body);
  });
}
