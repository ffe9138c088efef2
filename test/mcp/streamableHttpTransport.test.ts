/**
 * Our node:http Streamable HTTP transport (src/core/mcp/streamableHttpTransport.ts), through the
 * real host on 127.0.0.1:0: the wire rules it keeps from the SDK transport (statuses, JSON-RPC
 * error bodies, session and protocol-version checks, batches, 202 for notifications, one GET event
 * stream, DELETE), and what it does beyond it (SSE answers for clients that accept only
 * text/event-stream; duplicate in-flight ids refused; waiting POSTs answered when the session closes).
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startHttpHost, type HttpHost } from '../../src/core/mcp/http';
import { createTestKeyring, type TestKeyring, type TestKeyringOptions } from '../helpers/testKeyring';
import { INITIALIZE_BODY, postHeaders, rawRequest, type RawResponse } from './harness';

const QUIET = { actions: { first_use: 'off', probing: 'off', unusual_hours: 'off' } } as NonNullable<
  TestKeyringOptions['anomaly']
>;
const VERSION = '2025-06-18';

/** Fails instead of hanging when an answer never comes. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer: ${what}`)), ms).unref()),
  ]);
}

function rpcError(r: RawResponse, status: number, code: number): string {
  assert.equal(r.status, status, r.body);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const parsed = JSON.parse(r.body) as {
    jsonrpc: string;
    id: unknown;
    error: { code: number; message: string };
  };
  assert.equal(parsed.jsonrpc, '2.0');
  assert.equal(parsed.id, null);
  assert.equal(parsed.error.code, code);
  return parsed.error.message;
}

describe('Streamable HTTP transport (node:http)', () => {
  let k: TestKeyring;
  let host: HttpHost;
  const token = (): string => k.tokens['research-agent'];

  before(async () => {
    k = await createTestKeyring({ anomaly: QUIET });
    host = await startHttpHost({ api: k.api, port: 0 });
  });
  after(async () => {
    await host.close();
    await k.dispose();
  });

  async function session(): Promise<{ id: string; headers: Record<string, string> }> {
    const r = await rawRequest(host.port, {
      headers: postHeaders(host.port, token()),
      body: INITIALIZE_BODY,
    });
    assert.equal(r.status, 200, r.body);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    const init = JSON.parse(r.body) as { id: number; result: { protocolVersion: string } };
    assert.equal(init.id, 1);
    assert.equal(init.result.protocolVersion, VERSION);
    const id = String(r.headers['mcp-session-id']);
    const headers = postHeaders(host.port, token(), {
      'Mcp-Session-Id': id,
      'Mcp-Protocol-Version': VERSION,
    });
    const note = await rawRequest(host.port, {
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    });
    assert.equal(note.status, 202);
    assert.equal(note.body, '');
    return { id, headers };
  }

  const getCredential = (id: number | string): Record<string, unknown> => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: 'get_credential', arguments: { name: 'github_token', scope: 'repo_read' } },
  });

  it('answers a tools/call with JSON: session header, the request id, the value', async () => {
    const s = await session();
    const r = await rawRequest(host.port, { headers: s.headers, body: JSON.stringify(getCredential('a-1')) });
    assert.equal(r.status, 200, r.body);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.equal(r.headers['mcp-session-id'], s.id);
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
    const msg = JSON.parse(r.body) as { id: string; result: { structuredContent: { value: string } } };
    assert.equal(msg.id, 'a-1');
    assert.equal(msg.result.structuredContent.value, k.values.github_token);
  });

  it('a batch of requests gets an array of answers in request order; notifications in it get none', async () => {
    const s = await session();
    const r = await rawRequest(host.port, {
      headers: s.headers,
      body: JSON.stringify([
        getCredential(7),
        { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 999 } },
        { jsonrpc: '2.0', id: 8, method: 'ping' },
      ]),
    });
    assert.equal(r.status, 200, r.body);
    const msgs = JSON.parse(r.body) as { id: number; result: unknown }[];
    assert.deepEqual(
      msgs.map((m) => m.id),
      [7, 8],
    );
    assert.deepEqual(msgs[1].result, {});
  });

  it('a request whose _meta carries a progress token is accepted (checked by the SDK schema)', async () => {
    const s = await session();
    const body = getCredential(11);
    (body.params as Record<string, unknown>)._meta = { progressToken: 'p-1' };
    const r = await rawRequest(host.port, { headers: s.headers, body: JSON.stringify(body) });
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as { id: number }).id, 11);
  });

  it('refuses what the SDK transport refuses, with the same statuses and codes', async () => {
    const s = await session();
    // Accept without text/event-stream
    assert.match(
      rpcError(
        await rawRequest(host.port, {
          headers: { ...s.headers, Accept: 'application/json' },
          body: JSON.stringify(getCredential(1)),
        }),
        406,
        -32000,
      ),
      /Not Acceptable/,
    );
    // Not JSON-RPC: unknown top-level member, wrong version, non-integer id, params not an object
    for (const bad of [
      { jsonrpc: '2.0', id: 1, method: 'ping', extra: true },
      { jsonrpc: '1.0', id: 1, method: 'ping' },
      { jsonrpc: '2.0', id: 1.5, method: 'ping' },
      { jsonrpc: '2.0', id: 1, method: 'ping', params: [1] },
      { jsonrpc: '2.0', id: 1, method: 'ping', params: { _meta: { progressToken: { no: 1 } } } },
      42,
    ]) {
      rpcError(await rawRequest(host.port, { headers: s.headers, body: JSON.stringify(bad) }), 400, -32700);
    }
    // Batch too large
    const batch = Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' }));
    rpcError(await rawRequest(host.port, { headers: s.headers, body: JSON.stringify(batch) }), 400, -32600);
    // Second initialize on the session
    assert.match(
      rpcError(await rawRequest(host.port, { headers: s.headers, body: INITIALIZE_BODY }), 400, -32600),
      /already initialized/,
    );
    // Unsupported protocol version
    assert.match(
      rpcError(
        await rawRequest(host.port, {
          headers: { ...s.headers, 'Mcp-Protocol-Version': '1999-01-01' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'ping' }),
        }),
        400,
        -32000,
      ),
      /Unsupported protocol version: 1999-01-01/,
    );
    // An initialize in a batch with another message
    rpcError(
      await rawRequest(host.port, {
        headers: postHeaders(host.port, token()),
        body: JSON.stringify([JSON.parse(INITIALIZE_BODY), { jsonrpc: '2.0', id: 2, method: 'ping' }]),
      }),
      400,
      -32600,
    );
  });

  it('a client that accepts only text/event-stream gets its answer as an SSE event', async () => {
    const s = await session();
    const r = await rawRequest(host.port, {
      headers: { ...s.headers, Accept: 'text/event-stream' },
      body: JSON.stringify(getCredential(21)),
    });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/event-stream/);
    assert.equal(r.headers['mcp-session-id'], s.id);
    const data = /^event: message\ndata: (.+)\n\n$/.exec(r.body);
    assert.ok(data, r.body);
    assert.equal((JSON.parse(data[1]) as { id: number }).id, 21);
  });

  it('one GET event stream per session (a second is 409), and it gets server notifications', async () => {
    const s = await session();
    const got: string[] = [];
    const { res, req } = await new Promise<{ res: http.IncomingMessage; req: http.ClientRequest }>(
      (resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port: host.port,
            method: 'GET',
            path: '/mcp',
            headers: { ...s.headers, Accept: 'text/event-stream' },
            agent: false,
          },
          (res) => resolve({ res, req }),
        );
        req.on('error', reject);
        req.end();
      },
    );
    try {
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/event-stream/);
      res.setEncoding('utf8');
      res.on('data', (d: string) => got.push(d));
      const second = await rawRequest(host.port, {
        method: 'GET',
        headers: { ...s.headers, Accept: 'text/event-stream' },
      });
      rpcError(second, 409, -32000);
      rpcError(
        await rawRequest(host.port, { method: 'GET', headers: { ...s.headers, Accept: 'application/json' } }),
        406,
        -32000,
      );
      // Subscribe, then rotate: notifications/resources/updated comes over this stream.
      const sub = await rawRequest(host.port, {
        headers: s.headers,
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 31,
          method: 'resources/subscribe',
          params: { uri: 'credential://github_token' },
        }),
      });
      assert.equal(sub.status, 200, sub.body);
      // github_token has a generator in the seed: rotate it to a generated value.
      await k.service.rotate('github_token', { actor: 'test' });
      const deadline = Date.now() + 3000;
      while (!got.join('').includes('notifications/resources/updated') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.match(got.join(''), /^event: message\ndata: .*"method":"notifications\/resources\/updated"/m);
      assert.ok(got.join('').includes('credential://github_token'));
    } finally {
      req.destroy();
    }
  });

  it('refuses a second request with an id still in progress, rather than mixing up answers', async () => {
    // An approver that holds the first request until the second has been refused.
    let release: (() => void) | undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const k2 = await createTestKeyring({
      anomaly: QUIET,
      approver: {
        ask: async () => {
          await held;
          return 'once';
        },
      },
    });
    const host2 = await startHttpHost({ api: k2.api, port: 0 });
    try {
      const init = await rawRequest(host2.port, {
        headers: postHeaders(host2.port, k2.tokens['release-agent']),
        body: INITIALIZE_BODY,
      });
      const headers = postHeaders(host2.port, k2.tokens['release-agent'], {
        'Mcp-Session-Id': String(init.headers['mcp-session-id']),
        'Mcp-Protocol-Version': VERSION,
      });
      const publish = JSON.stringify({
        jsonrpc: '2.0',
        id: 5,
        method: 'tools/call',
        params: { name: 'get_credential', arguments: { name: 'npm_token', scope: 'publish' } },
      });
      const first = rawRequest(host2.port, { headers, body: publish });
      // Wait until the first request is parked at the approver.
      await new Promise((r) => setTimeout(r, 100));
      const dup = await rawRequest(host2.port, {
        headers,
        body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'ping' }),
      });
      assert.match(rpcError(dup, 400, -32600), /already in progress/);
      release?.();
      const r = await within(first, 3000, 'the first request');
      assert.equal(r.status, 200, r.body);
      assert.equal((JSON.parse(r.body) as { id: number }).id, 5);
    } finally {
      release?.();
      await host2.close();
      await k2.dispose();
    }
  });

  it('DELETE closes the session: 200, then 404 for it; a POST still waiting is answered, not left hanging', async () => {
    let release: (() => void) | undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const k2 = await createTestKeyring({
      anomaly: QUIET,
      approver: {
        ask: async () => {
          await held;
          return 'deny';
        },
      },
    });
    const host2 = await startHttpHost({ api: k2.api, port: 0 });
    try {
      const init = await rawRequest(host2.port, {
        headers: postHeaders(host2.port, k2.tokens['release-agent']),
        body: INITIALIZE_BODY,
      });
      const headers = postHeaders(host2.port, k2.tokens['release-agent'], {
        'Mcp-Session-Id': String(init.headers['mcp-session-id']),
        'Mcp-Protocol-Version': VERSION,
      });
      const waiting = rawRequest(host2.port, {
        headers,
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 9,
          method: 'tools/call',
          params: { name: 'get_credential', arguments: { name: 'npm_token', scope: 'publish' } },
        }),
      });
      await new Promise((r) => setTimeout(r, 100));
      const del = await rawRequest(host2.port, { method: 'DELETE', headers });
      assert.equal(del.status, 200, del.body);
      rpcError(await within(waiting, 3000, 'the waiting POST after DELETE'), 404, -32001);
      rpcError(
        await rawRequest(host2.port, {
          headers,
          body: JSON.stringify({ jsonrpc: '2.0', id: 10, method: 'ping' }),
        }),
        404,
        -32001,
      );
    } finally {
      release?.();
      await host2.close();
      await k2.dispose();
    }
  });

  it('a request without the session header or before initialize is refused like the SDK does', async () => {
    const s = await session();
    const noSession = { ...s.headers };
    delete noSession['Mcp-Session-Id'];
    rpcError(
      await rawRequest(host.port, {
        headers: noSession,
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      }),
      400,
      -32000,
    );
  });
});
