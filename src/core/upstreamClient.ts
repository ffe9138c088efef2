/**
 * The upstream call of `http_request`, on the forwarding path's lean HTTP/1.1 keep-alive client
 * (`forward/http1Client.ts`: one header block per request, the answer framed from the bytes), one
 * client per origin, reading at most a bounded number of body bytes. It replaced node:http's
 * `ClientRequest`/agents, which were the largest share of the broker's own CPU after undici's
 * `fetch` was dropped (bench/RESULTS.md, "Forwarding and brokered calls"). What fetch did is kept:
 * redirects are not followed, a gzip/deflate/br body is decoded (it is redacted as text), header
 * names come back lower-case and sorted, and `accept: *\/*`, `accept-encoding` and
 * `user-agent: node` are sent unless the request sets them. A request on a reused keep-alive
 * connection that the upstream closed just then (before any byte of an answer) is sent once more
 * on a new connection — the upstream never took the first one.
 */
import * as zlib from 'node:zlib';
import { Http1Client, Http1Error, headerLines } from './forward/http1Client';

/** Origins whose idle connections are kept; past this the least recently used one is closed. */
const MAX_ORIGINS = 32;
const TIMEOUT_MESSAGE = 'The operation was aborted due to timeout';

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
  /** The whole call (body included) must end by then: a timer (cheaper than a signal per call)… */
  timeoutMs?: number;
  /** …or a signal (either or both). */
  signal?: AbortSignal;
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
  /** origin → client (insertion order = least recently used first). */
  readonly #clients = new Map<string, Http1Client>();

  async request(r: UpstreamRequest): Promise<UpstreamAnswer> {
    try {
      return await this.#once(r);
    } catch (e) {
      if (e instanceof Http1Error && e.retryable) {
        return this.#once(r);
      }
      throw e;
    }
  }

  /** Closes idle keep-alive connections. */
  dispose(): void {
    for (const c of this.#clients.values()) {
      c.close();
    }
    this.#clients.clear();
  }

  #client(url: URL): Http1Client {
    const origin = `${url.protocol}//${url.host}`;
    let c = this.#clients.get(origin);
    if (c) {
      this.#clients.delete(origin);
    } else {
      c = new Http1Client({ url: new URL(`${origin}/`) });
      if (this.#clients.size >= MAX_ORIGINS) {
        const [oldest, client] = this.#clients.entries().next().value as [string, Http1Client];
        this.#clients.delete(oldest);
        client.close();
      }
    }
    this.#clients.set(origin, c);
    return c;
  }

  #once(r: UpstreamRequest): Promise<UpstreamAnswer> {
    return new Promise<UpstreamAnswer>((resolve, reject) => {
      if (r.signal?.aborted) {
        reject(failure('TimeoutError', TIMEOUT_MESSAGE));
        return;
      }
      const url = new URL(r.url);
      const given = new Set<string>();
      for (const k of Object.keys(r.headers)) {
        given.add(k.toLowerCase());
      }
      let lines: string;
      try {
        lines = headerLines(r.headers);
      } catch (e) {
        // An invalid header name or value (the message names the header, never the value).
        reject(failure('invalid_request', (e as Error).message));
        return;
      }
      for (const [k, v] of DEFAULTS) {
        if (!given.has(k)) {
          lines += `${k}: ${v}\r\n`;
        }
      }
      const path = `${url.pathname}${url.search}`;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let decoder: zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | undefined;
      const onAbort = (): void => {
        pending.abort();
        decoder?.destroy();
        done(failure('TimeoutError', TIMEOUT_MESSAGE));
      };
      const done = (error: Error | undefined, answer?: UpstreamAnswer): void => {
        if (settled) {
          return;
        }
        settled = true;
        clearTimeout(timer);
        r.signal?.removeEventListener('abort', onAbort);
        if (error) {
          reject(error);
        } else {
          resolve(answer as UpstreamAnswer);
        }
      };
      const limit = r.maxBytes + r.slack;
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      let status = 0;
      let headers: Array<[string, string]> = [];
      const finish = (): void =>
        done(undefined, {
          status,
          headers,
          body: {
            text: (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString('utf8'),
            truncated: truncated || size > r.maxBytes,
            maxBytes: r.maxBytes,
          },
        });
      const take = (c: Buffer): void => {
        if (truncated || settled) {
          return;
        }
        if (size + c.length > limit) {
          chunks.push(c.subarray(0, limit - size));
          size = limit;
          truncated = true;
          finish();
          pending.abort();
          decoder?.destroy();
          return;
        }
        chunks.push(c);
        size += c.length;
      };
      const pending = this.#client(url).request(
        {
          method: r.method,
          path,
          headers: lines,
          body: r.body === undefined ? undefined : Buffer.from(r.body),
        },
        {
          onResponse: (res) => {
            status = res.status;
            headers = Object.keys(res.headers)
              .sort()
              .map((k) => [k, res.headers[k]]);
            const encoding = (res.headers['content-encoding'] ?? '').toLowerCase();
            if (r.method !== 'HEAD') {
              if (encoding === 'gzip' || encoding === 'x-gzip') {
                decoder = zlib.createGunzip();
              } else if (encoding === 'deflate') {
                decoder = zlib.createInflate();
              } else if (encoding === 'br') {
                decoder = zlib.createBrotliDecompress();
              }
            }
            if (decoder) {
              decoder.on('data', take);
              decoder.on('end', finish);
              decoder.on('error', (e: NodeJS.ErrnoException) => done(failure(e.code ?? 'error', e.message)));
            }
            return true;
          },
          onChunk: (c) => (decoder ? decoder.write(c) : take(c)),
          onEnd: () => (decoder ? decoder.end() : finish()),
          onError: (e) => {
            decoder?.destroy();
            if (e.retryable && !settled) {
              settled = true;
              clearTimeout(timer);
              r.signal?.removeEventListener('abort', onAbort);
              reject(e);
              return;
            }
            done(failure(e.code, e.message));
          },
        },
      );
      if (r.timeoutMs !== undefined) {
        timer = setTimeout(onAbort, r.timeoutMs);
      }
      r.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

const DEFAULTS: ReadonlyArray<[string, string]> = [
  ['accept', '*/*'],
  ['accept-encoding', 'gzip, deflate, br'],
  ['user-agent', 'node'],
];
