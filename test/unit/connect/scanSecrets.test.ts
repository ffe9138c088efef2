/**
 * Scanning MCP configs for literal keys: what counts as a secret (known prefixes, long random
 * strings; never `${…}` references), findings name server and field only, and the replacement
 * keeps everything else and hands the value back wrapped.
 */
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import * as jsonc from 'jsonc-parser';
import {
  defaultVarName,
  replaceWithReference,
  scanMcpConfig,
  secretReason,
} from '../../../src/core/connect/scanSecrets';
import { InvalidInputError } from '../../../src/core/errors';
import { SecretValue } from '../../../src/core/model';

/** Parsed JSON, loosely typed for assertions. */
type Loose = { [k: string]: Loose } & Loose[];

const GHP = 'ghp_' + randomBytes(18).toString('hex');
const RANDOM = randomBytes(24).toString('base64url');

test('secretReason: prefixes and entropy, not references, URLs, words or short values', () => {
  assert.equal(secretReason(GHP), 'known prefix "ghp_"');
  assert.equal(secretReason('Bearer sk-' + 'a1b2c3d4e5f6'), 'known prefix "sk-"');
  assert.equal(secretReason('AKIA' + 'ABCDEFGHIJKLMNOP'), 'known prefix "AKIA"');
  assert.equal(secretReason(RANDOM), 'long random-looking string');
  for (const v of [
    '${GITHUB_TOKEN}',
    'Bearer ${env:X}',
    '${input:gh}',
    'https://api.example.com/v1/long/path',
    'application/json',
    'sk-',
    'true',
    'aaaaaaaaaaaaaaaaaaaaaaaaaa',
    'hello world this is long text',
  ]) {
    assert.equal(secretReason(v), undefined, v);
  }
});

test('scan finds header and env literals per server, never carrying the value', () => {
  const text = `{
  // VS Code file with comments
  "servers": {
    "github": { "type": "http", "url": "https://api.example/mcp", "headers": { "Authorization": "Bearer ${GHP}", "Accept": "application/json" } },
    "search": { "command": "npx", "env": { "SEARCH_KEY": "${RANDOM}", "REGION": "eu-west-1", "REF": "\${env:SEARCH}" } }
  }
}`;
  const findings = scanMcpConfig(text, 'vscode', '.vscode/mcp.json');
  assert.deepEqual(findings, [
    { server: 'github', field: ['headers', 'Authorization'], reason: 'known prefix "ghp_"' },
    { server: 'search', field: ['env', 'SEARCH_KEY'], reason: 'long random-looking string' },
  ]);
  assert.ok(!JSON.stringify(findings).includes(GHP) && !JSON.stringify(findings).includes(RANDOM));
  assert.deepEqual(scanMcpConfig(text, 'claude', '.mcp.json'), [], 'wrong root key: nothing');
});

test('replaceWithReference: Bearer prefix kept, client syntax used, other fields untouched', () => {
  const text = `{\n  "mcpServers": {\n    "github": { "url": "u", "headers": { "Authorization": "Bearer ${GHP}" } },\n    "keep": { "env": { "K": "${RANDOM}" } }\n  }\n}\n`;
  const r = replaceWithReference(
    text,
    'claude',
    { server: 'github', field: ['headers', 'Authorization'] },
    'GITHUB_TOKEN',
    '.mcp.json',
  );
  assert.ok(r.value instanceof SecretValue);
  assert.equal(r.value.reveal(), GHP);
  const doc = JSON.parse(r.text) as Loose;
  assert.equal(doc.mcpServers.github.headers.Authorization, 'Bearer ${GITHUB_TOKEN}');
  assert.equal(doc.mcpServers.keep.env.K, RANDOM, 'other literal untouched');
  assert.ok(!r.text.includes(GHP));

  const c = replaceWithReference(
    text,
    'cursor',
    { server: 'keep', field: ['env', 'K'] },
    'K',
    '.cursor/mcp.json',
  );
  assert.equal((jsonc.parse(c.text) as Loose).mcpServers.keep.env.K, '${env:K}');
  assert.equal(c.value.reveal(), RANDOM);
});

test('replaceWithReference refuses a field that is gone or already a reference, and bad variable names', () => {
  const text = '{ "mcpServers": { "a": { "env": { "K": "${K}" } } } }';
  assert.throws(
    () => replaceWithReference(text, 'claude', { server: 'a', field: ['env', 'K'] }, 'K', 'f'),
    InvalidInputError,
  );
  assert.throws(
    () => replaceWithReference(text, 'claude', { server: 'b', field: ['env', 'K'] }, 'K', 'f'),
    InvalidInputError,
  );
  assert.throws(
    () => replaceWithReference(text, 'claude', { server: 'a', field: ['env', 'K'] }, '1BAD', 'f'),
    /not a valid environment variable/,
  );
});

test('defaultVarName', () => {
  assert.equal(
    defaultVarName({ server: 'github', field: ['headers', 'Authorization'], reason: '' }),
    'GITHUB_TOKEN',
  );
  assert.equal(
    defaultVarName({ server: 'my-api', field: ['headers', 'X-Api-Key'], reason: '' }),
    'MY_API_X_API_KEY',
  );
  assert.equal(defaultVarName({ server: 's', field: ['env', 'SEARCH_KEY'], reason: '' }), 'SEARCH_KEY');
});
