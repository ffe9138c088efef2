/**
 * Import from .env… and Scan MCP Configs in a real VS Code, driven with args: values go to
 * SecretStorage and come back through get_credential via vscode.lm.invokeTool, suggested scopes
 * apply, an existing credential is skipped (or rotated when asked) and never overwritten, bad
 * input imports nothing, the file is rewritten only when asked (other lines byte for byte), and
 * no value shows in any quick-pick item or message the commands put on screen. The interactive
 * flow is driven like a user in test/e2e/ui.spec.mjs.
 */
import * as assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { parseEnv } from '../../src/core/importEnv/envFile';
import { suggestImport } from '../../src/core/importEnv/importPlan';
import { keyPickItems, type ImportEnvResult } from '../../src/vscode/commands/importEnv';
import { activateExtension, invokeTool, mcpTool, valueOf } from './helpers';

/** Parsed JSON, loosely typed for assertions. */
type Loose = { [k: string]: Loose } & Loose[];

suite('Import from .env and Scan MCP Configs', () => {
  const id = randomUUID().slice(0, 6);
  const A = `canary-env-${randomUUID()}`;
  const B = `canary-env-${randomUUID()}`;
  const C = `canary-env-${randomUUID()}`;
  const D = `canary-env-${randomUUID()}`;
  const name = `int_scavio_${id}`;
  const names = [name, `int_quoted_${id}`, `int_cursor_${id}`, `int_other_${id}`];
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

  test('the key pick: secrets selected with name → credential · scopes, settings not, bad lines listed; never a value', async () => {
    const { api } = await activateExtension();
    const existing = new Set((await api.keyring.store.listCredentials()).map((c) => c.name));
    const parsed = parseEnv(`${TEXT}NPM_TOKEN=${C}\r\nnot a definition\r\n`);
    const items = keyPickItems(suggestImport(parsed, existing), parsed, '.env');
    assert.deepEqual(
      items.map((i) => [i.label, i.kind === vscode.QuickPickItemKind.Separator ? 'sep' : i.picked]),
      [
        ['Keys', 'sep'],
        ['SCAVIO_API_KEY', true],
        ['NPM_TOKEN', true],
        ['Other settings', 'sep'],
        ['NODE_ENV', false],
        ['QUOTED', false],
        ['Cannot be imported', 'sep'],
        ['$(warning) Line 7', false],
      ],
    );
    assert.equal(items[1].description, '→ scavio_api_key · search_read · line 3');
    assert.equal(items[2].description, '→ npm_token · read, publish · line 6');
    const shown = JSON.stringify(items);
    assert.ok(!shown.includes(A) && !shown.includes(B) && !shown.includes(C));
  });

  test('imports keys with the suggested or given settings; get_credential returns it; the file keeps every other byte', async () => {
    const { api } = await activateExtension();
    const r = await vscode.commands.executeCommand<ImportEnvResult>('agentKeyring.importEnv', {
      file: envFile(),
      keys: [
        { key: 'SCAVIO_API_KEY', name, agents: ['vscode'] },
        { key: 'QUOTED', name: names[1], scopes: ['read'] },
      ],
      removeFromFile: true,
    });
    assert.deepEqual(r.imported, [
      { key: 'SCAVIO_API_KEY', name },
      { key: 'QUOTED', name: names[1] },
    ]);
    assert.equal(r.removed, true);
    assert.equal(r.summary, `Imported 2 keys from ${path.basename(envFile())} (${name}, ${names[1]}).`);
    assert.ok(
      !JSON.stringify(r).includes(A) && !JSON.stringify(r).includes(B),
      'nothing shown holds a value',
    );
    assert.equal(await api.secrets.get(`credential/${name}/v1`), A);
    assert.equal(await api.secrets.get(`credential/${names[1]}/v1`), B);
    const meta = await api.keyring.store.getCredential(name);
    assert.deepEqual(meta?.allowed_scopes, ['search_read'], 'the suggested scope');
    assert.deepEqual(meta?.allowed_agents, ['vscode']);
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

  test('an existing credential is skipped by default and rotated only when asked; never a silent overwrite', async () => {
    const { api } = await activateExtension();
    const file = path.join(folder(), `.env.exists-${id}`);
    fs.writeFileSync(file, `SCAVIO_API_KEY=${C}\nOTHER_TOKEN=${D}\n`);
    try {
      const skipped = await vscode.commands.executeCommand<ImportEnvResult>('agentKeyring.importEnv', {
        file,
        keys: [
          { key: 'SCAVIO_API_KEY', name },
          { key: 'OTHER_TOKEN', name: names[3] },
        ],
        removeFromFile: true,
      });
      assert.deepEqual(skipped.skipped, [{ key: 'SCAVIO_API_KEY', name }]);
      assert.deepEqual(skipped.imported, [{ key: 'OTHER_TOKEN', name: names[3] }]);
      assert.equal(
        skipped.summary,
        `Imported 1 key from ${path.basename(file)} (${names[3]}), skipped 1 (already exists: ${name}).`,
      );
      assert.equal((await api.keyring.store.getCredential(name))?.version, 1);
      assert.equal(await api.secrets.get(`credential/${name}/v1`), A, 'the existing value is untouched');
      // Only the imported key left the file; the skipped one keeps its value there.
      assert.equal(
        fs.readFileSync(file, 'utf8'),
        `SCAVIO_API_KEY=${C}\n# OTHER_TOKEN moved to Agent Keyring as '${names[3]}'\n`,
      );
      const rotated = await vscode.commands.executeCommand<ImportEnvResult>('agentKeyring.importEnv', {
        file,
        keys: [{ key: 'SCAVIO_API_KEY', name, ifExists: 'rotate' }],
      });
      assert.deepEqual(rotated.rotated, [{ key: 'SCAVIO_API_KEY', name, version: 2 }]);
      assert.equal(rotated.removed, false, 'the file is only touched when asked');
      const res = await invokeTool((await mcpTool('get_credential')).name, { name, scope: 'search_read' });
      assert.equal(valueOf(res.text), C, 'get_credential returns the rotated value');
      assert.ok(
        !JSON.stringify([skipped, rotated]).includes(C) && !JSON.stringify([skipped, rotated]).includes(D),
      );
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  test('bad input: binary file, a key defined twice, a bad name — a clear error and nothing imported', async () => {
    const { api } = await activateExtension();
    const bin = path.join(folder(), `.env.bin-${id}`);
    const dup = path.join(folder(), `.env.dup-${id}`);
    fs.writeFileSync(bin, Buffer.concat([Buffer.from(`KEY_${id}=${C}\n`), Buffer.from([0, 0xff, 0xfe])]));
    fs.writeFileSync(dup, `FIRST_TOKEN=${C}\nTWICE_TOKEN=${D}\nTWICE_TOKEN=${C}\n`);
    const before = (await api.keyring.store.listCredentials()).map((c) => c.name).sort();
    const failure = async (args: unknown): Promise<string> => {
      try {
        await vscode.commands.executeCommand('agentKeyring.importEnv', args);
      } catch (e) {
        return e instanceof Error ? e.message : String(e);
      }
      throw new Error('the import did not fail');
    };
    try {
      const binary = await failure({ file: bin, keys: [{ key: `KEY_${id}` }] });
      assert.match(binary, /is not a text file \(it holds binary data\)/);
      const twice = await failure({
        file: dup,
        keys: [
          { key: 'FIRST_TOKEN', name: `int_first_${id}` },
          { key: 'TWICE_TOKEN', name: `int_twice_${id}` },
        ],
      });
      assert.match(twice, /'TWICE_TOKEN' is defined 2 times in .* \(lines 2 and 3\).*Nothing was imported/);
      const badName = await failure({ file: dup, keys: [{ key: 'FIRST_TOKEN', name: 'Not Valid' }] });
      assert.match(badName, /'FIRST_TOKEN': name: must be 1–64 characters/);
      for (const m of [binary, twice, badName]) {
        assert.ok(!m.includes(C) && !m.includes(D), 'no value in the error');
      }
      assert.deepEqual(
        (await api.keyring.store.listCredentials()).map((c) => c.name).sort(),
        before,
        'nothing was stored, not even FIRST_TOKEN',
      );
      assert.equal(fs.readFileSync(dup, 'utf8'), `FIRST_TOKEN=${C}\nTWICE_TOKEN=${D}\nTWICE_TOKEN=${C}\n`);
    } finally {
      fs.rmSync(bin, { force: true });
      fs.rmSync(dup, { force: true });
    }
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
