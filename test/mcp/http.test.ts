/**
 * The Streamable HTTP host on 127.0.0.1:0: a real SDK client end to end, and raw requests for
 * every refusal (Host, Origin, token, content type, body size, malformed JSON, sessions).
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startHttpHost, type HttpHost } from '../../src/core/mcp/http';
import { FakeClock } from '../fakes/fakeClock';
import { RecordingLogger } from '../fakes/recordingLogger';
import { createTestKeyring, type TestKeyring, type TestKeyringOptions } from '../helpers/testKeyring';
import { FakeKeyringApi } from './fakeApi';
import {
  INITIALIZE_BODY,
  call,
  connectHttp,
  postHeaders,
  rawRequest,
  waitFor,
  type RawResponse,
} from './harness';

const QUIET = { actions: { first_use: 'off', probing: 'off', unusual_hours: 'off' } } as NonNullable<
  TestKeyringOptions['anomaly']
>;

/** A refusal body: JSON-RPC error shape, no HTML, no stack, no file paths. */
function assertJsonRpcError(
  r: RawResponse,
  status: number,
  code?: number,
): { code: number; message: string } {
  assert.equal(r.status, status, r.body);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  assert.doesNotMatch(r.body, /<html|<!DOCTYPE|\n\s+at |\/work\/|node_modules|\.js:\d+/i);
  const parsed = JSON.parse(r.body) as {
    jsonrpc: string;
    id: unknown;
    error: { code: number; message: string };
  };
  assert.equal(parsed.jsonrpc, '2.0');
  assert.equal(parsed.id, null);
  assert.equal(typeof parsed.error.message, 'string');
  if (code !== undefined) {
    assert.equal(parsed.error.code, code);
  }
  for (const h of Object.keys(r.headers)) {
    assert.ok(!h.startsWith('access-control-'), `no CORS header (${h})`);
  }
  return parsed.error;
}

async function openSession(port: number, token: string): Promise<string> {
  const r = await rawRequest(port, { headers: postHeaders(port, token), body: INITIALIZE_BODY });
  assert.equal(r.status, 200, r.body);
  const id = r.headers['mcp-session-id'];
  assert.equal(typeof id, 'string');
  return id as string;
}

describe('HTTP host', () => {
  let k: TestKeyring;
  let host: HttpHost;
  let logger: RecordingLogger;

  before(async () => {
    k = await createTestKeyring({ anomaly: QUIET });
    logger = new RecordingLogger();
    host = await startHttpHost({ api: k.api, port: 0, logger });
  });
  after(async () => {
    await host.close();
    await k.dispose();
  });

  it('serves a real SDK client: tools, a credential, resources', async () => {
    assert.match(host.url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const client = await connectHttp(host.url, k.tokens['research-agent']);
    try {
      const { tools } = await client.listTools();
      assert.equal(tools.length, 4);
      const r = await call(client, 'get_credential', { name: 'github_token', scope: 'repo_read' });
      assert.equal(r.structuredContent?.value, k.values.github_token);
      const refused = await call(client, 'get_credential', { name: 'npm_token', scope: 'publish' });
      assert.equal(refused.structuredContent?.code, 'not_found');
      const { resources } = await client.listResources();
      assert.deepEqual(resources.map((x) => x.name).sort(), ['github_token', 'scavio_api_key']);
    } finally {
      await client.close();
    }
  });

  it('delivers notifications/resources/updated over the event stream after a rotation', async () => {
    const client = await connectHttp(host.url, k.tokens['release-agent']);
    try {
      const seen: string[] = [];
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void seen.push(n.params.uri));
      await client.subscribeResource({ uri: 'credential://npm_token' });
      // The client opens its GET event stream on its own shortly after initialize; a notification
      // sent before that has nowhere to go, so rotate until one arrives (bounded).
      for (let i = 0; i < 20 && seen.length === 0; i++) {
        const r = await call(client, 'rotate_credential', {
          name: 'npm_token',
          new_value: `canary-${i}-${Date.now()}`,
        });
        assert.equal(r.isError, undefined);
        await waitFor(() => seen.length >= 1, 'resources/updated over HTTP', 200).catch(() => undefined);
      }
      assert.ok(seen.length >= 1, 'resources/updated arrived over the event stream');
      assert.equal(seen[0], 'credential://npm_token');
    } finally {
      await client.close();
    }
  });

  it('closes a session on DELETE and counts sessions', async () => {
    const before = host.sessionCount();
    const id = await openSession(host.port, k.tokens.vscode);
    assert.equal(host.sessionCount(), before + 1);
    const del = await rawRequest(host.port, {
      method: 'DELETE',
      headers: { ...postHeaders(host.port, k.tokens.vscode), 'Mcp-Session-Id': id },
    });
    assert.equal(del.status, 200, del.body);
    await waitFor(() => host.sessionCount() === before, 'session removal');
    const again = await rawRequest(host.port, {
      headers: { ...postHeaders(host.port, k.tokens.vscode), 'Mcp-Session-Id': id },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    assertJsonRpcError(again, 404, -32001);
  });

  describe('refusals', () => {
    const token = (): string => k.tokens['research-agent'];

    it('no token → 401 JSON explaining how to get one, no OAuth advertised', async () => {
      const r = await rawRequest(host.port, {
        headers: postHeaders(host.port, undefined),
        body: INITIALIZE_BODY,
      });
      const e = assertJsonRpcError(r, 401);
      assert.match(e.message, /Authorization: Bearer <token>/);
      assert.match(e.message, /agent-keyring agent add/);
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="agent-keyring"');
      const meta = await rawRequest(host.port, {
        method: 'GET',
        path: '/.well-known/oauth-protected-resource',
        headers: { Host: `127.0.0.1:${host.port}` },
      });
      assertJsonRpcError(meta, 404);
    });

    for (const [label, value] of [
      ['unknown token', 'akr_' + 'z'.repeat(40)],
      ['short token', 'a'],
      ['very long token', 'b'.repeat(5000)],
      ['token with a space', 'abc def'],
      ['Basic scheme', null],
    ] as const) {
      it(`${label} → 401`, async () => {
        const headers = postHeaders(host.port, undefined, {
          Authorization: value === null ? 'Basic dXNlcjpwYXNz' : `Bearer ${value}`,
        });
        const r = await rawRequest(host.port, { headers, body: INITIALIZE_BODY });
        assertJsonRpcError(r, 401);
        assert.match(String(r.headers['www-authenticate']), /error="invalid_token"/);
      });
    }

    it('Host of another name → 403, even with a valid token', async () => {
      for (const h of [
        `evil.example:${host.port}`,
        `127.0.0.1:${host.port + 1}`,
        '127.0.0.1',
        `127.0.0.1.evil.example:${host.port}`,
      ]) {
        const r = await rawRequest(host.port, {
          headers: postHeaders(host.port, token(), { Host: h }),
          body: INITIALIZE_BODY,
        });
        assertJsonRpcError(r, 403);
      }
    });

    it('loopback Host names are all accepted', async () => {
      for (const h of [`localhost:${host.port}`, `[::1]:${host.port}`, `LOCALHOST:${host.port}`]) {
        const r = await rawRequest(host.port, {
          headers: postHeaders(host.port, token(), { Host: h }),
          body: INITIALIZE_BODY,
        });
        assert.equal(r.status, 200, `${h}: ${r.body}`);
      }
    });

    it('a non-loopback Origin → 403; Origin null → 403; a loopback Origin is fine', async () => {
      for (const origin of [
        'http://evil.example',
        'null',
        'https://127.0.0.1',
        'http://127.0.0.1.evil.example',
        'vscode-webview://abc',
      ]) {
        const r = await rawRequest(host.port, {
          headers: postHeaders(host.port, token(), { Origin: origin }),
          body: INITIALIZE_BODY,
        });
        assertJsonRpcError(r, 403);
      }
      for (const origin of [`http://127.0.0.1:${host.port}`, 'http://localhost:5173', 'http://[::1]:8080']) {
        const r = await rawRequest(host.port, {
          headers: postHeaders(host.port, token(), { Origin: origin }),
          body: INITIALIZE_BODY,
        });
        assert.equal(r.status, 200, `${origin}: ${r.body}`);
        assert.equal(r.headers['access-control-allow-origin'], undefined);
      }
    });

    it('malformed JSON → 400 JSON-RPC -32700, no HTML or stack', async () => {
      for (const body of ['{"jsonrpc": "2.0", "id": 1, "method": ', '<html>', '\u0000\u0001', '{"a":1}}']) {
        const r = await rawRequest(host.port, { headers: postHeaders(host.port, token()), body });
        assertJsonRpcError(r, 400, -32700);
      }
    });

    it('wrong content type → 415', async () => {
      for (const type of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
      ]) {
        const r = await rawRequest(host.port, {
          headers: postHeaders(host.port, token(), { 'Content-Type': type }),
          body: INITIALIZE_BODY,
        });
        assertJsonRpcError(r, 415);
      }
      const charset = await rawRequest(host.port, {
        headers: postHeaders(host.port, token(), { 'Content-Type': 'application/json; charset=utf-8' }),
        body: INITIALIZE_BODY,
      });
      assert.equal(charset.status, 200);
    });

    it('a 10 MB body → 413 quickly, and the server still answers', async () => {
      const big = Buffer.alloc(10 * 1024 * 1024, 0x20);
      const started = Date.now();
      const r = await rawRequest(host.port, { headers: postHeaders(host.port, token()), body: big });
      assertJsonRpcError(r, 413);
      assert.ok(Date.now() - started < 2000, 'refused without reading the whole body');
      const ok = await rawRequest(host.port, {
        headers: postHeaders(host.port, token()),
        body: INITIALIZE_BODY,
      });
      assert.equal(ok.status, 200);
    });

    it('a chunked body that grows past the limit → 413', async () => {
      const big = await new Promise<RawResponse>((resolve, reject) => {
        const socket = net.connect(host.port, '127.0.0.1', () => {
          socket.write(
            `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${host.port}\r\nAuthorization: Bearer ${token()}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n`,
          );
          const chunk = 'a'.repeat(64 * 1024);
          for (let i = 0; i < 20; i++) {
            socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
          }
        });
        let data = '';
        socket.on('data', (d) => (data += d.toString()));
        socket.on('error', () => undefined);
        socket.on('close', () => {
          const [head = '', body = ''] = data.split('\r\n\r\n');
          const status = Number(head.split(' ')[1]);
          resolve({ status, headers: { 'content-type': /content-type: ([^\r\n]+)/i.exec(head)?.[1] }, body });
        });
        setTimeout(() => reject(new Error('no answer to an oversized chunked body')), 3000).unref();
      });
      assertJsonRpcError(big, 413);
    });

    it('other paths → 404 JSON; other methods → 405 JSON', async () => {
      assertJsonRpcError(
        await rawRequest(host.port, {
          path: '/',
          headers: postHeaders(host.port, token()),
          body: INITIALIZE_BODY,
        }),
        404,
      );
      assertJsonRpcError(
        await rawRequest(host.port, {
          path: '/mcp/../admin',
          headers: postHeaders(host.port, token()),
          body: '{}',
        }),
        404,
      );
      const put = await rawRequest(host.port, {
        method: 'PUT',
        headers: postHeaders(host.port, token()),
        body: '{}',
      });
      assertJsonRpcError(put, 405);
      assert.equal(put.headers.allow, 'GET, POST, DELETE');
    });

    it('a request without a session that is not initialize → 400', async () => {
      const r = await rawRequest(host.port, {
        headers: postHeaders(host.port, token()),
        body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list' }),
      });
      assertJsonRpcError(r, 400);
      assertJsonRpcError(
        await rawRequest(host.port, { method: 'GET', headers: postHeaders(host.port, token()) }),
        400,
      );
    });

    it("a session used with another agent's token → 403; unknown session → 404", async () => {
      const id = await openSession(host.port, k.tokens['research-agent']);
      const list = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' });
      const other = await rawRequest(host.port, {
        headers: { ...postHeaders(host.port, k.tokens['release-agent']), 'Mcp-Session-Id': id },
        body: list,
      });
      assertJsonRpcError(other, 403);
      const unknown = await rawRequest(host.port, {
        headers: { ...postHeaders(host.port, token()), 'Mcp-Session-Id': 'nope' },
        body: list,
      });
      assertJsonRpcError(unknown, 404);
    });
  });
});

describe('HTTP host: lifecycle', () => {
  it('a revoked token stops working on the next request', async () => {
    const k = await createTestKeyring({ anomaly: QUIET });
    const host = await startHttpHost({ api: k.api, port: 0 });
    try {
      const id = await openSession(host.port, k.tokens.vscode);
      await k.service.revokeAgent('vscode', 'vscode-user');
      const r = await rawRequest(host.port, {
        headers: { ...postHeaders(host.port, k.tokens.vscode), 'Mcp-Session-Id': id },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
      });
      assertJsonRpcError(r, 401);
    } finally {
      await host.close();
      await k.dispose();
    }
  });

  it('idle sessions expire after 30 minutes (fake clock)', async () => {
    const api = new FakeKeyringApi();
    const token = api.addAgent('agent-a');
    const clock = new FakeClock();
    const host = await startHttpHost({ api, port: 0, clock });
    try {
      const id = await openSession(host.port, token);
      clock.advance(20 * 60_000);
      // Activity resets the idle timer.
      const ping = await rawRequest(host.port, {
        headers: {
          ...postHeaders(host.port, token),
          'Mcp-Session-Id': id,
          'Mcp-Protocol-Version': '2025-06-18',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }),
      });
      assert.equal(ping.status, 200, ping.body);
      clock.advance(29 * 60_000);
      assert.equal(host.sessionCount(), 1);
      clock.advance(2 * 60_000);
      await waitFor(() => host.sessionCount() === 0, 'idle expiry');
      assert.equal(api.rotateListenerCount, 0, 'the expired session let go of the api');
    } finally {
      await host.close();
    }
  });

  it('a port in use rejects with code EADDRINUSE', async () => {
    const api = new FakeKeyringApi();
    const first = await startHttpHost({ api, port: 0 });
    try {
      await assert.rejects(startHttpHost({ api, port: first.port }), (e: NodeJS.ErrnoException) => {
        assert.equal(e.code, 'EADDRINUSE');
        assert.match(e.message, new RegExp(`Port ${first.port} on 127\\.0\\.0\\.1 is already in use`));
        return true;
      });
    } finally {
      await first.close();
    }
  });

  it('refuses to bind a non-loopback address without TLS, and says how', async () => {
    await assert.rejects(
      startHttpHost({ api: new FakeKeyringApi(), port: 0, host: '0.0.0.0' }),
      (e: Error & { code?: string }) =>
        e.code === 'invalid_input' && /only over TLS .*--tls-cert FILE --tls-key FILE/.test(e.message),
    );
  });

  it('an unexpected failure → 500 JSON-RPC -32603, detail logged only', async () => {
    const api = new FakeKeyringApi();
    api.authenticate = async () => {
      throw new Error('database exploded at /srv/keyring/store.js:12');
    };
    const logger = new RecordingLogger();
    const host = await startHttpHost({ api, port: 0, logger });
    try {
      const r = await rawRequest(host.port, {
        headers: postHeaders(host.port, 'whatever'),
        body: INITIALIZE_BODY,
      });
      const e = assertJsonRpcError(r, 500, -32603);
      assert.match(e.message, /^Internal error \(reference [0-9a-f]{8}\)/);
      assert.doesNotMatch(r.body, /exploded/);
      assert.match(logger.text(), /database exploded/);
    } finally {
      await host.close();
    }
  });

  it('close() ends sessions, event streams and the listener', async () => {
    const k = await createTestKeyring({ anomaly: QUIET });
    const host = await startHttpHost({ api: k.api, port: 0 });
    const client = await connectHttp(host.url, k.tokens['research-agent']);
    await client.listTools();
    assert.equal(host.sessionCount(), 1);
    await host.close();
    assert.equal(host.sessionCount(), 0);
    await assert.rejects(
      rawRequest(host.port, { headers: postHeaders(host.port, 'x'), body: '{}' }),
      /ECONNREFUSED/,
    );
    await client.close();
    await k.dispose();
  });
});
