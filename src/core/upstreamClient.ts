/**
 * The upstream call of `http_request` on node:http(s) with keep-alive agents, reading at most a
 * bounded number of body bytes. Replaces the global `fetch` on the default path: undici's
 * `Request`/`Response`, `Headers` and Web streams cost ~1 ms of CPU per call here (bench/RESULTS.md,
 * section 2b), more than the rest of the broker's own work. What fetch did is kept: redirects are not
 * followed, a gzip/deflate/br body is decoded (it is redacted as text), header names come back
 * lower-case and sorted, and `accept: *\/*`, `accept-encoding` and `user-agent: node` are sent unless
 * the request sets them. A request on a reused keep-alive connection that the upstream closed just
 * then (ECONNRESET before any answer) is sent once more on a new connection — the documented
 * `reusedSocket` case; the upstream never saw the first one.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import * as zlib from 'node:zlib';

export interface UpstreamAnswer {
  status: number;
  /** Lower-case names, sorted; repeated headers joined with `, ` (as fetch's `Headers`). */
  headers: Array<[string, string]>;
  body: { text: string; truncated: boolean; maxBytes: number };
}

export interface UpstreamRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  signal: AbortSignal;
  /** Body bytes kept; `slack` more are read so a key straddling the cut is redacted whole. */
  maxBytes: number;
  slack: number;
}

/** Errors carry `cause.code` (ECONNREFUSED, …) or the name `TimeoutError`, like fetch's. */
function failure(code: string, message: string): Error {
  if (code === 'TimeoutError') {
    const e = new Error(message);
    e.name = 'TimeoutError';
    return e;
  }
  return new Error(message, { cause: { code } });
}

export class UpstreamClient {
  readonly #http = new http.Agent({ keepAlive: true });
  readonly #https = new https.Agent({ keepAlive: true });

  async request(r: UpstreamRequest): Promise<UpstreamAnswer> {
    try {
      return await this.#once(r, false);
    } catch (e) {
      if ((e as { retry?: boolean }).retry) {
        return this.#once(r, true);
      }
      throw e;
    }
  }

  /** Closes idle keep-alive connections. */
  dispose(): void {
    this.#http.destroy();
    this.#https.destroy();
  }

  #once(r: UpstreamRequest, retried: boolean): Promise<UpstreamAnswer> {
    return new Promise<UpstreamAnswer>((resolve, reject) => {
      if (r.signal.aborted) {
        reject(failure('TimeoutError', 'The operation was aborted due to timeout'));
        return;
      }
      const url = new URL(r.url);
      const secure = url.protocol === 'https:';
      const headers: Record<string, string> = {};
      const given = new Set<string>();
      for (const [k, v] of Object.entries(r.headers)) {
        headers[k] = v;
        given.add(k.toLowerCase());
      }
      for (const [k, v] of [
        ['accept', '*/*'],
        ['accept-encoding', 'gzip, deflate, br'],
        ['user-agent', 'node'],
      ]) {
        if (!given.has(k)) {
          headers[k] = v;
        }
      }
      if (r.body !== undefined) {
        headers['content-length'] = String(Buffer.byteLength(r.body));
      }
      let settled = false;
      let req: http.ClientRequest;
      const onAbort = (): void => {
        req.destroy(failure('TimeoutError', 'The operation was aborted due to timeout'));
      };
      const done = (error: Error | undefined, answer?: UpstreamAnswer): void => {
        if (settled) {
          return;
        }
        settled = true;
        r.signal.removeEventListener('abort', onAbort);
        if (error) {
          reject(error);
        } else {
          resolve(answer as UpstreamAnswer);
        }
      };
      try {
        req = (secure ? https : http).request(url, {
          method: r.method,
          headers,
          agent: secure ? this.#https : this.#http,
        });
      } catch (e) {
        // An invalid header name or value (node:http checks them before sending).
        done(failure((e as NodeJS.ErrnoException).code ?? 'invalid_request', (e as Error).message));
        return;
      }
      r.signal.addEventListener('abort', onAbort, { once: true });
      let answered = false;
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e.name === 'TimeoutError') {
          done(e);
          return;
        }
        if (!answered && !retried && req.reusedSocket && e.code === 'ECONNRESET') {
          done(Object.assign(failure('ECONNRESET', e.message), { retry: true }));
          return;
        }
        done(failure(e.code ?? 'error', e.message));
      });
      req.on('response', (res) => {
        answered = true;
        const names = Object.keys(res.headers).sort();
        const out: Array<[string, string]> = [];
        for (const name of names) {
          const v = res.headers[name];
          if (v !== undefined) {
            out.push([name, Array.isArray(v) ? v.join(', ') : v]);
          }
        }
        let stream: Readable = res;
        const encoding = String(res.headers['content-encoding'] ?? '').toLowerCase();
        if (r.method !== 'HEAD') {
          if (encoding === 'gzip' || encoding === 'x-gzip') {
            stream = res.pipe(zlib.createGunzip());
          } else if (encoding === 'deflate') {
            stream = res.pipe(zlib.createInflate());
          } else if (encoding === 'br') {
            stream = res.pipe(zlib.createBrotliDecompress());
          }
        }
        const limit = r.maxBytes + r.slack;
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        const finish = (): void =>
          done(undefined, {
            status: res.statusCode ?? 0,
            headers: out,
            body: {
              text: (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString('utf8'),
              truncated: truncated || size > r.maxBytes,
              maxBytes: r.maxBytes,
            },
          });
        stream.on('data', (c: Buffer) => {
          if (truncated) {
            return;
          }
          if (size + c.length > limit) {
            chunks.push(c.subarray(0, limit - size));
            size = limit;
            truncated = true;
            finish();
            req.destroy();
            return;
          }
          chunks.push(c);
          size += c.length;
        });
        stream.on('end', finish);
        stream.on('error', (e: NodeJS.ErrnoException) =>
          done(e.name === 'TimeoutError' ? e : failure(e.code ?? 'error', e.message)),
        );
        res.on('error', (e: NodeJS.ErrnoException) =>
          done(e.name === 'TimeoutError' ? e : failure(e.code ?? 'error', e.message)),
        );
        res.on('aborted', () => done(failure('ECONNRESET', 'the upstream closed the connection mid-answer')));
      });
      req.end(r.body);
    });
  }
}
