/**
 * `agent-keyring migrate` end to end: realistic configs of every client (CRLF, comments, trailing
 * commas, tabs, odd spacing, other servers, per-project servers in ~/.claude.json, a TOML env
 * sub-table) under a temporary HOME and project folder; the real CLI migrates them, each rewritten
 * server is started through `run --mcp` (the keyed fixture, @modelcontextprotocol/server-github,
 * and a remote server through `--upstream`), a second scan finds nothing, undo is byte-identical,
 * and no canary value appears in any output, backup or record.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import * as jsonc from 'jsonc-parser';
import {
  ROOT,
  canary,
  cliEnv,
  ensureBuilt,
  removeStore,
  runCli,
  storeFilesText,
  tempStore,
} from './cliHarness';

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'keyedEchoServer.mjs');
const HTTP_FIXTURE = path.join(ROOT, 'test', 'fixtures', 'keyedHttpServer.mjs');
const GITHUB_SERVER = path.join(
  ROOT,
  'node_modules',
  '@modelcontextprotocol',
  'server-github',
  'dist',
  'index.js',
);

const hash = (v: string): string => createHmac('sha256', 'fixture').update(v).digest('hex').slice(0, 16);

function write(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

function allFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? allFiles(p) : [p];
  });
}

async function whoami(
  entry: { command: string; args: string[] },
  env: Record<string, string>,
): Promise<string> {
  const transport = new StdioClientTransport({
    command: entry.command,
    args: entry.args,
    env: cliEnv(env) as Record<string, string>,
    stderr: 'pipe',
  });
  const client = new Client({ name: 'migrate-test', version: '1.0.0' });
  await client.connect(transport);
  try {
    const r = (await client.callTool({ name: 'whoami', arguments: {} })) as CallToolResult;
    const first = r.content[0] as { text: string };
    return (JSON.parse(first.text) as { key_hash: string }).key_hash;
  } finally {
    await client.close();
  }
}

describe('agent-keyring migrate', () => {
  let root: string;
  let home: string;
  let proj: string;
  let store: string;
  let upstream: ChildProcess;
  let port: number;
  const A = `sk-${canary('shared').replace(/-/g, '')}`;
  const B = canary('remote');
  const C = `sk-${canary('project').replace(/-/g, '')}`;
  const G = `ghp_${canary('github').replace(/-/g, '')}`;
  const originals = new Map<string, Buffer>();
  let files: Record<string, string>;

  const env = (): Record<string, string | undefined> => ({
    HOME: home,
    XDG_CONFIG_HOME: undefined,
    CODEX_HOME: undefined,
    APPDATA: undefined,
  });

  before(async () => {
    ensureBuilt();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-migrate-'));
    home = path.join(root, 'home');
    proj = path.join(root, 'proj');
    store = tempStore();
    upstream = spawn(process.execPath, [HTTP_FIXTURE], { stdio: ['ignore', 'pipe', 'pipe'] });
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('upstream did not start')), 10_000);
      upstream.stdout?.on('data', (d: Buffer) => {
        const m = /listening (\d+)/.exec(d.toString());
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    const j = (s: string): string => JSON.stringify(s);
    files = {
      claudeProject: path.join(proj, '.mcp.json'),
      cursor: path.join(proj, '.cursor', 'mcp.json'),
      vscode: path.join(proj, '.vscode', 'mcp.json'),
      claudeUser: path.join(home, '.claude.json'),
      codex: path.join(home, '.codex', 'config.toml'),
      desktop: path.join(home, '.config', 'Claude', 'claude_desktop_config.json'),
    };
    // Claude Code project config: Windows line endings, odd spacing, a server without keys.
    write(
      files.claudeProject,
      [
        '{',
        '  "mcpServers" : {',
        `    "echo":{ "command":"node", "args":[${j(FIXTURE)}], "env":{"FIXTURE_KEY":${j(A)},"LOG_LEVEL":"debug"} },`,
        '    "github": {',
        '      "command": "node",',
        `      "args": [${j(GITHUB_SERVER)}],`,
        `      "env": { "GITHUB_PERSONAL_ACCESS_TOKEN": ${j(G)} }`,
        '    },',
        '    "docs": { "command": "npx", "args": ["-y", "docs-mcp"] }',
        '  }',
        '}',
        '',
      ].join('\r\n'),
    );
    // Cursor: tabs; the same key as .mcp.json (one credential).
    write(
      files.cursor,
      `{\n\t"mcpServers": {\n\t\t"echo": {\n\t\t\t"command": "node",\n\t\t\t"args": [${j(FIXTURE)}],\n\t\t\t"env": {\n\t\t\t\t"FIXTURE_KEY": ${j(A)}\n\t\t\t}\n\t\t}\n\t}\n}\n`,
    );
    // VS Code: JSON with comments and trailing commas; a remote server with a bearer header.
    write(
      files.vscode,
      [
        '// Workspace MCP servers',
        '{',
        '  "inputs": [],',
        '  "servers": {',
        '    /* the search API */',
        '    "search": {',
        '      "type": "http",',
        `      "url": "http://127.0.0.1:${port}/mcp",`,
        `      "headers": { "Authorization": "Bearer ${B}" }, // pasted from the dashboard`,
        '    },',
        '  },',
        '}',
        '',
      ].join('\n'),
    );
    // ~/.claude.json: user servers plus a per-project one with another key; unrelated state.
    write(
      files.claudeUser,
      JSON.stringify(
        {
          numStartups: 12,
          mcpServers: { fetch: { command: 'uvx', args: ['mcp-server-fetch'] } },
          projects: {
            '/work/app': {
              allowedTools: [],
              mcpServers: {
                echo: { type: 'stdio', command: 'node', args: [FIXTURE], env: { FIXTURE_KEY: C } },
              },
            },
          },
        },
        null,
        2,
      ),
    );
    // Codex: comments, a multi-line args array, env as a sub-table, another server.
    write(
      files.codex,
      [
        '# Codex settings',
        'model = "o4-mini"',
        '',
        '[mcp_servers.echo]',
        'command = "node"   # the fixture',
        'args = [',
        `  ${j(FIXTURE)},`,
        ']',
        '',
        '[mcp_servers.echo.env]',
        `FIXTURE_KEY = ${j(A)}`,
        'MODE = "test"',
        '',
        '[mcp_servers.other]',
        'command = "other-mcp"',
        '',
      ].join('\n'),
    );
    write(
      files.desktop,
      JSON.stringify(
        { mcpServers: { echo: { command: 'node', args: [FIXTURE], env: { FIXTURE_KEY: A } } } },
        null,
        2,
      ) + '\n',
    );
    for (const f of Object.values(files)) {
      originals.set(f, fs.readFileSync(f));
    }
    // A credential that already holds G: migrate reuses it.
    const add = await runCli(['credential', 'add', 'my_github', '--scopes', 'repo_read', '--store', store], {
      input: G,
    });
    assert.equal(add.code, 0, add.stderr);
  });

  after(() => {
    upstream.kill('SIGKILL');
    removeStore(store);
    fs.rmSync(root, { recursive: true, force: true });
  });

  const noCanary = (text: string, where: string): void => {
    for (const v of [A, B, C, G]) {
      assert.ok(!text.includes(v), `a key value appeared in ${where}`);
    }
  };

  test('dry run lists file/server/field, changes nothing, shows no value', async () => {
    const r = await runCli(['migrate', '--dry-run', '--store', store], { cwd: proj, env: env() });
    assert.equal(r.code, 0, r.stderr);
    noCanary(r.stdout + r.stderr, 'dry-run output');
    assert.match(r.stdout, /Found 7 literal key\(s\) in 6 file\(s\)/);
    assert.match(r.stdout, /projects\[\/work\/app\]\.echo {2}env\.FIXTURE_KEY/);
    assert.match(r.stdout, /github {2}env\.GITHUB_PERSONAL_ACCESS_TOKEN .*→ my_github \(existing\)/);
    for (const f of Object.values(files)) {
      assert.ok(fs.readFileSync(f).equals(originals.get(f) as Buffer), `${f} changed in a dry run`);
    }
  });

  test('migrate: one credential per value, an agent per client, every server starts, 0 keys left, undo byte-identical', async () => {
    const r = await runCli(['migrate', '--store', store], { cwd: proj, env: env(), timeoutMs: 120_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    noCanary(r.stdout + r.stderr, 'migrate output');
    const checks = r.stdout.split('\n').filter((l) => /^ {2}(ok|FAILED|not checked) {2}/.test(l));
    assert.equal(checks.length, 7, r.stdout);
    assert.ok(
      checks.every((l) => l.startsWith('  ok  ')),
      r.stdout,
    );
    assert.match(r.stdout, /ok {2}github .*: \d+ tools/);
    const tokens = Object.fromEntries(
      [...r.stdout.matchAll(/^(AGENT_KEYRING_TOKEN_[A-Z_]+)=(akr_\S+)$/gm)].map((m) => [m[1], m[2]]),
    );
    assert.deepEqual(Object.keys(tokens).sort(), [
      'AGENT_KEYRING_TOKEN_CLAUDE_CODE',
      'AGENT_KEYRING_TOKEN_CLAUDE_DESKTOP',
      'AGENT_KEYRING_TOKEN_CODEX',
      'AGENT_KEYRING_TOKEN_CURSOR',
      'AGENT_KEYRING_TOKEN_VSCODE_COPILOT',
    ]);

    // One credential per distinct value; the existing one reused and granted.
    const list = await runCli(['credential', 'list', '--json', '--store', store]);
    const creds = JSON.parse(list.stdout) as { name: string; agents: string[] }[];
    assert.deepEqual(creds.map((c) => c.name).sort(), [
      'fixture_key',
      'fixture_key_2',
      'my_github',
      'search_token',
    ]);
    const shared = creds.find((c) => c.name === 'fixture_key');
    assert.deepEqual([...(shared?.agents ?? [])].sort(), [
      'claude-code',
      'claude-desktop',
      'codex',
      'cursor',
    ]);
    assert.deepEqual(creds.find((c) => c.name === 'my_github')?.agents, ['claude-code']);
    assert.deepEqual(creds.find((c) => c.name === 'search_token')?.agents, ['vscode-copilot']);

    // Every other byte kept: CRLF everywhere, the untouched server, comments, the other TOML table.
    const mcp = fs.readFileSync(files.claudeProject, 'utf8');
    assert.ok(!/[^\r]\n/.test(mcp), '.mcp.json keeps its CRLF line endings');
    assert.ok(mcp.includes('    "docs": { "command": "npx", "args": ["-y", "docs-mcp"] }\r\n'));
    assert.ok(mcp.includes('"LOG_LEVEL": "debug"'));
    const vs = fs.readFileSync(files.vscode, 'utf8');
    assert.ok(
      vs.startsWith(
        '// Workspace MCP servers\n{\n  "inputs": [],\n  "servers": {\n    /* the search API */\n',
      ),
    );
    const toml = fs.readFileSync(files.codex, 'utf8');
    assert.ok(toml.startsWith('# Codex settings\nmodel = "o4-mini"\n\n[mcp_servers.echo]\n'));
    assert.ok(
      toml.includes(
        '\n[mcp_servers.echo.env]\nMODE = "test"\n\n[mcp_servers.other]\ncommand = "other-mcp"\n',
      ),
    );
    assert.ok(toml.includes('command = "node"   # the fixture') === false, 'the command line was rewritten');
    for (const f of Object.values(files)) {
      noCanary(fs.readFileSync(f, 'utf8'), f);
    }
    // Nothing with a value in the store folder's plain files (backups, usage records).
    for (const f of allFiles(store).filter((x) => !x.endsWith('.enc'))) {
      noCanary(fs.readFileSync(f, 'latin1'), f);
    }
    noCanary(storeFilesText(store), 'the store files');
    const backups = allFiles(path.join(store, 'migrate', 'backups'));
    assert.equal(backups.length, 1);
    assert.equal(fs.statSync(backups[0]).mode & 0o777, 0o600);

    // The rewritten servers get their keys through run --mcp.
    const entry = (JSON.parse(mcp) as { mcpServers: Record<string, { command: string; args: string[] }> })
      .mcpServers.echo;
    assert.equal(entry.args[entry.args.indexOf('--agent') + 1], 'claude-code');
    assert.equal(
      await whoami(entry, { AGENT_KEYRING_TOKEN_CLAUDE_CODE: tokens.AGENT_KEYRING_TOKEN_CLAUDE_CODE }),
      hash(A),
    );
    // Without the variable in the client's environment: the token migrate saved for the agent.
    assert.equal(await whoami(entry, {}), hash(A));
    const remote = (
      jsonc.parse(vs) as {
        servers: Record<string, { type: string; command: string; args: string[] }>;
      }
    ).servers.search;
    assert.equal(remote.type, 'stdio');
    assert.equal(
      await whoami(remote, { AGENT_KEYRING_TOKEN_VSCODE_COPILOT: tokens.AGENT_KEYRING_TOKEN_VSCODE_COPILOT }),
      hash(B),
    );

    // A second scan finds no literal key.
    const again = await runCli(['migrate', '--dry-run', '--json', '--store', store], {
      cwd: proj,
      env: env(),
    });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual((JSON.parse(again.stdout) as { servers: unknown[] }).servers, []);

    // Undo: every file byte for byte as before.
    const undo = await runCli(['migrate', '--undo', '--store', store], { cwd: proj, env: env() });
    assert.equal(undo.code, 0, undo.stderr);
    noCanary(undo.stdout + undo.stderr, 'undo output');
    assert.equal(undo.stdout.split('\n').filter((l) => l.startsWith('Restored ')).length, 6, undo.stdout);
    for (const f of Object.values(files)) {
      assert.ok(
        fs.readFileSync(f).equals(originals.get(f) as Buffer),
        `${f} is not byte-identical after undo`,
      );
    }
    const twice = await runCli(['migrate', '--undo', '--store', store], { cwd: proj, env: env() });
    assert.equal(twice.code, 0, twice.stderr);
    assert.match(twice.stdout, /Nothing to undo/);
  });

  test('bad input: a config that does not parse, a file no client reads, a missing file', async () => {
    const broken = path.join(root, 'broken', '.mcp.json');
    const text = `{ "mcpServers": { "x": { "command": "node", "env": { "K": "${A}" } }\n`;
    write(broken, text);
    const r = await runCli(['migrate', '--store', store, broken], { env: env() });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /is not valid JSON with comments \(.* at line \d+, column \d+\)\. Fix it by hand/);
    noCanary(r.stdout + r.stderr, 'the parse error');
    assert.equal(fs.readFileSync(broken, 'utf8'), text);

    const other = path.join(root, 'settings.yaml');
    write(other, `key: ${A}\n`);
    const u = await runCli(['migrate', '--store', store, other], { env: env() });
    assert.equal(u.code, 2);
    assert.match(u.stderr, /is not an MCP config migrate knows: name a \.mcp\.json/);

    const missing = await runCli(['migrate', '--store', store, path.join(root, 'nope', '.mcp.json')], {
      env: env(),
    });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /does not exist; check the path/);
  });
});
