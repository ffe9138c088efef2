/**
 * Bad input of any shape (README.md, "Security model"): each gets a clear isError result with a stable code, the
 * server keeps answering, no supplied string longer than 64 characters comes back, and secrets
 * (a new_value canary, the stored credential canaries) never appear in any error text.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createTestKeyring, type TestKeyring } from '../helpers/testKeyring';
import { call, connectInMemory, textOf, type Connected } from './harness';

const NEW_VALUE_CANARY = `canary-newvalue-${randomUUID()}`;
const LONG = 'x'.repeat(1_048_576 + 10);
const LONG_UNIQUE = `long-${randomUUID()}-${'y'.repeat(200)}`;
const CYRILLIC_A = '\u0430';

type Case = [tool: string, args: unknown, note: string];

const get = (over: Record<string, unknown>): Record<string, unknown> => ({
  name: 'github_token',
  scope: 'repo_read',
  ...over,
});
const http = (over: Record<string, unknown>): Record<string, unknown> => ({
  credential: 'scavio_api_key',
  scope: 'search_read',
  method: 'GET',
  url: 'https://api.scavio.example/v1?key={{credential}}',
  ...over,
});

const CORPUS: Case[] = [
  // get_credential
  ['get_credential', {}, 'no arguments'],
  ['get_credential', { name: 'github_token' }, 'missing scope'],
  ['get_credential', { scope: 'repo_read' }, 'missing name'],
  ['get_credential', get({ name: 42 }), 'number for name'],
  ['get_credential', get({ name: null }), 'null name'],
  ['get_credential', get({ name: ['github_token'] }), 'array for name'],
  ['get_credential', get({ name: { $ne: '' } }), 'object for name'],
  ['get_credential', get({ name: true }), 'boolean for name'],
  ['get_credential', get({ name: '../../etc/passwd' }), 'path traversal'],
  ['get_credential', get({ name: 'github_token\u0000' }), 'NUL byte'],
  ['get_credential', get({ name: `github_tok${'e'}n\r\nX: y` }), 'CRLF in name'],
  ['get_credential', get({ name: LONG }), '1 MB name'],
  ['get_credential', get({ name: LONG_UNIQUE }), 'long unique name'],
  ['get_credential', get({ name: `github_token${CYRILLIC_A}` }), 'Cyrillic look-alike'],
  ['get_credential', get({ name: `gith${CYRILLIC_A}b_token` }), 'Cyrillic a inside'],
  ['get_credential', get({ name: 'GITHUB_TOKEN' }), 'upper case'],
  ['get_credential', get({ name: '' }), 'empty name'],
  ['get_credential', get({ name: ' github_token' }), 'leading space'],
  ['get_credential', get({ scope: 'repo read' }), 'space in scope'],
  ['get_credential', get({ scope: LONG }), '1 MB scope'],
  ['get_credential', get({ scope: 7 }), 'number scope'],
  ['get_credential', get({ agent_id: 12 }), 'number agent_id'],
  ['get_credential', get({ agent_id: 'Evil Agent' }), 'malformed agent_id'],
  ['get_credential', get({ reason: LONG }), '1 MB reason'],
  ['get_credential', get({ reason: 'a\u0000b' }), 'NUL in reason'],
  ['get_credential', get({ extra: 1 }), 'extra field'],
  ['get_credential', get({ [LONG_UNIQUE]: 1 }), 'extra field with a long name'],
  ['get_credential', get({ __proto__: { polluted: true }, constructor: 'x' }), 'constructor key'],
  ['get_credential', get({ value: NEW_VALUE_CANARY }), 'a value where none belongs'],
  // list_credentials
  ['list_credentials', { filter: 'x' }, 'extra field on a no-argument tool'],
  ['list_credentials', { [LONG]: true }, '1 MB key'],
  // rotate_credential
  ['rotate_credential', {}, 'no name'],
  ['rotate_credential', { name: 'npm_token', new_value: 12345 }, 'number new_value'],
  ['rotate_credential', { name: 'npm_token', new_value: '' }, 'empty new_value'],
  ['rotate_credential', { name: 'npm_token', new_value: [NEW_VALUE_CANARY] }, 'array new_value'],
  ['rotate_credential', { name: 'npm_token', new_value: { v: NEW_VALUE_CANARY } }, 'object new_value'],
  [
    'rotate_credential',
    { name: 'npm_token', new_value: NEW_VALUE_CANARY.repeat(3000) },
    'oversized new_value',
  ],
  [
    'rotate_credential',
    { name: 'npm_token', new_value: NEW_VALUE_CANARY, grace_seconds: -1 },
    'negative grace',
  ],
  [
    'rotate_credential',
    { name: 'npm_token', new_value: NEW_VALUE_CANARY, grace_seconds: 1e12 },
    'huge grace',
  ],
  [
    'rotate_credential',
    { name: 'npm_token', new_value: NEW_VALUE_CANARY, grace_seconds: 1.5 },
    'fractional grace',
  ],
  [
    'rotate_credential',
    { name: 'npm_token', new_value: NEW_VALUE_CANARY, grace_seconds: '60' },
    'string grace',
  ],
  [
    'rotate_credential',
    { name: 'npm_token', new_value: NEW_VALUE_CANARY, grace_seconds: null },
    'null grace',
  ],
  [
    'rotate_credential',
    { name: `npm${CYRILLIC_A}token`, new_value: NEW_VALUE_CANARY },
    'Cyrillic name with a value',
  ],
  [
    'rotate_credential',
    { name: 'npm_token', new_value: NEW_VALUE_CANARY, note: NEW_VALUE_CANARY },
    'extra field holding the value',
  ],
  ['rotate_credential', { name: 'npm_token', [NEW_VALUE_CANARY]: 1 }, 'the value as a key'],
  // http_request
  ['http_request', http({ url: 'file:///etc/passwd' }), 'file URL'],
  ['http_request', http({ url: 'http://[::1' }), 'broken IPv6 URL'],
  ['http_request', http({ url: 'not a url' }), 'not a URL'],
  ['http_request', http({ url: '/relative/path' }), 'relative URL'],
  ['http_request', http({ url: 'javascript:alert(1)' }), 'javascript URL'],
  ['http_request', http({ url: 'ftp://api.scavio.example/' }), 'ftp URL'],
  ['http_request', http({ url: 'https://user:pass@api.scavio.example/' }), 'userinfo in URL'],
  ['http_request', http({ url: 'https://api.scavio.example/\r\nHost: evil' }), 'CRLF in URL'],
  ['http_request', http({ url: `https://api.scavio.example/${'a'.repeat(9000)}` }), 'URL over 8 KB'],
  ['http_request', http({ url: 42 }), 'number URL'],
  ['http_request', http({ method: 'CONNECT' }), 'CONNECT'],
  ['http_request', http({ method: 'TRACE' }), 'TRACE'],
  ['http_request', http({ method: 'get' }), 'lower-case method'],
  ['http_request', http({ method: 'GET\r\nX: y' }), 'CRLF in method'],
  [
    'http_request',
    http({ headers: { 'X-Api-Key': '{{credential}}\r\nX-Injected: 1' } }),
    'CRLF header injection',
  ],
  ['http_request', http({ headers: { 'X-Api-Key\r\nX-Injected': 'v' } }), 'CRLF in header name'],
  ['http_request', http({ headers: { 'X-A': 'a\u0000b' } }), 'NUL in header value'],
  ['http_request', http({ headers: { Host: 'evil.example' } }), 'Host header override'],
  ['http_request', http({ headers: { 'Transfer-Encoding': 'chunked' } }), 'Transfer-Encoding'],
  ['http_request', http({ headers: ['Authorization: x'] }), 'array headers'],
  ['http_request', http({ headers: { A: 1 } }), 'number header value'],
  ['http_request', http({ headers: { A: { b: 'c' } } }), 'object header value'],
  [
    'http_request',
    http({ headers: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`X-H${i}`, 'v'])) }),
    'too many headers',
  ],
  ['http_request', http({ method: 'POST', body: LONG }), '1 MB body'],
  ['http_request', http({ method: 'POST', body: { json: true } }), 'object body'],
  ['http_request', http({ body: 'x' }), 'body with GET'],
  ['http_request', http({ credential: '../scavio_api_key' }), 'traversal credential'],
  ['http_request', http({ credential: undefined }), 'missing credential'],
  ['http_request', { credential: 'scavio_api_key' }, 'only credential'],
];

describe('bad input corpus', () => {
  let k: TestKeyring;
  let conn: Connected;

  before(async () => {
    k = await createTestKeyring({
      anomaly: { actions: { first_use: 'off', probing: 'off', unusual_hours: 'off' } },
    });
    // release-agent sees http_request only with a credential that has allowed hosts (tools per agent).
    await k.keyring.store.updateCredential('npm_token', { allowed_hosts: ['registry.npmjs.org'] });
    conn = await connectInMemory(k.api, 'release-agent', { logger: k.logger });
    await conn.client.listTools();
  });
  after(async () => {
    await conn.close();
    await k.dispose();
  });

  it(`holds at least 50 argument shapes (${CORPUS.length})`, () => {
    assert.ok(CORPUS.length >= 50);
  });

  for (const [tool, args, note] of CORPUS) {
    it(`${tool}: ${note} → invalid_input, nothing echoed, server still answers`, async () => {
      const r = await call(conn.client, tool, args as Record<string, unknown>);
      assert.equal(r.isError, true, `${note}: ${textOf(r).slice(0, 200)}`);
      assert.equal(r.structuredContent?.code, 'invalid_input', textOf(r).slice(0, 300));
      const all = JSON.stringify(r);
      assert.match(textOf(r), /^Invalid arguments for [a-z_]+: .+ Fix the arguments/);
      assert.ok(all.length < 4000, `${note}: the refusal stays small (${all.length})`);
      assert.ok(!all.includes(NEW_VALUE_CANARY), 'a new_value never comes back');
      assert.ok(
        !all.includes(LONG_UNIQUE) && !all.includes('x'.repeat(65)),
        'no long supplied string comes back',
      );
      for (const v of Object.values(k.values)) {
        assert.ok(!all.includes(v), 'no stored value comes back');
      }
      // The server still answers a normal call afterwards.
      const ok = await call(conn.client, 'list_credentials');
      assert.equal(ok.isError, undefined);
    });
  }

  it('names the offending field and rule', async () => {
    const r = await call(conn.client, 'rotate_credential', {
      name: 'npm_token',
      new_value: NEW_VALUE_CANARY,
      grace_seconds: -5,
      bogus: 1,
    });
    const issues = r.structuredContent?.issues as Array<{ field: string; problem: string }>;
    assert.deepEqual(
      issues.map((i) => i.field),
      ['grace_seconds', ''],
    );
    assert.match(textOf(r), /grace_seconds must be 0 or more/);
    assert.match(textOf(r), /unknown field 'bogus': remove it/);
    const missing = await call(conn.client, 'get_credential', { name: 'github_token' });
    assert.match(textOf(missing), /scope is required/);
  });

  it('nothing from the corpus reached the audit log or the logger as a secret', () => {
    const audit = fs.readFileSync(k.auditPath, 'utf8');
    assert.ok(!audit.includes(NEW_VALUE_CANARY));
    assert.ok(!k.logger.text().includes(NEW_VALUE_CANARY));
    assert.equal(k.values.npm_token !== undefined, true);
  });

  it('the stored npm_token was not rotated by any bad call', async () => {
    const got = await call(conn.client, 'get_credential', { name: 'npm_token', scope: 'publish' });
    // publish is a sensitive scope held for approval: with no approver it is refused, which still
    // proves the server answers; the version in the listing proves nothing was rotated.
    assert.equal(got.structuredContent?.code, 'approval_denied');
    const list = await call(conn.client, 'list_credentials');
    const npm = (list.structuredContent?.credentials as Array<{ name: string; version: number }>).find(
      (c) => c.name === 'npm_token',
    );
    assert.equal(npm?.version, 1);
  });
});
