/**
 * The 2026-07-28 era on the same /mcp as the 2025 sessions: the SDK v2 client lists and calls
 * every tool and receives a rotation notice over subscriptions/listen; raw requests for the
 * header/body rules, bad versions and the new error codes; both eras at once; revocation ends a
 * listen stream. Real HTTP on 127.0.0.1, the real service, canary values.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Client as ClientV2 } from '@modelcontextprotocol/client';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startHttpHost, type HttpHost } from '../../src/core/mcp/http';
import { SecretValue } from '../../src/core/model';
import { createTestKeyring, type TestKeyring, type TestKeyringOptions } from '../helpers/testKeyring';
import {
  INITIALIZE_BODY,
  call,
  connectHttp,
  connectHttpV2,
  modernRequest,
  postHeaders,
  rawRequest,
  waitFor,
  type RawResponse,
} from './harness';

const QUIET = { actions: { first_use: 'off', probing: 'off', unusual_hours: 'off' } } as NonNullable<
  TestKeyringOptions['anomaly']
>;

interface RpcError {
  jsonrpc: string;
  id: unknown;
  error: { code: number; message: string; data?: Record<string, unknown> };
}

function rpcError(r: RawResponse, status: number, code: number, id: unknown = 1): RpcError['error'] {
  assert.equal(r.status, status, r.body);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const parsed = JSON.parse(r.body) as RpcError;
  assert.equal(parsed.jsonrpc, '2.0');
  assert.equal(parsed.id, id);
  assert.equal(parsed.error.code, code, r.body);
  assert.doesNotMatch(r.body, /\n\s+at |node_modules/);
  return parsed.error;
}

type Structured = Record<string, unknown>;

async function callV2(
  client: ClientV2,
  name: string,
  args: Structured,
): Promise<{ isError?: boolean; structuredContent?: Structured }> {
  return (await client.callTool({ name, arguments: args })) as {
    isError?: boolean;
    structuredContent?: Structured;
  };
}

describe('2026-07-28 era: the SDK v2 client', () => {
  let k: TestKeyring;
  let host: HttpHost;
  let upstream: http.Server;
  let upstreamPort: number;

  before(async () => {
    upstream = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ auth: req.headers.authorization ?? null }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamPort = (upstream.address() as AddressInfo).port;
    k = await createTestKeyring({ anomaly: QUIET, allowedHosts: [`127.0.0.1:${upstreamPort}`] });
    host = await startHttpHost({ api: k.api, port: 0, logger: k.logger });
  });
  after(async () => {
    await host.close();
    // No value (current or rotated canary) reached a log line in any of these tests.
    const logged = k.logger.text();
    for (const value of [
      ...Object.values(k.values),
      'canary-v2-rotated-1',
      'canary-listen-1',
      'canary-listen-2',
    ]) {
      assert.ok(!logged.includes(value), 'a value reached the log');
    }
    await k.dispose();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  it('negotiates 2026-07-28 (pinned and auto), lists every tool and calls each one', async () => {
    const auto = await connectHttpV2(host.url, k.tokens['research-agent'], 'auto');
    await auto.close();
    const client = await connectHttpV2(host.url, k.tokens['research-agent']);
    try {
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), [
        'get_credential',
        'http_request',
        'list_credentials',
        'rotate_credential',
      ]);
      const got = await callV2(client, 'get_credential', { name: 'github_token', scope: 'repo_read' });
      assert.equal(got.isError, undefined);
      assert.equal(got.structuredContent?.value, k.values.github_token);
      const listed = await callV2(client, 'list_credentials', {});
      assert.deepEqual(
        (listed.structuredContent?.credentials as Array<{ name: string }>).map((c) => c.name).sort(),
        ['github_token', 'scavio_api_key'],
      );
      const rotated = await callV2(client, 'rotate_credential', {
        name: 'github_token',
        new_value: 'canary-v2-rotated-1',
      });
      assert.equal(rotated.isError, undefined, JSON.stringify(rotated));
      assert.equal(rotated.structuredContent?.version, 2);
      const brokered = await callV2(client, 'http_request', {
        credential: 'scavio_api_key',
        scope: 'search_read',
        method: 'GET',
        url: `http://127.0.0.1:${upstreamPort}/v1/search`,
        headers: { Authorization: 'Bearer {{credential}}' },
      });
      assert.equal(brokered.isError, undefined, JSON.stringify(brokered));
      assert.equal(brokered.structuredContent?.status, 200);
      assert.doesNotMatch(JSON.stringify(brokered), new RegExp(k.values.scavio_api_key));
      const refused = await callV2(client, 'get_credential', { name: 'npm_token', scope: 'publish' });
      assert.equal(refused.isError, true);
      // Resources: listed and read, metadata only.
      const { resources } = await client.listResources();
      assert.deepEqual(resources.map((r) => r.name).sort(), ['github_token', 'scavio_api_key']);
      const read = await client.readResource({ uri: 'credential://scavio_api_key' });
      assert.doesNotMatch(JSON.stringify(read), new RegExp(k.values.scavio_api_key));
    } finally {
      await client.close();
    }
    // The audit names the client from the per-request _meta, and holds no value.
    const audit = fs.readFileSync(k.auditPath, 'utf8');
    assert.match(audit, /mcp-v2-test-client/);
    assert.doesNotMatch(audit, new RegExp(k.values.scavio_api_key));
    assert.doesNotMatch(audit, /canary-v2-rotated-1/);
  });

  it('receives a rotation notice on subscriptions/listen, once per version, only for what it asked', async () => {
    const client = await connectHttpV2(host.url, k.tokens['release-agent']);
    try {
      const seen: string[] = [];
      client.setNotificationHandler('notifications/resources/updated', (n) => void seen.push(n.params.uri));
      // credential://github_token is allowed to every agent; scavio is not release-agent's: dropped.
      const sub = await client.listen({
        resourceSubscriptions: ['credential://npm_token', 'credential://scavio_api_key'],
      });
      assert.equal(host.listenCount(), 1);
      await k.service.rotate('npm_token', {
        value: new SecretValue('canary-listen-1'),
        actor: 'vscode-user',
      });
      await waitFor(() => seen.length >= 1, 'resources/updated on the listen stream');
      await k.service.rotate('scavio_api_key', {
        value: new SecretValue('canary-listen-2'),
        actor: 'vscode-user',
      });
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(seen, ['credential://npm_token']);
      await sub.close();
      await waitFor(() => host.listenCount() === 0, 'the stream closed on cancel');
    } finally {
      await client.close();
    }
  });

  it('serves both eras at once: a 2025 session and a 2026-07-28 client both hear the same rotation', async () => {
    const old = await connectHttp(host.url, k.tokens['release-agent']);
    const modern = await connectHttpV2(host.url, k.tokens['release-agent']);
    try {
      const oldSeen: string[] = [];
      const newSeen: string[] = [];
      old.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void oldSeen.push(n.params.uri));
      modern.setNotificationHandler(
        'notifications/resources/updated',
        (n) => void newSeen.push(n.params.uri),
      );
      await old.subscribeResource({ uri: 'credential://npm_token' });
      const sub = await modern.listen({ resourceSubscriptions: ['credential://npm_token'] });
      const r = await call(old, 'get_credential', { name: 'npm_token', scope: 'publish' });
      assert.ok(r.structuredContent !== undefined);
      for (let i = 0; i < 20 && (oldSeen.length === 0 || newSeen.length === 0); i++) {
        await k.service.rotate('npm_token', {
          value: new SecretValue(`canary-both-${i}`),
          actor: 'vscode-user',
        });
        await waitFor(() => oldSeen.length > 0 && newSeen.length > 0, 'both eras notified', 200).catch(
          () => undefined,
        );
      }
      assert.ok(oldSeen.length > 0 && newSeen.length > 0);
      await sub.close();
    } finally {
      await old.close();
      await modern.close();
    }
  });

  it('revoking the agent ends its listen stream', async () => {
    const k2 = await createTestKeyring({ anomaly: QUIET });
    const host2 = await startHttpHost({ api: k2.api, port: 0 });
    const client = await connectHttpV2(host2.url, k2.tokens['release-agent']);
    try {
      await client.listen({ resourceSubscriptions: ['credential://npm_token'] });
      assert.equal(host2.listenCount(), 1);
      await k2.service.revokeAgent('release-agent', 'vscode-user');
      await waitFor(() => host2.listenCount() === 0, 'the listen stream closed');
      const again = modernRequest(host2.port, k2.tokens['release-agent'], 'tools/list');
      assert.equal((await rawRequest(host2.port, again)).status, 401);
    } finally {
      await client.close().catch(() => undefined);
      await host2.close();
      await k2.dispose();
    }
  });
});

describe('2026-07-28 era: headers, versions and error codes (raw)', () => {
  let k: TestKeyring;
  let host: HttpHost;
  let token: string;
  let port: number;

  before(async () => {
    k = await createTestKeyring({ anomaly: QUIET });
    host = await startHttpHost({ api: k.api, port: 0 });
    token = k.tokens['research-agent'];
    port = host.port;
  });
  after(async () => {
    await host.close();
    await k.dispose();
  });

  it('server/discover names both eras, the capabilities and the server', async () => {
    const r = await rawRequest(port, modernRequest(port, token, 'server/discover'));
    assert.equal(r.status, 200, r.body);
    const body = JSON.parse(r.body) as { id: number; result: Structured };
    assert.equal(body.id, 1);
    assert.deepEqual((body.result.supportedVersions as string[]).slice(0, 2), ['2026-07-28', '2025-11-25']);
    assert.equal(body.result.resultType, 'complete');
    assert.deepEqual((body.result._meta as Structured)['io.modelcontextprotocol/serverInfo'], {
      name: 'agent-keyring',
      version: '0.1.0',
    });
    assert.equal(r.headers['mcp-session-id'], undefined, 'no session in this era');
  });

  it('a stateless request needs no initialize and no session; two requests may share an id', async () => {
    const [a, b] = await Promise.all([
      rawRequest(port, modernRequest(port, token, 'tools/list', {}, { id: 7 })),
      rawRequest(port, modernRequest(port, token, 'resources/list', {}, { id: 7 })),
    ]);
    assert.equal(a.status, 200, a.body);
    assert.equal(b.status, 200, b.body);
    assert.equal((JSON.parse(a.body) as { result: { tools: unknown[] } }).result.tools.length, 4);
    assert.ok(Array.isArray((JSON.parse(b.body) as { result: { resources: unknown[] } }).result.resources));
  });

  it('header/body mismatches → 400 -32020 naming the header', async () => {
    const noHeader = modernRequest(port, token, 'tools/list');
    delete noHeader.headers['MCP-Protocol-Version'];
    assert.match(rpcError(await rawRequest(port, noHeader), 400, -32020).message, /MCP-Protocol-Version/);
    const otherVersion = modernRequest(
      port,
      token,
      'tools/list',
      {},
      { headers: { 'MCP-Protocol-Version': '2025-11-25' } },
    );
    assert.match(rpcError(await rawRequest(port, otherVersion), 400, -32020).message, /2025-11-25/);
    const noMethod = modernRequest(port, token, 'tools/list');
    delete noMethod.headers['Mcp-Method'];
    assert.match(
      rpcError(await rawRequest(port, noMethod), 400, -32020).message,
      /Mcp-Method header is absent/,
    );
    const otherMethod = modernRequest(
      port,
      token,
      'tools/list',
      {},
      { headers: { 'Mcp-Method': 'tools/call' } },
    );
    assert.match(rpcError(await rawRequest(port, otherMethod), 400, -32020).message, /tools\/call/);
    const call = { name: 'list_credentials', arguments: {} };
    const noName = modernRequest(port, token, 'tools/call', call);
    delete noName.headers['Mcp-Name'];
    assert.match(rpcError(await rawRequest(port, noName), 400, -32020).message, /Mcp-Name/);
    const otherName = modernRequest(port, token, 'tools/call', call, {
      headers: { 'Mcp-Name': 'get_credential' },
    });
    assert.match(rpcError(await rawRequest(port, otherName), 400, -32020).message, /get_credential/);
  });

  it('bad versions and envelopes: -32022 with the supported list, -32602 for a missing envelope', async () => {
    const future = rpcError(
      await rawRequest(port, modernRequest(port, token, 'tools/list', {}, { version: '2099-01-01' })),
      400,
      -32022,
    );
    assert.deepEqual(future.data?.supported, ['2026-07-28']);
    const bare = modernRequest(port, token, 'tools/list');
    bare.body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    rpcError(await rawRequest(port, bare), 400, -32602);
    const noCaps = modernRequest(port, token, 'tools/list');
    const parsed = JSON.parse(noCaps.body) as { params: { _meta: Structured } };
    delete parsed.params._meta['io.modelcontextprotocol/clientCapabilities'];
    noCaps.body = JSON.stringify(parsed);
    assert.match(rpcError(await rawRequest(port, noCaps), 400, -32602).message, /clientCapabilities/);
    const batch = modernRequest(port, token, 'tools/list');
    batch.body = `[${batch.body}]`;
    rpcError(await rawRequest(port, batch), 400, -32600, null);
  });

  it('not found is -32602: an unknown tool, an unknown resource; unknown methods -32601; no GET/DELETE', async () => {
    const tool = await rawRequest(
      port,
      modernRequest(port, token, 'tools/call', { name: 'steal_all', arguments: {} }),
    );
    assert.match(rpcError(tool, 200, -32602).message, /steal_all/);
    const resource = await rawRequest(
      port,
      modernRequest(port, token, 'resources/read', { uri: 'credential://npm_token' }),
    );
    rpcError(resource, 200, -32602);
    rpcError(await rawRequest(port, modernRequest(port, token, 'initialize', {})), 404, -32601);
    rpcError(
      await rawRequest(
        port,
        modernRequest(port, token, 'resources/subscribe', { uri: 'credential://github_token' }),
      ),
      404,
      -32601,
    );
    for (const method of ['GET', 'DELETE']) {
      const r = await rawRequest(port, {
        method,
        headers: { ...modernRequest(port, token, 'tools/list').headers, Accept: 'text/event-stream' },
      });
      rpcError(r, 405, -32000, null);
    }
  });

  it('a notification → 202; the gate still applies (no token → 401, foreign Host → 403)', async () => {
    const note = modernRequest(port, token, 'notifications/initialized');
    const parsed = JSON.parse(note.body) as Structured;
    delete parsed.id;
    assert.equal(
      (await rawRequest(port, { headers: note.headers, body: JSON.stringify(parsed) })).status,
      202,
    );
    const anon = modernRequest(port, token, 'tools/list');
    delete anon.headers.Authorization;
    assert.equal((await rawRequest(port, anon)).status, 401);
    const foreign = modernRequest(port, token, 'tools/list', {}, { headers: { Host: 'evil.example' } });
    assert.equal((await rawRequest(port, foreign)).status, 403);
  });

  it('subscriptions/listen: bad params → -32602 with the id; an agent over its stream limit → 503 -32603', async () => {
    const bad = await rawRequest(port, modernRequest(port, token, 'subscriptions/listen', {}, { id: 'l1' }));
    rpcError(bad, 400, -32602, 'l1');
    const small = await startHttpHost({ api: k.api, port: 0 });
    try {
      const open = (id: string): Promise<http.IncomingMessage> => {
        const r = modernRequest(small.port, token, 'subscriptions/listen', { notifications: {} }, { id });
        return new Promise((resolve, reject) => {
          const req = http.request(
            {
              host: '127.0.0.1',
              port: small.port,
              method: 'POST',
              path: '/mcp',
              headers: r.headers,
              agent: false,
            },
            resolve,
          );
          req.on('error', reject);
          req.end(r.body);
        });
      };
      const streams: http.IncomingMessage[] = [];
      for (let i = 0; i < 16; i++) {
        const res = await open(`s${i}`);
        assert.equal(res.statusCode, 200);
        streams.push(res);
      }
      await waitFor(() => small.listenCount() === 16, '16 streams');
      const over = await open('s16');
      assert.equal(over.statusCode, 503);
      for (const res of streams) {
        res.destroy();
      }
      over.resume();
      await waitFor(() => small.listenCount() === 0, 'streams closed by the client');
    } finally {
      await small.close();
    }
  });

  it('the 2025 era is unchanged: initialize opens a session, a request without one is refused', async () => {
    const init = await rawRequest(port, { headers: postHeaders(port, token), body: INITIALIZE_BODY });
    assert.equal(init.status, 200, init.body);
    assert.equal(typeof init.headers['mcp-session-id'], 'string');
    const orphan = await rawRequest(port, {
      headers: postHeaders(port, token),
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    assert.equal(orphan.status, 400);
  });
});
