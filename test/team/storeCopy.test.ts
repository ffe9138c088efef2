/**
 * `agent-keyring store copy` with the real bundle: a folder keyring into a team store on a real
 * PostgreSQL and back into a new folder — credentials with their stored versions, agents whose
 * tokens keep working, never a value or the password in any output; a non-empty destination is
 * refused with nothing written.
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openFileStore } from '../../src/core/store/fileStore';
import { openPostgresStore } from '../../src/core/store/postgres/postgresStore';
import { type CliResult, canary, ensureBuilt, removeStore, runCli, tempStore } from '../cli/cliHarness';
import { type PgCluster, pgUnavailableReason, startPgCluster } from '../helpers/pgCluster';

const skip = pgUnavailableReason();
if (skip) {
  console.warn(`\n*** ${skip} ***\n`);
}

describe('agent-keyring store copy', { skip }, () => {
  let pg: PgCluster;
  let url: string;
  let work: string;
  const key = randomBytes(32);
  let env: Record<string, string>;
  const results: CliResult[] = [];
  const cli = async (args: string[], input?: string): Promise<CliResult> => {
    const r = await runCli(args, { env, input, timeoutMs: 30_000 });
    results.push(r);
    return r;
  };

  before(async () => {
    ensureBuilt();
    pg = await startPgCluster();
    url = await pg.createDatabase('copy');
    work = tempStore();
    env = {
      AGENT_KEYRING_MASTER_KEY: key.toString('base64'),
      AGENT_KEYRING_STATE_DIR: path.join(work, 'state'),
    };
  });
  after(async () => {
    await pg?.stop();
    removeStore(work);
  });

  test('folder -> team store -> folder keeps credentials, versions and agents; prints no value', async () => {
    const folder = path.join(work, 'personal');
    const [v1, v2] = [canary('copy-v1'), canary('copy-v2')];
    assert.equal(
      (await cli(['credential', 'add', 'k1', '--scopes', 'read', '--store', folder], `${v1}\n`)).code,
      0,
    );
    assert.equal(
      (await cli(['credential', 'rotate', 'k1', '--grace', '600', '--store', folder], `${v2}\n`)).code,
      0,
    );
    const agent = await cli(['agent', 'add', 'bot', '--store', folder]);
    assert.equal(agent.code, 0, agent.stderr);
    const token = agent.stdout.trim().split('\n').pop() ?? '';

    // Into a database without a schema: says what to run.
    const early = await cli(['store', 'copy', '--from', folder, '--to', url]);
    assert.equal(early.code, 1);
    assert.match(early.stderr, /store upgrade --store 'postgres:\/\/akr_team:\*\*\*@/);
    assert.equal((await cli(['store', 'upgrade', '--store', url])).code, 0);

    const copied = await cli(['store', 'copy', '--from', folder, '--to', url]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(
      copied.stdout,
      /^Copied 1 credential\(s\) \(2 stored value\(s\)\) and 1 agent\(s\) from .*personal to postgres:\/\/akr_team:\*\*\*@127\.0\.0\.1:\d+\/copy\.\n$/,
    );
    const team = await openPostgresStore(url, { masterKey: key });
    try {
      const cur = await team.credentials.readCurrentValue('k1');
      assert.deepEqual([cur.version, cur.value.reveal()], [2, v2]);
      assert.equal((await team.credentials.readValue('k1', 1))?.reveal(), v1);
      assert.equal(
        (await team.credentials.authenticate(token))?.id,
        'bot',
        'the agent token works on the team store',
      );
    } finally {
      await team.close();
    }

    // Again into the now non-empty team store: refused, nothing changed.
    const twice = await cli(['store', 'copy', '--from', folder, '--to', url]);
    assert.equal(twice.code, 1);
    assert.match(
      twice.stderr,
      /already holds 1 credential\(s\) and 1 agent\(s\); store copy only fills an empty store/,
    );

    // And back into a new folder.
    const back = path.join(work, 'back');
    const r = await cli(['store', 'copy', '--from', url, '--to', back]);
    assert.equal(r.code, 0, r.stderr);
    const fileStore = await openFileStore(back, { env: { AGENT_KEYRING_NO_KEYRING: '1' } });
    try {
      assert.equal((await fileStore.credentials.readCurrentValue('k1')).value.reveal(), v2);
      assert.equal((await fileStore.credentials.readValue('k1', 1))?.reveal(), v1);
      assert.equal((await fileStore.credentials.authenticate(token))?.id, 'bot');
      const onDisk = fs.readFileSync(path.join(back, 'secrets.json'), 'utf8');
      assert.ok(!onDisk.includes(v1) && !onDisk.includes(v2), 'values are encrypted in the folder too');
    } finally {
      fileStore.dispose();
    }

    const printed = results.flatMap((x) => [x.stdout, x.stderr]).join('\n');
    for (const secret of [v1, v2, pg.password]) {
      assert.ok(!printed.includes(secret), 'a value or the password was printed');
    }
  });

  test('bad usage is refused with what to do', async () => {
    const none = await cli(['store', 'copy', '--to', url]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /needs both --from and --to/);
    const missing = await cli([
      'store',
      'copy',
      '--from',
      path.join(work, 'nope'),
      '--to',
      path.join(work, 'x'),
    ]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /There is no keyring at .*nope to copy from/);
  });
});
