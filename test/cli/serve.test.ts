/**
 * `agent-keyring serve` end to end with a real MCP client: the seed scenario (get, refused
 * publish, rotation from another CLI process seen on the very next request, audit trail,
 * active-hours denial), the stdio bridge, clean shutdown on SIGTERM, and a taken port.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  CLI,
  canary,
  cliEnv,
  ensureBuilt,
  freePort,
  removeStore,
  runCli,
  startServe,
  storeFilesText,
  tempStore,
  type Served,
} from './cliHarness';

interface Granted {
  name: string;
  scope: string;
  value: string;
  version: number;
  lease_id: string;
}

async function connectHttp(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'cli-serve-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

async function getCredential(client: Client, name: string, scope: string): Promise<CallToolResult> {
  return (await client.callTool({ name: 'get_credential', arguments: { name, scope } })) as CallToolResult;
}

function granted(r: CallToolResult): Granted {
  assert.notEqual(r.isError, true, `expected a value, got ${JSON.stringify(r.content)}`);
  return r.structuredContent as unknown as Granted;
}

function refusalCode(r: CallToolResult): unknown {
  assert.equal(r.isError, true, 'expected a refusal');
  return (r.structuredContent as { code?: unknown } | undefined)?.code;
}

function demoToken(stdout: string): string {
  const m = /AGENT_KEYRING_TOKEN_RESEARCH_AGENT=(akr_[A-Za-z0-9_-]+)/.exec(stdout);
  assert.ok(m, `the demo prints the research agent's token:\n${stdout}`);
  return m[1];
}

/** `HH:00-HH:00`, one hour long, starting 12 hours from now (local time): excludes the present. */
function windowTwelveHoursAway(): string {
  const start = (new Date().getHours() + 12) % 24;
  const end = (start + 1) % 24;
  const hh = (h: number): string => `${String(h).padStart(2, '0')}:00`;
  return `${hh(start)}-${hh(end)}`;
}

function waitFor<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms).unref(),
    ),
  ]);
}

describe('agent-keyring serve', () => {
  let store: string;
  let served: Served;
  let token: string;
  const clients: Client[] = [];
  const rotated = canary('rotated');

  before(async () => {
    ensureBuilt();
    store = tempStore();
    served = await startServe(store, ['--demo']);
    token = demoToken(served.stdout());
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    served.kill();
    removeStore(store);
  });

  test('prints the URL, the token once, and how to connect an agent', () => {
    const out = served.stdout();
    assert.equal(served.url, `http://127.0.0.1:${served.port}/mcp`);
    assert.equal(out.split(token).length - 1, 1, 'the token appears exactly once');
    assert.ok(out.includes(`claude mcp add --transport http --scope local agent-keyring ${served.url}`), out);
    // One variable per agent: the demo agent's own, never the shared AGENT_KEYRING_TOKEN.
    assert.ok(out.includes('"Authorization": "Bearer ${AGENT_KEYRING_TOKEN_RESEARCH_AGENT}"'), out);
    assert.ok(!/\$\{AGENT_KEYRING_TOKEN\}/.test(out), out);
    assert.ok(!served.stderr().includes(token), 'never in the logs');
  });

  test('the printed shell lines keep ${AGENT_KEYRING_TOKEN_…} unexpanded when a shell runs them', () => {
    // Run each printed command line through a real bash with a token in the environment and
    // `claude` / `agent-keyring` replaced by a function that prints its arguments: what would
    // reach the client's config must be the reference, never the token.
    const secret = canary('shell-token');
    const lines = served
      .stdout()
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^(claude|agent-keyring) /.test(l));
    assert.ok(
      lines.some((l) => l.startsWith('claude mcp add')),
      served.stdout(),
    );
    for (const line of lines) {
      const script = `claude() { printf '%s\\n' "$@"; }\nagent-keyring() { printf '%s\\n' "$@"; }\n${line}\n`;
      const r = spawnSync('bash', ['-c', script], {
        env: {
          PATH: process.env.PATH,
          AGENT_KEYRING_TOKEN: secret,
          AGENT_KEYRING_TOKEN_RESEARCH_AGENT: secret,
        },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, `${line}\n${r.stderr}`);
      assert.ok(!r.stdout.includes(secret), `the shell expanded the token in: ${line}`);
      if (line.startsWith('claude')) {
        assert.ok(
          r.stdout.split('\n').includes('Authorization: Bearer ${AGENT_KEYRING_TOKEN_RESEARCH_AGENT}'),
          r.stdout,
        );
      }
      if (line.includes('--store')) {
        assert.ok(r.stdout.split('\n').includes(store), `--store ${store} reaches the command as one word`);
      }
    }
  });

  test('the seed scenario, end to end', async () => {
    const research = await connectHttp(served.url, token);
    clients.push(research);

    // 1. search_read is granted.
    const first = granted(await getCredential(research, 'scavio_api_key', 'search_read'));
    assert.equal(first.version, 1);
    assert.equal(first.value.length, 40);
    assert.match(first.value, /^[A-Za-z0-9]{40}$/);

    // 2. publish is a sensitive scope: held for approval, and headless there is no one to ask.
    assert.equal(refusalCode(await getCredential(research, 'scavio_api_key', 'publish')), 'approval_denied');

    // 3. Rotation from ANOTHER process, while serve runs: the very next request sees it.
    const rot = await runCli(['credential', 'rotate', 'scavio_api_key', '--store', store], {
      input: `${rotated}\n`,
    });
    assert.equal(rot.code, 0, rot.stderr);
    assert.equal(rot.stdout, 'scavio_api_key: version 1 → 2\n');
    const second = granted(await getCredential(research, 'scavio_api_key', 'search_read'));
    assert.equal(second.version, 2);
    assert.equal(second.value, rotated);

    // 4. An agent outside its active hours is denied by the anomaly rule.
    const window = windowTwelveHoursAway();
    const add = await runCli(['agent', 'add', 'night-agent', '--active-hours', window, '--store', store]);
    assert.equal(add.code, 0, add.stderr);
    const nightToken = add.stdout.trim().split('\n').at(-1) ?? '';
    const grant = await runCli([
      'credential',
      'edit',
      'scavio_api_key',
      '--agents',
      'research-agent,night-agent',
      '--store',
      store,
    ]);
    assert.equal(grant.code, 0, grant.stderr);
    const night = await connectHttp(served.url, nightToken);
    clients.push(night);
    assert.equal(
      refusalCode(await getCredential(night, 'scavio_api_key', 'search_read')),
      'anomaly_denied',
      `window ${window}`,
    );

    // 5. Every step is in the audit log, in order.
    const exp = await runCli(['audit', 'export', '--format', 'jsonl', '--store', store]);
    assert.equal(exp.code, 0, exp.stderr);
    const events = exp.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            agent_id: string | null;
            credential: string | null;
            tool: string;
            decision: string;
            code: string | null;
            version: number | null;
            scope: string | null;
          },
      );
    const steps = events
      .filter(
        (e) => e.credential === 'scavio_api_key' && (e.tool === 'get_credential' || e.decision === 'rotated'),
      )
      .map((e) => [e.agent_id, e.scope, e.decision, e.code, e.version]);
    assert.deepEqual(steps, [
      ['research-agent', 'search_read', 'allow', null, 1],
      ['research-agent', 'publish', 'deny', 'approval_denied', null],
      [null, null, 'rotated', null, 2],
      ['research-agent', 'search_read', 'allow', null, 2],
      ['night-agent', 'search_read', 'deny', 'anomaly_denied', null],
    ]);
    const verify = await runCli(['audit', 'verify', '--store', store]);
    assert.equal(verify.code, 0, verify.stdout);

    // 6. The rotated value never appears outside the hand-over.
    for (const text of [
      rot.stdout,
      rot.stderr,
      exp.stdout,
      served.stdout(),
      served.stderr(),
      storeFilesText(store),
    ]) {
      assert.ok(!text.includes(rotated), 'canary leaked');
      assert.ok(!text.includes(first.value), 'generated value leaked');
    }
  });

  test('the stdio bridge forwards requests and resources/updated notifications', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'bridge', '--url', served.url],
      env: cliEnv({ AGENT_KEYRING_TOKEN: token }) as Record<string, string>,
      stderr: 'pipe',
    });
    let bridgeStderr = '';
    transport.stderr?.on('data', (d: Buffer) => (bridgeStderr += d.toString('utf8')));
    const client = new Client({ name: 'cli-bridge-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const tools = await client.listTools();
      assert.ok(tools.tools.some((t) => t.name === 'get_credential'));
      const got = granted(await getCredential(client, 'scavio_api_key', 'search_read'));
      assert.ok(got.version >= 1 && got.value.length > 0);

      const updated = new Promise<string>((resolve) => {
        client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => resolve(n.params.uri));
      });
      await client.subscribeResource({ uri: 'credential://scavio_api_key' });
      const rot = await runCli(['credential', 'rotate', 'scavio_api_key', '--generate', '--store', store]);
      assert.equal(rot.code, 0, rot.stderr);
      assert.equal(
        await waitFor(updated, 5000, 'resources/updated through the bridge'),
        'credential://scavio_api_key',
      );
      const afterRotation = granted(await getCredential(client, 'scavio_api_key', 'search_read'));
      assert.equal(afterRotation.version, got.version + 1);
    } finally {
      const pid = transport.pid;
      const t0 = Date.now();
      await client.close();
      // The bridge ends on its own when stdin closes (the SDK would SIGTERM it after 2 s).
      assert.ok(Date.now() - t0 < 1500, `bridge took ${Date.now() - t0} ms to exit after stdin closed`);
      assert.ok(pid !== null && !isAlive(pid), 'bridge process is gone');
    }
    assert.ok(!bridgeStderr.includes(token), 'the token never appears in the bridge diagnostics');
  });

  test('the bridge answers a request with a JSON-RPC error, never silence, when the token is wrong', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'bridge', '--url', served.url],
      env: cliEnv({ AGENT_KEYRING_TOKEN: 'akr_not-a-real-token-000000000000000000000000' }) as Record<
        string,
        string
      >,
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const client = new Client({ name: 'cli-bridge-test', version: '1.0.0' });
    await assert.rejects(
      waitFor(client.connect(transport), 5000, 'initialize'),
      /refused the token \(HTTP 401\)/,
    );
    await client.close().catch(() => undefined);
    assert.match(stderr, /HTTP 401/);
  });

  test('the bridge exits 0 when stdin ends, and 1 when the server goes away; stdout carries only JSON-RPC', async () => {
    const dir = tempStore();
    let other: Served | undefined;
    const bridges: RawBridge[] = [];
    try {
      other = await startServe(dir, ['--demo']);
      const otherToken = demoToken(other.stdout());
      const open = async (): Promise<RawBridge> => {
        const b = spawnRawBridge(other?.url ?? '', otherToken);
        bridges.push(b);
        const init = await b.request({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: 'raw', version: '1' },
          },
        });
        assert.ok((init as { result?: unknown }).result, JSON.stringify(init));
        b.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
        const list = await b.request({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
        assert.ok(JSON.stringify(list).includes('get_credential'));
        return b;
      };

      const quiet = await open();
      quiet.child.stdin.end();
      assert.equal(
        (await waitFor(quiet.exited, 3000, 'bridge to exit after stdin ended')).code,
        0,
        quiet.stderr(),
      );

      const orphan = await open();
      other.child.kill('SIGTERM');
      assert.equal((await waitFor(other.exited, 2000, 'serve to stop')).code, 0);
      const { code } = await waitFor(orphan.exited, 8000, 'bridge to notice the server is gone');
      assert.equal(code, 1, orphan.stderr());
      assert.match(orphan.stderr(), /lost the connection|not reachable/);
      for (const b of [quiet, orphan]) {
        for (const line of b
          .stdout()
          .split('\n')
          .filter((l) => l !== '')) {
          assert.equal(
            (JSON.parse(line) as { jsonrpc?: string }).jsonrpc,
            '2.0',
            `stdout holds only JSON-RPC: ${line}`,
          );
        }
        assert.ok(!b.stderr().includes(otherToken));
      }
    } finally {
      for (const b of bridges) {
        if (b.child.exitCode === null && b.child.signalCode === null) {
          b.child.kill('SIGKILL');
        }
      }
      other?.kill();
      removeStore(dir);
    }
  });

  test('a taken port → one line saying so and suggesting --port, exit 1', async () => {
    const port = await freePort();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      const r = await runCli(['serve', '--store', store, '--port', String(port)]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr
          .trimEnd()
          .split('\n')
          .filter((l) => l.startsWith('agent-keyring:')).length,
        1,
      );
      assert.match(
        r.stderr,
        new RegExp(`agent-keyring: Port ${port} on 127\\.0\\.0\\.1 is already in use.*--port`),
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  test('a second --demo on an existing store says so and shows no token', async () => {
    const again = await startServe(store, ['--demo']);
    try {
      assert.match(again.stdout(), /already has credentials, so nothing was seeded/);
      assert.doesNotMatch(again.stdout(), /akr_/);
    } finally {
      again.kill();
      await again.exited;
    }
  });

  test('SIGTERM stops serve cleanly: exit 0 within 2 s, audit log intact', async () => {
    const dir = tempStore();
    let s: Served | undefined;
    try {
      s = await startServe(dir, ['--demo']);
      const client = await connectHttp(s.url, demoToken(s.stdout()));
      granted(await getCredential(client, 'scavio_api_key', 'search_read'));
      await client.close();
      const t0 = Date.now();
      s.child.kill('SIGTERM');
      const { code, signal } = await waitFor(s.exited, 2000, 'serve to exit after SIGTERM');
      assert.equal(signal, null);
      assert.equal(code, 0, s.stderr());
      assert.ok(Date.now() - t0 < 2000);
      assert.match(s.stderr(), /Stopped\./);
      const verify = await runCli(['audit', 'verify', '--store', dir]);
      assert.equal(verify.code, 0, verify.stdout);
      assert.ok(fs.existsSync(path.join(dir, 'audit.jsonl')));
    } finally {
      s?.kill();
      removeStore(dir);
    }
  });
});

interface RawBridge {
  child: ChildProcessWithoutNullStreams;
  request(message: { id: number } & Record<string, unknown>): Promise<unknown>;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null }>;
}

/** The bridge driven by hand: newline-delimited JSON-RPC on its stdin/stdout, exit code observable. */
function spawnRawBridge(url: string, token: string): RawBridge {
  const child = spawn(process.execPath, [CLI, 'bridge', '--url', url], {
    env: cliEnv({ AGENT_KEYRING_TOKEN: token }),
  });
  let stdout = '';
  let stderr = '';
  const waiting = new Map<number, (m: unknown) => void>();
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    for (const line of d.split('\n')) {
      try {
        const m = JSON.parse(line) as { id?: number };
        if (typeof m.id === 'number') {
          waiting.get(m.id)?.(m);
        }
      } catch {
        // partial line; the complete text is checked at the end of the test
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null }>((resolve) =>
    child.on('exit', (code) => resolve({ code })),
  );
  return {
    child,
    request: (message) => {
      const answer = new Promise<unknown>((resolve) => waiting.set(message.id, resolve));
      child.stdin.write(`${JSON.stringify(message)}\n`);
      return waitFor(answer, 5000, `answer to ${String(message.method)}`);
    },
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
