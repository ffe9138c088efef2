/**
 * `agent-keyring run --mcp --upstream URL --listen 127.0.0.1:PORT`, the local-HTTP front, as a real
 * process in front of a real HTTP MCP server on 127.0.0.1 (test/fixtures/keyedHttpServer.mjs, which
 * answers with a keyed hash of the bearer value it received), driven by the SDK client over HTTP:
 * the header from the keyring on every request, the rotated value on a later request, the local
 * bearer token required (and never forwarded), a foreign Host/Origin refused; bad input (a
 * non-loopback --listen, a port in use, a host the credential does not allow) → one line, exit
 * code, nothing served. Every value is a canary that must not appear in any output.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import * as http from 'node:http';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { CLI, ROOT, canary, cliEnv, ensureBuilt, removeStore, runCli, tempStore } from './cliHarness';

const NODE = process.execPath;
const hash = (v: string): string => createHmac('sha256', 'fixture').update(v).digest('hex').slice(0, 16);

function waitForLine(child: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no ${re} in ${stream} within 15 s:\n${text}`)), 15_000);
    child[stream]?.on('data', (d: Buffer) => {
      text += d.toString();
      const m = re.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before ${re}:\n${text}`));
    });
  });
}

function stopPid(child: ChildProcess | undefined): void {
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
  }
}

/** A raw request to the front (for what the SDK client would not send). */
function rawPost(port: number, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/mcp',
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
  });
}

describe('agent-keyring run --upstream --listen (local HTTP front)', () => {
  let store: string;
  let token: string;
  let upstream: ChildProcess;
  let upstreamPort: number;
  const v1 = canary('front-v1');
  const v2 = canary('front-v2');

  before(async () => {
    ensureBuilt();
    store = tempStore();
    upstream = spawn(NODE, [path.join(ROOT, 'test', 'fixtures', 'keyedHttpServer.mjs')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    upstreamPort = Number((await waitForLine(upstream, 'stdout', /listening (\d+)/))[1]);
    const add = await runCli(
      [
        'credential',
        'add',
        'front_key',
        '--scopes',
        'mcp',
        '--agents',
        'fronted',
        '--hosts',
        `127.0.0.1:${upstreamPort}`,
        '--store',
        store,
      ],
      { input: v1 },
    );
    assert.equal(add.code, 0, add.stderr);
    const a = await runCli(['agent', 'add', 'fronted', '--store', store]);
    token = a.stdout.trim().split('\n').pop() ?? '';
    assert.match(token, /^akr_/);
  });

  after(() => {
    stopPid(upstream);
    removeStore(store);
  });

  const frontArgs = (listen: string, upstreamUrl = `http://127.0.0.1:${upstreamPort}/mcp`): string[] => [
    'run',
    '--mcp',
    '--store',
    store,
    '--upstream',
    upstreamUrl,
    '--credential',
    'front_key',
    '--header',
    'Authorization=Bearer {{credential}}',
    '--listen',
    listen,
  ];

  test('adds the header from the keyring on every request, picks up a rotation, needs the local token', async () => {
    const front = spawn(NODE, [CLI, ...frontArgs('127.0.0.1:0')], {
      env: cliEnv({ AGENT_KEYRING_TOKEN: token }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    front.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    front.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    let client: Client | undefined;
    try {
      const m = await waitForLine(front, 'stderr', /serving (http:\/\/127\.0\.0\.1:(\d+)\/mcp)/);
      const port = Number(m[2]);
      client = new Client({ name: 'front-test', version: '1' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(m[1]), {
          requestInit: { headers: { Authorization: `Bearer ${token}` } },
        }),
      );
      const who = async (): Promise<string> => {
        const r = (await client?.callTool({ name: 'whoami', arguments: {} })) as CallToolResult;
        return (JSON.parse((r.content[0] as { text: string }).text) as { key_hash: string }).key_hash;
      };
      // The upstream saw the credential (not the local token) as its bearer.
      assert.equal(await who(), hash(v1));
      assert.notEqual(await who(), hash(token));

      const rot = await runCli(['credential', 'rotate', 'front_key', '--store', store], { input: v2 });
      assert.equal(rot.code, 0, rot.stderr);
      const deadline = Date.now() + 15_000;
      while ((await who()) !== hash(v2)) {
        assert.ok(Date.now() < deadline, `the rotated value never reached the upstream:\n${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }

      // Other local processes: no token, a wrong token, a foreign Host or Origin → refused.
      const none = await rawPost(port, {});
      assert.equal(none.status, 401);
      assert.match(none.body, /Authorization: Bearer/);
      assert.equal((await rawPost(port, { authorization: `Bearer ${token}x` })).status, 401);
      assert.equal(
        (await rawPost(port, { authorization: `Bearer ${token}`, host: `evil.example:${port}` })).status,
        403,
      );
      assert.equal(
        (await rawPost(port, { authorization: `Bearer ${token}`, origin: 'https://evil.example' })).status,
        403,
      );
      for (const r of [none]) {
        assert.ok(!r.body.includes(v1) && !r.body.includes(v2) && !r.body.includes(token));
      }
    } finally {
      await client?.close();
      front.kill('SIGTERM');
      const code = await new Promise<number | null>((r) => front.once('exit', (c) => r(c)));
      assert.equal(code, 0, `SIGTERM ends the front with 0:\n${output}`);
    }
    for (const secret of [v1, v2, token]) {
      assert.ok(!output.includes(secret), 'a secret leaked into run output');
    }
  });

  test('bad input: a non-loopback --listen, a port in use, a host not allowed → one line, exit code', async () => {
    const env = { AGENT_KEYRING_TOKEN: token };
    for (const listen of ['0.0.0.0:0', '192.168.1.10:8080', 'example.com:80']) {
      const r = await runCli(frontArgs(listen), { env });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--listen binds loopback only/);
    }
    const junk = await runCli(frontArgs('127.0.0.1'), { env });
    assert.equal(junk.code, 2, junk.stderr);
    assert.match(junk.stderr, /--listen must be HOST:PORT/);
    const noUpstream = await runCli(['run', '--listen', '127.0.0.1:0', '--store', store], { env });
    assert.equal(noUpstream.code, 2, noUpstream.stderr);
    assert.match(noUpstream.stderr, /--listen goes with --mcp --upstream/);

    // The fixture's port is taken (by the fixture itself).
    const taken = await runCli(frontArgs(`127.0.0.1:${upstreamPort}`), { env });
    assert.equal(taken.code, 1, taken.stderr);
    assert.match(taken.stderr, /already in use by another program; pick another port/);
    assert.equal(taken.stderr.trim().split('\n').length, 1, taken.stderr);

    const denied = await runCli(frontArgs('127.0.0.1:0', `http://localhost:${upstreamPort}/mcp`), { env });
    assert.equal(denied.code, 77, denied.stderr);
    assert.match(denied.stderr, /allowed hosts/);
    for (const r of [junk, noUpstream, taken, denied]) {
      for (const secret of [v1, v2, token]) {
        assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret));
      }
    }
  });
});
