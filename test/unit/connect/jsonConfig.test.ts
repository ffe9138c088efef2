/**
 * JSON MCP configs (Claude Code / Cursor `.mcp.json`, VS Code `mcp.json`): the written files parse
 * as the real formats, other entries and comments are kept, re-writing is idempotent, removal
 * removes only ours, a malformed file is refused untouched — on real files in a temp dir.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as jsonc from 'jsonc-parser';
import { SERVER_ENTRY, VSCODE_TOKEN_INPUT } from '../../../src/core/connect/clients';
import { removeClientConfig, writeClientConfig } from '../../../src/core/connect/configFile';
import { InvalidInputError } from '../../../src/core/errors';
import { canary, tempDir } from '../store/tmpStore';

/** Parsed JSON, loosely typed for assertions. */
type Loose = { [k: string]: Loose } & Loose[];

const URL = 'http://127.0.0.1:47017/mcp';

test('Claude Code .mcp.json: new file is strict JSON with an env reference, never a token', async () => {
  const t = tempDir();
  try {
    const file = path.join(t.dir, '.mcp.json');
    assert.deepEqual(await writeClientConfig('claude', file, URL, 'claude-code'), { outcome: 'added' });
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as Loose;
    assert.deepEqual(doc, {
      mcpServers: {
        [SERVER_ENTRY]: {
          type: 'http',
          url: URL,
          // The agent's own variable, never the shared AGENT_KEYRING_TOKEN.
          headers: { Authorization: 'Bearer ${AGENT_KEYRING_TOKEN_CLAUDE_CODE}' },
        },
      },
    });
    assert.ok(fs.readFileSync(file, 'utf8').endsWith('\n'));
    assert.equal(fs.statSync(file).mode & 0o777, 0o644 & ~process.umask());
  } finally {
    t.cleanup();
  }
});

test('merging keeps other servers, their order and the file layout; re-writing is idempotent', async () => {
  const t = tempDir();
  try {
    const file = path.join(t.dir, '.mcp.json');
    const secret = canary('other');
    const original = `{\n    "mcpServers": {\n        "github": {\n            "command": "npx",\n            "env": { "GITHUB_TOKEN": "${secret}" }\n        }\n    },\n    "other": [1, 2]\n}\n`;
    fs.writeFileSync(file, original, { mode: 0o600 });
    await writeClientConfig('claude', file, URL, 'a');
    const text = fs.readFileSync(file, 'utf8');
    const doc = JSON.parse(text) as Loose;
    assert.deepEqual(Object.keys(doc.mcpServers), ['github', SERVER_ENTRY]);
    assert.deepEqual(doc.mcpServers.github, { command: 'npx', env: { GITHUB_TOKEN: secret } });
    assert.deepEqual(doc.other, [1, 2]);
    assert.ok(
      text.startsWith('{\n    "mcpServers": {\n        "github": {\n            "command": "npx",'),
      'indentation kept',
    );
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'mode kept');

    const before = fs.statSync(file).mtimeMs;
    assert.deepEqual(await writeClientConfig('claude', file, URL, 'a'), { outcome: 'unchanged' });
    assert.equal(fs.readFileSync(file, 'utf8'), text, 'same text');
    assert.equal(fs.statSync(file).mtimeMs, before, 'not rewritten');

    assert.equal(await removeClientConfig('claude', file), 'removed');
    const after = JSON.parse(fs.readFileSync(file, 'utf8')) as Loose;
    assert.deepEqual(after, JSON.parse(original) as Loose, 'only our entry removed');
    assert.equal(await removeClientConfig('claude', file), 'absent');
  } finally {
    t.cleanup();
  }
});

test('a changed port updates our entry in place', async () => {
  const t = tempDir();
  try {
    const file = path.join(t.dir, '.cursor', 'mcp.json');
    await writeClientConfig('cursor', file, URL, 'a');
    assert.deepEqual(await writeClientConfig('cursor', file, 'http://127.0.0.1:5000/mcp', 'a'), {
      outcome: 'updated',
    });
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as Loose;
    assert.deepEqual(doc.mcpServers[SERVER_ENTRY], {
      url: 'http://127.0.0.1:5000/mcp',
      headers: { Authorization: 'Bearer ${env:AGENT_KEYRING_TOKEN_A}' },
    });
  } finally {
    t.cleanup();
  }
});

test('VS Code mcp.json: comments, trailing commas and other inputs survive; input added and removed with the entry', async () => {
  const t = tempDir();
  try {
    const file = path.join(t.dir, '.vscode', 'mcp.json');
    fs.mkdirSync(path.dirname(file));
    const original = [
      '// my servers',
      '{',
      '\t"inputs": [',
      '\t\t{ "type": "promptString", "id": "gh", "description": "GitHub", "password": true },',
      '\t],',
      '\t"servers": {',
      '\t\t/* keep me */',
      '\t\t"github": { "type": "http", "url": "https://api.example/mcp", "headers": { "Authorization": "Bearer ${input:gh}" } },',
      '\t},',
      '}',
      '',
    ].join('\n');
    fs.writeFileSync(file, original);
    await writeClientConfig('vscode', file, URL, 'other-vscode');
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(text.includes('// my servers') && text.includes('/* keep me */'), 'comments kept');
    const errors: jsonc.ParseError[] = [];
    const doc = jsonc.parse(text, errors, { allowTrailingComma: true }) as Loose;
    assert.deepEqual(errors, []);
    assert.deepEqual(doc.servers[SERVER_ENTRY], {
      type: 'http',
      url: URL,
      headers: { Authorization: `Bearer \${input:${VSCODE_TOKEN_INPUT}}` },
    });
    assert.deepEqual(
      doc.inputs.map((i) => i.id),
      ['gh', VSCODE_TOKEN_INPUT],
    );
    assert.equal(doc.inputs[1].password, true);
    assert.equal(doc.inputs[1].type, 'promptString');
    assert.deepEqual(await writeClientConfig('vscode', file, URL, 'other-vscode'), { outcome: 'unchanged' });

    assert.equal(await removeClientConfig('vscode', file), 'removed');
    const after = fs.readFileSync(file, 'utf8');
    assert.ok(after.includes('// my servers') && after.includes('/* keep me */'));
    assert.deepEqual(
      jsonc.parse(after, [], { allowTrailingComma: true }) as Loose,
      jsonc.parse(original, [], { allowTrailingComma: true }) as Loose,
    );
  } finally {
    t.cleanup();
  }
});

test('a malformed or wrongly shaped file is refused, untouched, and the error holds no content', async () => {
  const t = tempDir();
  try {
    const secret = canary('broken');
    const cases: [string, string][] = [
      ['{ "mcpServers": { "x": { "env": { "K": "' + secret + '" } } ', 'not valid JSON'],
      ['// comment\n{ "mcpServers": {} }', 'not valid JSON'],
      ['[1, 2]', 'JSON object at the top level'],
      [`{ "mcpServers": "${secret}" }`, 'is not an object'],
    ];
    for (const [content, expected] of cases) {
      const file = path.join(t.dir, '.mcp.json');
      fs.writeFileSync(file, content);
      await assert.rejects(writeClientConfig('claude', file, URL, 'a'), (e: unknown) => {
        assert.ok(e instanceof InvalidInputError);
        assert.match(e.message, new RegExp(expected));
        assert.match(e.message, /not changed/);
        assert.ok(!e.message.includes(secret), 'no content in the message');
        return true;
      });
      assert.equal(fs.readFileSync(file, 'utf8'), content, 'untouched');
      assert.deepEqual(fs.readdirSync(t.dir), ['.mcp.json'], 'no temp file left');
    }
  } finally {
    t.cleanup();
  }
});

test('CRLF files keep CRLF', async () => {
  const t = tempDir();
  try {
    const file = path.join(t.dir, '.mcp.json');
    fs.writeFileSync(file, '{\r\n  "mcpServers": {\r\n    "a": { "command": "x" }\r\n  }\r\n}\r\n');
    await writeClientConfig('claude', file, URL, 'a');
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(!/[^\r]\n/.test(text), 'no bare LF');
    assert.deepEqual(Object.keys((JSON.parse(text) as Loose).mcpServers), ['a', SERVER_ENTRY]);
  } finally {
    t.cleanup();
  }
});
