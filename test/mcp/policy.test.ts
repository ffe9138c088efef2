/**
 * Issue #10 end to end: a real SDK client over real HTTP on 127.0.0.1 → the credential server → the
 * real service → a local upstream on 127.0.0.1. Reveal modes, tools per agent, scope rules and
 * placement, with the canary values checked in every answer, the log and the audit file. The
 * http_request holes are in httpRequestHoles.test.ts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startHttpHost, type HttpHost } from '../../src/core/mcp/http';
import { SecretValue } from '../../src/core/model';
import type { ApprovalAnswer, ApprovalRequest } from '../../src/core/ports';
import { createTestKeyring, type TestKeyring, type TestKeyringOptions } from '../helpers/testKeyring';
import { call, connectHttp, textOf, waitFor } from './harness';

const QUIET = { actions: { first_use: 'off', probing: 'off', unusual_hours: 'off' } } as NonNullable<
  TestKeyringOptions['anomaly']
>;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

describe('issue #10 policy through MCP over HTTP', () => {
  let upstream: http.Server;
  let port: number;
  let seen: Seen[];
  let k: TestKeyring;
  let host: HttpHost;
  const clients: Record<string, Client> = {};
  const asked: ApprovalRequest[] = [];
  const answers: ApprovalAnswer[] = [];
  /** A value with "/" and mixed case, so JSON `\/` escaping and case changes are real forms of it. */
  const brokerValue = `Br/${randomUUID()}XyZ`;

  const secrets = (): string[] => [...Object.values(k.values), ...Object.values(k.tokens)];
  function assertClean(text: string, where: string): void {
    const lower = text.toLowerCase();
    for (const s of secrets()) {
      assert.ok(!lower.includes(s.toLowerCase()), `${where} must not contain a secret`);
      assert.ok(!lower.includes(Buffer.from(s).toString('hex')), `${where} must not contain a secret's hex`);
    }
  }

  before(async () => {
    seen = [];
    upstream = http.createServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      const url = new URL(req.url ?? '/', 'http://x');
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ path: url.pathname, method: req.method }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    port = (upstream.address() as AddressInfo).port;

    k = await createTestKeyring({
      anomaly: QUIET,
      allowedHosts: [`127.0.0.1:${port}`],
      approver: {
        ask: async (r) => {
          asked.push(r);
          return answers.shift() ?? 'deny';
        },
      },
    });
    const { store } = k.keyring;
    k.values.broker_key = brokerValue;
    await store.addCredential(
      {
        name: 'broker_key',
        description: 'used, never read',
        allowed_scopes: ['read', 'publish'],
        allowed_agents: ['research-agent', 'vscode'],
        allowed_hosts: [`127.0.0.1:${port}`],
        reveal: 'never',
        reveal_overrides: { vscode: 'approve' },
        scope_rules: { read: ['GET /echo*'] },
        placement: ['header:Authorization'],
      },
      new SecretValue(brokerValue),
      'test',
    );
    // An agent whose every credential is broker-only, with no hosts and no rotation rights.
    const locked = await store.addAgent({ id: 'locked-agent' });
    k.tokens['locked-agent'] = locked.token.reveal();
    await store.updateCredential('github_token', { reveal_overrides: { 'locked-agent': 'never' } });

    host = await startHttpHost({ api: k.api, port: 0, logger: k.logger });
    for (const id of ['research-agent', 'release-agent', 'vscode', 'locked-agent']) {
      clients[id] = await connectHttp(host.url, k.tokens[id]);
    }
  });

  after(async () => {
    for (const c of Object.values(clients)) {
      await c.close();
    }
    await host.close();
    // Everything said, logged and audited in this file, checked once more for every secret.
    assertClean(k.logger.text(), 'the log');
    assertClean(fs.readFileSync(k.auditPath, 'utf8'), 'the audit file');
    await k.dispose();
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  const names = async (id: string): Promise<string[]> =>
    (await clients[id].listTools()).tools.map((t) => t.name).sort();

  it('tools/list shows each agent only the tools it can use', async () => {
    assert.deepEqual(await names('research-agent'), [
      'get_credential',
      'http_request',
      'list_credentials',
      'rotate_credential',
    ]);
    // release-agent: npm_token (rotation, no hosts) and github_token → no http_request.
    assert.deepEqual(await names('release-agent'), [
      'get_credential',
      'list_credentials',
      'rotate_credential',
    ]);
    // locked-agent: everything broker-only, nothing to send anywhere, nothing to rotate.
    assert.deepEqual(await names('locked-agent'), ['list_credentials']);
  });

  it('calling a hidden tool answers exactly like an unknown tool', async () => {
    const hidden = await call(clients['locked-agent'], 'get_credential', {
      name: 'github_token',
      scope: 'repo_read',
    });
    const unknown = await call(clients['locked-agent'], 'no_such_tool', { name: 'github_token' });
    assert.equal(hidden.isError, true);
    assert.equal(hidden.structuredContent?.code, 'not_found');
    assert.equal(
      textOf(hidden).replaceAll('get_credential', 'X'),
      textOf(unknown).replaceAll('no_such_tool', 'X'),
      'same text but for the name',
    );
    assert.match(textOf(hidden), /The tools are list_credentials;/);
    const rotate = await call(clients['locked-agent'], 'rotate_credential', { name: 'github_token' });
    assert.equal(rotate.structuredContent?.code, 'not_found');
    assert.match(textOf(rotate), /There is no tool "rotate_credential"/);
    assertClean(JSON.stringify([hidden, unknown, rotate]), 'hidden-tool answers');
  });

  it('reveal never: get_credential refuses with reveal_denied pointing to http_request; http_request still works', async () => {
    const r = await call(clients['research-agent'], 'get_credential', { name: 'broker_key', scope: 'read' });
    assert.equal(r.isError, true);
    assert.equal(r.structuredContent?.code, 'reveal_denied');
    assert.match(textOf(r), /used, never read/);
    assert.match(textOf(r), /Use http_request with credential 'broker_key'/);
    // The resource tells the agent up front how it may use the key.
    const res = await clients['research-agent'].readResource({ uri: 'credential://broker_key' });
    const meta = JSON.parse((res.contents[0] as { text: string }).text) as Record<string, unknown>;
    assert.equal(meta.reveal, 'never');
    assert.deepEqual(meta.placement, ['header:Authorization']);
    assert.deepEqual(meta.scope_rules, { read: ['GET /echo*'] });
    const used = await call(clients['research-agent'], 'http_request', {
      credential: 'broker_key',
      scope: 'read',
      method: 'GET',
      url: `http://127.0.0.1:${port}/echo`,
      headers: { Authorization: 'Bearer {{credential}}' },
    });
    assert.equal(used.isError, undefined, textOf(used));
    assert.equal(seen.at(-1)?.headers.authorization, `Bearer ${brokerValue}`);
    assertClean(JSON.stringify([r, used]), 'answers');
    const audit = fs
      .readFileSync(k.auditPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(
      audit.some((e) => e.code === 'reveal_denied' && e.credential === 'broker_key' && e.decision === 'deny'),
    );
  });

  it('a per-agent override to approve asks the human, naming what will happen; "this session" is remembered', async () => {
    asked.length = 0;
    answers.push('once');
    const first = await call(clients.vscode, 'get_credential', {
      name: 'broker_key',
      scope: 'read',
      reason: 'debug',
    });
    assert.equal(first.isError, undefined, textOf(first));
    assert.equal(first.structuredContent?.value, brokerValue, 'an approved reveal hands the value over');
    assert.equal(asked.length, 1);
    assert.equal(asked[0].agent_id, 'vscode');
    assert.equal(asked[0].credential, 'broker_key');
    assert.equal(asked[0].scope, 'read');
    assert.equal(asked[0].tool, 'get_credential');
    assert.match(asked[0].action ?? '', /hand the value of 'broker_key' to the agent/);
    assert.equal(asked[0].because, 'reveal mode approve');
    answers.push('session');
    await call(clients.vscode, 'get_credential', { name: 'broker_key', scope: 'read' });
    const third = await call(clients.vscode, 'get_credential', { name: 'broker_key', scope: 'read' });
    assert.equal(third.isError, undefined);
    assert.equal(asked.length, 2, 'the session answer covers the next reveal without asking');
    answers.push('deny');
    const denied = await call(clients.vscode, 'get_credential', { name: 'broker_key', scope: 'publish' });
    assert.equal(denied.structuredContent?.code, 'approval_denied');
    assert.equal(asked.length, 3, 'another scope is asked again');
  });

  it('scope rules: only the methods and paths a scope allows; nothing is sent otherwise', async () => {
    const before = seen.length;
    const wrongPath = await call(clients['research-agent'], 'http_request', {
      credential: 'broker_key',
      scope: 'read',
      method: 'GET',
      url: `http://127.0.0.1:${port}/admin/users`,
      headers: { Authorization: 'Bearer {{credential}}' },
    });
    assert.equal(wrongPath.structuredContent?.code, 'request_denied');
    assert.match(textOf(wrongPath), /does not allow GET \/admin\/users/);
    const wrongMethod = await call(clients['research-agent'], 'http_request', {
      credential: 'broker_key',
      scope: 'read',
      method: 'DELETE',
      url: `http://127.0.0.1:${port}/echo`,
      headers: { Authorization: 'Bearer {{credential}}' },
    });
    assert.equal(wrongMethod.structuredContent?.code, 'request_denied');
    assert.equal(seen.length, before, 'nothing reached the upstream');
    assertClean(JSON.stringify([wrongPath, wrongMethod]), 'answers');
  });

  it('no rules: a write under a harmless scope is refused, under a sensitive one it meets the approval (was a bypass)', async () => {
    const before = seen.length;
    // On main this POST went out under search_read and never met the sensitive-scope approval.
    const bypass = await call(clients['research-agent'], 'http_request', {
      credential: 'scavio_api_key',
      scope: 'search_read',
      method: 'POST',
      url: `http://127.0.0.1:${port}/v1/publish`,
      headers: { Authorization: 'Bearer {{credential}}' },
      body: '{}',
    });
    assert.equal(bypass.structuredContent?.code, 'request_denied', textOf(bypass));
    assert.match(textOf(bypass), /may only read with it/);
    asked.length = 0;
    const held = await call(clients['research-agent'], 'http_request', {
      credential: 'scavio_api_key',
      scope: 'publish',
      method: 'POST',
      url: `http://127.0.0.1:${port}/v1/publish?dry=1`,
      headers: { Authorization: 'Bearer {{credential}}' },
      body: '{}',
    });
    assert.equal(held.structuredContent?.code, 'approval_denied');
    assert.equal(asked.length, 1);
    assert.equal(asked[0].tool, 'http_request');
    assert.equal(
      asked[0].action,
      `POST http://127.0.0.1:${port}/v1/publish?dry=1`,
      'the prompt names method and URL',
    );
    assert.equal(seen.length, before, 'nothing reached the upstream');
  });

  it('placement: a credential pinned to the Authorization header cannot go into the query', async () => {
    const before = seen.length;
    const r = await call(clients['research-agent'], 'http_request', {
      credential: 'broker_key',
      scope: 'read',
      method: 'GET',
      url: `http://127.0.0.1:${port}/echo?api_key={{credential}}`,
    });
    assert.equal(r.structuredContent?.code, 'request_denied');
    assert.match(
      textOf(r),
      /may not be placed in query parameter 'api_key': it may only go in header 'Authorization'/,
    );
    assert.equal(seen.length, before);
  });

  it('a policy change that shows or hides a tool tells the session (tools/list_changed)', async () => {
    let changed = 0;
    clients['locked-agent'].setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    await k.keyring.store.updateCredential('github_token', { reveal_overrides: { 'locked-agent': 'allow' } });
    await waitFor(() => changed === 1, 'tools/list_changed after the reveal mode changed');
    assert.deepEqual(await names('locked-agent'), ['get_credential', 'list_credentials']);
    // A change that leaves this agent's tools as they are sends nothing.
    await k.keyring.store.updateCredential('github_token', { description: 'GitHub token, edited' });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(changed, 1);
    await k.keyring.store.updateCredential('github_token', { reveal_overrides: { 'locked-agent': 'never' } });
    await waitFor(() => changed === 2, 'tools/list_changed after hiding get_credential again');
    assert.deepEqual(await names('locked-agent'), ['list_credentials']);
  });
});
