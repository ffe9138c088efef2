/**
 * The one way the front door says no: a {@link Refusal} (HTTP status, JSON-RPC error code, message,
 * extra headers) and the one writer that turns it into a JSON-RPC error body — never HTML, never a
 * stack trace. The gate, the session table, both protocol eras and the transport all throw or write
 * these.
 */
import type * as http from 'node:http';

/** JSON-RPC id a refusal answers (`null` when the request's id is unknown or not read yet). */
export type RefusalId = string | number | null;

/** An answer that ends the request early. */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly rpcCode: number,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly data?: unknown,
    readonly id: RefusalId = null,
  ) {
    super(message);
    this.name = 'Refusal';
  }
}

/**
 * Writes a JSON-RPC error body with `status`. When the answer has already started (an event stream),
 * it ends or drops the exchange instead of leaving the client hanging.
 */
export function writeJsonError(
  res: http.ServerResponse,
  status: number,
  code: number,
  message: string,
  opts: {
    headers?: http.OutgoingHttpHeaders;
    id?: RefusalId;
    data?: unknown;
    destroyIfStarted?: boolean;
  } = {},
): void {
  if (res.headersSent) {
    if (opts.destroyIfStarted) {
      res.destroy();
    } else {
      res.end();
    }
    return;
  }
  const error: Record<string, unknown> = { code, message };
  if (opts.data !== undefined) {
    error.data = opts.data;
  }
  const text = JSON.stringify({ jsonrpc: '2.0', error, id: opts.id ?? null });
  res
    .writeHead(status, {
      ...opts.headers,
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
    })
    .end(text);
}

/** {@link writeJsonError} for a {@link Refusal}. */
export function writeRefusal(res: http.ServerResponse, r: Refusal, destroyIfStarted = false): void {
  writeJsonError(res, r.status, r.rpcCode, r.message, {
    headers: r.headers,
    id: r.id,
    data: r.data,
    destroyIfStarted,
  });
}
