/**
 * Connect Agent… and the revoke that follows it, in a real VS Code, driven with args: Claude Code's
 * entry goes into a `.claude.json` (this folder's section, Claude Code's local scope) — never the
 * workspace's `.mcp.json`, which VS Code would list as a second server — with a `headersHelper`
 * that, run by a real shell, prints the saved token's header; Codex's TOML into a temp file with
 * the agent's own variable; the token made for the agent authenticates, re-connecting is
 * idempotent, a new token replaces the old one, and Revoke Agent removes exactly the entries
 * written — nothing else — and the saved token.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { activateExtension } from './helpers';

/** Parsed JSON, loosely typed for assertions. */
type Loose = { [k: string]: Loose } & Loose[];

interface Connected {
  agent: string;
  client: string;
  file?: string;
  outcome?: string;
  snippet?: string;
  token?: string;
  helper?: string;
  saved?: { kind: string };
}

/** The agent's own variable, as Connect Agent names it. */
function tokenVar(agent: string): string {
  return `AGENT_KEYRING_TOKEN_${agent.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

suite('Connect Agent', () => {
  const agent = `int-conn-${randomUUID().slice(0, 8)}`;
  const other = `int-conn2-${randomUUID().slice(0, 8)}`;
  const folder = (): string => {
    const f = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    assert.ok(f, 'the integration suite runs with a workspace folder');
    return f;
  };
  const mcpJson = (): string => path.join(folder(), '.mcp.json');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-conn-'));
  const codexFile = path.join(tmp, '.codex', 'config.toml');
  const claudeJson = path.join(tmp, '.claude.json');
  const CLAUDE = { numStartups: 2, projects: { '/elsewhere': { mcpServers: { x: { command: 'x' } } } } };
  const EXISTING = { mcpServers: { github: { command: 'npx', args: ['-y', 'gh-mcp'] } } };
  const CODEX = '# mine\nmodel = "o4-mini"\n';

  suiteSetup(() => {
    fs.writeFileSync(mcpJson(), JSON.stringify(EXISTING, null, 2) + '\n');
    fs.mkdirSync(path.dirname(codexFile), { recursive: true });
    fs.writeFileSync(codexFile, CODEX);
    fs.writeFileSync(claudeJson, JSON.stringify(CLAUDE, null, 2) + '\n');
  });
  suiteTeardown(() => {
    fs.rmSync(mcpJson(), { force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("creates the agent, writes Claude Code's entry into .claude.json (not .mcp.json) with a working headersHelper", async () => {
    const { api } = await activateExtension();
    const r = await vscode.commands.executeCommand<Connected>('agentKeyring.connectAgent', {
      agent,
      create: true,
      label: 'Claude Code (integration)',
      client: 'claude',
      file: claudeJson,
    });
    assert.equal(r.file, claudeJson);
    assert.equal(r.outcome, 'added');
    assert.ok(r.token, 'test mode hands back the token made here');
    assert.ok(r.helper && r.saved, 'the token made here is saved for the helper');
    const text = fs.readFileSync(claudeJson, 'utf8');
    assert.ok(!text.includes(r.token), 'the token is not in the file');
    const doc = JSON.parse(text) as Loose;
    assert.equal(doc.numStartups, 2, "Claude Code's other settings are kept");
    assert.deepEqual(doc.projects['/elsewhere'], CLAUDE.projects['/elsewhere'], 'other projects kept');
    assert.deepEqual(doc.projects[folder()].mcpServers['agent-keyring'], {
      type: 'http',
      url: api.server.url,
      headersHelper: r.helper,
    });
    // VS Code's own MCP list reads the workspace .mcp.json: it stays as it was (one Agent Keyring).
    assert.deepEqual(JSON.parse(fs.readFileSync(mcpJson(), 'utf8')) as Loose, EXISTING);
    // The helper, run by a shell as Claude Code runs it, prints the header of the saved token.
    const printed = execFileSync('bash', ['-c', r.helper], { encoding: 'utf8', timeout: 30_000 });
    assert.deepEqual(JSON.parse(printed), { Authorization: `Bearer ${r.token}` });
    assert.equal((await api.keyring.store.authenticate(r.token))?.id, agent);

    const again = await vscode.commands.executeCommand<Connected>('agentKeyring.connectAgent', {
      agent,
      client: 'claude',
      file: claudeJson,
    });
    assert.equal(again.outcome, 'unchanged');
    assert.equal(again.token, undefined, 'no new token unless asked');
    assert.equal(fs.readFileSync(claudeJson, 'utf8'), text);
  });

  test('Codex: TOML table with bearer_token_env_var; a new token replaces the old one', async () => {
    const { api } = await activateExtension();
    const first = await api.keyring.store.getAgent(agent);
    assert.ok(first);
    const r = await vscode.commands.executeCommand<Connected>('agentKeyring.connectAgent', {
      agent,
      client: 'codex',
      file: codexFile,
      newToken: true,
    });
    assert.equal(r.outcome, 'added');
    assert.ok(r.token);
    const text = fs.readFileSync(codexFile, 'utf8');
    assert.ok(text.startsWith(CODEX), 'existing lines kept byte for byte');
    assert.match(
      text,
      new RegExp(
        `\\[mcp_servers\\.agent-keyring\\]\\nurl = "http://127\\.0\\.0\\.1:\\d+/mcp"\\nbearer_token_env_var = "${tokenVar(agent)}"\\n$`,
      ),
    );
    assert.equal((await api.keyring.store.authenticate(r.token))?.id, agent);
    assert.notEqual(
      (await api.keyring.store.getAgent(agent))?.token_sha256,
      first.token_sha256,
      'old token replaced',
    );
  });

  test('copy-only clients return the command / snippet and write nothing', async () => {
    const { api } = await activateExtension();
    const cmd = await vscode.commands.executeCommand<Connected>('agentKeyring.connectAgent', {
      agent,
      client: 'claude-command',
    });
    assert.ok(
      cmd.snippet?.startsWith(
        `claude mcp add-json --scope local agent-keyring '{"type":"http","url":"${api.server.url}","headersHelper":`,
      ),
      cmd.snippet,
    );
    const stdio = await vscode.commands.executeCommand<Connected>('agentKeyring.connectAgent', {
      agent,
      client: 'stdio',
    });
    const entry = (JSON.parse(stdio.snippet ?? '{}') as Loose).mcpServers['agent-keyring'];
    assert.equal(entry.command, 'node');
    assert.deepEqual(entry.args.slice(1, 6), ['bridge', '--url', api.server.url, '--agent', agent]);
    assert.deepEqual(Object.keys(entry.env), [tokenVar(agent)]);
    const cli = String(entry.args[0]);
    assert.ok(cli.endsWith(path.join('dist', 'cli.js')) && fs.existsSync(cli), 'the bundled CLI');
    assert.equal(cmd.file, undefined);
  });

  test('Revoke Agent removes exactly the entries it wrote, keeping one another live agent also uses', async () => {
    // A second agent connected to the same project in .claude.json: revoking the first keeps the shared entry.
    const second = await vscode.commands.executeCommand<Connected>('agentKeyring.connectAgent', {
      agent: other,
      create: true,
      client: 'claude',
      file: claudeJson,
    });
    assert.ok(second.helper);
    const revoked = await vscode.commands.executeCommand('agentKeyring.revokeAgent', {
      id: agent,
      confirmed: true,
      removeConfigs: true,
    });
    assert.equal(revoked, true);
    assert.ok(!fs.readFileSync(codexFile, 'utf8').includes('agent-keyring'), 'codex entry removed');
    assert.equal(fs.readFileSync(codexFile, 'utf8'), CODEX, 'codex file back to what it was');
    assert.ok(
      'agent-keyring' in
        (JSON.parse(fs.readFileSync(claudeJson, 'utf8')) as Loose).projects[folder()].mcpServers,
      'shared entry kept',
    );
    // The revoked agent's saved token is gone: its helper now fails instead of sending a dead token.
    assert.throws(() =>
      execFileSync('bash', ['-c', second.helper!.replace(`--agent ${other}`, `--agent ${agent}`)], {
        encoding: 'utf8',
        stdio: 'pipe',
        timeout: 30_000,
      }),
    );

    await vscode.commands.executeCommand('agentKeyring.revokeAgent', {
      id: other,
      confirmed: true,
      removeConfigs: true,
    });
    const back = JSON.parse(fs.readFileSync(claudeJson, 'utf8')) as Loose;
    assert.deepEqual(back.projects[folder()].mcpServers, {}, 'only our entry removed');
    assert.deepEqual(back.projects['/elsewhere'], CLAUDE.projects['/elsewhere']);
  });

  test('a malformed .claude.json is refused and left as it was', async () => {
    const broken = '{ "projects": { ';
    fs.writeFileSync(claudeJson, broken);
    await assert.rejects(
      Promise.resolve(
        vscode.commands.executeCommand('agentKeyring.connectAgent', {
          agent: `int-conn3-${randomUUID().slice(0, 8)}`,
          create: true,
          client: 'claude',
          file: claudeJson,
        }),
      ),
      /not valid JSON .*not changed/,
    );
    assert.equal(fs.readFileSync(claudeJson, 'utf8'), broken);
  });
});
