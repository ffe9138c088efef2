/**
 * Token delivery per agent: one variable per agent in every client's entry, Claude Code's
 * `headersHelper`, the `~/.claude.json` local-scope entry (which VS Code does not read), saved
 * tokens (OS keyring through its tool, else a 0600 file) and the keyring tool's detection — with a
 * fake `secret-tool` that is a real executable on PATH, so the argv/stdin contract is real.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  SERVER_ENTRY,
  claudeCommand,
  claudeEntry,
  codexEntry,
  cursorEntry,
  headersHelperCommand,
  stdioEntry,
  tokenEnvVar,
} from '../../../src/core/connect/clients';
import {
  claudeProjectKey,
  claudeUserConfigPath,
  removeClientConfig,
  sameEntry,
  writeClientConfig,
} from '../../../src/core/connect/configFile';
import { SavedTokens, describeLocation } from '../../../src/core/connect/savedTokens';
import { toolKeyring, type TokenKeyring } from '../../../src/core/connect/toolKeyring';
import { SecretValue } from '../../../src/core/model';

const URL = 'http://127.0.0.1:47017/mcp';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'akr-tokens-'));
}

function canary(): string {
  return `akr_canary${randomUUID().replaceAll('-', '')}`;
}

test('tokenEnvVar: AGENT_KEYRING_TOKEN_ + the id upper-cased, anything but A-Z0-9 as _', () => {
  assert.equal(tokenEnvVar('claude-code'), 'AGENT_KEYRING_TOKEN_CLAUDE_CODE');
  assert.equal(tokenEnvVar('research.agent_2'), 'AGENT_KEYRING_TOKEN_RESEARCH_AGENT_2');
  assert.match(tokenEnvVar('a-b.c_d9'), /^[A-Z_][A-Z0-9_]*$/);
});

test("every client's entry names the agent's own variable; a helper replaces the header", () => {
  assert.deepEqual(claudeEntry(URL, 'claude-code'), {
    type: 'http',
    url: URL,
    headers: { Authorization: 'Bearer ${AGENT_KEYRING_TOKEN_CLAUDE_CODE}' },
  });
  assert.deepEqual(cursorEntry(URL, 'cursor'), {
    url: URL,
    headers: { Authorization: 'Bearer ${env:AGENT_KEYRING_TOKEN_CURSOR}' },
  });
  assert.deepEqual(codexEntry(URL, 'codex'), { url: URL, bearer_token_env_var: 'AGENT_KEYRING_TOKEN_CODEX' });
  assert.deepEqual(stdioEntry(URL, '/x/cli.js', 'ci-bot', '/s'), {
    command: 'node',
    args: ['/x/cli.js', 'bridge', '--url', URL, '--agent', 'ci-bot', '--store', '/s'],
    env: { AGENT_KEYRING_TOKEN_CI_BOT: '${AGENT_KEYRING_TOKEN_CI_BOT}' },
  });
  const helper = headersHelperCommand(['agent-keyring'], 'claude-code', "/home/o'neil/store dir");
  assert.deepEqual(claudeEntry(URL, 'claude-code', helper), {
    type: 'http',
    url: URL,
    headersHelper: helper,
  });
});

test('headersHelper and claude mcp add lines survive a real shell: one word per argument, nothing expanded', () => {
  const store = "/home/o'neil/My Store $HOME";
  const helper = headersHelperCommand(['node', '/opt/ext 1/dist/cli.js'], 'claude-code', store);
  const script = `node() { printf '%s\\n' "$@"; }\n${helper}\n`;
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trimEnd().split('\n'), [
    '/opt/ext 1/dist/cli.js',
    'token',
    '--agent',
    'claude-code',
    '--header-json',
    '--store',
    store,
  ]);
  const secret = canary();
  for (const line of [claudeCommand(URL, 'claude-code'), claudeCommand(URL, 'claude-code', helper)]) {
    const run = spawnSync('bash', ['-c', `claude() { printf '%s\\n' "$@"; }\n${line}\n`], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, AGENT_KEYRING_TOKEN_CLAUDE_CODE: secret, HOME: '/nowhere' },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(!run.stdout.includes(secret), `the shell expanded the token in: ${line}`);
    assert.ok(run.stdout.includes('--scope\nlocal\n'), run.stdout);
  }
  const added = spawnSync(
    'bash',
    ['-c', `claude() { printf '%s' "\${@: -1}"; }\n${claudeCommand(URL, 'claude-code', helper)}\n`],
    { encoding: 'utf8' },
  );
  assert.deepEqual(JSON.parse(added.stdout), { type: 'http', url: URL, headersHelper: helper });
});

test("Claude Code's local scope: ~/.claude.json gets projects.<folder>.mcpServers, everything else kept", async () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, '.claude.json');
    const project = path.join(dir, 'proj');
    const before = {
      numStartups: 3,
      projects: {
        [claudeProjectKey(project)]: { allowedTools: ['x'], mcpServers: { gh: { command: 'gh' } } },
      },
    };
    fs.writeFileSync(file, JSON.stringify(before, null, 2));
    fs.chmodSync(file, 0o600);
    assert.deepEqual(await writeClientConfig('claude-local', file, URL, 'claude-code', { project }), {
      outcome: 'added',
    });
    const after = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof before & {
      projects: Record<string, { mcpServers: Record<string, unknown> }>;
    };
    assert.equal(after.numStartups, 3);
    const section = after.projects[claudeProjectKey(project)];
    assert.deepEqual(section.mcpServers.gh, { command: 'gh' });
    assert.deepEqual(section.mcpServers[SERVER_ENTRY], claudeEntry(URL, 'claude-code'));
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'the mode is kept');
    assert.deepEqual(await writeClientConfig('claude-local', file, URL, 'claude-code', { project }), {
      outcome: 'unchanged',
    });
    // Another project, in a new file section: created with its parents.
    const other = path.join(dir, 'other');
    await writeClientConfig('claude-local', file, URL, 'claude-code', { project: other });
    const both = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof after;
    assert.ok(both.projects[claudeProjectKey(other)].mcpServers[SERVER_ENTRY]);
    // Removal takes only our entry of that project.
    assert.equal(await removeClientConfig('claude-local', file, { project }), 'removed');
    const removed = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof after;
    assert.deepEqual(removed.projects[claudeProjectKey(project)].mcpServers, { gh: { command: 'gh' } });
    assert.ok(removed.projects[claudeProjectKey(other)].mcpServers[SERVER_ENTRY]);
    // The project folder itself gets no .mcp.json (VS Code would list that as a second server).
    assert.equal(fs.existsSync(path.join(project, '.mcp.json')), false);
    // A new ~/.claude.json is private.
    const fresh = path.join(dir, 'fresh', '.claude.json');
    await writeClientConfig('claude-local', fresh, URL, 'a', { project });
    assert.equal(fs.statSync(fresh).mode & 0o777, 0o600);
    await assert.rejects(writeClientConfig('claude-local', fresh, URL, 'a'), /project folder/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('claudeUserConfigPath honours CLAUDE_CONFIG_DIR; records of two projects in one file are distinct', () => {
  assert.equal(claudeUserConfigPath({}, '/home/u'), path.join('/home/u', '.claude.json'));
  assert.equal(
    claudeUserConfigPath({ CLAUDE_CONFIG_DIR: '/cfg' }, '/home/u'),
    path.join('/cfg', '.claude.json'),
  );
  assert.throws(() => claudeUserConfigPath({ CLAUDE_CONFIG_DIR: 'rel' }, '/h'), /absolute/);
  const a = { file: '/h/.claude.json', entry: SERVER_ENTRY, project: '/p1' };
  assert.equal(sameEntry(a, { ...a }), true);
  assert.equal(sameEntry(a, { ...a, project: '/p2' }), false);
  assert.equal(
    sameEntry({ file: '/x/.mcp.json', entry: SERVER_ENTRY }, { file: '/x/.mcp.json', entry: SERVER_ENTRY }),
    true,
  );
});

/** A keyring in memory that can be told to fail or to lose what it is given. */
function memoryKeyring(
  mode: 'ok' | 'throws' | 'forgets' = 'ok',
): TokenKeyring & { entries: Map<string, string> } {
  const entries = new Map<string, string>();
  const key = (s: string, a: string) => `${s}\u0000${a}`;
  return {
    entries,
    get: (s, a) =>
      mode === 'throws'
        ? Promise.reject(new Error('no daemon'))
        : Promise.resolve(entries.get(key(s, a)) ?? null),
    set: (s, a, p) => {
      if (mode === 'throws') {
        return Promise.reject(new Error('no daemon'));
      }
      if (mode === 'ok') {
        entries.set(key(s, a), p);
      }
      return Promise.resolve();
    },
    delete: (s, a) => Promise.resolve(entries.delete(key(s, a))),
  };
}

test('saved tokens: a keyring that reads back holds it (no file); one that fails or forgets means a 0600 file', async () => {
  const dir = tempDir();
  try {
    const token = canary();
    const kr = memoryKeyring('ok');
    const inKeyring = new SavedTokens(dir, { keyring: kr });
    const loc = await inKeyring.save('claude-code', new SecretValue(token));
    assert.equal(loc.kind, 'keyring');
    assert.equal(fs.existsSync(inKeyring.fileOf('claude-code')), false, 'no file when the keyring holds it');
    assert.equal((await inKeyring.load('claude-code'))?.token.reveal(), token);
    assert.ok(!describeLocation(loc).includes(token));
    assert.equal(await inKeyring.remove('claude-code'), true);
    assert.equal(await inKeyring.load('claude-code'), undefined);

    for (const mode of ['throws', 'forgets'] as const) {
      const tokens = new SavedTokens(dir, { keyring: memoryKeyring(mode) });
      const where = await tokens.save(`agent-${mode}`, new SecretValue(token));
      assert.equal(where.kind, 'file', mode);
      const file = tokens.fileOf(`agent-${mode}`);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
      assert.equal((await tokens.load(`agent-${mode}`))?.token.reveal(), token);
      assert.match(describeLocation(where), /a plain file on disk/);
    }
    // Without any keyring, the same; a file others may read is refused, without the token in the error.
    const plain = new SavedTokens(dir, { keyring: null });
    await plain.save('ci', new SecretValue(token));
    fs.chmodSync(plain.fileOf('ci'), 0o644);
    await assert.rejects(plain.load('ci'), (e: Error) => {
      assert.match(e.message, /chmod 600/);
      assert.ok(!e.message.includes(token));
      return true;
    });
    assert.equal(await plain.load('nobody'), undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * A stand-in for libsecret's `secret-tool` (store/lookup/clear with attribute pairs, the secret on
 * stdin), keeping items in a JSON file and logging every argv — to prove no secret is in argv.
 */
function fakeSecretTool(dir: string, broken = false): { bin: string; argvLog: string } {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  const db = path.join(dir, 'items.json');
  const argvLog = path.join(dir, 'argv.log');
  const script = `#!${process.execPath}
const fs = require('fs');
const [cmd, ...rest] = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(argvLog)}, JSON.stringify(process.argv.slice(2)) + '\\n');
if (${broken}) { process.stderr.write('Cannot autolaunch D-Bus without X11 $DISPLAY\\n'); process.exit(1); }
const attrs = rest.filter((a) => !a.startsWith('--label=')).join('\\u0000');
const items = fs.existsSync(${JSON.stringify(db)}) ? JSON.parse(fs.readFileSync(${JSON.stringify(db)}, 'utf8')) : {};
if (cmd === 'store') { items[attrs] = fs.readFileSync(0, 'utf8'); fs.writeFileSync(${JSON.stringify(db)}, JSON.stringify(items)); process.exit(0); }
if (cmd === 'lookup') { if (!(attrs in items)) process.exit(1); process.stdout.write(items[attrs]); process.exit(0); }
if (cmd === 'clear') { delete items[attrs]; fs.writeFileSync(${JSON.stringify(db)}, JSON.stringify(items)); process.exit(0); }
process.exit(2);
`;
  fs.writeFileSync(path.join(bin, 'secret-tool'), script, { mode: 0o755 });
  return { bin, argvLog };
}

test('keyring detection: secret-tool on PATH is used (secret on stdin, never argv); none on PATH or Windows: no keyring', async () => {
  const dir = tempDir();
  try {
    assert.equal(toolKeyring({ platform: 'win32', env: { PATH: process.env.PATH } }), null);
    assert.equal(toolKeyring({ platform: 'linux', env: { PATH: path.join(dir, 'empty') } }), null);
    assert.equal(toolKeyring({ platform: 'darwin', env: { PATH: path.join(dir, 'empty') } }), null);

    const { bin, argvLog } = fakeSecretTool(path.join(dir, 'ok'));
    const kr = toolKeyring({ platform: 'linux', env: { PATH: bin } });
    assert.ok(kr, 'detected on PATH');
    const token = canary();
    const tokens = new SavedTokens(path.join(dir, 'store'), { keyring: kr });
    const where = await tokens.save('claude-code', new SecretValue(token));
    assert.equal(where.kind, 'keyring');
    assert.equal((await tokens.load('claude-code'))?.token.reveal(), token);
    assert.ok(!fs.readFileSync(argvLog, 'utf8').includes(token), 'the token never appears in argv');
    assert.equal(await tokens.remove('claude-code'), true);
    assert.equal(await tokens.load('claude-code'), undefined);

    // A secret-tool whose daemon does not answer: the token goes to the 0600 file instead.
    const broken = fakeSecretTool(path.join(dir, 'broken'), true);
    const fallback = new SavedTokens(path.join(dir, 'store2'), {
      keyring: toolKeyring({ platform: 'linux', env: { PATH: broken.bin } }),
    });
    const loc = await fallback.save('claude-code', new SecretValue(token));
    assert.equal(loc.kind, 'file');
    assert.equal((await fallback.load('claude-code'))?.token.reveal(), token);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('macOS security: found on PATH; writes go through `security -i` on stdin, item-not-found (44) is null', async () => {
  const calls: Array<{ args: readonly string[]; input: string }> = [];
  const dir = tempDir();
  try {
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.writeFileSync(path.join(dir, 'bin', 'security'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const store = new Map<string, string>();
    const kr = toolKeyring({
      platform: 'darwin',
      env: { PATH: path.join(dir, 'bin') },
      run: (_file, args, input) => {
        calls.push({ args, input });
        if (args[0] === '-i') {
          const m = /-s "([^"]*)" -a "([^"]*)" -w "([^"]*)"/.exec(input);
          assert.ok(m, input);
          store.set(`${m[1]}/${m[2]}`, m[3]);
          return Promise.resolve({ code: 0, stdout: '', stderr: '' });
        }
        const v = store.get(`${args[2]}/${args[4]}`);
        return Promise.resolve(
          v === undefined
            ? { code: 44, stdout: '', stderr: 'not found' }
            : { code: 0, stdout: `${v}\n`, stderr: '' },
        );
      },
    });
    assert.ok(kr);
    const token = canary();
    assert.equal(await kr.get('svc', 'acct'), null);
    await kr.set('svc', 'acct', token);
    assert.equal(await kr.get('svc', 'acct'), token);
    assert.ok(
      calls.every((c) => !c.args.some((a) => a.includes(token))),
      'the token is never in argv',
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
