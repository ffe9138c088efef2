/**
 * Migrate MCP Configs… in a real VS Code, driven with args (`{ files, all: true }` in test mode):
 * a Claude Code `.mcp.json` with a literal key becomes a credential in this window's keyring, the
 * entry is rewritten to start through `agent-keyring run --mcp --url <this window's server>`, the
 * rewritten server really starts and lists its tools (the migrate start check), the Credentials
 * view's "Used by" group names it, and Undo gives the file back byte for byte. The key's value
 * never appears in the file after migrating, the command's result, or the backup.
 */
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CredentialNode } from '../../src/vscode/views/credentialsTree';
import { activateExtension } from './helpers';

interface MigrateResult {
  files: { file: string; status: string }[];
  servers: { server: string; status: string; agent: string }[];
  checks: { server: string; status: string; reason?: string }[];
  backup?: string;
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
    const entry = (JSON.parse(after) as { mcpServers: { echo: { args: string[] } } }).mcpServers.echo;
    assert.deepEqual(entry.args.slice(entry.args.indexOf('run'), entry.args.indexOf('run') + 4), [
      'run',
      '--mcp',
      '--url',
      api.server.url,
    ]);
    if (result.backup) {
      assert.ok(!fs.readFileSync(result.backup, 'utf8').includes(key), 'the backup holds no value');
    }

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
});
