/**
 * Credentials and agents through the real command line: values go in through stdin only and never
 * come out — not on stdout/stderr, not in the audit log, metadata.json or secrets.json.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawn, spawnSync } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
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
  storeFilesText,
  tempStore,
  type CliResult,
} from './cliHarness';

/** util-linux `script` gives the command a terminal; without it the TTY test is skipped. */
const HAS_SCRIPT = process.platform === 'linux' && spawnSync('script', ['--version']).status === 0;

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

interface Row {
  name: string;
  scopes: string[];
  agents: string[];
  version: number;
  rotated: string;
  due: string | null;
}

function assertClean(r: CliResult, secrets: string[]): void {
  for (const s of secrets) {
    assert.ok(!r.stdout.includes(s), 'secret on stdout');
    assert.ok(!r.stderr.includes(s), 'secret on stderr');
  }
}

describe('agent-keyring credential / agent', () => {
  let store: string;
  before(() => {
    ensureBuilt();
    store = tempStore();
  });
  after(() => removeStore(store));

  test('add → list → rotate → edit → remove round trip; the canary never leaks', async () => {
    const first = canary('first');
    const second = canary('second');
    const s = ['--store', store];

    const add = await runCli(
      [
        'credential',
        'add',
        'scavio_api_key',
        '--scopes',
        'search_read,publish',
        '--agents',
        'research-agent',
        '--hosts',
        'api.scavio.example',
        '--max-age-days',
        '90',
        ...s,
      ],
      { input: `${first}\n` },
    );
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /Added credential 'scavio_api_key' \(version 1/);
    assertClean(add, [first]);

    const list1 = await runCli(['credential', 'list', '--json', ...s]);
    assert.equal(list1.code, 0, list1.stderr);
    const rows1 = JSON.parse(list1.stdout) as Row[];
    assert.equal(rows1.length, 1);
    assert.deepEqual(
      {
        name: rows1[0]?.name,
        scopes: rows1[0]?.scopes,
        agents: rows1[0]?.agents,
        version: rows1[0]?.version,
      },
      { name: 'scavio_api_key', scopes: ['search_read', 'publish'], agents: ['research-agent'], version: 1 },
    );
    const rotated = Date.parse(rows1[0]?.rotated ?? '');
    assert.ok(Math.abs(rotated - Date.now()) < 60_000);
    assert.equal(Date.parse(rows1[0]?.due ?? '') - rotated, 90 * 86_400_000);

    const table = await runCli(['credential', 'list', ...s]);
    assert.match(table.stdout, /^NAME\s+SCOPES\s+AGENTS\s+VERSION\s+ROTATED\s+DUE\s+REVEAL\n/);
    assert.match(table.stdout, /scavio_api_key\s+search_read,publish\s+research-agent\s+1\s/);

    const rot = await runCli(['credential', 'rotate', 'scavio_api_key', '--grace', '300', ...s], {
      input: `${second}\r\n`,
    });
    assert.equal(rot.code, 0, rot.stderr);
    assert.match(rot.stdout, /^scavio_api_key: version 1 → 2 \(version 1 stays valid until \d{4}-\d\d-\d\dT/);
    assertClean(rot, [first, second]);

    const gen = await runCli(['credential', 'rotate', 'scavio_api_key', '--generate', ...s]);
    assert.equal(gen.code, 0, gen.stderr);
    assert.match(gen.stdout, /^scavio_api_key: version 2 → 3\n$/);

    const edit = await runCli([
      'credential',
      'edit',
      'scavio_api_key',
      '--agents',
      'research-agent,vscode',
      '--ttl',
      '600',
      '--hosts',
      '',
      ...s,
    ]);
    assert.equal(edit.code, 0, edit.stderr);
    const meta = JSON.parse(fs.readFileSync(path.join(store, 'metadata.json'), 'utf8')) as {
      credentials: Record<
        string,
        {
          allowed_agents: string[];
          ttl_seconds: number;
          allowed_hosts?: string[];
          rotation?: { max_age_days?: number };
        }
      >;
    };
    const cred = meta.credentials.scavio_api_key;
    assert.deepEqual(cred?.allowed_agents, ['research-agent', 'vscode']);
    assert.equal(cred?.ttl_seconds, 600);
    assert.equal(cred?.allowed_hosts, undefined, "--hosts '' removes the setting");
    assert.equal(cred?.rotation?.max_age_days, 90, 'edit keeps fields it was not asked to change');

    const files = storeFilesText(store);
    assert.ok(
      !files.includes(first) && !files.includes(second),
      'no canary in audit.jsonl, metadata.json or secrets.json',
    );
    assert.match(
      fs.readFileSync(path.join(store, 'secrets.json'), 'utf8'),
      /\S/,
      'secrets.json exists (encrypted)',
    );

    const audit = fs
      .readFileSync(path.join(store, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { tool: string; decision: string; version: number | null });
    assert.deepEqual(
      audit.map((e) => [e.tool, e.decision, e.version]),
      [
        ['add_credential', 'created', 1],
        ['rotate', 'rotated', 2],
        ['rotate', 'rotated', 3],
        ['update_credential', 'updated', 3],
      ],
    );

    const rm = await runCli(['credential', 'remove', 'scavio_api_key', ...s]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.deepEqual(JSON.parse((await runCli(['credential', 'list', '--json', ...s])).stdout), []);
    const again = await runCli(['credential', 'remove', 'scavio_api_key', ...s]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /No credential named 'scavio_api_key'/);
  });

  test('a value is never taken from an empty stdin; --generate makes one', async () => {
    const s = ['--store', store];
    const empty = await runCli(['credential', 'add', 'empty_key', '--scopes', 'read', ...s], { input: '' });
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /no value on stdin for the value of 'empty_key'.*--generate/);
    const newline = await runCli(['credential', 'add', 'empty_key', '--scopes', 'read', ...s], {
      input: '\n',
    });
    assert.equal(newline.code, 2, 'a lone newline is empty too');
    const rows = JSON.parse((await runCli(['credential', 'list', '--json', ...s])).stdout) as Row[];
    assert.ok(!rows.some((r) => r.name === 'empty_key'), 'nothing was added');

    const gen = await runCli([
      'credential',
      'add',
      'gen_key',
      '--scopes',
      'read',
      '--generate',
      '--length',
      '24',
      ...s,
    ]);
    assert.equal(gen.code, 0, gen.stderr);
    const meta = JSON.parse(fs.readFileSync(path.join(store, 'metadata.json'), 'utf8')) as {
      credentials: Record<string, { rotation?: { generator?: { length: number } } }>;
    };
    assert.deepEqual(
      meta.credentials.gen_key?.rotation?.generator,
      { length: 24 },
      'the generator is kept for later rotations',
    );
    const dup = await runCli(['credential', 'add', 'gen_key', '--scopes', 'read', '--generate', ...s]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already exists/);
  });

  test('a multi-line value keeps its inner newlines; only one trailing newline is dropped', async () => {
    const inner = `${canary('pem')}\nsecond line\n`;
    const r = await runCli(['credential', 'add', 'pem_key', '--scopes', 'read', '--store', store], {
      input: `${inner}\n`,
    });
    assert.equal(r.code, 0, r.stderr);
    assertClean(r, [inner.split('\n')[0]]);
  });

  test('agent add prints the token alone on the last line of stdout, once', async () => {
    const r = await runCli(['agent', 'add', 'research-agent', '--label', 'Research agent', '--store', store]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines.at(-1), '', 'stdout ends with a newline');
    const token = lines.at(-2) ?? '';
    assert.match(token, /^akr_[A-Za-z0-9_-]{43}$/);
    assert.equal(r.stdout, `${token}\n`, 'the token alone');
    assert.match(r.stderr, /Added agent 'research-agent'/);
    assert.ok(!r.stderr.includes(token), 'the token is shown once, on stdout only');
    assert.ok(!storeFilesText(store).includes(token), 'only its hash is stored');

    const list = await runCli(['agent', 'list', '--json', '--store', store]);
    const agents = JSON.parse(list.stdout) as Array<{
      id: string;
      label: string;
      revoked_at: string | null;
      active_hours: string | null;
    }>;
    assert.deepEqual(
      agents.map((a) => [a.id, a.label, a.revoked_at]),
      [['research-agent', 'Research agent', null]],
    );
    const dup = await runCli(['agent', 'add', 'research-agent', '--store', store]);
    assert.equal(dup.code, 1);
    assert.equal(dup.stdout, '', 'no token when nothing was added');

    const night = await runCli([
      'agent',
      'add',
      'night-agent',
      '--active-hours',
      '22:00-06:00',
      '--store',
      store,
    ]);
    assert.equal(night.code, 0, night.stderr);
    const rotated = await runCli(['agent', 'rotate-token', 'night-agent', '--store', store]);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /^akr_[A-Za-z0-9_-]{43}\n$/);
    assert.notEqual(rotated.stdout, night.stdout);

    const revoke = await runCli(['agent', 'revoke', 'night-agent', '--store', store]);
    assert.equal(revoke.code, 0, revoke.stderr);
    const table = await runCli(['agent', 'list', '--store', store]);
    assert.match(table.stdout, /^ID\s+LABEL\s+CREATED\s+LAST SEEN\s+REVOKED\s+ACTIVE HOURS\n/);
    assert.match(
      table.stdout,
      /night-agent\s+night-agent\s+\d{4}-\d\d-\d\d \d\d:\d\dZ\s+-\s+\d{4}-\d\d-\d\d \d\d:\d\dZ\s+22:00-06:00/,
    );
    const unknown = await runCli(['agent', 'revoke', 'ghost', '--store', store]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /No agent named 'ghost'/);
  });

  test(
    'at a terminal the value is prompted for without echo (backspace works)',
    { skip: !HAS_SCRIPT && 'needs util-linux script' },
    async () => {
      const typed = canary('tty');
      const cmd = [
        process.execPath,
        CLI,
        'credential',
        'add',
        'tty_key',
        '--scopes',
        'read',
        '--agents',
        'tty-agent',
        '--store',
        store,
      ]
        .map(shellQuote)
        .join(' ');
      const child = spawn('script', ['-qec', cmd, '/dev/null'], {
        env: cliEnv(),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let screen = '';
      const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no prompt: ${screen}`)), 10_000);
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          screen += d;
          if (screen.includes('(input hidden): ')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      // A typo, erased with backspace, then Enter.
      child.stdin.write(`${typed}X\u007f\r`);
      assert.equal(await done, 0, screen);
      assert.match(screen, /Added credential 'tty_key'/);
      assert.ok(!screen.includes(typed), 'nothing typed is echoed');

      const agent = await runCli(['agent', 'add', 'tty-agent', '--store', store]);
      const token = agent.stdout.trim();
      const served = await startServe(store);
      const client = new Client({ name: 'cli-tty-test', version: '1.0.0' });
      try {
        await client.connect(
          new StreamableHTTPClientTransport(new URL(served.url), {
            requestInit: { headers: { Authorization: `Bearer ${token}` } },
          }),
        );
        const r = (await client.callTool({
          name: 'get_credential',
          arguments: { name: 'tty_key', scope: 'read' },
        })) as CallToolResult;
        assert.notEqual(r.isError, true, JSON.stringify(r.content));
        assert.equal(
          (r.structuredContent as { value: string }).value,
          typed,
          'the stored value is what was typed, minus the erased typo',
        );
      } finally {
        await client.close().catch(() => undefined);
        served.kill();
      }
    },
  );
});
