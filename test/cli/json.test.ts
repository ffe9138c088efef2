/**
 * `--json` on every command that prints a result: stdout is one JSON document a script can parse,
 * the exit codes are the documented ones, and a credential's value (a canary) is never in it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  canary,
  cliEnv,
  CLI,
  ensureBuilt,
  freePort,
  removeStore,
  runCli,
  tempStore,
  type CliResult,
} from './cliHarness';

function parsed<T = Record<string, unknown>>(r: CliResult, secrets: string[]): T {
  assert.equal(r.code, 0, `exit 0 expected\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  for (const s of secrets) {
    assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), 'the value never appears');
  }
  return JSON.parse(r.stdout) as T;
}

describe('agent-keyring --json', () => {
  let store: string;
  const value = canary('json');
  const next = canary('json-next');
  before(() => {
    ensureBuilt();
    store = tempStore();
  });
  after(() => removeStore(store));

  test('credential add/rotate/edit/list/remove and agent add/rotate-token/list/revoke print JSON', async () => {
    const s = ['--store', store];
    const secrets = [value, next];

    const agent = parsed<{ id: string; token: string; revoked_at: null }>(
      await runCli(['agent', 'add', 'json-agent', '--json', ...s]),
      secrets,
    );
    assert.equal(agent.id, 'json-agent');
    assert.match(agent.token, /^akr_/);
    assert.equal(agent.revoked_at, null);

    const added = parsed<{
      name: string;
      version: number;
      agents: string[];
      added: boolean;
      generated: boolean;
    }>(
      await runCli(
        ['credential', 'add', 'json_key', '--scopes', 'read', '--agents', 'json-agent', '--json', ...s],
        {
          input: value,
        },
      ),
      secrets,
    );
    assert.deepEqual(
      [added.name, added.version, added.agents, added.added, added.generated],
      ['json_key', 1, ['json-agent'], true, false],
    );

    const rotated = parsed<{ name: string; version: number; previous_version: number; audit_warning: null }>(
      await runCli(['credential', 'rotate', 'json_key', '--grace', '60', '--json', ...s], { input: next }),
      secrets,
    );
    assert.deepEqual([rotated.name, rotated.previous_version, rotated.version], ['json_key', 1, 2]);
    assert.equal(rotated.audit_warning, null);
    assert.ok(
      Date.parse((rotated as unknown as { previous_valid_until: string }).previous_valid_until) > Date.now(),
    );

    const edited = parsed<{ ttl_seconds: number; reveal: string; updated: boolean }>(
      await runCli(['credential', 'edit', 'json_key', '--ttl', '120', '--reveal', 'never', '--json', ...s]),
      secrets,
    );
    assert.deepEqual([edited.ttl_seconds, edited.reveal, edited.updated], [120, 'never', true]);

    const list = parsed<{ name: string }[]>(await runCli(['credential', 'list', '--json', ...s]), secrets);
    assert.deepEqual(
      list.map((c) => c.name),
      ['json_key'],
    );

    const newToken = parsed<{ id: string; token: string }>(
      await runCli(['agent', 'rotate-token', 'json-agent', '--json', ...s]),
      secrets,
    );
    assert.equal(newToken.id, 'json-agent');
    assert.notEqual(newToken.token, agent.token);

    const revoked = parsed<{ id: string; revoked: boolean; already: boolean; removed_from: string[] }>(
      await runCli(['agent', 'revoke', 'json-agent', '--json', ...s]),
      secrets,
    );
    assert.deepEqual([revoked.revoked, revoked.already, revoked.removed_from], [true, false, ['json_key']]);
    const again = parsed<{ already: boolean }>(
      await runCli(['agent', 'revoke', 'json-agent', '--json', ...s]),
      secrets,
    );
    assert.equal(again.already, true);

    const agents = parsed<{ id: string; revoked_at: string | null }[]>(
      await runCli(['agent', 'list', '--json', ...s]),
      secrets,
    );
    assert.ok(agents.find((a) => a.id === 'json-agent')?.revoked_at);

    // 'revoke' is the old name of 'remove' (hidden in help, still works).
    const removed = parsed<{ name: string; removed: boolean; versions: number }>(
      await runCli(['credential', 'revoke', 'json_key', '--json', ...s]),
      secrets,
    );
    assert.deepEqual([removed.name, removed.removed, removed.versions], ['json_key', true, 2]);
    const help = await runCli(['credential', '--help']);
    assert.ok(!/\brevoke\b/.test(help.stdout), 'the alias is not advertised');

    // Errors keep their exit codes and stay one line on stderr.
    const missing = await runCli(['credential', 'remove', 'json_key', '--json', ...s]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /No credential named 'json_key'/);

    const audit = fs.readFileSync(path.join(store, 'audit.jsonl'), 'utf8');
    for (const v of secrets) {
      assert.ok(!audit.includes(v));
    }
  });

  test('audit verify and export --out print JSON with the documented exit codes', async () => {
    const s = ['--store', store];
    const verify = parsed<{ intact: boolean; events: number; first_bad: null; warning: null }>(
      await runCli(['audit', 'verify', '--json', ...s]),
      [value, next],
    );
    assert.equal(verify.intact, true);
    assert.ok(verify.events >= 7, `every change was audited (${verify.events})`);
    assert.equal(verify.first_bad, null);

    const out = path.join(store, 'export.csv');
    const exported = parsed<{ file: string; format: string; events: number }>(
      await runCli(['audit', 'export', '--format', 'csv', '--out', out, '--json', ...s]),
      [value, next],
    );
    assert.deepEqual([exported.file, exported.format, exported.events], [out, 'csv', verify.events]);
    const noOut = await runCli(['audit', 'export', '--json', ...s]);
    assert.equal(noOut.code, 2, 'usage error: --json needs --out');

    // A tampered line: exit 1, and the JSON says which line.
    const file = path.join(store, 'audit.jsonl');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines[1] = lines[1].replace('"cli"', '"someone-else"');
    fs.writeFileSync(file, lines.join('\n'));
    const bad = await runCli(['audit', 'verify', '--json', ...s]);
    assert.equal(bad.code, 1);
    const report = JSON.parse(bad.stdout) as { intact: boolean; first_bad: { line: number } };
    assert.equal(report.intact, false);
    assert.equal(report.first_bad.line, 2);
  });

  test('serve --json prints one ready line (with the demo token) instead of the banner', async () => {
    const demoStore = tempStore();
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--store', demoStore, '--port', String(port), '--demo', '--json'],
      {
        env: cliEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let stdout = '';
        const timer = setTimeout(() => reject(new Error(`no ready line: ${stdout}`)), 10_000);
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          stdout += d;
          if (stdout.includes('\n')) {
            clearTimeout(timer);
            resolve(stdout);
          }
        });
      });
      const ready = JSON.parse(line) as {
        url: string;
        store: string;
        demo: { created: boolean; token: string };
      };
      assert.equal(ready.url, `http://127.0.0.1:${port}/mcp`);
      assert.equal(ready.store, demoStore);
      assert.equal(ready.demo.created, true);
      assert.match(ready.demo.token, /^akr_/);
      assert.ok(!line.includes('Press Ctrl+C'), 'no banner');
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      if (child.pid !== undefined && child.exitCode === null) {
        process.kill(child.pid, 'SIGTERM');
      }
      await exited;
      removeStore(demoStore);
    }
  });
});
