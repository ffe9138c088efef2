/**
 * Connect Agent… and the revoke that follows it, in a real VS Code, driven with args: the config is
 * written into the test workspace (`.mcp.json`, merged with what is there), Codex's TOML into a temp
 * file, the token made for the agent authenticates, re-connecting is idempotent, a new token
 * replaces the old one, and Revoke Agent removes exactly the entries written — nothing else.
 */
import * as assert from 'node:assert/strict';
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
  const EXISTING = { mcpServers: { github: { command: 'npx', args: ['-y', 'gh-mcp'] } } };
  const CODEX = '# mine\nmodel = "o4-mini"\n';

  suiteSetup(() => {
    fs.writeFileSync(mcpJson(), JSON.stringify(EXISTING, null, 2) + '\n');
    fs.mkdirSync(path.dirname(codexFile), { recursive: true });
    fs.writeFileSync(codexFile, CODEX);
  });
  suiteTeardown(() => {
    fs.rmSync(mcpJson(), { force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('creates the agent and merges its entry into the workspace .mcp.json; the token authenticates', async () => {
    const { api } = await activateExtension();
    const r = await vscode.commands.executeCommand<Connected>('agentKeyring.connectAgent', {
      agent,
      create: true,
      label: 'Claude Code (integration)',
      client: 'claude',
    });
    assert.equal(r.file, mcpJson());
    assert.equal(r.outcome, 'added');
    assert.ok(r.token, 'test mode hands back the token made here');
    const text = fs.readFileSync(mcpJson(), 'utf8');
    assert.ok(!text.includes(r.token), 'the token is not in the file');
    const doc = JSON.parse(text) as Loose;
    assert.deepEqual(doc.mcpServers.github, EXISTING.mcpServers.github, 'the other server is kept');
    assert.deepEqual(doc.mcpServers['agent-keyring'], {
      type: 'http',
      url: api.server.url,
      headers: { Authorization: 'Bearer ${AGENT_KEYRING_TOKEN}' },
    });
    assert.equal((await api.keyring.store.authenticate(r.token))?.id, agent);

    const again = await vscode.commands.executeCommand<Connected>('agentKeyring.connectAgent', {
      agent,
      client: 'claude',
    });
    assert.equal(again.outcome, 'unchanged');
    assert.equal(again.token, undefined, 'no new token unless asked');
    assert.equal(fs.readFileSync(mcpJson(), 'utf8'), text);
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
      /\[mcp_servers\.agent-keyring\]\nurl = "http:\/\/127\.0\.0\.1:\d+\/mcp"\nbearer_token_env_var = "AGENT_KEYRING_TOKEN"\n$/,
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
    assert.equal(
      cmd.snippet,
      `claude mcp add --transport http agent-keyring ${api.server.url} --header 'Authorization: Bearer \${AGENT_KEYRING_TOKEN}'`,
    );
    const stdio = await vscode.commands.executeCommand<Connected>('agentKeyring.connectAgent', {
      agent,
      client: 'stdio',
    });
    const entry = (JSON.parse(stdio.snippet ?? '{}') as Loose).mcpServers['agent-keyring'];
    assert.equal(entry.command, 'node');
    assert.deepEqual(entry.args.slice(1), ['bridge', '--url', api.server.url]);
    const cli = String(entry.args[0]);
    assert.ok(cli.endsWith(path.join('dist', 'cli.js')) && fs.existsSync(cli), 'the bundled CLI');
    assert.equal(cmd.file, undefined);
  });

  test('Revoke Agent removes exactly the entries it wrote, keeping one another live agent also uses', async () => {
    // A second agent connected to the same .mcp.json: revoking the first keeps the shared entry.
    await vscode.commands.executeCommand('agentKeyring.connectAgent', {
      agent: other,
      create: true,
      client: 'claude',
    });
    const revoked = await vscode.commands.executeCommand('agentKeyring.revokeAgent', {
      id: agent,
      confirmed: true,
      removeConfigs: true,
    });
    assert.equal(revoked, true);
    assert.ok(!fs.readFileSync(codexFile, 'utf8').includes('agent-keyring'), 'codex entry removed');
    assert.equal(fs.readFileSync(codexFile, 'utf8'), CODEX, 'codex file back to what it was');
    assert.ok(
      'agent-keyring' in (JSON.parse(fs.readFileSync(mcpJson(), 'utf8')) as Loose).mcpServers,
      'shared entry kept',
    );

    await vscode.commands.executeCommand('agentKeyring.revokeAgent', {
      id: other,
      confirmed: true,
      removeConfigs: true,
    });
    assert.deepEqual(
      JSON.parse(fs.readFileSync(mcpJson(), 'utf8')) as Loose,
      EXISTING,
      'only our entry removed',
    );
  });

  test('a malformed .mcp.json is refused and left as it was', async () => {
    const broken = '{ "mcpServers": { ';
    fs.writeFileSync(mcpJson(), broken);
    await assert.rejects(
      Promise.resolve(
        vscode.commands.executeCommand('agentKeyring.connectAgent', {
          agent: `int-conn3-${randomUUID().slice(0, 8)}`,
          create: true,
          client: 'claude',
        }),
      ),
      /not valid JSON .*not changed/,
    );
    assert.equal(fs.readFileSync(mcpJson(), 'utf8'), broken);
  });
});
