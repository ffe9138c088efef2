/**
 * The migrate core on a real keyring (in-memory stores) and real files: reuse of an existing
 * credential by value, a file changed between scan and write, undo refused after the user edited
 * the file, undo refused when the value's version is gone, TOML inline env and JSON per-project
 * servers, and the classification of config files. Values are canaries; none may show up in a
 * plan, report, backup or usage record.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  classifyConfigFile,
  defaultConfigFiles,
  tokenVariableOf,
} from '../../../src/core/migrate/clientFiles';
import {
  applyMigration,
  keyringAdapter,
  listBackups,
  planMigration,
  undoMigration,
  type MigrateKeyring,
  type MigrateOptions,
} from '../../../src/core/migrate/migrate';
import { rewriteConfig } from '../../../src/core/migrate/rewrite';
import { UsageRecords } from '../../../src/core/migrate/usage';
import { countRunRestarts, credentialUsage } from '../../../src/core/migrate/credentialUsage';
import { SecretValue } from '../../../src/core/model';
import { canary, createTestKeyring, type TestKeyring } from '../../helpers/testKeyring';

describe('migrate core', () => {
  let tk: TestKeyring;
  let dir: string;
  let keyring: MigrateKeyring;
  let opts: MigrateOptions;

  beforeEach(async () => {
    tk = await createTestKeyring();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-migrate-unit-'));
    keyring = keyringAdapter(tk.keyring, 'test');
    opts = {
      launcher: { command: '/usr/bin/node', args: ['/opt/akr/cli.js'] },
      runArgs: ['--store', '/tmp/store'],
      stateDir: path.join(dir, 'state'),
      ttlSeconds: 600,
      now: () => new Date('2026-12-06T12:00:00Z'),
    };
  });

  afterEach(async () => {
    await tk.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const everything = (...texts: string[]): string => texts.join('\n');
  const files = (): string =>
    fs
      .readdirSync(opts.stateDir, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => fs.readFileSync(path.join(d.parentPath, d.name), 'utf8'))
      .join('\n');

  test('an existing credential with the same value is reused and granted; nothing else is created', async () => {
    const file = path.join(dir, '.mcp.json');
    const text = `{"mcpServers": {"gh": {"command": "gh-mcp", "env": {"GITHUB_TOKEN": "${tk.values.github_token}"}}}}\n`;
    fs.writeFileSync(file, text);
    const plan = await planMigration(keyring, [classifyConfigFile(file)]);
    assert.deepEqual(
      plan.credentials.map((c) => [c.name, c.new]),
      [['github_token', false]],
    );
    const report = await applyMigration(keyring, plan, opts);
    assert.deepEqual(
      report.files.map((f) => f.status),
      ['written'],
    );
    assert.deepEqual((await tk.keyring.store.listCredentials()).map((c) => c.name).sort(), [
      'github_token',
      'npm_token',
      'scavio_api_key',
    ]);
    const after = fs.readFileSync(file, 'utf8');
    assert.ok(after.includes('"GITHUB_TOKEN=github_token"'), after);
    assert.ok(after.includes(`"--agent",`) && after.includes(`"claude-code"`));
    assert.ok(!after.includes(tk.values.github_token));
    const usage = await new UsageRecords(opts.stateDir).forCredential('github_token');
    assert.deepEqual(
      usage.map((u) => [u.client, u.server, u.field]),
      [['claude-code', 'gh', 'env.GITHUB_TOKEN']],
    );
    assert.ok(
      !everything(JSON.stringify(plan), JSON.stringify(report), files()).includes(tk.values.github_token),
    );
  });

  test('a file changed between scan and write is refused and left as the user wrote it; nothing is created', async () => {
    const file = path.join(dir, '.mcp.json');
    const value = `sk-${canary('changed')}`;
    fs.writeFileSync(file, `{"mcpServers": {"a": {"command": "a-mcp", "env": {"A_API_KEY": "${value}"}}}}\n`);
    const plan = await planMigration(keyring, [classifyConfigFile(file)]);
    const edited = `{"mcpServers": {"a": {"command": "a-mcp", "env": {"A_API_KEY": "${value}", "X": "1"}}}}\n`;
    fs.writeFileSync(file, edited);
    const report = await applyMigration(keyring, plan, opts);
    assert.equal(report.files[0].status, 'failed');
    assert.match(report.files[0].reason ?? '', /changed since it was scanned; run migrate again/);
    assert.equal(fs.readFileSync(file, 'utf8'), edited);
    assert.equal(await tk.keyring.store.getCredential('a_api_key'), undefined);
    assert.ok(!JSON.stringify(report).includes(value));
  });

  test('undo: refused after the user edited the file, refused when the version is gone, exact otherwise', async () => {
    const file = path.join(dir, 'config.toml');
    const value = `sk-${canary('toml')}`;
    const text = [
      '# codex',
      '[mcp_servers.s]',
      'command = "s-mcp"',
      `env = { S_API_KEY = "${value}", PLAIN = "yes" }`,
      '',
    ].join('\r\n');
    fs.writeFileSync(file, text);
    const plan = await planMigration(keyring, [classifyConfigFile(file)]);
    const report = await applyMigration(keyring, plan, opts);
    assert.equal(report.files[0].status, 'written', JSON.stringify(report.files));
    const written = fs.readFileSync(file, 'utf8');
    assert.ok(written.includes('\r\nenv = { PLAIN = "yes" }\r\n'), written);
    assert.ok(written.startsWith('# codex\r\n[mcp_servers.s]\r\n'));

    fs.appendFileSync(file, '# my edit\r\n');
    const refused = await undoMigration(keyring, opts.stateDir);
    assert.equal(refused.files[0].status, 'failed');
    assert.match(
      refused.files[0].reason ?? '',
      /changed after migrate wrote it; undo would lose those edits/,
    );
    assert.equal(listBackups(opts.stateDir).length, 1, 'the backup stays for another try');

    fs.writeFileSync(file, written);
    // Two rotations without grace: version 1's value is deleted.
    for (const v of ['one', 'two']) {
      await tk.keyring.service.rotate('s_api_key', {
        value: new SecretValue(`sk-${canary(v)}`),
        graceSeconds: 0,
        actor: 'test',
      });
    }
    const gone = await undoMigration(keyring, opts.stateDir);
    assert.equal(gone.files[0].status, 'failed');
    assert.match(gone.files[0].reason ?? '', /version 1 of 's_api_key' is no longer in the keyring/);
    assert.equal(fs.readFileSync(file, 'utf8'), written);
  });

  test('undo restores the exact bytes and forgets the usage records', async () => {
    const file = path.join(dir, '.claude.json');
    const value = `sk-${canary('proj')}`;
    const text = `{\n  "projects": {\n    "/p": {\n      "mcpServers": {\n        "x": { "command": "x", "env": { "X_API_KEY": "${value}" } }\n      }\n    }\n  }\n}`;
    fs.writeFileSync(file, text);
    const plan = await planMigration(keyring, [classifyConfigFile(file)]);
    assert.equal(plan.servers[0].server, 'projects[/p].x');
    await applyMigration(keyring, plan, opts);
    assert.notEqual(fs.readFileSync(file, 'utf8'), text);
    assert.ok(!files().includes(value), 'no value in the backup or the usage records');
    const undo = await undoMigration(keyring, opts.stateDir);
    assert.deepEqual(
      undo.files.map((f) => f.status),
      ['restored'],
    );
    assert.equal(fs.readFileSync(file, 'utf8'), text);
    assert.deepEqual(await new UsageRecords(opts.stateDir).list(), []);
    assert.deepEqual(listBackups(opts.stateDir), []);
  });

  test('a remote entry with two different keys in its headers is left alone, with the reason', async () => {
    const file = path.join(dir, '.cursor', 'mcp.json');
    fs.mkdirSync(path.dirname(file));
    const text = `{"mcpServers": {"r": {"url": "https://api.example.com/mcp", "headers": {"Authorization": "Bearer sk-${canary('one')}", "X-Api-Key": "sk-${canary('two')}"}}}}`;
    fs.writeFileSync(file, text);
    const plan = await planMigration(keyring, [classifyConfigFile(file)]);
    assert.match(plan.servers[0].skipped ?? '', /more than one key/);
    const report = await applyMigration(keyring, plan, opts);
    assert.equal(report.servers[0].status, 'skipped');
    assert.equal(fs.readFileSync(file, 'utf8'), text);
  });

  test('TOML: a rewrite that cannot be verified (inline mcp_servers) is refused', () => {
    const text = 'mcp_servers = { s = { command = "s", env = { K = "v" } } }\n';
    assert.throws(
      () =>
        rewriteConfig(
          text,
          'toml',
          [{ path: ['mcp_servers', 's'], set: { command: 'x' }, remove: [['env', 'K']] }],
          'c.toml',
        ),
      /cannot rewrite it safely/,
    );
  });

  test('config files: clients by name and the default locations', () => {
    assert.equal(classifyConfigFile('/p/.vscode/mcp.json').client, 'vscode-copilot');
    assert.equal(classifyConfigFile('/h/.cursor/mcp.json').client, 'cursor');
    assert.equal(classifyConfigFile('/h/.codex/config.toml').layout, 'toml');
    assert.equal(classifyConfigFile('/h/x/claude_desktop_config.json').client, 'claude-desktop');
    assert.throws(() => classifyConfigFile('/p/settings.yaml'), /not an MCP config migrate knows/);
    const defaults = defaultConfigFiles('/p', '/h', {}, 'linux').map((f) => `${f.client} ${f.file}`);
    assert.deepEqual(defaults, [
      'claude-code /p/.mcp.json',
      'cursor /p/.cursor/mcp.json',
      'vscode-copilot /p/.vscode/mcp.json',
      'claude-code /h/.claude.json',
      'cursor /h/.cursor/mcp.json',
      'vscode-copilot /h/.config/Code/User/mcp.json',
      'vscode-copilot /h/.config/Code - Insiders/User/mcp.json',
      'codex /h/.codex/config.toml',
      'claude-desktop /h/.config/Claude/claude_desktop_config.json',
    ]);
    assert.equal(tokenVariableOf('vscode-copilot'), 'AGENT_KEYRING_TOKEN_VSCODE_COPILOT');
  });

  test('credential usage: the servers migrate rewrote and the commands run started, no value', async () => {
    const file = path.join(dir, '.mcp.json');
    fs.writeFileSync(
      file,
      `{"mcpServers": {"search": {"command": "s", "env": {"SCAVIO_API_KEY": "${tk.values.scavio_api_key}"}}}}`,
    );
    await applyMigration(keyring, await planMigration(keyring, [classifyConfigFile(file)]), opts);
    const ctx = { agentId: 'research-agent', client: { name: 'agent-keyring run' } };
    for (let i = 0; i < 2; i++) {
      await tk.service.injectCredentials(ctx, [{ name: 'scavio_api_key', scope: 'search_read' }], {
        command: 'node',
      });
    }
    await tk.keyring.audit.flush();
    const uses = await credentialUsage(opts.stateDir, tk.keyring.auditSource, 'scavio_api_key');
    assert.deepEqual(
      uses.map((u) => [u.kind, u.label]),
      [
        ['server', 'search'],
        ['command', 'node'],
      ],
    );
    assert.match(uses[0].description, /^claude-code · \.mcp\.json$/);
    assert.match(uses[1].description, /^run · 2× · last /);
    assert.ok(!JSON.stringify(uses).includes(tk.values.scavio_api_key));
    assert.deepEqual(await credentialUsage(opts.stateDir, tk.keyring.auditSource, 'npm_token'), []);
  });

  test('restarts after a rotation: run releases of the new version since the rotation, nothing else', async () => {
    const ctx = { agentId: 'research-agent', client: { name: 'agent-keyring run' } };
    const req = [{ name: 'scavio_api_key', scope: 'search_read' }];
    await tk.service.injectCredentials(ctx, req, { command: 'node' }); // v1, before the rotation
    const since = Date.now();
    const r = await tk.service.rotate('scavio_api_key', {
      value: new SecretValue(`sk-${canary('v2')}`),
      graceSeconds: 0,
      actor: 'test',
    });
    // Two wrappers fetch the new version (and restart); a get_credential is no restart.
    await tk.service.injectCredentials(ctx, req, { command: 'node' });
    await tk.service.injectCredentials(ctx, req, { command: 'npx' });
    await tk.api.getCredential(ctx, { name: 'scavio_api_key', scope: 'search_read' });
    await tk.keyring.audit.flush();
    assert.equal(await countRunRestarts(tk.keyring.auditSource, 'scavio_api_key', r.version, since), 2);
    assert.equal(await countRunRestarts(tk.keyring.auditSource, 'scavio_api_key', r.version + 1, since), 0);
    assert.equal(await countRunRestarts(tk.keyring.auditSource, 'npm_token', r.version, since), 0);
  });

  test('TOML remote entry: url and http_headers go, command and args come, the host is allowed', async () => {
    const file = path.join(dir, '.codex', 'config.toml');
    fs.mkdirSync(path.dirname(file));
    const value = `sk-${canary('remote')}`;
    const text = `[mcp_servers.r]\nurl = "https://api.example.com/mcp"\nhttp_headers = { Authorization = "Bearer ${value}" }`;
    fs.writeFileSync(file, text);
    const report = await applyMigration(
      keyring,
      await planMigration(keyring, [classifyConfigFile(file)]),
      opts,
    );
    assert.equal(report.files[0].status, 'written', JSON.stringify(report.files));
    const out = fs.readFileSync(file, 'utf8');
    assert.ok(out.startsWith('[mcp_servers.r]\nargs = ['), out);
    assert.ok(out.includes('"--upstream", "https://api.example.com/mcp", "--credential", "r_token"'), out);
    assert.ok(out.includes('"--header", "Authorization=Bearer {{credential}}"'), out);
    assert.ok(!out.includes('url =') && !out.includes('http_headers') && !out.includes(value));
    assert.deepEqual((await tk.keyring.store.getCredential('r_token'))?.allowed_hosts, ['api.example.com']);
    await undoMigration(keyring, opts.stateDir);
    assert.equal(fs.readFileSync(file, 'utf8'), text);
  });
});
