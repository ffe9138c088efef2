/**
 * Leases and hour approvals of a team store, across servers and restarts: server A is a keyring
 * opened in this process with an approver that answers "Allow for 1 hour" (as the editor would),
 * server B a real headless `agent-keyring serve` (no one to ask: without a shared grant it refuses
 * with approval_denied), both on one throwaway PostgreSQL. The grant answered on A lets the agent
 * through on B, also after B restarts; leases handed out by either are listed by A; revoking the
 * agent from another process marks every lease revoked and drops the grants everywhere; removing a
 * credential drops its grants. No output, log or table holds a value.
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client as PgClient } from 'pg';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Approver, ApprovalRequest } from '../../src/core/ports';
import { openPostgresKeyring } from '../../src/core/store/postgres/postgresStore';
import type { Keyring } from '../../src/core/keyring';
import { type CliResult, type Served, canary, ensureBuilt, runCli, startServe } from '../cli/cliHarness';
import { type PgCluster, pgUnavailableReason, startPgCluster } from '../helpers/pgCluster';
import { RecordingLogger } from '../fakes/recordingLogger';

const skip = pgUnavailableReason();
if (skip) {
  console.warn(`\n*** ${skip} ***\n`);
}

async function connectHttp(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'team-state-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

async function ask(client: Client, name: string): Promise<{ value?: string; code?: string }> {
  const r = (await client.callTool({
    name: 'get_credential',
    arguments: { name, scope: 'read' },
  })) as CallToolResult;
  const s = r.structuredContent as { value?: string; code?: string } | undefined;
  return r.isError ? { code: s?.code } : { value: s?.value };
}

/** Polls an async condition until it holds (or fails after `ms`, naming `what`). */
async function waitFor(predicate: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > until) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('team store: leases and hour approvals are shared by every server', { skip }, () => {
  let pg: PgCluster;
  let url: string;
  let env: Record<string, string>;
  const dirs: string[] = [];
  const served: Served[] = [];
  const clients: Client[] = [];
  const results: CliResult[] = [];
  const values = [canary('state-k'), canary('state-k2')];
  const asked: ApprovalRequest[] = [];
  const logger = new RecordingLogger();
  let a: Keyring | undefined;
  let token = '';

  const cli = async (args: string[], input?: string): Promise<CliResult> => {
    const r = await runCli([...args, '--store', url], { env, input, timeoutMs: 30_000 });
    results.push(r);
    assert.equal(r.code, 0, r.stderr);
    return r;
  };
  const serveB = async (): Promise<Served> => {
    const s = await startServe(url, [], env);
    served.push(s);
    return s;
  };
  const sql = async <R>(text: string): Promise<R[]> => {
    const c = new PgClient({ connectionString: url });
    await c.connect();
    try {
      return (await c.query(text)).rows as R[];
    } finally {
      await c.end();
    }
  };

  before(async () => {
    ensureBuilt();
    pg = await startPgCluster();
    url = await pg.createDatabase('state');
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-team-state-b-'));
    dirs.push(stateDir);
    env = { AGENT_KEYRING_MASTER_KEY: randomBytes(32).toString('base64'), AGENT_KEYRING_STATE_DIR: stateDir };
    await cli(['store', 'upgrade']);
    for (const [i, name] of ['k', 'k2'].entries()) {
      await cli(
        ['credential', 'add', name, '--scopes', 'read', '--agents', 'bot', '--reveal-for', 'bot=approve'],
        `${values[i]}\n`,
      );
    }
    token = (await cli(['agent', 'add', 'bot'])).stdout.trim().split('\n').pop() ?? '';
    assert.match(token, /^akr_/);
    const localA = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-team-state-a-'));
    dirs.push(localA);
    const approver: Approver = {
      ask: (req) => {
        asked.push(req);
        return Promise.resolve('hour');
      },
    };
    a = await openPostgresKeyring({ url, localDir: localA, logger, env, approver });
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    for (const s of served) {
      s.kill();
    }
    await a?.close().catch(() => undefined);
    await pg?.stop();
    for (const d of dirs) {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  test('"Allow for 1 hour" on A holds on B and after B restarts; leases of both are listed by A', async () => {
    const b = await serveB();
    const cb = await connectHttp(b.url, token);
    clients.push(cb);
    // B alone has no one to ask: the reveal needs an approval.
    assert.deepEqual(await ask(cb, 'k'), { code: 'approval_denied' });

    const got = await a!.service.getCredential({ agentId: 'bot' }, { name: 'k', scope: 'read' });
    assert.equal(got.value.reveal(), values[0]);
    assert.equal(asked.length, 1, 'A asked its human once');
    const rows = await sql<{ agent_id: string; credential: string; scope: string; use: string }>(
      'SELECT agent_id, credential, scope, use FROM akr_approval_grants',
    );
    assert.deepEqual(rows, [{ agent_id: 'bot', credential: 'k', scope: 'read', use: 'get_credential' }]);

    // B heard of the grant (NOTIFY) and hands the value out without asking anyone.
    await waitFor(async () => (await ask(cb, 'k')).value === values[0], 5000, 'the grant on B');
    // Another use is not covered: http_request was never allowed.
    assert.equal(asked.length, 1);

    // Leases: A lists B's hand-out as well as its own.
    await waitFor(
      async () => (await a!.service.leases({ agentId: 'bot', activeOnly: true })).length >= 2,
      5000,
      "B's lease listed by A",
    );

    // B restarts: it loads the grant from the database; the leases stay listed.
    b.kill();
    await b.exited;
    const before = (await a!.service.leases({ agentId: 'bot' })).length;
    const b2 = await serveB();
    const cb2 = await connectHttp(b2.url, token);
    clients.push(cb2);
    assert.equal((await ask(cb2, 'k')).value, values[0], 'the grant survived the restart');
    await waitFor(
      async () => (await a!.service.leases({ agentId: 'bot' })).length === before + 1,
      5000,
      "the restarted B's lease listed by A",
    );
    assert.equal(asked.length, 1);
  });

  test('removing a credential drops its grants on every server', async () => {
    const got = await a!.service.getCredential({ agentId: 'bot' }, { name: 'k2', scope: 'read' });
    assert.equal(got.value.reveal(), values[1]);
    assert.ok(a!.grants.has('bot', 'k2', 'read', 'get_credential'));
    await cli(['credential', 'remove', 'k2']);
    await waitFor(() => !a!.grants.has('bot', 'k2', 'read', 'get_credential'), 5000, 'A dropping the grant');
    await waitFor(
      async () =>
        (await sql<{ n: string }>("SELECT count(*) AS n FROM akr_approval_grants WHERE credential = 'k2'"))[0]
          .n === '0',
      5000,
      'the grant row gone',
    );
    assert.ok(a!.grants.has('bot', 'k', 'read', 'get_credential'), 'the grant on k stays');
  });

  test('revoking the agent from another process marks every lease revoked and drops its grants everywhere', async () => {
    const leases = await a!.service.leases({ agentId: 'bot' });
    assert.ok(leases.length >= 3);
    // The CLI lists them too (another process: from the database).
    const listed = JSON.parse((await cli(['leases', '--agent', 'bot', '--active', '--json'])).stdout) as {
      lease_id: string;
      revoked_at: string | null;
    }[];
    assert.deepEqual(listed.map((l) => l.lease_id).sort(), leases.map((l) => l.lease_id).sort());
    assert.match((await cli(['leases', '--agent', 'bot'])).stdout, /lease_[0-9a-f-]+ +bot +k /);
    await cli(['agent', 'revoke', 'bot']);
    const after = await a!.service.leases({ agentId: 'bot' });
    assert.equal(after.length, leases.length);
    assert.ok(
      after.every((l) => l.revoked_at),
      'every lease, whichever server handed it out, is revoked',
    );
    assert.equal((await a!.service.leases({ agentId: 'bot', activeOnly: true })).length, 0);
    assert.equal((await cli(['leases', '--active', '--json'])).stdout.trim(), '[]');
    const revoked = JSON.parse((await cli(['leases', '--json'])).stdout) as { revoked_at: string | null }[];
    assert.ok(revoked.length >= 3 && revoked.every((l) => l.revoked_at !== null));
    await waitFor(() => !a!.grants.has('bot', 'k', 'read', 'get_credential'), 5000, 'A dropping the grant');
    await waitFor(
      async () => (await sql<{ n: string }>('SELECT count(*) AS n FROM akr_approval_grants'))[0].n === '0',
      5000,
      'the grant rows gone',
    );
  });

  test("another process's audit append reaches A's audit source as a change (the Audit view reloads)", async () => {
    assert.ok(a);
    let heard = 0;
    const sub = a.auditSource.onDidChange?.(() => heard++);
    assert.ok(sub, 'a team store tells its readers when the trail changed');
    try {
      const before = (await a.auditSource.query({}, { limit: 1 })).total;
      // A short-lived CLI appends one line (the agent's creation) and exits: its notice goes out
      // before it closes the store.
      await cli(['agent', 'add', 'notice-probe']);
      await waitFor(() => heard > 0, 5000, "the CLI's append notice");
      assert.ok((await a.auditSource.query({}, { limit: 1 })).total > before);
    } finally {
      sub.dispose();
    }
  });

  test('a file store has no lease list outside its serving process, and says so', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-team-state-file-'));
    dirs.push(dir);
    const r = await runCli(['leases', '--json', '--store', dir], { env: {}, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '[]');
    assert.match(r.stderr, /keeps leases in the memory of the process that handed them out/);
  });

  test('no output, log line or table holds a value', async () => {
    const tables = JSON.stringify([
      await sql('SELECT * FROM akr_leases'),
      await sql('SELECT * FROM akr_approval_grants'),
    ]);
    const outputs = [
      tables,
      ...results.map((r) => r.stdout + r.stderr),
      ...served.map((s) => s.stdout() + s.stderr()),
      logger.text(),
    ].join('\n');
    for (const v of values) {
      assert.ok(!outputs.includes(v), 'a value leaked');
    }
    assert.ok(!outputs.includes(pg.password));
  });
});
