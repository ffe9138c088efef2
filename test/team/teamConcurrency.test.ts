/**
 * Many concurrent calls on one team-store server (issue #13: at 50 agents the pool's 5 s queue
 * bound refused ~20 of ~3,200 calls). 60 MCP sessions call get_credential at once through a real
 * `serve` on a throwaway PostgreSQL, and every call succeeds. In process, against the same kind of
 * database: a burst of concurrent reads shares its round trips (counted on the store's own
 * connection pool), and a read called after a commit by another store still sees that commit even
 * while older reads are in flight.
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
import { SecretValue, secretKey } from '../../src/core/model';
import { openPostgresStore, type PostgresStore } from '../../src/core/store/postgres/postgresStore';
import { type CliResult, type Served, canary, ensureBuilt, runCli, startServe } from '../cli/cliHarness';
import { type PgCluster, pgUnavailableReason, startPgCluster } from '../helpers/pgCluster';

const skip = pgUnavailableReason();
if (skip) {
  console.warn(`\n*** ${skip} ***\n`);
}

const SESSIONS = 60;
const CALLS_PER_SESSION = 5;

describe('team store under concurrent calls', { skip }, () => {
  let pg: PgCluster;
  let url: string;
  let env: Record<string, string>;
  let stateDir: string;
  const served: Served[] = [];
  const clients: Client[] = [];
  const stores: PostgresStore[] = [];
  const results: CliResult[] = [];
  const value = canary('conc');
  /** Sessions per agent are capped (MAX_SESSIONS_PER_AGENT, 32): three agents share the 60. */
  const tokens: string[] = [];

  const cli = async (args: string[], input?: string): Promise<CliResult> => {
    const r = await runCli([...args, '--store', url], { env, input, timeoutMs: 30_000 });
    results.push(r);
    assert.equal(r.code, 0, r.stderr);
    return r;
  };

  before(async () => {
    ensureBuilt();
    pg = await startPgCluster();
    url = await pg.createDatabase('conc');
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-team-conc-'));
    fs.writeFileSync(path.join(stateDir, 'policy.json'), '{ "burst_per_minute": 100000 }\n');
    env = { AGENT_KEYRING_MASTER_KEY: randomBytes(32).toString('base64'), AGENT_KEYRING_STATE_DIR: stateDir };
    await cli(['store', 'upgrade']);
    await cli(['credential', 'add', 'k', '--scopes', 'read', '--agents', '*'], `${value}\n`);
    for (const id of ['bot-1', 'bot-2', 'bot-3']) {
      tokens.push((await cli(['agent', 'add', id])).stdout.trim().split('\n').pop() ?? '');
    }
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    for (const s of served) {
      s.kill();
    }
    await Promise.allSettled(stores.map((s) => s.close()));
    await pg?.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  test(`${SESSIONS} sessions × ${CALLS_PER_SESSION} concurrent get_credential on one server: every call succeeds`, async () => {
    const s = await startServe(url, [], env);
    served.push(s);
    const sessions = await Promise.all(
      Array.from({ length: SESSIONS }, async (_, i) => {
        const token = tokens[i % tokens.length];
        const c = new Client({ name: 'conc-test', version: '1.0.0' });
        await c.connect(
          new StreamableHTTPClientTransport(new URL(s.url), {
            requestInit: { headers: { Authorization: `Bearer ${token}` } },
          }),
        );
        clients.push(c);
        return c;
      }),
    );
    const failures: string[] = [];
    let ok = 0;
    await Promise.all(
      sessions.map(async (c) => {
        for (let i = 0; i < CALLS_PER_SESSION; i++) {
          const r = (await c.callTool({
            name: 'get_credential',
            arguments: { name: 'k', scope: 'read' },
          })) as CallToolResult;
          const got = r.structuredContent as { value?: string } | undefined;
          if (r.isError || got?.value !== value) {
            failures.push(JSON.stringify(r.content).slice(0, 300));
          } else {
            ok++;
          }
        }
      }),
    );
    assert.deepEqual(failures, [], `${failures.length} of ${SESSIONS * CALLS_PER_SESSION} calls failed`);
    assert.equal(ok, SESSIONS * CALLS_PER_SESSION);
    const out = s.stdout() + s.stderr() + results.map((r) => r.stdout + r.stderr).join('\n');
    assert.doesNotMatch(out, /timeout|timed out/i);
    assert.ok(!out.includes(value) && !out.includes(pg.password));
  });

  test('concurrent reads share round trips, yet a read called after a commit sees it', async () => {
    // The CLI's master key, so the value written above decrypts.
    const masterKey = Buffer.from(env.AGENT_KEYRING_MASTER_KEY, 'base64');
    const a = await openPostgresStore(url, { masterKey });
    const b = await openPostgresStore(url, { masterKey });
    stores.push(a, b);
    let queries = 0;
    const query = a.db.query.bind(a.db);
    a.db.query = (...args: Parameters<typeof query>) => {
      queries++;
      return query(...args);
    };

    const reads = await Promise.all(Array.from({ length: 100 }, () => a.metadata.read()));
    assert.ok(
      reads.every((d) => d === reads[0]),
      'one document for all',
    );
    const values = await Promise.all(Array.from({ length: 100 }, () => a.secrets.get(secretKey('k', 1))));
    assert.ok(values.every((v) => v === value));
    assert.ok(queries <= 4, `200 concurrent reads took ${queries} round trips (expected at most 4)`);

    // Reads in flight when B commits do not answer a read called after the commit.
    const inFlight = Array.from({ length: 20 }, () => a.metadata.read());
    await b.credentials.rotate('k', {
      value: new SecretValue(canary('conc2')),
      graceSeconds: 60,
      actor: 'b',
    });
    const after = await a.metadata.read();
    assert.equal(after.credentials.k.version, 2, 'the read called after the commit sees it');
    await Promise.all(inFlight);
  });
});
