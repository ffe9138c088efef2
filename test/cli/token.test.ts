/**
 * Token delivery without a token in a shell profile, as real processes: `agent add --save-token`
 * and `agent rotate-token --save-token` save the token (a 0600 file here: the harness sets
 * AGENT_KEYRING_NO_KEYRING=1; and the OS keyring through a `secret-tool` on PATH), `agent-keyring
 * token --agent ID [--header-json]` prints it on stdout only, and `run` / `bridge` with `--agent`
 * use the agent's own variable or its saved token. And the demo: a brokered `http_request` that
 * works end to end against the local upstream `serve --demo` starts, with the key never in the answer.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  CLI,
  canary,
  cliEnv,
  ensureBuilt,
  removeStore,
  runCli,
  startServe,
  tempStore,
  type CliResult,
  type Served,
} from './cliHarness';

const SHOW_KEY = `process.stdout.write(String(process.env.DEMO_KEY === undefined ? 'none' : 'set:' + process.env.DEMO_KEY.length))`;

describe('agent-keyring token and --save-token', () => {
  let store: string;
  const value = canary('value');
  const seen: CliResult[] = [];
  const cli = async (args: string[], env: Record<string, string | undefined> = {}, input?: string) => {
    const r = await runCli(args, { env, ...(input !== undefined ? { input } : {}) });
    seen.push(r);
    return r;
  };

  before(async () => {
    ensureBuilt();
    store = tempStore();
    const add = await cli(
      ['credential', 'add', 'demo_key', '--scopes', 'read', '--agents', 'claude-code', '--store', store],
      {},
      value,
    );
    assert.equal(add.code, 0, add.stderr);
  });
  after(() => removeStore(store));

  test('agent add --save-token: nothing on stdout, a 0600 file, and `token` prints it (bare and as header JSON)', async () => {
    const add = await cli(['agent', 'add', 'claude-code', '--save-token', '--store', store]);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, '', 'the token is saved, not printed');
    assert.match(add.stderr, /a plain file on disk/);
    const file = path.join(store, 'agent-tokens', 'claude-code.token');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const saved = fs.readFileSync(file, 'utf8').trim();
    assert.match(saved, /^akr_/);
    assert.ok(!add.stderr.includes(saved), 'never on stderr');

    const bare = await cli(['token', '--agent', 'claude-code', '--store', store]);
    assert.equal(bare.code, 0, bare.stderr);
    assert.equal(bare.stdout, `${saved}\n`);
    assert.equal(bare.stderr, '');
    const header = await cli(['token', '--agent', 'claude-code', '--header-json', '--store', store]);
    assert.deepEqual(JSON.parse(header.stdout), { Authorization: `Bearer ${saved}` });

    // The saved token is the agent's: run --agent uses it with no variable set at all.
    const run = await cli([
      'run',
      '--agent',
      'claude-code',
      '--store',
      store,
      '--env',
      'DEMO_KEY=demo_key',
      '--',
      process.execPath,
      '-e',
      SHOW_KEY,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `set:${value.length}`);

    // rotate-token --save-token replaces it; the old one no longer works.
    const rot = await cli(['agent', 'rotate-token', 'claude-code', '--save-token', '--store', store]);
    assert.equal(rot.code, 0, rot.stderr);
    assert.equal(rot.stdout, '');
    const next = (await cli(['token', '--agent', 'claude-code', '--store', store])).stdout.trim();
    assert.notEqual(next, saved);
    const old = await cli(
      ['run', '--store', store, '--env', 'DEMO_KEY=demo_key', '--', process.execPath, '-e', SHOW_KEY],
      { AGENT_KEYRING_TOKEN: saved },
    );
    assert.equal(old.code, 77, 'the old token is refused');

    for (const r of seen) {
      assert.ok(!r.stderr.includes(saved) && !r.stderr.includes(next), 'no token on stderr');
      assert.ok(!r.stdout.includes(value) && !r.stderr.includes(value), 'no value anywhere');
    }
  });

  test('--agent: the per-agent variable wins over the saved token and AGENT_KEYRING_TOKEN; --token-env still works', async () => {
    const mine = (await cli(['agent', 'add', 'ci-bot', '--store', store])).stdout.trim();
    assert.equal(
      (await cli(['credential', 'edit', 'demo_key', '--agents', 'claude-code,ci-bot', '--store', store]))
        .code,
      0,
    );
    const args = [
      'run',
      '--agent',
      'ci-bot',
      '--store',
      store,
      '--env',
      'DEMO_KEY=demo_key',
      '--',
      process.execPath,
      '-e',
      SHOW_KEY,
    ];
    const ok = await cli(args, { AGENT_KEYRING_TOKEN_CI_BOT: mine, AGENT_KEYRING_TOKEN: 'akr_wrong' });
    assert.equal(ok.code, 0, ok.stderr);
    // Without its variable and without a saved token, the shared AGENT_KEYRING_TOKEN is the fallback.
    const fallback = await cli(args, { AGENT_KEYRING_TOKEN: mine });
    assert.equal(fallback.code, 0, fallback.stderr);
    const none = await cli(args);
    assert.equal(none.code, 77);
    assert.match(none.stderr, /no token for agent 'ci-bot': set AGENT_KEYRING_TOKEN_CI_BOT, or save one/);
    const tokenEnv = await cli(
      [
        'run',
        '--token-env',
        'AGENT_KEYRING_TOKEN_CI_BOT',
        '--store',
        store,
        '--env',
        'DEMO_KEY=demo_key',
        '--',
        process.execPath,
        '-e',
        SHOW_KEY,
      ],
      { AGENT_KEYRING_TOKEN_CI_BOT: mine },
    );
    assert.equal(tokenEnv.code, 0, tokenEnv.stderr);
    const both = await cli(['run', '--agent', 'x', '--token-env', 'Y', '--env', 'K=demo_key', '--', 'true']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--agent ID or --token-env NAME, not both/);
  });

  test('rotate-token without --save-token replaces a saved token; revoke removes it', async () => {
    await cli(['agent', 'add', 'helper-bot', '--save-token', '--store', store]);
    const rot = await cli(['agent', 'rotate-token', 'helper-bot', '--store', store]);
    assert.equal(rot.code, 0, rot.stderr);
    const printed = rot.stdout.trim().split('\n').at(-1);
    assert.match(rot.stderr, /saved for 'helper-bot' was replaced/);
    assert.equal((await cli(['token', '--agent', 'helper-bot', '--store', store])).stdout.trim(), printed);
    const rev = await cli(['agent', 'revoke', 'helper-bot', '--store', store]);
    assert.equal(rev.code, 0, rev.stderr);
    assert.match(rev.stderr, /saved for 'helper-bot' was removed/);
    assert.equal((await cli(['token', '--agent', 'helper-bot', '--store', store])).code, 1);
  });

  test('token: no saved token is exit 1 saying how to save one; --agent is required', async () => {
    const r = await cli(['token', '--agent', 'nobody', '--store', store]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /no token saved for agent 'nobody'.*agent rotate-token nobody --save-token/);
    const usage = await cli(['token', '--store', store]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /missing --agent ID/);
  });

  test('a saved token file others can read is refused, with the fix and without the token', async () => {
    await cli(['agent', 'add', 'leaky', '--save-token', '--store', store]);
    const file = path.join(store, 'agent-tokens', 'leaky.token');
    const token = fs.readFileSync(file, 'utf8').trim();
    fs.chmodSync(file, 0o644);
    const r = await cli(['token', '--agent', 'leaky', '--store', store]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /chmod 600/);
    assert.ok(!r.stderr.includes(token));
  });

  test('with a secret-tool on PATH, the token goes to the OS keyring (no file) and comes back from there', async () => {
    const dir = tempStore();
    try {
      const bin = path.join(dir, 'bin');
      fs.mkdirSync(bin);
      const db = path.join(dir, 'items.json');
      fs.writeFileSync(
        path.join(bin, 'secret-tool'),
        `#!${process.execPath}
const fs = require('fs');
const [cmd, ...rest] = process.argv.slice(2);
const key = rest.filter((a) => !a.startsWith('--label=')).join(' ');
const items = fs.existsSync(${JSON.stringify(db)}) ? JSON.parse(fs.readFileSync(${JSON.stringify(db)}, 'utf8')) : {};
if (cmd === 'store') { items[key] = fs.readFileSync(0, 'utf8'); fs.writeFileSync(${JSON.stringify(db)}, JSON.stringify(items)); process.exit(0); }
if (cmd === 'lookup') { if (!(key in items)) process.exit(1); process.stdout.write(items[key]); process.exit(0); }
process.exit(2);
`,
        { mode: 0o755 },
      );
      const env = {
        AGENT_KEYRING_NO_KEYRING: undefined,
        PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`,
      };
      // The master key still goes to a file (no @napi-rs/keyring Secret Service here); only the agent token uses the tool.
      const add = await cli(['agent', 'add', 'kr-agent', '--save-token', '--store', store], {
        ...env,
        AGENT_KEYRING_NO_KEYRING: undefined,
      });
      assert.equal(add.code, 0, add.stderr);
      assert.match(add.stderr, /the OS keyring \(service 'agent-keyring\.agent-token'/);
      assert.equal(fs.existsSync(path.join(store, 'agent-tokens', 'kr-agent.token')), false);
      const got = await cli(['token', '--agent', 'kr-agent', '--store', store], env);
      assert.equal(got.code, 0, got.stderr);
      assert.match(got.stdout, /^akr_\S+\n$/);
      assert.ok(fs.readFileSync(db, 'utf8').includes(got.stdout.trim()), 'kept by the keyring tool');
    } finally {
      removeStore(dir);
    }
  });
});

describe('serve --demo: a brokered call that works end to end', () => {
  let store: string;
  let served: Served;
  const clients: Client[] = [];

  before(async () => {
    ensureBuilt();
    store = tempStore();
    served = await startServe(store, ['--demo']);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    served.kill();
    await served.exited;
    removeStore(store);
  });

  test('http_request to the demo upstream answers 200 with results; the key is checked there and never returned', async () => {
    const out = served.stdout();
    const token = /AGENT_KEYRING_TOKEN_RESEARCH_AGENT=(akr_[A-Za-z0-9_-]+)/.exec(out)?.[1];
    assert.ok(token, out);
    const line = out.split('\n').find((l) => l.trim().startsWith('http_request {'));
    assert.ok(line, `the banner shows the brokered call:\n${out}`);
    const args = JSON.parse(line.trim().slice('http_request '.length)) as { url: string };
    assert.match(args.url, /^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/search\?q=/);

    const client = new Client({ name: 'demo-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(served.url), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    clients.push(client);
    const r = (await client.callTool({ name: 'http_request', arguments: args })) as CallToolResult;
    assert.notEqual(r.isError, true, JSON.stringify(r.content));
    const answer = r.structuredContent as { status: number; body: string };
    assert.equal(answer.status, 200, answer.body);
    assert.match(answer.body, /Demo result 1/);

    // The key itself (this agent may reveal it) is in neither the answer nor the logs.
    const got = (await client.callTool({
      name: 'get_credential',
      arguments: { name: 'scavio_api_key', scope: 'search_read' },
    })) as CallToolResult;
    const key = (got.structuredContent as { value: string }).value;
    assert.equal(key.length, 40);
    assert.ok(!JSON.stringify(r).includes(key));
    assert.ok(!served.stdout().includes(key) && !served.stderr().includes(key));

    // The upstream really checks the key: without it, 401.
    const bare = await fetch(args.url);
    assert.equal(bare.status, 401);
    assert.ok(!(await bare.text()).includes(key));
  });

  test('the stdio bridge with --agent reads AGENT_KEYRING_TOKEN_<ID> (no shared variable)', async () => {
    const token = /AGENT_KEYRING_TOKEN_RESEARCH_AGENT=(akr_[A-Za-z0-9_-]+)/.exec(served.stdout())?.[1];
    assert.ok(token);
    const env = cliEnv({ AGENT_KEYRING_TOKEN_RESEARCH_AGENT: token });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'bridge', '--url', served.url, '--agent', 'research-agent'],
      env: env as Record<string, string>,
      stderr: 'pipe',
    });
    const client = new Client({ name: 'bridge-agent-test', version: '1.0.0' });
    await client.connect(transport);
    clients.push(client);
    const list = await client.listTools();
    assert.ok(list.tools.some((t) => t.name === 'http_request'));
  });
});
