/**
 * Holes in the HTTP front door found by the security review (issue #10), each a regression test
 * that fails on the host before the fix: duplicate Host headers, a slow body holding a socket, one
 * agent taking every session, and a revoked agent keeping its sessions and event streams.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  HEADERS_TIMEOUT_MS,
  REQUEST_TIMEOUT_MS,
  startHttpHost,
  type HttpHost,
} from '../../src/core/mcp/http';
import { SecretValue } from '../../src/core/model';
import { createTestKeyring, type TestKeyring, type TestKeyringOptions } from '../helpers/testKeyring';
import { INITIALIZE_BODY, connectHttp, postHeaders, rawRequest, waitFor } from './harness';

const QUIET = { actions: { first_use: 'off', probing: 'off', unusual_hours: 'off' } } as NonNullable<
  TestKeyringOptions['anomaly']
>;

async function openSession(port: number, token: string): Promise<string> {
  const r = await rawRequest(port, { headers: postHeaders(port, token), body: INITIALIZE_BODY });
  assert.equal(r.status, 200, r.body);
  return r.headers['mcp-session-id'] as string;
}

/** Sends raw bytes and resolves with everything the server answers until it closes the socket. */
function rawExchange(port: number, bytes: string, keepOpenMs = 0): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.on('data', (d) => (text += d.toString('utf8')));
    socket.on('close', () => resolve({ text, ms: Date.now() - start }));
    socket.on('error', reject);
    if (keepOpenMs > 0) {
      setTimeout(() => socket.destroy(), keepOpenMs).unref();
    }
  });
}

describe('front door: holes from the security review', () => {
  let k: TestKeyring;
  let host: HttpHost;

  before(async () => {
    k = await createTestKeyring({ anomaly: QUIET });
    host = await startHttpHost({ api: k.api, port: 0, bodyTimeoutMs: 300 });
  });
  after(async () => {
    await host.close();
    await k.dispose();
  });

  it('two Host headers → 400, even when both are our own address', async () => {
    const token = k.tokens['research-agent'];
    const r = await rawExchange(
      host.port,
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${host.port}\r\nHost: evil.example\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${Buffer.byteLength(INITIALIZE_BODY)}\r\nConnection: close\r\n\r\n${INITIALIZE_BODY}`,
    );
    assert.match(r.text, /^HTTP\/1\.1 400 /, r.text);
    assert.match(r.text, /exactly one Host header/);
    assert.doesNotMatch(r.text, /mcp-session-id/i);
    const same = await rawExchange(
      host.port,
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${host.port}\r\nHost: 127.0.0.1:${host.port}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${Buffer.byteLength(INITIALIZE_BODY)}\r\nConnection: close\r\n\r\n${INITIALIZE_BODY}`,
    );
    assert.match(same.text, /^HTTP\/1\.1 400 /, same.text);
  });

  it(
    'an authenticated body that never finishes → 408 at the body deadline, and the server answers others',
    { timeout: 5000 },
    async () => {
      const token = k.tokens['research-agent'];
      const r = await rawExchange(
        host.port,
        `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${host.port}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{"jsonrpc":`,
        4000,
      );
      assert.match(r.text, /^HTTP\/1\.1 408 /, r.text);
      assert.match(r.text, /"code":-32000/);
      assert.ok(r.ms < 3000, `answered in ${r.ms} ms`);
      await openSession(host.port, token);
    },
  );

  it('sets server timeouts far below Node’s 300 s default', () => {
    // Headers trickled in one byte at a time are cut off by headersTimeout; here we only check the
    // values the host set on its server (a real 10 s wait would slow the suite).
    const probe = http.createServer();
    assert.equal(probe.requestTimeout, 300_000, 'Node default, for comparison');
    assert.ok(HEADERS_TIMEOUT_MS <= 10_000 && REQUEST_TIMEOUT_MS <= 30_000);
  });
});

describe('front door: sessions per agent', () => {
  it('one agent cannot take every session: it evicts its own oldest idle one, others still get in', async () => {
    const k = await createTestKeyring({ anomaly: QUIET });
    const host = await startHttpHost({ api: k.api, port: 0, maxSessions: 6, maxSessionsPerAgent: 3 });
    try {
      const hog = k.tokens['research-agent'];
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        ids.push(await openSession(host.port, hog));
      }
      await waitFor(() => host.sessionCount() === 3, 'the hog holds at most 3 sessions');
      // Its oldest session went; its newest still works.
      const oldest = await rawRequest(host.port, {
        headers: { ...postHeaders(host.port, hog), 'Mcp-Session-Id': ids[0] },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
      });
      assert.equal(oldest.status, 404, oldest.body);
      const newest = await rawRequest(host.port, {
        headers: { ...postHeaders(host.port, hog), 'Mcp-Session-Id': ids[5] },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
      });
      assert.equal(newest.status, 200, newest.body);
      // Everybody else still gets a session.
      await openSession(host.port, k.tokens.vscode);
      await openSession(host.port, k.tokens['release-agent']);
      assert.equal(host.sessionCount(), 5);
    } finally {
      await host.close();
      await k.dispose();
    }
  });
});

describe('front door: revocation closes what the agent holds open', () => {
  it('revoking an agent ends its sessions and its event stream', async () => {
    const k = await createTestKeyring({ anomaly: QUIET });
    const host = await startHttpHost({ api: k.api, port: 0 });
    try {
      const token = k.tokens['release-agent'];
      const id = await openSession(host.port, token);
      const stream = await openEventStream(host.port, token, id);
      assert.equal(host.sessionCount(), 1);
      await k.service.revokeAgent('release-agent', 'vscode-user');
      await waitFor(() => host.sessionCount() === 0, 'the session closed');
      await stream.closed;
    } finally {
      await host.close();
      await k.dispose();
    }
  });

  it('a revocation made elsewhere (the store, no event): the next rotation notice is not sent and the session closes', async () => {
    const k = await createTestKeyring({ anomaly: QUIET });
    const host = await startHttpHost({ api: k.api, port: 0 });
    const client = await connectHttp(host.url, k.tokens['release-agent']);
    try {
      const seen: string[] = [];
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void seen.push(n.params.uri));
      await client.subscribeResource({ uri: 'credential://npm_token' });
      // Make sure the client's event stream is up: a rotation reaches it before the revocation.
      for (let i = 0; i < 20 && seen.length === 0; i++) {
        await k.service.rotate('npm_token', {
          value: new SecretValue(`canary-a-${i}`),
          actor: 'vscode-user',
        });
        await waitFor(() => seen.length >= 1, 'a first notice', 200).catch(() => undefined);
      }
      assert.equal(seen.length, 1);
      // Revoked in the store directly, as another process (the CLI) would: no in-process event.
      await k.keyring.store.revokeAgent('release-agent');
      await k.service.rotate('npm_token', { value: new SecretValue('canary-b'), actor: 'vscode-user' });
      await waitFor(() => host.sessionCount() === 0, 'the revoked agent’s session closed');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(seen.length, 1, 'no notice after the revocation');
    } finally {
      await client.close().catch(() => undefined);
      await host.close();
      await k.dispose();
    }
  });
});

/** Opens a session's GET event stream; `closed` resolves when the server ends it. */
function openEventStream(port: number, token: string, sessionId: string): Promise<{ closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'GET',
        path: '/mcp',
        agent: false,
        headers: {
          Host: `127.0.0.1:${port}`,
          Authorization: `Bearer ${token}`,
          Accept: 'text/event-stream',
          'Mcp-Session-Id': sessionId,
        },
      },
      (res) => {
        assert.equal(res.statusCode, 200);
        res.resume();
        resolve({
          closed: new Promise<void>((done) => {
            res.once('end', done);
            res.once('close', done);
          }),
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}
