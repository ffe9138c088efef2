/**
 * The anomaly rules' rate state across servers of one team store: two real `serve` processes on a
 * throwaway PostgreSQL, each with its own local folder and the same policy.json. An agent that
 * spreads its requests over both servers meets the burst limit on the second one (each server
 * alone would still allow them), and a probing lockout earned on one server holds on the other.
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { type Served, canary, ensureBuilt, runCli, startServe } from '../cli/cliHarness';
import { type PgCluster, pgUnavailableReason, startPgCluster } from '../helpers/pgCluster';

const skip = pgUnavailableReason();
if (skip) {
  console.warn(`\n*** ${skip} ***\n`);
}

const BURST = 6;

async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'rate-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

async function ask(client: Client, name: string): Promise<{ ok: boolean; code?: string }> {
  const r = (await client.callTool({
    name: 'get_credential',
    arguments: { name, scope: 'read' },
  })) as CallToolResult;
  return r.isError
    ? { ok: false, code: (r.structuredContent as { code?: string } | undefined)?.code }
    : { ok: true };
}

describe('team store: rate limits and lockouts hold across servers', { skip }, () => {
  let pg: PgCluster;
  const dirs: string[] = [];
  const served: Served[] = [];
  const clients: Client[] = [];
  const value = canary('rate');
  const tokens: Record<string, string> = {};
  let env: Record<string, string>;
  let url: string;

  before(async () => {
    ensureBuilt();
    pg = await startPgCluster();
    url = await pg.createDatabase('rate');
    env = { AGENT_KEYRING_MASTER_KEY: randomBytes(32).toString('base64') };
    const cli = async (args: string[], input?: string): Promise<string> => {
      const r = await runCli([...args, '--store', url], { env, input, timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    await cli(['store', 'upgrade']);
    for (const id of ['burster', 'prober']) {
      tokens[id] = (await cli(['agent', 'add', id])).trim().split('\n').pop() ?? '';
    }
    await cli(['credential', 'add', 'org_key', '--scopes', 'read', '--agents', '*'], `${value}\n`);
    for (let i = 0; i < 2; i++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `akr-rate-${i}-`));
      dirs.push(dir);
      fs.writeFileSync(
        path.join(dir, 'policy.json'),
        JSON.stringify({ burst_per_minute: BURST, actions: { first_use: 'off', unusual_hours: 'off' } }),
      );
      served.push(await startServe(url, [], { ...env, AGENT_KEYRING_STATE_DIR: dir }));
    }
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    for (const s of served) {
      s.kill();
    }
    await pg?.stop();
    for (const d of dirs) {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  test(`burst: ${BURST - 1} requests on A, then B allows the ${BURST}th and refuses the next (rate_limited)`, async () => {
    const a = await connect(served[0].url, tokens.burster);
    const b = await connect(served[1].url, tokens.burster);
    clients.push(a, b);
    for (let i = 0; i < BURST - 1; i++) {
      assert.deepEqual(await ask(a, 'org_key'), { ok: true }, `request ${i + 1} on A`);
    }
    // A's counted requests reach B through the database (batched every few ms).
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await ask(b, 'org_key'), { ok: true }, `request ${BURST} on B`);
    assert.deepEqual(await ask(b, 'org_key'), { ok: false, code: 'rate_limited' }, 'B counts A’s requests');
    // And back: A has heard B's requests too.
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await ask(a, 'org_key'), { ok: false, code: 'rate_limited' });
  });

  test('probing: 5 refused requests on A lock the agent out on B as well', async () => {
    const a = await connect(served[0].url, tokens.prober);
    const b = await connect(served[1].url, tokens.prober);
    clients.push(a, b);
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await ask(a, `no_such_${i}`), { ok: false, code: 'not_found' });
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await ask(b, 'org_key'), { ok: false, code: 'anomaly_denied' });
  });

  test('no output shows the value or the password', () => {
    const text = served.map((s) => s.stdout() + s.stderr()).join('\n');
    assert.ok(!text.includes(value));
    assert.ok(!text.includes(pg.password));
  });
});
