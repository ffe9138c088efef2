/**
 * The command line's surface: help on every command, --version, and exit code 2 with a one-line
 * reason (plus a pointer to --help) for every kind of bad usage — never a stack trace.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureBuilt, removeStore, runCli, tempStore } from './cliHarness';

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

  test('--help and -h print the overview, listing every command', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^Usage: agent-keyring <command>/);
      for (const name of ['serve', 'credential', 'agent', 'audit', 'bridge']) {
        assert.match(r.stdout, new RegExp(`^  ${name} `, 'm'));
      }
      assert.equal(r.stderr, '');
    }
  });

  test('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
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

  test('no command, unknown commands, unknown flags, missing values and arguments → exit 2 naming the problem', async () => {
    const cases: Array<[string[], RegExp, string]> = [
      [[], /^agent-keyring: missing command$/, 'agent-keyring'],
      [['frobnicate'], /unknown command 'frobnicate'/, 'agent-keyring'],
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
        /--host must be a loopback address/,
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
