/**
 * The http_request holes of issue #10, each a regression test that fails on the code before the
 * fix: cleartext to a portless allowed host, header names not redacted, JSON `\/` / hex / case
 * forms not redacted, a key straddling the 1 MiB cut leaking its prefix, and a stalled upstream
 * body answered as internal_error with a stack in the log. A real SDK client over real HTTP on
 * 127.0.0.1, the real service, and a local upstream on 127.0.0.1 that echoes the key back.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startHttpHost, type HttpHost } from '../../src/core/mcp/http';
import { SecretValue } from '../../src/core/model';
import { createTestKeyring, type TestKeyring, type TestKeyringOptions } from '../helpers/testKeyring';
import { call, connectHttp, textOf } from './harness';

const QUIET = { actions: { first_use: 'off', probing: 'off', unusual_hours: 'off' } } as NonNullable<
  TestKeyringOptions['anomaly']
>;
const MAX_BODY = 1_048_576;

describe('http_request holes (issue #10)', () => {
  let upstream: http.Server;
  let port: number;
  let k: TestKeyring;
  let host: HttpHost;
  let client: Client;
  /** A value with "/" and mixed case, so JSON `\/` escaping and case changes are real forms of it. */
  const echoValue = `Br/${randomUUID()}XyZ`;

  const secrets = (): string[] => [...Object.values(k.values), ...Object.values(k.tokens)];
  function assertClean(text: string, where: string): void {
    const lower = text.toLowerCase();
    for (const s of secrets()) {
      assert.ok(!lower.includes(s.toLowerCase()), `${where} must not contain a secret`);
      assert.ok(!lower.includes(Buffer.from(s).toString('hex')), `${where} must not contain a secret's hex`);
    }
  }

  before(async () => {
    upstream = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const auth = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
      switch (url.pathname) {
        case '/forms': {
          // Echoes the key as an upstream might: JSON with \/ escaping, hex (both cases), upper/lower case.
          const hex = Buffer.from(auth).toString('hex');
          res.writeHead(200, { 'Content-Type': 'application/json', 'X-Upper': auth.toUpperCase() });
          res.end(
            `${JSON.stringify({ echoed: auth }).replace(/\//g, '\\/')}\n${hex}\n${hex.toUpperCase()}\n${auth.toUpperCase()}\n${auth.toLowerCase()}`,
          );
          return;
        }
        case '/header-name':
          // The key as a header NAME (node lower-cases names on the way out).
          res.writeHead(200, { [`x-echo-${auth}`]: '1' });
          res.end('ok');
          return;
        case '/cut': {
          // The agent picks where the key lands relative to the 1 MiB cut.
          const at = Number(url.searchParams.get('at'));
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          res.write('a'.repeat(at));
          res.end(`${auth}${'b'.repeat(4096)}`);
          return;
        }
        case '/stall':
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          res.write('partial body, then nothing');
          return; // never ends
        default:
          res.writeHead(404);
          res.end();
      }
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    port = (upstream.address() as AddressInfo).port;
    k = await createTestKeyring({
      anomaly: QUIET,
      allowedHosts: [`127.0.0.1:${port}`],
      upstreamTimeoutMs: 400,
    });
    k.values.echo_key = echoValue;
    await k.keyring.store.addCredential(
      {
        name: 'echo_key',
        allowed_scopes: ['read'],
        allowed_agents: ['research-agent'],
        allowed_hosts: [`127.0.0.1:${port}`],
      },
      new SecretValue(echoValue),
      'test',
    );
    host = await startHttpHost({ api: k.api, port: 0, logger: k.logger });
    client = await connectHttp(host.url, k.tokens['research-agent']);
  });

  after(async () => {
    await client.close();
    await host.close();
    assertClean(k.logger.text(), 'the log');
    assertClean(fs.readFileSync(k.auditPath, 'utf8'), 'the audit file');
    await k.dispose();
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  it('cleartext: a portless allowed host is not reached over http:// (was admitted on port 80)', async () => {
    const r = await call(client, 'http_request', {
      credential: 'scavio_api_key',
      scope: 'search_read',
      method: 'GET',
      url: 'http://api.scavio.example/v1/search?key={{credential}}',
    });
    assert.equal(r.structuredContent?.code, 'host_denied', textOf(r));
    assert.match(textOf(r), /over https:\/\//);
  });

  it('redaction: JSON \\/ escaping, hex in both cases, upper/lower case', async () => {
    const forms = await call(client, 'http_request', {
      credential: 'echo_key',
      scope: 'read',
      method: 'GET',
      url: `http://127.0.0.1:${port}/forms`,
      headers: { Authorization: 'Bearer {{credential}}' },
    });
    assert.equal(forms.isError, undefined, textOf(forms));
    const body = forms.structuredContent?.body as string;
    assert.equal(body.split('[REDACTED]').length - 1, 5, body);
    assertClean(JSON.stringify(forms), 'the /forms answer');
  });

  it('redaction: a key echoed as a response header NAME', async () => {
    const names = await call(client, 'http_request', {
      credential: 'scavio_api_key',
      scope: 'search_read',
      method: 'GET',
      url: `http://127.0.0.1:${port}/header-name`,
      headers: { Authorization: 'Bearer {{credential}}' },
    });
    assert.equal(names.isError, undefined, textOf(names));
    assert.ok(Object.keys(names.structuredContent?.headers as object).includes('x-echo-[REDACTED]'));
    assertClean(JSON.stringify(names), 'the /header-name answer');
  });

  it('redaction: a key straddling the 1 MiB cut leaks no prefix', async () => {
    for (const before of [20, 7, 1]) {
      const r = await call(client, 'http_request', {
        credential: 'echo_key',
        scope: 'read',
        method: 'GET',
        url: `http://127.0.0.1:${port}/cut?at=${MAX_BODY - before}`,
        headers: { Authorization: 'Bearer {{credential}}' },
      });
      assert.equal(r.isError, undefined, textOf(r));
      const body = r.structuredContent?.body as string;
      assert.match(body, /\[truncated at 1048576 bytes\]$/);
      const tail = body.slice(-200);
      assert.ok(
        !tail.includes(echoValue.slice(0, Math.max(before, 3))),
        `no ${before}-character prefix at the cut`,
      );
      assert.ok(
        tail.includes(`a${'[REDACTED]'.slice(0, Math.min(before, 10))}`),
        `the key is masked at the cut: ${JSON.stringify(tail.slice(-60))}`,
      );
    }
  });

  it('a stalled upstream body is upstream_error, with no stack in the log at the default level', async () => {
    k.logger.clear();
    const r = await call(client, 'http_request', {
      credential: 'echo_key',
      scope: 'read',
      method: 'GET',
      url: `http://127.0.0.1:${port}/stall`,
      headers: { Authorization: 'Bearer {{credential}}' },
    });
    assert.equal(r.structuredContent?.code, 'upstream_error', textOf(r));
    assert.match(textOf(r), /failed \(TimeoutError\)/);
    const defaultLevel = [...k.logger.at('info'), ...k.logger.at('warn'), ...k.logger.at('error')].join('\n');
    assert.ok(!/\n\s+at /.test(defaultLevel), 'no stack trace at info/warn/error');
  });
});
