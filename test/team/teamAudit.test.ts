/**
 * One audit trail for a team store (README "Team keyring on PostgreSQL"): three real `serve`
 * processes on one throwaway PostgreSQL database append to one keyed hash chain in the database.
 * `audit verify --store URL` checks every row (and catches an edited, a deleted and a deleted last
 * row), `audit export --store URL` gives the rows byte for byte, a server killed mid-load leaves a
 * chain that verifies, an audit row that cannot be written means no value (fail-closed, then it
 * recovers), a restarted server keeps a probing lockout (replayed from the database), and no row
 * or output holds a value.
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Pool } from 'pg';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { AuditFilter } from '../../src/core/audit/auditReader';
import { FileAuditSource } from '../../src/core/audit/auditSource';
import { AuditUnavailableError } from '../../src/core/errors';
import type { AuditEventInput } from '../../src/core/model';
import { NULL_LOGGER } from '../../src/core/ports';
import { PostgresAuditSource } from '../../src/core/store/postgres/postgresAudit';
import { PostgresDb } from '../../src/core/store/postgres/postgresDb';
import { openPostgresKeyring } from '../../src/core/store/postgres/postgresStore';
import { type CliResult, type Served, canary, ensureBuilt, runCli, startServe } from '../cli/cliHarness';
import { type PgCluster, pgUnavailableReason, startPgCluster } from '../helpers/pgCluster';

const skip = pgUnavailableReason();
if (skip) {
  console.warn(`\n*** ${skip} ***\n`);
}

const DB = 'audit_trail';
const AGENTS = ['agent-a', 'agent-b', 'agent-c'];

interface Answer {
  ok: boolean;
  code?: string;
  text: string;
}

async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'audit-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

async function ask(client: Client, name = 'org_key'): Promise<Answer> {
  const r = (await client.callTool({
    name: 'get_credential',
    arguments: { name, scope: 'read' },
  })) as CallToolResult;
  const text = JSON.stringify(r.content);
  return r.isError
    ? { ok: false, code: (r.structuredContent as { code?: string } | undefined)?.code, text }
    : { ok: true, text };
}

interface VerifyJson {
  intact: boolean;
  events: number;
  first_bad: { line: number; reason: string } | null;
  warning: unknown;
}

describe('team store: one audit trail in PostgreSQL for every server', { skip }, () => {
  let pg: PgCluster;
  let url: string;
  let env: Record<string, string>;
  /** The app role's own connections (what someone with write access to the database has). */
  let sql: Pool;
  const dirs: string[] = [];
  const served: Served[] = [];
  const clients: Client[] = [];
  const results: CliResult[] = [];
  const tokens: Record<string, string> = {};
  const value = canary('audit-trail');

  const cli = async (args: string[], input?: string): Promise<CliResult> => {
    const r = await runCli([...args, '--store', url], { env, input, timeoutMs: 60_000 });
    results.push(r);
    return r;
  };
  const verify = async (): Promise<{ code: number | null; out: VerifyJson }> => {
    const r = await cli(['audit', 'verify', '--json']);
    assert.ok(r.stdout.trim().startsWith('{'), `verify printed no JSON: ${r.stdout} ${r.stderr}`);
    return { code: r.code, out: JSON.parse(r.stdout) as VerifyJson };
  };
  const rowCount = async (where = 'true'): Promise<number> =>
    Number(
      (await sql.query<{ n: string }>(`SELECT count(*)::text AS n FROM akr_audit WHERE ${where}`)).rows[0].n,
    );
  const serve = async (burst = 100_000): Promise<Served> => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-audit-state-'));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'policy.json'), JSON.stringify({ burst_per_minute: burst }) + '\n');
    const s = await startServe(url, [], { ...env, AGENT_KEYRING_STATE_DIR: dir });
    served.push(s);
    return s;
  };
  /** After the database was stopped: until a server's probe saw it back, it answers 503. */
  const healthy = async (s: Served): Promise<void> => {
    const end = Date.now() + 15_000;
    while ((await fetch(s.url.replace(/\/mcp$/, '/healthz'))).status !== 200) {
      assert.ok(Date.now() < end, `${s.url} did not become healthy again`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const client = async (s: Served, agent: string): Promise<Client> => {
    const c = await connect(s.url, tokens[agent]);
    clients.push(c);
    return c;
  };

  before(async () => {
    ensureBuilt();
    pg = await startPgCluster();
    url = await pg.createDatabase(DB);
    env = { AGENT_KEYRING_MASTER_KEY: randomBytes(32).toString('base64') };
    const ok = async (args: string[], input?: string): Promise<string> => {
      const r = await cli(args, input);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    await ok(['store', 'upgrade']);
    for (const id of [...AGENTS, 'prober', 'burster']) {
      tokens[id] = (await ok(['agent', 'add', id])).trim().split('\n').pop() ?? '';
    }
    await ok(['credential', 'add', 'org_key', '--scopes', 'read', '--agents', '*'], `${value}\n`);
    sql = new Pool({ connectionString: url, max: 1 });
    sql.on('error', () => undefined); // an idle connection dropped while the database is stopped
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    for (const s of served) {
      s.kill();
    }
    await sql?.end().catch(() => undefined);
    await pg?.stop();
    for (const d of dirs) {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  test('three servers, three agents calling concurrently: one chain, every call one row, verify intact', async (t) => {
    await Promise.all([serve(), serve(), serve()]);
    const before = await rowCount();
    const perClient = 15;
    let calls = 0;
    const loops: Promise<void>[] = [];
    for (const s of served) {
      for (const agent of AGENTS) {
        const c = await client(s, agent);
        loops.push(
          (async () => {
            for (let i = 0; i < perClient; i++) {
              const a = await ask(c);
              assert.ok(a.ok, a.text);
              assert.ok(a.text.includes(value));
              calls++;
            }
          })(),
        );
      }
    }
    const t0 = performance.now();
    await Promise.all(loops);
    t.diagnostic(`${calls} get_credential calls over 3 servers in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(calls, 3 * AGENTS.length * perClient);
    assert.equal(await rowCount(`tool = 'get_credential' AND seq > ${before}`), calls);
    const total = await rowCount();
    assert.equal(total, before + calls, 'nothing but the calls was recorded meanwhile');
    // seq has no gap, and every server wrote a share of it.
    const { rows } = await sql.query<{ min: string; max: string }>(
      'SELECT min(seq)::text AS min, max(seq)::text AS max FROM akr_audit',
    );
    assert.deepEqual([rows[0].min, rows[0].max], ['1', String(total)]);
    const v = await verify();
    assert.equal(v.code, 0, JSON.stringify(v.out));
    assert.deepEqual([v.out.intact, v.out.events, v.out.warning], [true, total, null]);
  });

  test('kill -9 one server mid-load: the chain still verifies and holds every answered call', async () => {
    const before = await rowCount();
    const [a, b, c] = served;
    const answered = new Map<Served, number>([
      [a, 0],
      [b, 0],
      [c, 0],
    ]);
    let stop = false;
    const load = async (s: Served, agent: string): Promise<void> => {
      const cl = await client(s, agent);
      while (!stop) {
        try {
          const r = await ask(cl);
          assert.ok(r.ok, r.text);
          answered.set(s, (answered.get(s) ?? 0) + 1);
        } catch (e) {
          if (s === a) {
            return; // the killed server's client
          }
          throw e;
        }
      }
    };
    const loads = [load(a, 'agent-a'), load(b, 'agent-b'), load(c, 'agent-c')];
    await new Promise((r) => setTimeout(r, 400));
    a.kill();
    assert.equal((await a.exited).signal, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(loads);
    const ok = [...answered.values()].reduce((x, y) => x + y, 0);
    const added = (await rowCount()) - before;
    // Every answered call has its row; a call whose row committed just before the kill may have
    // gone unanswered, so there can be a few more rows than answers, never fewer.
    assert.ok(added >= ok && added <= ok + 50, `rows ${added}, answered calls ${ok}`);
    assert.ok((answered.get(b) ?? 0) > 0 && (answered.get(c) ?? 0) > 0);
    const v = await verify();
    assert.equal(v.code, 0, JSON.stringify(v.out));
    assert.deepEqual([v.out.intact, v.out.events], [true, await rowCount()]);
  });

  test('an audit row that cannot be written: get_credential is refused with audit_unavailable and no value; it recovers', async () => {
    const s = served[1];
    const c = await client(s, 'agent-b');
    assert.ok((await ask(c)).ok);
    // Only the audit insert fails (the metadata and the value still read fine): a constraint no new row meets.
    await pg.admin('ALTER TABLE akr_audit ADD CONSTRAINT akr_test_block CHECK (seq < 0) NOT VALID', DB);
    try {
      const refused = await ask(c);
      assert.equal(refused.ok, false);
      assert.equal(refused.code, 'audit_unavailable', refused.text);
      assert.ok(!refused.text.includes(value), 'a value left without its audit row');
    } finally {
      await pg.admin('ALTER TABLE akr_audit DROP CONSTRAINT akr_test_block', DB);
    }
    assert.ok((await ask(c)).ok, 'answers again once the row can be written');
    assert.match(
      s.stderr(),
      /could not write 1 event\(s\) to the audit trail of postgres:\/\/akr_team:\*\*\*@/,
    );
    const v = await verify();
    assert.deepEqual([v.code, v.out.intact], [0, true]);
  });

  test('the database stops: appends fail closed (audit_unavailable), and the chain goes on after it returns', async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-audit-inproc-'));
    dirs.push(stateDir);
    const keyring = await openPostgresKeyring({ url, localDir: stateDir, logger: NULL_LOGGER, env });
    try {
      const event: AuditEventInput = {
        tool: 'get_credential',
        decision: 'allow',
        agent_id: 'agent-a',
        claimed_agent_id: null,
        credential: 'org_key',
        scope: 'read',
        code: null,
        reason: null,
        lease_id: null,
        version: null,
        value_fingerprint: null,
        client: null,
      };
      await keyring.audit.append(event);
      await pg.pause();
      try {
        await assert.rejects(keyring.audit.append(event), (e) => e instanceof AuditUnavailableError);
      } finally {
        await pg.resume();
      }
      const end = Date.now() + 15_000;
      for (;;) {
        try {
          await keyring.audit.append(event);
          break;
        } catch (e) {
          if (Date.now() > end) {
            throw e;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    } finally {
      await keyring.close();
    }
    const v = await verify();
    assert.equal(v.code, 0, JSON.stringify(v.out));
    assert.deepEqual([v.out.intact, v.out.events], [true, await rowCount()]);
  });

  test('a restarted server keeps a probing lockout: it replays the anomaly history from the database', async () => {
    const s = served[1];
    await healthy(s);
    const c = await client(s, 'prober');
    for (let i = 0; i < 5; i++) {
      assert.equal((await ask(c, `no_such_${i}`)).code, 'not_found');
    }
    assert.equal((await ask(c)).code, 'anomaly_denied');
    // Every server gone: only the audit rows remember the lockout.
    for (const x of served) {
      x.kill();
      await x.exited;
    }
    const fresh = await serve();
    const c2 = await client(fresh, 'prober');
    const after = await ask(c2);
    assert.equal(after.code, 'anomaly_denied', after.text);
    assert.match(after.text, /locked out/);
    // Another agent on the same server is not affected.
    assert.ok((await ask(await client(fresh, 'agent-a'))).ok);
  });

  test('a restarted server keeps the burst window: the requests of the last minute are replayed', async () => {
    const burst = 5;
    const first = await serve(burst);
    const c = await client(first, 'burster');
    for (let i = 0; i < burst; i++) {
      const a = await ask(c);
      assert.ok(a.ok, `request ${i + 1}: ${a.text}`);
    }
    first.kill();
    await first.exited;
    const second = await serve(burst);
    const refused = await ask(await client(second, 'burster'));
    assert.equal(refused.code, 'rate_limited', refused.text);
  });

  test('audit export --store: the JSONL is the rows byte for byte; CSV has one row per event', async () => {
    const { rows } = await sql.query<{ line: string }>('SELECT line FROM akr_audit ORDER BY seq');
    const jsonl = await cli(['audit', 'export']);
    assert.equal(jsonl.code, 0, jsonl.stderr);
    assert.equal(jsonl.stdout, rows.map((r) => r.line + '\n').join(''));
    const outFile = path.join(dirs[0], 'export.csv');
    const csv = await cli(['audit', 'export', '--format', 'csv', '--out', outFile, '--json']);
    assert.equal(csv.code, 0, csv.stderr);
    assert.equal((JSON.parse(csv.stdout) as { events: number }).events, rows.length);
    const text = fs.readFileSync(outFile, 'utf8');
    assert.equal(text.split('\r\n').filter((l) => l !== '').length, rows.length + 1);
    const agent = await cli(['audit', 'export', '--agent', 'prober']);
    assert.equal(agent.code, 0, agent.stderr);
    const proberRows = await rowCount(`agent_id = 'prober'`);
    assert.ok(proberRows >= 7);
    assert.equal(agent.stdout.trim().split('\n').length, proberRows);
  });

  test('pages and filters in SQL give what the file reader gives over the exported JSONL', async () => {
    const exported = await cli(['audit', 'export']);
    assert.equal(exported.code, 0, exported.stderr);
    const file = path.join(dirs[0], 'export.jsonl');
    fs.writeFileSync(file, exported.stdout);
    const fromFile = new FileAuditSource(file);
    const db = new PostgresDb(url, { logger: NULL_LOGGER });
    try {
      const fromDb = new PostgresAuditSource(db);
      const { rows } = await sql.query<{ ts: Date }>('SELECT ts FROM akr_audit ORDER BY seq');
      const middle = rows[Math.floor(rows.length / 2)].ts.getTime();
      const filters: AuditFilter[] = [
        {},
        { agent_id: 'prober' },
        { agent_id: 'cli' }, // a person's changes: no agent_id, the actor in client.name
        { credential: 'org_key' },
        { decision: 'deny' },
        { decision: ['allow', 'deny'] },
        { tool: 'get_credential', since: middle },
        { until: middle },
      ];
      for (const filter of filters) {
        for (const page of [{}, { offset: 3, limit: 7 }, { newestFirst: true, limit: 5 }]) {
          const want = await fromFile.query(filter, page);
          const got = await fromDb.query(filter, page);
          assert.ok(
            want.total > 0 || filter.decision === 'deny',
            `${JSON.stringify(filter)} matches something`,
          );
          assert.deepEqual(got, want, `${JSON.stringify(filter)} ${JSON.stringify(page)}`);
        }
        const wantLines: string[] = [];
        for await (const r of fromFile.records(filter)) {
          wantLines.push(r.line);
        }
        const gotLines: string[] = [];
        for await (const r of fromDb.records(filter)) {
          gotLines.push(r.line);
        }
        assert.deepEqual(gotLines, wantLines, JSON.stringify(filter));
      }
      await assert.rejects(fromDb.query({}, { limit: 0 }), /page size must be a whole number/);
    } finally {
      await db.close();
    }
  });

  test('verify catches an edited row, a deleted row and deleted last rows; no row holds a value', async () => {
    const all = await sql.query<Record<string, unknown>>('SELECT * FROM akr_audit ORDER BY seq');
    const dump = JSON.stringify(all.rows);
    assert.ok(!dump.includes(value), 'a value is in an audit row');
    assert.ok(!dump.includes(pg.password));
    const total = all.rows.length;
    const mid = Math.floor(total / 2);
    const row = (await sql.query<{ line: string }>('SELECT line FROM akr_audit WHERE seq = $1', [mid]))
      .rows[0];

    // Edited: someone with write access to the database, without the chain key.
    await sql.query(`UPDATE akr_audit SET line = replace(line, '"allow"', '"deny"') WHERE seq = $1`, [mid]);
    let v = await verify();
    assert.equal(v.code, 1);
    assert.equal(v.out.first_bad?.line, mid);
    assert.match(v.out.first_bad?.reason ?? '', /hash does not match its content/);
    await sql.query('UPDATE akr_audit SET line = $2 WHERE seq = $1', [mid, row.line]);
    assert.equal((await verify()).code, 0, 'restored');

    // Deleted from the middle.
    const saved = (await sql.query<Record<string, unknown>>('SELECT * FROM akr_audit WHERE seq = $1', [mid]))
      .rows[0];
    const reinsert = async (r: Record<string, unknown>): Promise<void> => {
      await sql.query(
        'INSERT INTO akr_audit (seq, ts, agent_id, client_name, credential, tool, decision, line) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
        [r.seq, r.ts, r.agent_id, r.client_name, r.credential, r.tool, r.decision, r.line],
      );
    };
    await sql.query('DELETE FROM akr_audit WHERE seq = $1', [mid]);
    v = await verify();
    assert.equal(v.code, 1);
    assert.equal(v.out.first_bad?.line, mid);
    assert.match(v.out.first_bad?.reason ?? '', /missing — the rows jump from seq/);
    await reinsert(saved);

    // The last rows deleted: only the head row shows it.
    const last = (await sql.query<Record<string, unknown>>('SELECT * FROM akr_audit WHERE seq = $1', [total]))
      .rows[0];
    await sql.query('DELETE FROM akr_audit WHERE seq = $1', [total]);
    v = await verify();
    assert.equal(v.code, 1);
    assert.match(v.out.first_bad?.reason ?? '', /the last rows were deleted/);
    await reinsert(last);
    v = await verify();
    assert.deepEqual([v.code, v.out.intact, v.out.events], [0, true, total]);
  });

  test('no output of any process shows the value or the password', () => {
    const text = [
      ...results.flatMap((r) => [r.stdout, r.stderr]),
      ...served.flatMap((s) => [s.stdout(), s.stderr()]),
    ].join('\n');
    assert.ok(!text.includes(value), 'the value was printed');
    assert.ok(!text.includes(pg.password), 'the password was printed');
  });
});
