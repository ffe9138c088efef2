/**
 * `agent-keyring run --mcp` end to end: the real CLI bundle as a stdio MCP server for a real SDK
 * `Client`, starting the fixture server (test/fixtures/keyedEchoServer.mjs) with a key from a
 * real file store. Rotations are made by another CLI process; the wrapper notices the store change,
 * restarts the child with the new key and replays the handshake, while the client calls tools in
 * a loop: no answer lost or duplicated, the new version seen after every restart, the key's value
 * never in any output. Also a real third-party server from npm (@modelcontextprotocol/server-github).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  CLI,
  ROOT,
  canary,
  cliEnv,
  ensureBuilt,
  removeStore,
  runCli,
  startServe,
  storeFilesText,
  tempStore,
} from './cliHarness';

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'keyedEchoServer.mjs');
const GITHUB_SERVER = path.join(
  ROOT,
  'node_modules',
  '@modelcontextprotocol',
  'server-github',
  'dist',
  'index.js',
);

function keyedHash(value: string): string {
  return createHmac('sha256', 'fixture').update(value).digest('hex').slice(0, 16);
}

interface Wrapped {
  client: Client;
  transport: StdioClientTransport;
  stderr(): string;
  /** Responses seen per request id (a duplicate would count 2). */
  answers: Map<string | number, number>;
  listChanged(): number;
  close(): Promise<void>;
}

async function connectWrapped(
  store: string | undefined,
  token: string,
  wrapperArgs: string[],
  command: string[],
  env: Record<string, string> = {},
): Promise<Wrapped> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'run', '--mcp', ...(store ? ['--store', store] : []), ...wrapperArgs, '--', ...command],
    env: cliEnv({ AGENT_KEYRING_TOKEN: token, AGENT_KEYRING_LOG: 'info', ...env }) as Record<string, string>,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const client = new Client({ name: 'run-mcp-test', version: '1.0.0' });
  const answers = new Map<string | number, number>();
  let listChanged = 0;
  await client.connect(transport);
  // Count every response as it comes off the wire, before the SDK matches it to a request.
  const onmessage = transport.onmessage;
  transport.onmessage = (m) => {
    const r = m as { id?: string | number; method?: string };
    if (r.id !== undefined && r.method === undefined) {
      answers.set(r.id, (answers.get(r.id) ?? 0) + 1);
    }
    if (r.method === 'notifications/tools/list_changed') {
      listChanged++;
    }
    onmessage?.(m);
  };
  return {
    client,
    transport,
    stderr: () => stderr,
    answers,
    listChanged: () => listChanged,
    close: async () => {
      const pid = transport.pid;
      await client.close();
      if (pid !== null) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
  };
}

function parsed(result: CallToolResult): { key_hash: string; pid: number; token_seen: string[] } {
  const first = result.content[0];
  assert.equal(first?.type, 'text');
  return JSON.parse((first as { text: string }).text) as {
    key_hash: string;
    pid: number;
    token_seen: string[];
  };
}

async function addAgent(store: string, id: string): Promise<string> {
  const r = await runCli(['agent', 'add', id, '--store', store]);
  assert.equal(r.code, 0, r.stderr);
  const token = r.stdout.trim().split('\n').pop() ?? '';
  assert.match(token, /^akr_/);
  return token;
}

describe('agent-keyring run --mcp', () => {
  let store: string;
  let token: string;
  const values: string[] = [];

  before(async () => {
    ensureBuilt();
    store = tempStore();
    values.push(canary('fixture'));
    const add = await runCli(
      ['credential', 'add', 'fixture_key', '--scopes', 'use', '--agents', '*', '--store', store],
      { input: values[0] },
    );
    assert.equal(add.code, 0, add.stderr);
    const gh = await runCli(
      ['credential', 'add', 'github_pat', '--scopes', 'repo_read', '--agents', '*', '--store', store],
      { input: `ghp_${canary('github').replace(/-/g, '')}` },
    );
    assert.equal(gh.code, 0, gh.stderr);
    token = await addAgent(store, 'mcp-agent');
  });

  after(() => removeStore(store));

  test('10 rotations while the client calls tools in a loop: 0 lost, 0 duplicated, new version after each restart', async (t) => {
    const toolsFile = path.join(store, 'fixture-tools.txt');
    const w = await connectWrapped(
      store,
      token,
      ['--env', 'FIXTURE_KEY=fixture_key'],
      [process.execPath, FIXTURE],
      { FIXTURE_TOOLS_FILE: toolsFile },
    );
    try {
      const first = parsed((await w.client.callTool({ name: 'whoami', arguments: {} })) as CallToolResult);
      assert.equal(first.key_hash, keyedHash(values[0]));
      assert.deepEqual(first.token_seen, [], 'the child must not see the keyring token');

      let sent = 0;
      let ok = 0;
      let retried = 0;
      let stop = false;
      const seenHashes = new Set<string>();
      const loop = (async () => {
        while (!stop) {
          sent++;
          try {
            const r = parsed(
              (await w.client.callTool({ name: 'whoami', arguments: { n: sent } })) as CallToolResult,
            );
            seenHashes.add(r.key_hash);
            ok++;
          } catch (e) {
            // The wrapper's answer for a request the old child could not finish: retry it.
            assert.match(String(e), /retry/i);
            retried++;
          }
        }
      })();

      for (let i = 1; i <= 10; i++) {
        const value = canary(`fixture-v${i + 1}`);
        values.push(value);
        if (i === 5) {
          fs.writeFileSync(toolsFile, 'extra_tool');
        }
        const r = await runCli(['credential', 'rotate', 'fixture_key', '--store', store], { input: value });
        assert.equal(r.code, 0, r.stderr);
        const deadline = Date.now() + 20_000;
        for (;;) {
          const now = parsed((await w.client.callTool({ name: 'whoami', arguments: {} })) as CallToolResult);
          if (now.key_hash === keyedHash(value)) {
            break;
          }
          assert.ok(Date.now() < deadline, `rotation ${i}: the child never got the new version`);
          await new Promise((res) => setTimeout(res, 50));
        }
      }
      stop = true;
      await loop;

      t.diagnostic(`loop: ${sent} calls, ${ok} answered by a child, ${retried} retry errors`);
      assert.equal(ok + retried, sent, 'every loop call got exactly one answer');
      assert.ok(ok > 10, `the loop made progress (${ok} answers)`);
      for (const [id, n] of w.answers) {
        assert.equal(n, 1, `request ${String(id)} was answered ${n} times`);
      }
      // Tool list changed once (rotation 5 added a tool): exactly one notification.
      assert.equal(w.listChanged(), 1);
      const tools = await w.client.listTools();
      assert.ok(tools.tools.some((t) => t.name === 'extra_tool'));
      assert.ok(seenHashes.size >= 2);
      // The child printed its key on stderr at every start: masked every time.
      assert.equal((w.stderr().match(/starting with key \[REDACTED\]/g) ?? []).length, 11, w.stderr());
      for (const v of values) {
        assert.ok(!w.stderr().includes(v), 'a key value leaked on stderr');
      }
    } finally {
      await w.close();
      fs.rmSync(toolsFile, { force: true });
    }
    const audit = fs.readFileSync(path.join(store, 'audit.jsonl'), 'utf8');
    const runLines = audit
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { tool: string; reason: string | null; credential: string | null })
      .filter((e) => e.tool === 'run');
    assert.ok(runLines.length >= 11, `one 'run' release per start (${runLines.length})`);
    assert.ok(runLines.every((e) => e.reason === 'run node' && e.credential === 'fixture_key'));
    for (const v of values) {
      assert.ok(!storeFilesText(store).includes(v), 'a key value is in a store file in clear');
    }
  });

  test('a request in flight when the key rotates is finished by the old child or answered with a retry error, once', async () => {
    const w = await connectWrapped(
      store,
      token,
      ['--env', 'FIXTURE_KEY=fixture_key'],
      [process.execPath, FIXTURE],
    );
    try {
      const before = parsed((await w.client.callTool({ name: 'whoami', arguments: {} })) as CallToolResult);
      // 300 ms: finished by the old child during the drain.
      const slow = w.client.callTool({ name: 'slow', arguments: { ms: 300 } });
      await new Promise((r) => setTimeout(r, 50));
      const value = canary('fixture-inflight');
      values.push(value);
      const r = await runCli(['credential', 'rotate', 'fixture_key', '--store', store], { input: value });
      assert.equal(r.code, 0, r.stderr);
      const slowResult = parsed(
        (await slow.catch((e: unknown) =>
          assert.fail(`${String(e)}\nwrapper stderr:\n${w.stderr()}`),
        )) as CallToolResult,
      );
      assert.equal(slowResult.pid, before.pid, 'the old child finished its request');
      const deadline = Date.now() + 20_000;
      let after = before;
      while (after.key_hash !== keyedHash(value)) {
        assert.ok(Date.now() < deadline, 'never restarted');
        await new Promise((res) => setTimeout(res, 50));
        after = parsed((await w.client.callTool({ name: 'whoami', arguments: {} })) as CallToolResult);
      }
      assert.notEqual(after.pid, before.pid);
      for (const [, n] of w.answers) {
        assert.equal(n, 1);
      }
    } finally {
      await w.close();
    }
  });

  test('a real third-party server (server-github) starts with its key, lists tools, and survives a rotation', async () => {
    const w = await connectWrapped(
      store,
      token,
      ['--env', 'GITHUB_PERSONAL_ACCESS_TOKEN=github_pat'],
      [process.execPath, GITHUB_SERVER],
    );
    try {
      const before = await w.client.listTools();
      assert.ok(
        before.tools.some((t) => t.name === 'search_repositories'),
        'server-github lists its tools',
      );
      const value = `ghp_${canary('github-v2').replace(/-/g, '')}`;
      const r = await runCli(['credential', 'rotate', 'github_pat', '--store', store], { input: value });
      assert.equal(r.code, 0, r.stderr);
      const deadline = Date.now() + 20_000;
      while (!/restarted 'node'/.test(w.stderr())) {
        assert.ok(Date.now() < deadline, `no restart seen:\n${w.stderr()}`);
        await new Promise((res) => setTimeout(res, 50));
      }
      // Same client session, same connection: the replayed handshake makes the new child answer.
      const afterList = await w.client.listTools();
      assert.deepEqual(
        afterList.tools.map((t) => t.name),
        before.tools.map((t) => t.name),
      );
      assert.equal(w.listChanged(), 0, 'same tools: no list_changed');
      assert.ok(!w.stderr().includes(value));
    } finally {
      await w.close();
    }
  });

  test('a request the old child cannot finish within --drain-ms gets one JSON-RPC error that says to retry', async () => {
    const w = await connectWrapped(
      store,
      token,
      ['--drain-ms', '100', '--env', 'FIXTURE_KEY=fixture_key'],
      [process.execPath, FIXTURE],
    );
    try {
      const before = parsed((await w.client.callTool({ name: 'whoami', arguments: {} })) as CallToolResult);
      // Longer than a rotation takes to be noticed, even on a loaded machine.
      const slow = w.client.callTool({ name: 'slow', arguments: { ms: 60_000 } }, undefined, {
        timeout: 120_000,
      });
      const slowOutcome = slow.then(
        () => 'answered',
        (e: unknown) => String(e),
      );
      await new Promise((r) => setTimeout(r, 50));
      const value = canary('fixture-drain');
      values.push(value);
      const r = await runCli(['credential', 'rotate', 'fixture_key', '--store', store], { input: value });
      assert.equal(r.code, 0, r.stderr);
      const outcome = await slowOutcome;
      assert.match(outcome, /-32000/, w.stderr());
      assert.match(outcome, /retry/i);
      const after = parsed((await w.client.callTool({ name: 'whoami', arguments: {} })) as CallToolResult);
      assert.equal(after.key_hash, keyedHash(value));
      assert.notEqual(after.pid, before.pid);
      for (const [id, n] of w.answers) {
        assert.equal(n, 1, `request ${String(id)} answered ${n} times`);
      }
    } finally {
      await w.close();
    }
  });

  test('through a running server (--url): the rotation push restarts the child with the new key', async () => {
    const served = await startServe(store);
    let w: Wrapped | undefined;
    try {
      w = await connectWrapped(
        undefined,
        token,
        ['--url', served.url, '--env', 'FIXTURE_KEY=fixture_key'],
        [process.execPath, FIXTURE],
      );
      const before = parsed((await w.client.callTool({ name: 'whoami', arguments: {} })) as CallToolResult);
      assert.equal(before.key_hash, keyedHash(values[values.length - 1]));
      const value = canary('fixture-served');
      values.push(value);
      const r = await runCli(['credential', 'rotate', 'fixture_key', '--store', store], { input: value });
      assert.equal(r.code, 0, r.stderr);
      const deadline = Date.now() + 20_000;
      let now = before;
      while (now.key_hash !== keyedHash(value)) {
        assert.ok(Date.now() < deadline, `no restart through the server:\n${w.stderr()}`);
        await new Promise((res) => setTimeout(res, 50));
        now = parsed((await w.client.callTool({ name: 'whoami', arguments: {} })) as CallToolResult);
      }
      assert.ok(!w.stderr().includes(value));
    } finally {
      await w?.close();
      served.kill();
      await served.exited;
    }
  });

  test('bad input for --mcp: one line, exit 2, nothing started', async () => {
    for (const [args, message] of [
      [['--upstream', 'http://127.0.0.1:9/mcp'], /--upstream needs --mcp/],
      [
        ['--mcp', '--upstream', 'http://127.0.0.1:9/mcp', '--header', 'Authorization=Bearer {{credential}}'],
        /needs --credential/,
      ],
      [
        ['--mcp', '--upstream', 'http://127.0.0.1:9/mcp', '--credential', 'fixture_key', '--header', 'X=1'],
        /no --header uses \{\{credential\}\}/,
      ],
      [['--mcp', '--upstream', 'ftp://x/mcp', '--credential', 'fixture_key'], /must start with http/],
      [
        ['--mcp', '--drain-ms', 'soon', '--env', 'K=fixture_key', '--', 'node'],
        /--drain-ms must be a whole number/,
      ],
      [
        ['--mcp', '--credential', 'fixture_key', '--env', 'K=fixture_key', '--', 'node'],
        /go with --mcp --upstream/,
      ],
    ] as const) {
      const r = await runCli(['run', '--store', store, ...args], { env: { AGENT_KEYRING_TOKEN: token } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
  });

  test('stdout is byte-exact: the same requests give the same bytes directly and through run --mcp', async () => {
    const requests = [
      '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}',
      '{"jsonrpc":"2.0","method":"notifications/initialized"}',
      // Odd spacing and a non-ASCII string id: tracked by parsing, forwarded untouched.
      '{ "jsonrpc" : "2.0", "id" : "r\u00e9q-2", "method" : "tools/list" }',
      '{"jsonrpc":"2.0","id":3,"method":"no/such/method"}',
    ];
    const talk = async (command: string[], env: Record<string, string>): Promise<Buffer> => {
      const child = spawn(command[0], command.slice(1), {
        env: cliEnv(env),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => chunks.push(b));
      child.stderr.resume();
      const lines = (): number => Buffer.concat(chunks).toString('utf8').split('\n').length - 1;
      try {
        for (const [i, r] of requests.entries()) {
          child.stdin.write(`${r}\n`);
          const want = requests.slice(0, i + 1).filter((q) => q.includes('"id"')).length;
          const deadline = Date.now() + 30_000;
          while (lines() < want) {
            assert.ok(Date.now() < deadline, 'no answer');
            await new Promise((res) => setTimeout(res, 10));
          }
        }
        return Buffer.concat(chunks);
      } finally {
        child.stdin.end();
        if (child.pid !== undefined && child.exitCode === null) {
          process.kill(child.pid, 'SIGKILL');
        }
      }
    };
    const value = values[values.length - 1];
    const direct = await talk([process.execPath, FIXTURE], { FIXTURE_KEY: value });
    const wrapped = await talk(
      [
        process.execPath,
        CLI,
        'run',
        '--mcp',
        '--store',
        store,
        '--env',
        'FIXTURE_KEY=fixture_key',
        '--',
        process.execPath,
        FIXTURE,
      ],
      { AGENT_KEYRING_TOKEN: token },
    );
    assert.ok(direct.toString('utf8').includes('"id":"réq-2"'));
    assert.ok(
      wrapped.equals(direct),
      `bytes differ:\n${direct.toString('utf8')}\n---\n${wrapped.toString('utf8')}`,
    );
  });
});
