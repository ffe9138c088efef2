/**
 * The team store end to end with the real `agent-keyring` bundle: `store upgrade` against a real
 * PostgreSQL as a non-superuser role, admin commands and two `serve` processes on one database
 * with the real MCP SDK client over HTTP — a rotation through one server is what the other hands
 * out next and is pushed to the other's subscriber; kill -9 one server mid-load and the other goes
 * on. No output of any process shows a value or the connection string's password.
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { type CliResult, type Served, canary, ensureBuilt, runCli, startServe } from '../cli/cliHarness';
import { SCHEMA_VERSION } from '../../src/core/store/postgres/schema';
import { type PgCluster, pgUnavailableReason, startPgCluster } from '../helpers/pgCluster';

const skip = pgUnavailableReason();
if (skip) {
  console.warn(`\n*** ${skip} ***\n`);
}

interface Granted {
  value: string;
  version: number;
}

async function connectHttp(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'team-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

async function get(client: Client, name: string, scope = 'read'): Promise<Granted> {
  const r = (await client.callTool({ name: 'get_credential', arguments: { name, scope } })) as CallToolResult;
  assert.notEqual(r.isError, true, `expected a value, got ${JSON.stringify(r.content)}`);
  return r.structuredContent as unknown as Granted;
}

describe('team store: CLI and two servers on one PostgreSQL database', { skip }, () => {
  let pg: PgCluster;
  let url: string;
  let env: Record<string, string>;
  let stateDir: string;
  const served: Served[] = [];
  const clients: Client[] = [];
  const results: CliResult[] = [];
  const values: string[] = [];
  let token = '';

  const cli = async (args: string[], input?: string): Promise<CliResult> => {
    const r = await runCli(args, { env, input, timeoutMs: 30_000 });
    results.push(r);
    return r;
  };

  before(async () => {
    ensureBuilt();
    pg = await startPgCluster();
    url = await pg.createDatabase('team');
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-team-state-'));
    // The load test sends far more than 60 requests a minute; policy.json is read from the local
    // folder of a team store (give every server the same one: README).
    fs.writeFileSync(path.join(stateDir, 'policy.json'), '{ "burst_per_minute": 100000 }\n');
    env = { AGENT_KEYRING_MASTER_KEY: randomBytes(32).toString('base64'), AGENT_KEYRING_STATE_DIR: stateDir };
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    for (const s of served) {
      s.kill();
    }
    await pg?.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  test('before `store upgrade`, commands say to run it; upgrade creates the schema once', async () => {
    const early = await cli(['credential', 'list', '--store', url]);
    assert.equal(early.code, 1);
    assert.match(
      early.stderr,
      /has no Agent Keyring schema yet\. Create it with: agent-keyring store upgrade --store 'postgres:\/\/akr_team:\*\*\*@127\.0\.0\.1:\d+\/team'/,
    );

    const up = await cli(['store', 'upgrade', '--store', url]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(
      up.stdout,
      new RegExp(
        `akr_team:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/team: schema version 0 -> ${SCHEMA_VERSION}\n {2}applied 1: .*\n {2}applied 2: audit trail.*\n {2}applied 3: leases and approval grants`,
      ),
    );
    const again = await cli(['store', 'upgrade'], undefined);
    // No --store and no AGENT_KEYRING_STORE: the default folder is not a team store.
    assert.equal(again.code, 2);
    assert.match(again.stderr, /works on a PostgreSQL team store/);
    const viaEnv = await runCli(['store', 'upgrade'], { env: { ...env, AGENT_KEYRING_STORE: url } });
    results.push(viaEnv);
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.match(viaEnv.stdout, new RegExp(`schema version ${SCHEMA_VERSION}, up to date; nothing to do`));
  });

  test('admin commands work against the database', async () => {
    const v1 = canary('team-v1');
    values.push(v1);
    const add = await cli(
      [
        'credential',
        'add',
        'org_key',
        '--scopes',
        'read',
        '--agents',
        '*',
        '--rotation-agents',
        'ci-agent',
        '--store',
        url,
      ],
      `${v1}\n`,
    );
    assert.equal(add.code, 0, add.stderr);
    const agent = await cli(['agent', 'add', 'ci-agent', '--store', url]);
    assert.equal(agent.code, 0, agent.stderr);
    token = agent.stdout.trim().split('\n').pop() ?? '';
    assert.match(token, /^akr_/);
    const list = await cli(['credential', 'list', '--json', '--store', url]);
    assert.equal(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout) as { name: string; version: number }[];
    assert.deepEqual(
      listed.map((c) => [c.name, c.version]),
      [['org_key', 1]],
    );
    const missing = await cli(['credential', 'rotate', 'nope', '--store', url], 'x\n');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No credential named 'nope' in postgres:\/\/akr_team:\*\*\*@/);
  });

  test('two servers: a rotation through one is handed out next by the other and pushed to its subscriber', async (t) => {
    served.push(await startServe(url, [], env), await startServe(url, [], env));
    const [a, b] = served;
    assert.match(a.stdout(), /Store: postgres:\/\/akr_team:\*\*\*@127\.0\.0\.1:\d+\/team/);
    assert.ok(a.stderr().includes(`anomaly rules from ${path.join(stateDir, 'policy.json')}`), a.stderr());
    const ca = await connectHttp(a.url, token);
    const cb = await connectHttp(b.url, token);
    clients.push(ca, cb);
    assert.equal((await get(ca, 'org_key')).value, values[0]);
    assert.equal((await get(cb, 'org_key')).value, values[0]);

    const latencies: number[] = [];
    const rotateMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      let resolveHeard: (t: number) => void = () => undefined;
      const heard = new Promise<number>((r) => (resolveHeard = r));
      cb.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
        if (n.params.uri === 'credential://org_key') {
          resolveHeard(performance.now());
        }
      });
      await cb.subscribeResource({ uri: 'credential://org_key' });
      const next = canary(`team-r${i}`);
      values.push(next);
      const t0 = performance.now();
      const r = (await ca.callTool({
        name: 'rotate_credential',
        arguments: { name: 'org_key', new_value: next },
      })) as CallToolResult;
      assert.notEqual(r.isError, true, JSON.stringify(r.content));
      const answered = performance.now();
      rotateMs.push(answered - t0);
      const got = await get(cb, 'org_key');
      assert.equal(got.value, next, 'the other server hands out the new value on its next request');
      const at = await Promise.race([
        heard,
        new Promise<number>((_, rej) =>
          setTimeout(() => rej(new Error('no resources/updated on B')), 5000).unref(),
        ),
      ]);
      // From A's answer (the commit is before it) to the push on B; negative = B heard first.
      latencies.push(at - answered);
      await cb.unsubscribeResource({ uri: 'credential://org_key' });
    }
    latencies.sort((x, y) => x - y);
    t.diagnostic(
      `rotate call on A: ${rotateMs.map((l) => l.toFixed(1)).join(', ')} ms; A's answer -> push on B: ${latencies.map((l) => l.toFixed(1)).join(', ')} ms`,
    );
    // The median is the claim (within 100 ms; in practice B hears it before A answers); a single
    // sample on a loaded 2-core machine can be later, so the bound for each one is looser.
    assert.ok(
      latencies[Math.floor(latencies.length / 2)] < 100 && latencies[latencies.length - 1] < 1000,
      `rotate call on A: ${rotateMs.map((l) => l.toFixed(1)).join(', ')} ms; A's answer -> push on B: ${latencies.map((l) => l.toFixed(1)).join(', ')} ms`,
    );
  });

  test('kill -9 one server mid-load: the other goes on, nothing lost', async () => {
    const [a, b] = served;
    const ca = clients[0];
    const cb = clients[1];
    const current = values[values.length - 1];
    let okB = 0;
    let stop = false;
    const loadB = (async () => {
      while (!stop) {
        assert.equal((await get(cb, 'org_key')).value, current);
        okB++;
      }
    })();
    const loadA = (async () => {
      for (;;) {
        try {
          await get(ca, 'org_key');
        } catch {
          return;
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    a.kill();
    const exit = await a.exited;
    assert.equal(exit.signal, 'SIGKILL');
    await loadA;
    const before = okB;
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await loadB;
    assert.ok(okB > before, `B kept answering after A died (${before} -> ${okB})`);
    // A new server takes A's place on the same database and sees everything.
    const c = await startServe(url, [], env);
    served.push(c);
    const cc = await connectHttp(c.url, token);
    clients.push(cc);
    assert.equal((await get(cc, 'org_key')).value, current);
    const list = await cli(['credential', 'list', '--json', '--store', url]);
    assert.equal((JSON.parse(list.stdout) as { version: number }[])[0].version, values.length);
    assert.ok(b.child.exitCode === null, 'B is still running');
  });

  test('the database stops: /healthz says degraded and requests get 503 saying the store is unreachable; it recovers', async () => {
    const b = served[1];
    const base = b.url.replace(/\/mcp$/, '');
    const health = async (): Promise<[number, unknown]> => {
      const r = await fetch(`${base}/healthz`);
      return [r.status, await r.json()];
    };
    const waitHealth = async (status: number): Promise<void> => {
      const end = Date.now() + 15_000;
      let last: [number, unknown] = [0, undefined];
      while (Date.now() < end) {
        last = await health();
        if (last[0] === status) {
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`/healthz did not answer ${status}: last ${JSON.stringify(last)}`);
    };
    assert.deepEqual(await health(), [200, { status: 'ok' }]);
    await pg.pause();
    try {
      await waitHealth(503);
      assert.deepEqual(await health(), [503, { status: 'degraded' }]);
      // The background probe has seen it too (it runs every second): an MCP request is refused.
      await new Promise((r) => setTimeout(r, 1200));
      const refused = await fetch(b.url, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: 'x', version: '1' },
          },
        }),
      });
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('retry-after'), '2');
      const body = (await refused.json()) as { error: { code: number; message: string } };
      assert.match(
        body.error.message,
        /^Service Unavailable: the keyring's store postgres:\/\/akr_team:\*\*\*@127\.0\.0\.1:\d+\/team is unreachable .*Nothing was released or changed\. Retry in a few seconds/,
      );
      assert.ok(!body.error.message.includes(pg.password));
    } finally {
      await pg.resume();
    }
    await waitHealth(200);
    // The same client session goes on once the store is back.
    const end = Date.now() + 10_000;
    for (;;) {
      try {
        assert.equal((await get(clients[1], 'org_key')).value, values[values.length - 1]);
        break;
      } catch (e) {
        if (Date.now() > end) {
          throw e;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    assert.match(b.stderr(), /unreachable .*refusing requests with 503/);
    assert.match(b.stderr(), /answers again: serving requests/);
  });

  test('no output of any process shows a value or the password; the audit trail (in the database) is intact', async () => {
    const texts = [
      ...results.flatMap((r) => [r.stdout, r.stderr]),
      ...served.flatMap((s) => [s.stdout(), s.stderr()]),
    ].join('\n');
    assert.ok(!texts.includes(pg.password), 'the password was printed');
    for (const v of values) {
      assert.ok(!texts.includes(v), 'a value was printed');
    }
    assert.ok(!fs.existsSync(path.join(stateDir, 'audit.jsonl')), 'no per-machine audit file any more');
    const exported = await cli(['audit', 'export', '--store', url]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /"tool":"rotate_credential"/);
    for (const v of values) {
      assert.ok(!exported.stdout.includes(v));
    }
    const verify = await cli(['audit', 'verify', '--store', url]);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /intact \(\d+ events\)/);
  });
});
