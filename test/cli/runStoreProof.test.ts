/**
 * `run --url URL --store DIR --agent ID` with the token saved in DIR — the entry VS Code's Migrate
 * MCP Configs writes — sends that token only to a server that proves it serves DIR's keyring (the
 * attach challenge). Real processes: `agent-keyring serve` of store A on a free loopback port, and
 * `run` with the token saved in A (served) or in another store B (refused, exit 77, with what to
 * do). The agent's own variable still wins over the saved token, unchecked, as before.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { canary, ensureBuilt, removeStore, runCli, startServe, tempStore, type Served } from './cliHarness';

const NODE = process.execPath;
const SHOW_KEY = `process.stdout.write(process.env.DEMO_KEY === undefined ? 'none' : 'set:' + process.env.DEMO_KEY.length)`;

describe('run --url with a saved token: only to the server of its store', () => {
  let storeA: string;
  let storeB: string;
  let served: Served | undefined;
  const value = canary('value');
  const tokenOf = (store: string): string =>
    fs.readFileSync(path.join(store, 'agent-tokens', 'claude-code.token'), 'utf8').trim();
  const run = (store: string, env: Record<string, string> = {}) =>
    runCli(
      [
        'run',
        '--url',
        (served as Served).url,
        '--store',
        store,
        '--agent',
        'claude-code',
        '--env',
        'DEMO_KEY=demo_key',
        '--',
        NODE,
        '-e',
        SHOW_KEY,
      ],
      { env },
    );

  before(async () => {
    ensureBuilt();
    storeA = tempStore();
    storeB = tempStore();
    const add = await runCli(
      ['credential', 'add', 'demo_key', '--scopes', 'read', '--agents', 'claude-code', '--store', storeA],
      { input: value },
    );
    assert.equal(add.code, 0, add.stderr);
    for (const store of [storeA, storeB]) {
      const agent = await runCli(['agent', 'add', 'claude-code', '--save-token', '--store', store]);
      assert.equal(agent.code, 0, agent.stderr);
    }
    // B is another keyring whose folder has its own attach key (as a VS Code window's storage has).
    fs.writeFileSync(path.join(storeB, 'attach.key'), `${randomBytes(32).toString('base64')}\n`, {
      mode: 0o600,
    });
    served = await startServe(storeA);
  });

  after(async () => {
    served?.kill();
    await served?.exited;
    removeStore(storeA);
    removeStore(storeB);
  });

  test('the token saved in the served store is used with no variable set', async () => {
    const r = await run(storeA);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `set:${value.length}`);
  });

  test('a token saved in another store is not sent: exit 77, saying whose server it is and what to do', async () => {
    const r = await run(storeB);
    assert.equal(r.code, 77, r.stderr);
    assert.match(r.stderr, /is not the keyring of .*so the agent token saved there is not sent/);
    assert.match(r.stderr, /agent-keyring serve --store/);
    assert.equal(r.stdout, '', 'the command never started');
    assert.ok(
      !r.stderr.includes(tokenOf(storeB)) && !r.stderr.includes(tokenOf(storeA)),
      'no token in the message',
    );
    assert.ok(!(served as Served).stderr().includes(tokenOf(storeB)));
  });

  test("the agent's own variable still wins over the saved token (not checked, as before)", async () => {
    const r = await run(storeB, { AGENT_KEYRING_TOKEN_CLAUDE_CODE: tokenOf(storeA) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `set:${value.length}`);
  });
});
