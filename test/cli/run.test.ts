/**
 * `agent-keyring run` as a real process: keys in the child's environment from the local store and
 * through a running server, the keyring's token kept from the child, output masking (raw and
 * base64, split writes), the child's exit code and signals, bad input (one line, documented exit
 * code, the child never started), and the header front (`run --mcp --upstream`) against a real
 * HTTP MCP server on 127.0.0.1. Every value is a canary that must not appear in any output.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
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
  tempStore,
  type CliResult,
} from './cliHarness';

const NODE = process.execPath;
/** A child that prints what it got: the variable, whether it sees a keyring token, and argv. */
const SHOW = `process.stdout.write(JSON.stringify({ key: process.env.OPENAI_API_KEY, other: process.env.SECOND_KEY, tokens: Object.keys(process.env).filter(k => k.startsWith('AGENT_KEYRING_TOKEN') || k === 'MY_AGENT_TOKEN'), argv: process.argv.slice(1) }) + '\\n')`;

function auditOf(store: string): Array<Record<string, unknown>> {
  return fs
    .readFileSync(path.join(store, 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('agent-keyring run', () => {
  let store: string;
  let token: string;
  const openai = canary('openai');
  const second = canary('second');
  const multi = canary('multi');
  const all = (): string[] => [openai, second, multi, token];
  const assertClean = (r: CliResult): void => {
    for (const v of all()) {
      assert.ok(!r.stdout.includes(v) && !r.stderr.includes(v), 'a secret leaked into run output');
    }
  };
  const run = (args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> =>
    runCli(['run', '--store', store, ...args], { env: { AGENT_KEYRING_TOKEN: token, ...env } });

  before(async () => {
    ensureBuilt();
    store = tempStore();
    for (const [name, scopes, value] of [
      ['openai_api_key', 'chat', openai],
      ['second_key', 'read', second],
      ['multi_key', 'read,write', multi],
    ]) {
      const r = await runCli(
        ['credential', 'add', name, '--scopes', scopes, '--agents', 'runner', '--store', store],
        {
          input: value,
        },
      );
      assert.equal(r.code, 0, r.stderr);
    }
    const a = await runCli(['agent', 'add', 'runner', '--store', store]);
    token = a.stdout.trim().split('\n').pop() ?? '';
    assert.match(token, /^akr_/);
  });

  after(() => removeStore(store));

  test('the child gets exactly the keys asked for, never the token; its output is masked', async () => {
    const r = await run([
      '--env',
      'OPENAI_API_KEY=openai_api_key',
      '--env',
      'SECOND_KEY=second_key:read',
      '--',
      NODE,
      '-e',
      SHOW,
      'arg one',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const shown = JSON.parse(r.stdout) as { key: string; other: string; tokens: string[]; argv: string[] };
    assert.equal(shown.key, '[REDACTED]', 'the value arrived and was masked on the way out');
    assert.equal(shown.other, '[REDACTED]');
    assert.deepEqual(shown.tokens, []);
    assert.deepEqual(shown.argv, ['arg one']);
    assertClean(r);
    const lines = auditOf(store).filter((e) => e.tool === 'run' && e.decision === 'allow');
    assert.deepEqual(
      lines.slice(-2).map((e) => [e.credential, e.scope, e.reason]),
      [
        ['openai_api_key', 'chat', 'run node'],
        ['second_key', 'read', 'run node'],
      ],
    );
  });

  test('--no-mask passes the output through; the value really is the credential', async () => {
    const r = await run(['--no-mask', '--env', 'OPENAI_API_KEY=openai_api_key', '--', NODE, '-e', SHOW]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { key: string }).key, openai);
  });

  test('masking covers base64 and URL forms, stderr, and values written in pieces', async () => {
    const script = `
      const fs = require('node:fs');
      const v = process.env.OPENAI_API_KEY;
      fs.writeSync(1, 'b64=' + Buffer.from(v).toString('base64') + '\\n');
      fs.writeSync(2, 'url=' + encodeURIComponent(v + '/?') + '\\n');
      fs.writeSync(1, 'split=' + v.slice(0, 9));
      const t = Date.now(); while (Date.now() - t < 5) {}
      fs.writeSync(1, v.slice(9) + ' end\\n');`;
    const r = await run(['--env', 'OPENAI_API_KEY=openai_api_key', '--', NODE, '-e', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'b64=[REDACTED]\nsplit=[REDACTED] end\n');
    assert.equal(r.stderr, 'url=[REDACTED]%2F%3F\n');
    assertClean(r);
  });

  test("the exit code is the child's; a signal n gives 128+n", async () => {
    assert.equal((await run(['--env', 'K=openai_api_key', '--', NODE, '-e', 'process.exit(7)'])).code, 7);
    const killed = await run([
      '--env',
      'K=openai_api_key',
      '--',
      NODE,
      '-e',
      "process.kill(process.pid, 'SIGTERM')",
    ]);
    assert.equal(killed.code, 143);
  });

  test('SIGTERM and SIGINT sent to run reach the child', async () => {
    for (const [signal, code] of [
      ['SIGTERM', 42],
      ['SIGINT', 43],
      ['SIGHUP', 44],
    ] as const) {
      const script = `process.on('${signal}', () => { console.log('got ${signal}'); process.exit(${code}); }); console.log('ready'); setInterval(() => {}, 1000);`;
      const child: ChildProcess = spawn(
        NODE,
        [CLI, 'run', '--store', store, '--env', 'K=openai_api_key', '--', NODE, '-e', script],
        { env: cliEnv({ AGENT_KEYRING_TOKEN: token }), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`child never ready: ${out}`)), 10_000);
          child.stdout?.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.includes('ready')) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
        child.kill(signal);
        assert.equal(await exited, code);
        assert.match(out, new RegExp(`got ${signal}`));
      } finally {
        if (child.exitCode === null && child.pid !== undefined) {
          process.kill(child.pid, 'SIGKILL');
        }
      }
    }
  });

  test('bad input: one clear line, documented exit code, the child never started', async () => {
    const marker = path.join(store, 'started.txt');
    const child = ['--', NODE, '-e', `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x')`];
    const cases: Array<[string, string[], Record<string, string | undefined>, number, RegExp]> = [
      ['malformed --env', ['--env', 'OPENAI_API_KEY', ...child], {}, 2, /must look like VAR=credential/],
      [
        'several scopes',
        ['--env', 'K=multi_key', ...child],
        {},
        2,
        /needs a scope: 'multi_key' has several \(read, write\)/,
      ],
      [
        'missing credential',
        ['--env', 'K=no_such_key', ...child],
        {},
        77,
        /No credential named 'no_such_key'/,
      ],
      [
        'denied scope',
        ['--env', 'K=openai_api_key:admin', ...child],
        {},
        77,
        /not allowed for scope 'admin'/,
      ],
      [
        'no token',
        ['--env', 'K=openai_api_key', ...child],
        { AGENT_KEYRING_TOKEN: undefined },
        77,
        /AGENT_KEYRING_TOKEN is not set/,
      ],
      [
        'unknown token',
        ['--env', 'K=openai_api_key', ...child],
        { AGENT_KEYRING_TOKEN: 'akr_nope' },
        77,
        /unknown or revoked/,
      ],
      ['no command', ['--env', 'K=openai_api_key'], {}, 2, /missing the command/],
      ['no keys', child, {}, 2, /no keys asked for/],
      [
        'server down',
        ['--url', 'http://127.0.0.1:9/mcp', '--env', 'K=openai_api_key', ...child],
        {},
        69,
        /not reachable/,
      ],
      [
        'token var name',
        ['--token-env', 'A-B', '--env', 'K=openai_api_key', ...child],
        {},
        2,
        /not a variable name/,
      ],
    ];
    for (const [what, args, env, code, message] of cases) {
      const r = await run(args, env);
      assert.equal(r.code, code, `${what}: ${r.stderr}`);
      assert.match(r.stderr, message, what);
      assert.ok(r.stderr.startsWith('agent-keyring: '), what);
      assert.ok(
        r.stderr.trim().split('\n').length <= 2,
        `${what}: one line (plus the --help hint for usage)`,
      );
      assert.equal(r.stdout, '', what);
      assert.ok(!fs.existsSync(marker), `${what}: the command must not have started`);
      assertClean(r);
    }
    // A command that cannot start is found out before any key is released.
    const released = auditOf(store).filter((e) => e.tool === 'run').length;
    const missing = await run(['--env', 'K=openai_api_key', '--', 'no-such-command-akr']);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /not found on PATH/);
    const notExecutable = path.join(store, 'not-executable.sh');
    fs.writeFileSync(notExecutable, '#!/bin/sh\n', { mode: 0o644 });
    const denied = await run(['--env', 'K=openai_api_key', '--', notExecutable]);
    assert.equal(denied.code, 126);
    assert.match(denied.stderr, /not an executable file/);
    assert.equal(auditOf(store).filter((e) => e.tool === 'run').length, released, 'nothing was asked for');
  });

  test('--token-env names another variable, which the child does not get either', async () => {
    const r = await runCli(
      [
        'run',
        '--store',
        store,
        '--token-env',
        'MY_AGENT_TOKEN',
        '--env',
        'OPENAI_API_KEY=openai_api_key',
        '--',
        NODE,
        '-e',
        SHOW,
      ],
      { env: { MY_AGENT_TOKEN: token } },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { tokens: string[] }).tokens, []);
  });

  test('through a running server (--url): same keys, audited by the server as run', async () => {
    const served = await startServe(store);
    try {
      const r = await runCli(
        [
          'run',
          '--url',
          served.url,
          '--no-mask',
          '--env',
          'OPENAI_API_KEY=openai_api_key',
          '--',
          NODE,
          '-e',
          SHOW,
        ],
        { env: { AGENT_KEYRING_TOKEN: token } },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { key: string }).key, openai);
      const denied = await runCli(
        ['run', '--url', served.url, '--env', 'K=openai_api_key:admin', '--', NODE, '-e', ''],
        { env: { AGENT_KEYRING_TOKEN: token } },
      );
      assert.equal(denied.code, 77);
      assert.match(denied.stderr, /not allowed for scope 'admin'/);
      const badToken = await runCli(
        ['run', '--url', served.url, '--env', 'K=openai_api_key', '--', NODE, '-e', ''],
        {
          env: { AGENT_KEYRING_TOKEN: 'akr_wrong' },
        },
      );
      assert.equal(badToken.code, 77);
      assert.match(badToken.stderr, /refused the agent token/);
    } finally {
      served.kill();
      await served.exited;
    }
    const last = auditOf(store)
      .filter((e) => e.tool === 'run')
      .pop();
    assert.equal(last?.decision, 'deny');
    const allowed = auditOf(store)
      .filter((e) => e.tool === 'run' && e.decision === 'allow')
      .pop();
    assert.equal(allowed?.reason, 'run node');
    assert.equal((allowed?.client as { name?: string } | null)?.name, 'agent-keyring run');
  });

  test('run --mcp --upstream adds the header from the keyring, only to an allowed host, rotated value on the next request', async () => {
    const upstream = spawn(NODE, [path.join(ROOT, 'test', 'fixtures', 'keyedHttpServer.mjs')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const hash = (v: string): string => createHmac('sha256', 'fixture').update(v).digest('hex').slice(0, 16);
    let client: Client | undefined;
    let transport: StdioClientTransport | undefined;
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('upstream did not start')), 10_000);
        upstream.stdout?.on('data', (d: Buffer) => {
          const m = /listening (\d+)/.exec(d.toString());
          if (m) {
            clearTimeout(timer);
            resolve(Number(m[1]));
          }
        });
      });
      const v1 = canary('upstream');
      const add = await runCli(
        [
          'credential',
          'add',
          'upstream_key',
          '--scopes',
          'mcp',
          '--agents',
          'runner',
          '--hosts',
          `127.0.0.1:${port}`,
          '--store',
          store,
        ],
        { input: v1 },
      );
      assert.equal(add.code, 0, add.stderr);
      const url = `http://127.0.0.1:${port}/mcp`;
      const notAllowed = await run([
        '--mcp',
        '--upstream',
        `http://localhost:${port}/mcp`,
        '--credential',
        'upstream_key',
        '--header',
        'Authorization=Bearer {{credential}}',
      ]);
      assert.equal(notAllowed.code, 77, notAllowed.stderr);
      assert.match(notAllowed.stderr, /allowed hosts/);
      transport = new StdioClientTransport({
        command: NODE,
        args: [
          CLI,
          'run',
          '--mcp',
          '--store',
          store,
          '--upstream',
          url,
          '--credential',
          'upstream_key',
          '--header',
          'Authorization=Bearer {{credential}}',
        ],
        env: cliEnv({ AGENT_KEYRING_TOKEN: token }) as Record<string, string>,
        stderr: 'pipe',
      });
      let stderr = '';
      transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      client = new Client({ name: 'upstream-test', version: '1' });
      await client.connect(transport);
      const who = async (): Promise<string> => {
        const r = (await client?.callTool({ name: 'whoami', arguments: {} })) as CallToolResult;
        return (JSON.parse((r.content[0] as { text: string }).text) as { key_hash: string }).key_hash;
      };
      assert.equal(await who(), hash(v1));
      const v2 = canary('upstream-v2');
      const rot = await runCli(['credential', 'rotate', 'upstream_key', '--store', store], { input: v2 });
      assert.equal(rot.code, 0, rot.stderr);
      const deadline = Date.now() + 15_000;
      while ((await who()) !== hash(v2)) {
        assert.ok(Date.now() < deadline, `the rotated value never reached the upstream:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(!stderr.includes(v1) && !stderr.includes(v2));
      // A header the upstream does not accept: the client is told what to check, without the value.
      const wrong = new StdioClientTransport({
        command: NODE,
        args: [
          CLI,
          'run',
          '--mcp',
          '--store',
          store,
          '--upstream',
          url,
          '--credential',
          'upstream_key',
          '--header',
          'Authorization=Token {{credential}}',
        ],
        env: cliEnv({ AGENT_KEYRING_TOKEN: token }) as Record<string, string>,
        stderr: 'pipe',
      });
      wrong.stderr?.on('data', () => undefined);
      const wrongClient = new Client({ name: 'upstream-test-wrong', version: '1' });
      let refused = '';
      try {
        await wrongClient.connect(wrong);
      } catch (e) {
        refused = String(e);
      } finally {
        await wrongClient.close();
        if (wrong.pid) {
          try {
            process.kill(wrong.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
      assert.match(refused, /refused the request \(HTTP 401\): check that 'upstream_key'/);
      assert.ok(!refused.includes(v2));
      const audit = auditOf(store).filter((e) => e.credential === 'upstream_key' && e.tool === 'run');
      assert.ok(audit.some((e) => e.reason === `run 127.0.0.1:${port}` && e.decision === 'allow'));
    } finally {
      await client?.close();
      const pid = transport?.pid;
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      if (upstream.pid !== undefined && upstream.exitCode === null) {
        process.kill(upstream.pid, 'SIGKILL');
      }
    }
  });
});
