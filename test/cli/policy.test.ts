/**
 * Issue #10 from the command line: `credential add/edit --reveal --reveal-for --scope-rule
 * --placement`, shown by `credential list`, enforced by a real `agent-keyring serve` for a real
 * SDK client. The value is a canary checked in every output and file.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  canary,
  ensureBuilt,
  removeStore,
  runCli,
  startServe,
  storeFilesText,
  tempStore,
} from './cliHarness';

interface Row {
  name: string;
  reveal: string;
  reveal_overrides: Record<string, string>;
  scope_rules: Record<string, string[]>;
  placement: string[] | null;
}

describe('agent-keyring credential: reveal, scope rules, placement', () => {
  let store: string;
  const value = canary('policy');
  before(() => {
    ensureBuilt();
    store = tempStore();
  });
  after(() => removeStore(store));

  const s = (): string[] => ['--store', store];
  const rows = async (): Promise<Row[]> => {
    const r = await runCli(['credential', 'list', '--json', ...s()]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(value));
    return JSON.parse(r.stdout) as Row[];
  };

  test('add with every new flag; list shows them; edit merges and clears them', async () => {
    const add = await runCli(
      [
        'credential',
        'add',
        'search_key',
        '--scopes',
        'search_read,publish',
        '--agents',
        'research-agent,vscode',
        '--hosts',
        'api.search.example',
        '--reveal',
        'never',
        '--reveal-for',
        'vscode=approve',
        '--scope-rule',
        'search_read=GET /api/v1/search*',
        '--scope-rule',
        'search_read=HEAD /api/v1/search*',
        '--placement',
        'header:Authorization',
        ...s(),
      ],
      { input: `${value}\n` },
    );
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /reveal never \(vscode: approve\)/);
    assert.ok(!add.stdout.includes(value) && !add.stderr.includes(value));
    let [row] = await rows();
    assert.equal(row.reveal, 'never');
    assert.deepEqual(row.reveal_overrides, { vscode: 'approve' });
    assert.deepEqual(row.scope_rules, { search_read: ['GET /api/v1/search*', 'HEAD /api/v1/search*'] });
    assert.deepEqual(row.placement, ['header:Authorization']);
    const table = await runCli(['credential', 'list', ...s()]);
    assert.match(table.stdout, /search_key\s.*\snever \(vscode=approve\)\n/);

    const edit = await runCli([
      'credential',
      'edit',
      'search_key',
      '--reveal-for',
      'research-agent=allow',
      '--scope-rule',
      'publish=POST /api/v1/items',
      ...s(),
    ]);
    assert.equal(edit.code, 0, edit.stderr);
    [row] = await rows();
    assert.deepEqual(row.reveal_overrides, { vscode: 'approve', 'research-agent': 'allow' }, 'merged');
    assert.deepEqual(Object.keys(row.scope_rules).sort(), ['publish', 'search_read'], 'merged');

    const clear = await runCli([
      'credential',
      'edit',
      'search_key',
      '--reveal',
      'allow',
      '--reveal-for',
      'vscode=default',
      '--reveal-for',
      'research-agent=default',
      '--scope-rule',
      'search_read=',
      '--placement',
      '',
      ...s(),
    ]);
    assert.equal(clear.code, 0, clear.stderr);
    [row] = await rows();
    assert.equal(row.reveal, 'allow');
    assert.deepEqual(row.reveal_overrides, {});
    assert.deepEqual(row.scope_rules, { publish: ['POST /api/v1/items'] });
    assert.equal(row.placement, null);
    assert.ok(!storeFilesText(store).includes(value));
  });

  test('bad values are one clear line and change nothing', async () => {
    const before = fs.readFileSync(path.join(store, 'metadata.json'), 'utf8');
    for (const [flags, pattern] of [
      [['--reveal', 'sometimes'], /reveal: must be "allow", "approve" or "never"/],
      [['--reveal-for', 'vscode'], /--reveal-for takes AGENT=MODE/],
      [['--reveal-for', 'vscode=maybe'], /reveal_overrides\.vscode: must be "allow", "approve" or "never"/],
      [['--scope-rule', 'search_read=fetch'], /a rule must be "METHOD \/path"/],
      [['--scope-rule', 'admin=GET /x'], /'admin', which 'search_key' does not allow/],
      [['--placement', 'body'], /a placement must be "header:<Name>"/],
    ] as const) {
      const r = await runCli(['credential', 'edit', 'search_key', ...flags, ...s()]);
      assert.notEqual(r.code, 0, flags.join(' '));
      assert.match(r.stderr, pattern, flags.join(' '));
      assert.equal(r.stderr.trim().split('\n').length <= 2, true, `short error for ${flags.join(' ')}`);
    }
    assert.equal(fs.readFileSync(path.join(store, 'metadata.json'), 'utf8'), before);
  });

  test('a running serve enforces reveal never: reveal_denied, and the tool list follows', async () => {
    const set = await runCli(['credential', 'edit', 'search_key', '--reveal', 'never', ...s()]);
    assert.equal(set.code, 0, set.stderr);
    const agent = await runCli(['agent', 'add', 'research-agent', ...s()]);
    assert.equal(agent.code, 0, agent.stderr);
    const token = agent.stdout.trim().split('\n').at(-1) ?? '';
    const served = await startServe(store);
    const client = new Client({ name: 'cli-policy-test', version: '1.0.0' });
    try {
      await client.connect(
        new StreamableHTTPClientTransport(new URL(served.url), {
          requestInit: { headers: { Authorization: `Bearer ${token}` } },
        }),
      );
      const names = (await client.listTools()).tools.map((t) => t.name).sort();
      assert.deepEqual(
        names,
        ['http_request', 'list_credentials'],
        'no get_credential when every key is never',
      );
      const r = (await client.callTool({
        name: 'get_credential',
        arguments: { name: 'search_key', scope: 'search_read' },
      })) as CallToolResult;
      assert.equal(r.isError, true);
      assert.equal(
        (r.structuredContent as { code?: string }).code,
        'not_found',
        'hidden tool = unknown tool',
      );
      // With a per-agent allow, the tool is back and the reveal works.
      const allow = await runCli([
        'credential',
        'edit',
        'search_key',
        '--reveal-for',
        'research-agent=allow',
        ...s(),
      ]);
      assert.equal(allow.code, 0, allow.stderr);
      const got = (await client.callTool({
        name: 'get_credential',
        arguments: { name: 'search_key', scope: 'search_read' },
      })) as CallToolResult;
      assert.equal((got.structuredContent as { value?: string }).value, value);
      await client.close();
    } finally {
      served.kill();
      await served.exited;
    }
    assert.ok(!served.stdout().includes(value) && !served.stderr().includes(value));
  });
});
