/**
 * The demo's stand-in for the Scavio search API (`serve --demo`): a tiny HTTP server on 127.0.0.1
 * that answers `GET /api/v1/search?q=…` only with the demo credential's current value (or the
 * previous one during its grace period) in `Authorization: Bearer …` or `X-Api-Key`, and never
 * echoes a key. It lets the demo show a brokered `http_request` that works end to end without
 * the network; the demo credential's allowed hosts name it (`127.0.0.1:<port>`).
 */
import * as http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Keyring } from '../core/keyring';
import type { Logger } from '../core/ports';

export interface DemoUpstream {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** The `allowed_hosts` entry that admits it. */
  hostEntry: string;
  close(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';

/**
 * Starts the stand-in on `port` (0: any free port; a taken port falls back to any free one).
 * `credential` names the key it accepts.
 */
export async function startDemoUpstream(
  k: Keyring,
  credential: string,
  port: number,
  logger: Logger,
): Promise<DemoUpstream> {
  const server = http.createServer((req, res) => {
    void answer(k, credential, req, res).catch(() => {
      send(res, 500, { error: 'the demo upstream failed; see the serve log' });
      logger.warn('Demo upstream: could not check a request.');
    });
  });
  const listen = (p: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, LOOPBACK, () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await listen(port);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) {
      throw e;
    }
    logger.info(`Demo upstream: port ${port} is taken; using another one.`);
    await listen(0);
  }
  const actual = (server.address() as { port: number }).port;
  return {
    origin: `http://${LOOPBACK}:${actual}`,
    hostEntry: `${LOOPBACK}:${actual}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function answer(
  k: Keyring,
  credential: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', `http://${LOOPBACK}`);
  if (url.pathname !== '/api/v1/search') {
    send(res, 404, { error: 'not found: the demo upstream answers GET /api/v1/search?q=…' });
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, { error: 'only GET /api/v1/search' });
    return;
  }
  const auth = req.headers.authorization;
  const presented =
    (typeof auth === 'string' && /^Bearer /i.test(auth) ? auth.slice(7).trim() : undefined) ??
    (typeof req.headers['x-api-key'] === 'string' ? req.headers['x-api-key'] : undefined);
  if (presented === undefined || !(await accepts(k, credential, presented))) {
    send(res, 401, {
      error: `send the key of '${credential}' as 'Authorization: Bearer {{credential}}' (through http_request)`,
    });
    return;
  }
  const q = (url.searchParams.get('q') ?? '').slice(0, 100);
  send(res, 200, {
    query: q,
    results: [
      { title: `Demo result 1 for "${q}"`, url: 'https://example.com/1' },
      { title: `Demo result 2 for "${q}"`, url: 'https://example.com/2' },
    ],
    note: 'Answered by the Agent Keyring demo upstream: the key was checked here and is not echoed.',
  });
}

/** The current value, or the previous one while its grace period lasts. */
async function accepts(k: Keyring, credential: string, presented: string): Promise<boolean> {
  const meta = await k.store.getCredential(credential);
  if (!meta) {
    return false;
  }
  const { version, value } = await k.store.readCurrentValue(credential);
  if (same(value.reveal(), presented)) {
    return true;
  }
  const graceUntil = meta.previous_valid_until ? Date.parse(meta.previous_valid_until) : NaN;
  if (version > 1 && graceUntil > Date.now()) {
    const previous = await k.store.readVersionValue(credential, version - 1);
    return previous !== undefined && same(previous.reveal(), presented);
  }
  return false;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}
