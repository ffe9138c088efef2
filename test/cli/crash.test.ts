/**
 * Crash safety: `credential rotate --generate` killed with SIGKILL at random moments, while a
 * server is running. Afterwards the store still opens, lists, and serves a value whose version
 * matches the listing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  CLI,
  cliEnv,
  ensureBuilt,
  removeStore,
  runCli,
  startServe,
  tempStore,
  type Served,
} from './cliHarness';

/** Spawns `credential rotate NAME --generate` and SIGKILLs it after `delayMs`. */
function rotateAndKill(
  store: string,
  delayMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [CLI, 'credential', 'rotate', 'scavio_api_key', '--generate', '--store', store],
      {
        env: cliEnv(),
        stdio: 'ignore',
      },
    );
    child.on('error', reject);
    const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

describe('agent-keyring crash safety', () => {
  let store: string;
  let served: Served;

  before(async () => {
    ensureBuilt();
    store = tempStore();
    served = await startServe(store, ['--demo']);
  });
  after(() => {
    served.kill();
    removeStore(store);
  });

  test('SIGKILL during `credential rotate` leaves a working store', async () => {
    // How long an uninterrupted rotation takes, so half the kills land inside the real work.
    const t0 = Date.now();
    const full = await runCli(['credential', 'rotate', 'scavio_api_key', '--generate', '--store', store]);
    assert.equal(full.code, 0, full.stderr);
    const runtime = Date.now() - t0;

    const outcomes: string[] = [];
    for (let i = 0; i < 20; i++) {
      // 10 kills at 0–50 ms (start-up), 10 spread over the whole run.
      const delay = i < 10 ? Math.random() * 50 : Math.random() * runtime;
      const r = await rotateAndKill(store, delay);
      outcomes.push(r.signal ?? `exit ${r.code}`);
      assert.ok(r.signal === 'SIGKILL' || r.code === 0, `rotate ended with ${r.signal ?? r.code}`);
    }

    const list = await runCli(['credential', 'list', '--json', '--store', store]);
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as Array<{ name: string; version: number }>;
    const row = rows.find((r) => r.name === 'scavio_api_key');
    assert.ok(row && row.version >= 2, `outcomes: ${outcomes.join(', ')}`);

    const token = /AGENT_KEYRING_TOKEN_RESEARCH_AGENT=(akr_[A-Za-z0-9_-]+)/.exec(served.stdout())?.[1] ?? '';
    const client = new Client({ name: 'cli-crash-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(served.url), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    try {
      const r = (await client.callTool({
        name: 'get_credential',
        arguments: { name: 'scavio_api_key', scope: 'search_read' },
      })) as CallToolResult;
      assert.notEqual(r.isError, true, JSON.stringify(r.content));
      const got = r.structuredContent as { value: string; version: number };
      assert.equal(got.version, row.version);
      assert.match(got.value, /^[A-Za-z0-9]{40}$/);
    } finally {
      await client.close();
    }

    // And the store still takes a normal rotation.
    const finalRotation = await runCli([
      'credential',
      'rotate',
      'scavio_api_key',
      '--generate',
      '--store',
      store,
    ]);
    assert.equal(finalRotation.code, 0, finalRotation.stderr);
    assert.match(finalRotation.stdout, new RegExp(`version ${row.version} → ${row.version + 1}`));
  });
});
