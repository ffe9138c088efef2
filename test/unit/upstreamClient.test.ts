/**
 * UpstreamClient (the default upstream call of http_request) against a real node:http server on
 * 127.0.0.1: a gzip/br body comes back decoded (so it can be redacted as text), header names
 * lower-case and sorted with repeats joined, redirects not followed, the body cut at the limit,
 * a stalled answer ends as TimeoutError, a refused connection carries its code, sequential
 * calls reuse one keep-alive connection, and a request on a kept-alive connection the server
 * closed before answering is sent once more on a new one.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import * as zlib from 'node:zlib';
import { UpstreamClient } from '../../src/core/upstreamClient';
import { canary } from '../helpers/testKeyring';

describe('UpstreamClient', () => {
  const secret = canary('upstream-client');
  let server: http.Server;
  let base: string;
  const client = new UpstreamClient();
  const sockets = new Set<unknown>();
  /** Requests seen per connection, and hits of /flaky and /die. */
  const served = new WeakMap<object, number>();
  const hits = { flaky: 0, die: 0 };

  before(async () => {
    server = http.createServer((req, res) => {
      sockets.add(req.socket);
      req.resume();
      const path = req.url ?? '';
      const nth = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, nth);
      if (path === '/flaky' || path === '/die') {
        hits[path === '/flaky' ? 'flaky' : 'die']++;
        // /flaky: a kept-alive connection closed as the request arrives (no byte answered);
        // /die: every connection is closed without an answer.
        if (path === '/die' || nth > 1) {
          req.socket.destroy();
          return;
        }
      }
      if (path === '/gzip') {
        res.writeHead(200, { 'content-encoding': 'gzip', 'x-b': '2', 'X-A': '1' });
        res.end(zlib.gzipSync(`echo ${req.headers.authorization ?? ''}`));
      } else if (path === '/br') {
        res.writeHead(200, { 'content-encoding': 'br' });
        res.end(zlib.brotliCompressSync('brotli body'));
      } else if (path === '/redirect') {
        res.writeHead(302, { location: '/elsewhere' });
        res.end();
      } else if (path === '/big') {
        res.writeHead(200, { 'set-cookie': ['a=1', 'b=2'] });
        res.end('x'.repeat(10_000));
      } else if (path === '/stall') {
        res.writeHead(200);
        res.write('partial');
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`${req.method} ${req.headers['user-agent'] ?? ''} ${req.headers.accept ?? ''}`);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    client.dispose();
    server.closeAllConnections();
    server.close();
  });

  const req = (
    path: string,
    extra: Partial<Parameters<UpstreamClient['request']>[0]> = {},
  ): ReturnType<UpstreamClient['request']> =>
    client.request({
      url: `${base}${path}`,
      method: 'GET',
      headers: {},
      body: undefined,
      signal: AbortSignal.timeout(5_000),
      maxBytes: 1_048_576,
      slack: 64,
      ...extra,
    });

  test('a gzip or br body is decoded; headers lower-case, sorted, repeats joined', async () => {
    const g = await req('/gzip', { headers: { Authorization: `Bearer ${secret}` } });
    assert.equal(g.status, 200);
    assert.equal(g.body.text, `echo Bearer ${secret}`, 'decoded, so the service can redact the key in it');
    const names = g.headers.map(([k]) => k);
    assert.deepEqual(names, [...names].sort());
    assert.ok(names.includes('x-a') && names.includes('x-b'));
    assert.equal((await req('/br')).body.text, 'brotli body');
    const big = await req('/big', { maxBytes: 100, slack: 10 });
    assert.equal(big.body.text.length, 110);
    assert.equal(big.body.truncated, true);
    assert.deepEqual(
      big.headers.find(([k]) => k === 'set-cookie'),
      ['set-cookie', 'a=1, b=2'],
    );
  });

  test('defaults like fetch (accept, user-agent) unless given; redirects are not followed', async () => {
    assert.equal((await req('/plain')).body.text, 'GET node */*');
    assert.equal(
      (await req('/plain', { headers: { Accept: 'application/json' } })).body.text,
      'GET node application/json',
    );
    const r = await req('/redirect');
    assert.equal(r.status, 302);
    assert.deepEqual(
      r.headers.find(([k]) => k === 'location'),
      ['location', '/elsewhere'],
    );
  });

  test('sequential calls share one keep-alive connection', async () => {
    sockets.clear();
    for (let i = 0; i < 5; i++) {
      assert.equal((await req('/plain')).status, 200);
    }
    assert.equal(sockets.size, 1);
  });

  test('a kept-alive connection closed before any answer is retried once on a new one; a fresh one is not', async () => {
    assert.equal((await req('/plain')).status, 200);
    const flaky = await req('/flaky');
    assert.equal(flaky.status, 200, 'sent again on a new connection');
    assert.equal(hits.flaky, 2);
    assert.equal((await req('/plain')).status, 200);
    await assert.rejects(req('/die'), (e: Error) => (e.cause as { code?: string }).code === 'ECONNRESET');
    assert.equal(hits.die, 2, 'once on the kept-alive connection, once on a new one, then the error');
    await assert.rejects(req('/die'), (e: Error) => (e.cause as { code?: string }).code === 'ECONNRESET');
    assert.equal(hits.die, 3, 'a new connection that fails is not retried');
  });

  test('a stalled answer is a TimeoutError (signal or timeoutMs); a refused connection carries its code', async () => {
    await assert.rejects(
      req('/stall', { signal: AbortSignal.timeout(200) }),
      (e: Error) => e.name === 'TimeoutError',
    );
    await assert.rejects(
      req('/stall', { signal: undefined, timeoutMs: 200 }),
      (e: Error) => e.name === 'TimeoutError',
    );
    const dead = http.createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    await assert.rejects(
      client.request({
        url: `http://127.0.0.1:${port}/`,
        method: 'GET',
        headers: {},
        body: undefined,
        signal: AbortSignal.timeout(5_000),
        maxBytes: 10,
        slack: 0,
      }),
      (e: Error) => (e.cause as { code?: string }).code === 'ECONNREFUSED',
    );
  });
});
