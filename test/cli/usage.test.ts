/**
 * The command line's surface: help on every command, --version, and exit code 2 with a one-line
 * reason (plus a pointer to --help) for every kind of bad usage — never a stack trace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, ensureBuilt, removeStore, runCli, tempStore } from './cliHarness';

const COMMANDS: string[][] = [
  ['serve'],
  ['bridge'],
  ['credential'],
  ['credential', 'add'],
  ['credential', 'rotate'],
  ['credential', 'list'],
  ['credential', 'remove'],
  ['credential', 'edit'],
  ['agent'],
  ['agent', 'add'],
  ['agent', 'list'],
  ['agent', 'revoke'],
  ['agent', 'rotate-token'],
  ['audit'],
  ['audit', 'verify'],
  ['audit', 'export'],
  ['leases'],
];

function assertUsageError(
  r: { code: number | null; stdout: string; stderr: string },
  reason: RegExp,
  helpFor: string,
): void {
  assert.equal(r.code, 2, `exit code: stderr was ${r.stderr}`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, `one reason line and one help line, got:\n${r.stderr}`);
  assert.match(lines[0] ?? '', reason);
  assert.equal(lines[1], `Run '${helpFor} --help' for usage.`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

describe('agent-keyring usage', () => {
  let store: string;
  before(() => {
    ensureBuilt();
    store = tempStore();
  });
  after(() => removeStore(store));

  test('--help, -h, help and a bare agent-keyring print the overview, listing every command', async () => {
    for (const flag of [['--help'], ['-h'], ['help'], []]) {
      const r = await runCli(flag);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^Usage: agent-keyring <command>/);
      for (const name of ['serve', 'credential', 'agent', 'audit', 'bridge']) {
        assert.match(r.stdout, new RegExp(`^  ${name} `, 'm'));
      }
      assert.equal(r.stderr, '');
    }
  });

  test('--version, -V and -v print the package version', async () => {
    for (const flag of ['--version', '-V', '-v']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
    }
  });

  test('a grant to an agent that does not exist is made, with a warning naming it', async () => {
    const own = tempStore();
    const r = await runCli([
      'credential',
      'add',
      'warned_key',
      '--scopes',
      'read',
      '--agents',
      'ghost-agent',
      '--generate',
      '--store',
      own,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /^agent-keyring: warning: no agent 'ghost-agent' \(agents: [^)]*\); the grant takes effect once it is added with: agent-keyring agent add ghost-agent\n$/,
    );
    const edit = await runCli(['credential', 'edit', 'warned_key', '--agents', '*', '--store', own]);
    assert.equal(edit.code, 0, edit.stderr);
    assert.equal(edit.stderr, '', "'*' is every agent: nothing to warn about");
    removeStore(own);
  });

  test("'help COMMAND [SUB]' prints that command's help", async () => {
    const r = await runCli(['help', 'credential', 'add']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: agent-keyring credential add/);
  });

  test('every command and subcommand has its own help, before or after its arguments', async () => {
    await Promise.all(
      COMMANDS.map(async (cmd) => {
        const r = await runCli([...cmd, '--help']);
        assert.equal(r.code, 0, `${cmd.join(' ')} --help: ${r.stderr}`);
        assert.match(
          r.stdout,
          new RegExp(`^Usage: (AGENT_KEYRING_TOKEN=\\S+ )?agent-keyring ${cmd.join(' ')}`),
          cmd.join(' '),
        );
        assert.equal(r.stderr, '');
      }),
    );
    // -h after a positional argument, and --help before the command, work too.
    const late = await runCli(['credential', 'add', 'some_name', '-h']);
    assert.equal(late.code, 0);
    assert.match(late.stdout, /^Usage: agent-keyring credential add/);
    const early = await runCli(['--help', 'agent', 'add']);
    assert.equal(early.code, 0);
    assert.match(early.stdout, /^Usage: agent-keyring agent add/);
  });

  test('unknown commands (with a suggestion), unknown flags, missing values and arguments → exit 2 naming the problem', async () => {
    const cases: Array<[string[], RegExp, string]> = [
      [['frobnicate'], /unknown command 'frobnicate' \(commands: serve, /, 'agent-keyring'],
      [['credentail'], /unknown command 'credentail'; did you mean 'credential'\?/, 'agent-keyring'],
      [['agent', 'revok'], /unknown agent command 'revok'; did you mean 'revoke'\?/, 'agent-keyring agent'],
      [['credential'], /missing credential command \(one of: add, rotate/, 'agent-keyring credential'],
      [['agent', 'promote'], /unknown agent command 'promote'/, 'agent-keyring agent'],
      [['--bogus'], /unknown option '--bogus'/, 'agent-keyring'],
      [
        ['credential', 'list', '--store', store, '--wide'],
        /unknown option '--wide'/,
        'agent-keyring credential list',
      ],
      [
        ['credential', 'add', 'x', '--store'],
        /option '--store' needs a value/,
        'agent-keyring credential add',
      ],
      [
        ['credential', 'add', '--scopes', 'a', '--store', store],
        /missing credential NAME/,
        'agent-keyring credential add',
      ],
      [['credential', 'add', 'x', '--store', store], /missing --scopes/, 'agent-keyring credential add'],
      [['agent', 'revoke', '--store', store], /missing agent ID/, 'agent-keyring agent revoke'],
      [
        ['agent', 'list', 'extra', '--store', store],
        /unexpected argument 'extra'/,
        'agent-keyring agent list',
      ],
      [
        ['agent', 'list', '--json=yes', '--store', store],
        /option '--json' does not take a value/,
        'agent-keyring agent list',
      ],
      [
        ['serve', '--port', 'eighty', '--store', store],
        /--port must be a whole number/,
        'agent-keyring serve',
      ],
      [
        ['serve', '--port', '70000', '--store', store],
        /--port must be between 0 and 65535/,
        'agent-keyring serve',
      ],
      [
        ['serve', '--host', '0.0.0.0', '--store', store],
        /--host '0\.0\.0\.0' is not a loopback address: .*Serve it over TLS with --tls-cert FILE --tls-key FILE, or bind 127\.0\.0\.1/,
        'agent-keyring serve',
      ],
      [
        ['audit', 'export', '--format', 'xml', '--store', store],
        /--format must be jsonl or csv/,
        'agent-keyring audit export',
      ],
      [
        ['credential', 'rotate', 'x', '--grace', '-5', '--store', store],
        /option '--grace' needs a value \(for a value starting with '-', write --grace=VALUE\)/,
        'agent-keyring credential rotate',
      ],
      [
        ['credential', 'rotate', 'x', '--grace=-5', '--store', store],
        /--grace must be a whole number/,
        'agent-keyring credential rotate',
      ],
      [
        ['credential', 'add', 'x', '--scopes', 'a', '--length', '20', '--store', store],
        /--length only applies with --generate/,
        'agent-keyring credential add',
      ],
      [['credential', 'edit', 'x', '--store', store], /nothing to change/, 'agent-keyring credential edit'],
      [['bridge', '--url', 'not a url'], /--url must be an absolute URL/, 'agent-keyring bridge'],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args, { input: 'v' })));
    results.forEach((r, i) => {
      const [args, reason, helpFor] = cases[i];
      assert.doesNotThrow(
        () => assertUsageError(r, reason, helpFor),
        `agent-keyring ${args.join(' ')} → ${r.code}: ${r.stderr}`,
      );
    });
  });

  test('invalid input (schema) → exit 2 with one line and nothing written', async () => {
    const r = await runCli(['credential', 'add', 'Bad Name', '--scopes', 'read', '--store', store], {
      input: 'v',
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^agent-keyring: Invalid credential: name: .*must be 1–64 characters/);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
    const bad = await runCli(['agent', 'add', 'night', '--active-hours', '25:00-26:00', '--store', store]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Invalid agent: active_hours: .*"08:00-20:00"/);
    const list = await runCli(['credential', 'list', '--json', '--store', store]);
    assert.deepEqual(JSON.parse(list.stdout), []);
  });

  test('a KeyringError is one line and exit 1 (e.g. rotating a credential that does not exist)', async () => {
    const r = await runCli(['credential', 'rotate', 'nope', '--generate', '--store', store]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^agent-keyring: No credential named 'nope' in .*credential list/);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
    // A stack trace only when asked for.
    const debug = await runCli(['credential', 'rotate', 'nope', '--generate', '--store', store], {
      env: { AGENT_KEYRING_LOG: 'debug' },
    });
    assert.equal(debug.code, 1);
    assert.match(debug.stderr, /\n\s+at /);
  });

  test('a store path that is a file → exit 2 naming it', async () => {
    const file = join(store, 'not-a-folder');
    writeFileSync(file, 'x');
    const r = await runCli(['credential', 'list', '--store', file]);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      `agent-keyring: the store '${file}' is not a folder; pass a folder with --store DIR or AGENT_KEYRING_STORE\n`,
    );
  });

  test('the bridge without AGENT_KEYRING_TOKEN → exit 2 with a clear message', async () => {
    const r = await runCli(['bridge', '--url', 'http://127.0.0.1:9/mcp']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /AGENT_KEYRING_TOKEN is not set/);
    assert.equal(r.stdout, '', 'stdout is the protocol: nothing else goes there');
  });

  test('serve with a bad policy.json → exit 2 naming the file', async () => {
    const dir = tempStore();
    try {
      writeFileSync(join(dir, 'policy.json'), '{ "actions": { "burst": "explode" } }');
      const r = await runCli(['serve', '--store', dir, '--port', '0']);
      assert.equal(r.code, 2);
      assert.ok(r.stderr.includes(join(dir, 'policy.json')), r.stderr);
      assert.match(r.stderr, /burst/);
      writeFileSync(join(dir, 'policy.json'), '{ not json');
      const r2 = await runCli(['serve', '--store', dir, '--port', '0']);
      assert.equal(r2.code, 2);
      assert.match(r2.stderr, /policy\.json is not valid JSON/);
    } finally {
      removeStore(dir);
    }
  });
});

describe('a store this user may not use', () => {
  // Root may read anything, so the check runs the CLI as the unprivileged user `nobody`.
  const asRoot = process.getuid?.() === 0;
  let store: string;
  before(async () => {
    ensureBuilt();
    store = tempStore();
    const made = await runCli(['agent', 'add', 'someone', '--store', store]);
    assert.equal(made.code, 0, made.stderr);
  });
  after(() => removeStore(store));

  test(
    'says what to do and exits 77, for reads and writes alike (never "no keyring yet")',
    { skip: asRoot ? false : 'needs root to run the CLI as another user' },
    () => {
      fs.chmodSync(path.dirname(store), 0o755);
      for (const args of [
        ['credential', 'list'],
        ['agent', 'list'],
        ['agent', 'add', 'other'],
        ['audit', 'verify'],
      ]) {
        const r = spawnSync(
          'runuser',
          ['-u', 'nobody', '--', process.execPath, CLI, ...args, '--store', store],
          {
            encoding: 'utf8',
            env: { PATH: process.env.PATH, HOME: '/tmp' },
          },
        );
        assert.equal(r.status, 77, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.equal(r.stdout, '', args.join(' '));
        const lines = r.stderr.trimEnd().split('\n');
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0] ?? '', /^agent-keyring: (cannot use the store|permission denied)/);
        assert.match(lines[0] ?? '', /owns/);
      }
    },
  );
});
