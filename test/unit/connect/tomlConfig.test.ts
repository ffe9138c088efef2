/**
 * Codex `config.toml`: our `[mcp_servers.agent-keyring]` table is added as text (comments and other
 * tables byte for byte), parses with smol-toml to the expected document, re-writing is idempotent,
 * removal gives back the original file, and files we cannot edit safely are refused untouched.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { SERVER_ENTRY, tokenEnvVar } from '../../../src/core/connect/clients';
import { codexConfigPath, removeClientConfig, writeClientConfig } from '../../../src/core/connect/configFile';
import { removeTomlEntry, upsertTomlEntry } from '../../../src/core/connect/tomlConfig';
import { InvalidInputError } from '../../../src/core/errors';
import { canary, tempDir } from '../store/tmpStore';

// smol-toml's types are ESM-only; its CommonJS build is what the code loads (see tomlConfig.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const smol = require('smol-toml') as { parse(text: string): unknown };
/** smol-toml's parse, as plain JSON data (it returns null-prototype objects). */
function parse(text: string): unknown {
  return JSON.parse(JSON.stringify(smol.parse(text)));
}

const URL = 'http://127.0.0.1:47017/mcp';
const OURS = { url: URL, bearer_token_env_var: 'AGENT_KEYRING_TOKEN_CODEX' };

const EXISTING = `# Codex settings
model = "o4-mini" # favourite

[mcp_servers.context7]
command = "npx"
args = ["-y", "@upstash/context7-mcp"]

[mcp_servers.context7.env]
API_KEY = "abc" # keep

# the figma server
[mcp_servers.figma]
url = "https://mcp.figma.com/mcp"
bearer_token_env_var = "FIGMA_OAUTH_TOKEN"
`;

test('adds our table to an existing config: other bytes kept, parses to old + ours, idempotent, removable', async () => {
  const t = tempDir();
  try {
    const file = path.join(t.dir, '.codex', 'config.toml');
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, EXISTING);
    assert.deepEqual(await writeClientConfig('codex', file, URL, 'codex'), { outcome: 'added' });
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(text.startsWith(EXISTING), 'everything before is byte for byte');
    const doc = parse(text) as Record<string, Record<string, unknown>>;
    assert.deepEqual(doc.mcp_servers[SERVER_ENTRY], OURS);
    const old = parse(EXISTING) as Record<string, Record<string, unknown>>;
    assert.deepEqual(
      { ...doc, mcp_servers: { ...doc.mcp_servers, [SERVER_ENTRY]: undefined } },
      {
        ...old,
        mcp_servers: { ...old.mcp_servers, [SERVER_ENTRY]: undefined },
      },
    );
    assert.deepEqual(await writeClientConfig('codex', file, URL, 'codex'), { outcome: 'unchanged' });
    assert.equal(fs.readFileSync(file, 'utf8'), text);

    assert.equal(await removeClientConfig('codex', file), 'removed');
    assert.equal(fs.readFileSync(file, 'utf8'), EXISTING, 'removal restores the original file');
  } finally {
    t.cleanup();
  }
});

test('new file: just our table; a file without a final newline gets one before our table', () => {
  const fresh = upsertTomlEntry('', SERVER_ENTRY, OURS, 'config.toml');
  assert.equal(fresh.outcome, 'added');
  assert.deepEqual(parse(fresh.text), { mcp_servers: { [SERVER_ENTRY]: OURS } });
  const bare = upsertTomlEntry('model = "x"', SERVER_ENTRY, OURS, 'config.toml');
  assert.ok(bare.text.startsWith('model = "x"\n\n'));
  assert.deepEqual(parse(bare.text), { model: 'x', mcp_servers: { [SERVER_ENTRY]: OURS } });
  assert.deepEqual(parse(removeTomlEntry(fresh.text, SERVER_ENTRY, 'c').text), {});
});

test('our table in the middle is updated in place; the comment and table after it stay', () => {
  const text = `[mcp_servers.${SERVER_ENTRY}]\nurl = "http://127.0.0.1:1/mcp"\nbearer_token_env_var = "${tokenEnvVar('a')}"\n\n# next one\n[mcp_servers.other]\ncommand = "x"\n`;
  const r = upsertTomlEntry(text, SERVER_ENTRY, OURS, 'c');
  assert.equal(r.outcome, 'updated');
  assert.ok(r.text.endsWith('\n\n# next one\n[mcp_servers.other]\ncommand = "x"\n'), r.text);
  assert.deepEqual(parse(r.text), { mcp_servers: { [SERVER_ENTRY]: OURS, other: { command: 'x' } } });
  const removed = removeTomlEntry(r.text, SERVER_ENTRY, 'c');
  assert.equal(removed.text, '\n# next one\n[mcp_servers.other]\ncommand = "x"\n');
});

test('CRLF files keep CRLF', () => {
  const text = EXISTING.replace(/\n/g, '\r\n');
  const r = upsertTomlEntry(text, SERVER_ENTRY, OURS, 'c');
  assert.ok(!/[^\r]\n/.test(r.text), 'no bare LF');
  assert.equal(removeTomlEntry(r.text, SERVER_ENTRY, 'c').text, text);
});

test('refused, untouched: invalid TOML (no content in the error), inline mcp_servers, inline entry', async () => {
  const t = tempDir();
  try {
    const secret = canary('toml');
    const file = path.join(t.dir, 'config.toml');
    const cases: [string, RegExp][] = [
      [`api_key = "${secret}\n[x`, /not valid TOML at line \d+, column \d+/],
      ['mcp_servers = { other = { command = "x" } }\n', /Cannot edit/],
      [`[mcp_servers]\n${SERVER_ENTRY} = { url = "http://x" }\n`, /Cannot edit/],
    ];
    for (const [content, expected] of cases) {
      fs.writeFileSync(file, content);
      await assert.rejects(writeClientConfig('codex', file, URL, 'a'), (e: unknown) => {
        assert.ok(e instanceof InvalidInputError);
        assert.match(e.message, expected);
        assert.ok(!e.message.includes(secret));
        return true;
      });
      assert.equal(fs.readFileSync(file, 'utf8'), content);
    }
  } finally {
    t.cleanup();
  }
});

test('CODEX_HOME is honoured; a relative one is refused', () => {
  assert.equal(codexConfigPath({}, '/home/u'), path.join('/home/u', '.codex', 'config.toml'));
  assert.equal(
    codexConfigPath({ CODEX_HOME: '/opt/codex' }, '/home/u'),
    path.join('/opt/codex', 'config.toml'),
  );
  assert.throws(() => codexConfigPath({ CODEX_HOME: 'rel' }, '/home/u'), InvalidInputError);
});
