/**
 * Migrate MCP Configs… in a real VS Code, driven with args (`{ files, all: true }` in test mode):
 * a Claude Code `.mcp.json` with a literal key becomes a credential in this window's keyring, the
 * entry is rewritten to start through `agent-keyring run --mcp --url <this window's server>`, the
 * rewritten server really starts and lists its tools (the migrate start check), the Credentials
 * view's "Used by" group names it, and Undo gives the file back byte for byte. The key's value
 * never appears in the file after migrating, the command's result, or the backup.
 *
 * Outside VS Code: the new agent's token is saved where the entry's `run --agent … --store` looks,
 * so the rewritten command, started as a plain child process with no token variable (and another
 * AGENT_KEYRING_STORE / AGENT_KEYRING_URL in its environment), reaches this window's server and
 * lists its tools; the token is in no config file, backup or log line.
 */
import * as assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CredentialNode } from '../../src/vscode/views/credentialsTree';
import { activateExtension, waitFor } from './helpers';

interface MigrateResult {
  files: { file: string; status: string }[];
  servers: { server: string; status: string; agent: string }[];
  checks: { server: string; status: string; reason?: string }[];
  backup?: string;
  tokens: Record<string, string>;
  saved: Record<string, { kind: 'keyring' | 'file'; file?: string }>;
  unsaved: string[];
}

/** The fixture's keyed hash (test/fixtures/keyedEchoServer.mjs). */
function keyedHash(value: string): string {
  return createHmac('sha256', 'fixture').update(value).digest('hex').slice(0, 16);
}

/**
 * Starts `command args` as a client outside VS Code would: no AGENT_KEYRING_TOKEN* variable, and a
 * store and server URL of its own in the environment that the entry's flags must override.
 */
async function listToolsOutsideVsCode(
  command: string,
  args: string[],
  elsewhere: string,
): Promise<{ tools: string[]; whoami: string; stderr: string }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('AGENT_KEYRING_')) {
      env[k] = v;
    }
  }
  env.AGENT_KEYRING_STORE = elsewhere;
  env.AGENT_KEYRING_URL = 'http://127.0.0.1:9/mcp';
  const transport = new StdioClientTransport({ command, args, env, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const client = new Client({ name: 'migrate-outside-vscode', version: '1.0.0' });
  try {
    await client.connect(transport);
    const tools = (await client.listTools()).tools.map((t) => t.name);
    const r = await client.callTool({ name: 'whoami', arguments: {} });
    const text = ((r.content ?? []) as { text?: string }[]).map((c) => c.text ?? '').join('');
    return { tools, whoami: text, stderr };
  } catch (e) {
    throw new Error(`the rewritten server did not start outside VS Code: ${String(e)}; stderr: ${stderr}`, {
      cause: e,
    });
  } finally {
    // Closing the client ends the wrapper (stdin closes), which stops its child.
    await client.close().catch(() => undefined);
  }
}

suite('Migrate MCP Configs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-migrate-'));
  const file = path.join(dir, '.mcp.json');
  const key = `sk-canary${randomUUID().replace(/-/g, '')}`;
  let original = '';

  suiteTeardown(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a literal key moves into the keyring, the server still starts, Undo restores the file exactly', async function () {
    this.timeout(120_000);
    const { extension, api } = await activateExtension();
    if (api.server.state.kind !== 'running') {
      await vscode.commands.executeCommand('agentKeyring.startServer');
    }
    assert.ok(api.server.url, 'the window serves: the rewritten server gets its key through it');
    const fixture = path.join(extension.extensionPath, 'test', 'fixtures', 'keyedEchoServer.mjs');
    // CRLF and a comment-free JSON with another server that must stay byte for byte.
    original = [
      '{',
      '  "mcpServers": {',
      '    "echo": {',
      `      "command": ${JSON.stringify(process.execPath)},`,
      `      "args": [${JSON.stringify(fixture)}],`,
      `      "env": { "FIXTURE_KEY": "${key}" }`,
      '    },',
      '    "other":   { "command": "true" }',
      '  }',
      '}',
      '',
    ].join('\r\n');
    fs.writeFileSync(file, original);

    const result = await vscode.commands.executeCommand<MigrateResult>('agentKeyring.migrateConfigs', {
      files: [file],
      all: true,
    });
    assert.ok(result, 'the command returns its report in test mode');
    assert.ok(!JSON.stringify(result).includes(key), 'the value is not in the report');
    assert.deepEqual(
      result.files.map((f) => f.status),
      ['written'],
    );
    const echo = result.servers.find((s) => s.server === 'echo');
    assert.equal(echo?.status, 'rewritten', JSON.stringify(result.servers));
    const check = result.checks.find((c) => c.server === 'echo');
    assert.equal(
      check?.status,
      'ok',
      `the rewritten server starts and lists its tools: ${check?.reason ?? ''}`,
    );

    const after = fs.readFileSync(file, 'utf8');
    assert.ok(!after.includes(key), 'no literal key left in the file');
    assert.ok(after.includes('"other":   { "command": "true" }'), 'the other server is untouched');
    assert.ok(after.includes('\r\n'), 'CRLF kept');
    const entry = (JSON.parse(after) as { mcpServers: { echo: { command: string; args: string[] } } })
      .mcpServers.echo;
    const storeDir = api.keyring.stateDir;
    assert.ok(path.isAbsolute(entry.command), `the CLI starts by absolute path: ${entry.command}`);
    const run = entry.args.indexOf('run');
    assert.deepEqual(entry.args.slice(run, run + 8), [
      'run',
      '--mcp',
      '--url',
      api.server.url,
      '--store',
      storeDir,
      '--agent',
      'claude-code',
    ]);
    if (result.backup) {
      assert.ok(!fs.readFileSync(result.backup, 'utf8').includes(key), 'the backup holds no value');
    }

    // The new agent's token is saved where that --store points, and nowhere in the files.
    const token = result.tokens.AGENT_KEYRING_TOKEN_CLAUDE_CODE;
    assert.match(token ?? '', /^akr_/, 'claude-code is a new agent (its token in the test-mode result)');
    assert.deepEqual(result.unsaved, []);
    const saved = result.saved['claude-code'];
    assert.ok(saved, `the token is saved: ${JSON.stringify(result.saved)}`);
    if (saved.kind === 'file') {
      const tokenFile = path.join(storeDir, 'agent-tokens', 'claude-code.token');
      assert.equal(saved.file, tokenFile);
      assert.equal(fs.readFileSync(tokenFile, 'utf8').trim(), token);
      assert.equal(fs.statSync(tokenFile).mode & 0o777, 0o600, 'the token file is private');
    }
    assert.ok(!after.includes(token), 'no token in the config');
    if (result.backup) {
      assert.ok(!fs.readFileSync(result.backup, 'utf8').includes(token), 'no token in the backup');
    }

    // A client outside VS Code starts the rewritten server with no token in its environment.
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-other-store-'));
    try {
      const outside = await listToolsOutsideVsCode(entry.command, entry.args, elsewhere);
      assert.ok(outside.tools.includes('whoami'), `tools: ${outside.tools.join(', ')}`);
      const who = JSON.parse(outside.whoami) as { key_hash: string; token_seen: string[] };
      assert.equal(who.key_hash, keyedHash(key), 'the server got the migrated key');
      assert.deepEqual(who.token_seen, [], 'the server never sees an agent token');
      assert.ok(!outside.stderr.includes(key) && !outside.stderr.includes(token), 'stderr is masked');
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
    const logFile = path.join(api.logUri.fsPath, 'Agent Keyring.log');
    const log = await waitFor('the saved-token line in the log', () => {
      const t = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
      return t.includes("saved the new token of 'claude-code'") ? t : undefined;
    });
    assert.ok(!log.includes(token) && !log.includes(key), 'neither the token nor the key is in the log');

    // The key is a credential now, and its "Used by" group names the rewritten server.
    const creds = await api.keyring.admin.listCredentials();
    const migrated: string[] = [];
    for (const c of creds) {
      if (await api.keyring.admin.currentValueEquals(c.name, new api.SecretValue(key))) {
        migrated.push(c.name);
      }
    }
    assert.equal(migrated.length, 1, 'one credential holds the value');
    const roots = (await api.trees.credentials.getChildren()) ?? [];
    const node = roots.find((n) => n.kind === 'credential' && n.name === migrated[0]);
    assert.ok(node, 'the credential is in the Credentials view');
    const groups = (await api.trees.credentials.getChildren(node)) ?? [];
    const usedBy = groups.find((g: CredentialNode) => g.kind === 'group' && g.group === 'usage');
    assert.ok(usedBy, 'a "Used by" group');
    const uses = (await api.trees.credentials.getChildren(usedBy)) ?? [];
    assert.ok(
      uses.some((u) => u.kind === 'detail' && u.label.includes('echo')),
      JSON.stringify(uses.map((u) => (u.kind === 'detail' ? u.label : u.kind))),
    );

    await vscode.commands.executeCommand('agentKeyring.migrateConfigs', { undo: true });
    assert.equal(fs.readFileSync(file, 'utf8'), original, 'Undo gives the file back byte for byte');
  });

  test('an agent that existed without a saved token: no token is made or shown, the log and the result say which variable to set', async function () {
    this.timeout(120_000);
    const { extension, api } = await activateExtension();
    // Cursor's agent exists already (Add Agent saves no token): migrate reuses it.
    await vscode.commands.executeCommand('agentKeyring.addAgent', { id: 'cursor' });
    const fixture = path.join(extension.extensionPath, 'test', 'fixtures', 'keyedEchoServer.mjs');
    const cursorFile = path.join(dir, '.cursor', 'mcp.json');
    fs.mkdirSync(path.dirname(cursorFile), { recursive: true });
    const cursorKey = `sk-canary${randomUUID().replace(/-/g, '')}`;
    const text =
      JSON.stringify(
        {
          mcpServers: {
            echo: { command: process.execPath, args: [fixture], env: { FIXTURE_KEY: cursorKey } },
          },
        },
        null,
        2,
      ) + '\n';
    fs.writeFileSync(cursorFile, text);
    try {
      const result = await vscode.commands.executeCommand<MigrateResult>('agentKeyring.migrateConfigs', {
        files: [cursorFile],
        all: true,
      });
      assert.ok(!JSON.stringify(result).includes(cursorKey), 'the value is not in the report');
      assert.deepEqual(result.tokens, {}, 'no new token for an agent that exists');
      assert.deepEqual(result.unsaved, ['cursor']);
      assert.equal(result.saved.cursor, undefined);
      const check = result.checks.find((c) => c.server === 'echo');
      assert.equal(check?.status, 'not checked', JSON.stringify(result.checks));
      assert.match(check?.reason ?? '', /AGENT_KEYRING_TOKEN_CURSOR/);
      const logFile = path.join(api.logUri.fsPath, 'Agent Keyring.log');
      const log = await waitFor('the no-saved-token line in the log', () => {
        const t = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
        return t.includes("no saved token for 'cursor'") ? t : undefined;
      });
      assert.match(log, /no saved token for 'cursor': .*AGENT_KEYRING_TOKEN_CURSOR is set/);
      assert.ok(!log.includes(cursorKey), 'the key is not in the log');
    } finally {
      await vscode.commands.executeCommand('agentKeyring.migrateConfigs', { undo: true });
    }
    assert.equal(fs.readFileSync(cursorFile, 'utf8'), text, 'Undo gives the file back');
  });
});
