/**
 * Import from .env… and Scan MCP Configs in a real VS Code, driven with args: values go to
 * SecretStorage and come back through get_credential via vscode.lm.invokeTool, the file is
 * rewritten as promised (other lines byte for byte), and no value shows in any quick-pick item or
 * message the commands put on screen.
 */
import * as assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { parseEnv } from '../../src/core/importEnv/envFile';
import { keyPickItems } from '../../src/vscode/commands/importEnv';
import { activateExtension, invokeTool, mcpTool, valueOf } from './helpers';

/** Parsed JSON, loosely typed for assertions. */
type Loose = { [k: string]: Loose } & Loose[];

suite('Import from .env and Scan MCP Configs', () => {
  const id = randomUUID().slice(0, 6);
  const A = `canary-env-${randomUUID()}`;
  const B = `canary-env-${randomUUID()}`;
  const name = `int_scavio_${id}`;
  const names = [name, `int_quoted_${id}`, `int_cursor_${id}`];
  const folder = (): string => vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '';
  const envFile = (): string => path.join(folder(), `.env.int-${id}`);
  const cursorFile = (): string => path.join(folder(), '.cursor', 'mcp.json');
  const TEXT = [
    '# settings',
    'NODE_ENV=development',
    `export SCAVIO_API_KEY=${A} # search`,
    `QUOTED="${B}"`,
    'EMPTY=',
    '',
  ].join('\r\n');

  suiteSetup(() => fs.writeFileSync(envFile(), TEXT));
  suiteTeardown(async () => {
    const { api } = await activateExtension();
    for (const n of names) {
      await api.keyring.store.removeCredential(n).catch(() => undefined);
    }
    fs.rmSync(envFile(), { force: true });
    fs.rmSync(path.dirname(cursorFile()), { recursive: true, force: true });
  });

  test('the key pick shows keys and lines, never a value; empty keys are not offered', () => {
    const items = keyPickItems(parseEnv(TEXT));
    assert.deepEqual(
      items.map((i) => i.label),
      ['NODE_ENV', 'SCAVIO_API_KEY', 'QUOTED'],
    );
    const shown = JSON.stringify(items);
    assert.ok(!shown.includes(A) && !shown.includes(B));
  });

  test('imports a key, get_credential returns it, and the file keeps every other byte', async () => {
    const { api } = await activateExtension();
    const r = await vscode.commands.executeCommand<{
      imported: { key: string; name: string }[];
      removed: boolean;
      shown: string[];
    }>('agentKeyring.importEnv', {
      file: envFile(),
      keys: [
        { key: 'SCAVIO_API_KEY', name, scopes: ['search_read'], agents: ['vscode'] },
        { key: 'QUOTED', name: names[1], scopes: ['read'] },
      ],
      removeFromFile: true,
    });
    assert.deepEqual(r.imported, [
      { key: 'SCAVIO_API_KEY', name },
      { key: 'QUOTED', name: names[1] },
    ]);
    assert.equal(r.removed, true);
    assert.ok(
      !JSON.stringify(r).includes(A) && !JSON.stringify(r).includes(B),
      'nothing shown holds a value',
    );
    assert.equal(await api.secrets.get(`credential/${name}/v1`), A);
    assert.equal(await api.secrets.get(`credential/${names[1]}/v1`), B);
    assert.equal(
      fs.readFileSync(envFile(), 'utf8'),
      [
        '# settings',
        'NODE_ENV=development',
        `# SCAVIO_API_KEY moved to Agent Keyring as '${name}'`,
        `# QUOTED moved to Agent Keyring as '${names[1]}'`,
        'EMPTY=',
        '',
      ].join('\r\n'),
    );
    const tool = await mcpTool('get_credential');
    const res = await invokeTool(tool.name, { name, scope: 'search_read' });
    assert.equal(res.threw, false, res.text);
    assert.equal(valueOf(res.text), A);
  });

  test('Scan MCP Configs lists a literal key by field only, imports it and leaves an env reference', async () => {
    const { api } = await activateExtension();
    const ghp = 'ghp_' + randomBytes(18).toString('hex');
    fs.mkdirSync(path.dirname(cursorFile()), { recursive: true });
    fs.writeFileSync(
      cursorFile(),
      JSON.stringify(
        {
          mcpServers: {
            github: { url: 'https://x.example/mcp', headers: { Authorization: `Bearer ${ghp}` } },
            safe: { url: 'https://y.example', headers: { Authorization: 'Bearer ${env:Y}' } },
          },
        },
        null,
        2,
      ),
    );
    const listed = await vscode.commands.executeCommand<{
      findings: { file: string; server: string; field: string[] }[];
    }>('agentKeyring.scanConfigs', { list: true });
    const mine = listed.findings.filter((f) => f.file === cursorFile());
    assert.deepEqual(
      mine.map((f) => [f.server, f.field.join('.')]),
      [['github', 'headers.Authorization']],
    );
    assert.ok(!JSON.stringify(listed).includes(ghp));
    const r = await vscode.commands.executeCommand<{ name: string; varName: string }>(
      'agentKeyring.scanConfigs',
      {
        import: {
          file: cursorFile(),
          server: 'github',
          field: ['headers', 'Authorization'],
          name: names[2],
          varName: 'GITHUB_TOKEN',
        },
      },
    );
    assert.equal(r.name, names[2]);
    assert.equal(await api.secrets.get(`credential/${names[2]}/v1`), ghp);
    const doc = JSON.parse(fs.readFileSync(cursorFile(), 'utf8')) as Loose;
    assert.equal(doc.mcpServers.github.headers.Authorization, 'Bearer ${env:GITHUB_TOKEN}');
    assert.equal(doc.mcpServers.safe.headers.Authorization, 'Bearer ${env:Y}');
  });
});
