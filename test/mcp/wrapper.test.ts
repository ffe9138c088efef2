/**
 * The tool wrapper's odd paths, forced through a fake KeyringApi: unexpected exceptions, a core
 * error that (wrongly) carries a secret, a malformed core result, identity from authInfo.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { InvalidInputError, PolicyDeniedError } from '../../src/core/errors';
import { createCredentialServer } from '../../src/core/mcp/server';
import { SecretValue } from '../../src/core/model';
import { RecordingLogger } from '../fakes/recordingLogger';
import { FakeKeyringApi } from './fakeApi';
import { call, connectInMemory, textOf, waitFor, type Connected } from './harness';

describe('tool wrapper (fake api)', () => {
  let api: FakeKeyringApi;
  let logger: RecordingLogger;
  let conn: Connected;
  const VALUE = `canary-value-${randomUUID()}`;

  beforeEach(async () => {
    api = new FakeKeyringApi();
    api.addAgent('agent-a');
    api.addCredential('alpha', VALUE);
    logger = new RecordingLogger();
    conn = await connectInMemory(api, 'agent-a', { logger });
    await conn.client.listTools(); // caches output validators, as real clients do
  });
  afterEach(async () => {
    await conn.close();
  });

  it('turns an unexpected exception into a generic internal error and logs the detail', async () => {
    api.failures.set('listCredentials', new TypeError('boom at /home/someone/secret/path.js'));
    const r = await call(conn.client, 'list_credentials');
    assert.equal(r.isError, true);
    assert.equal(r.structuredContent?.code, 'internal_error');
    const text = textOf(r);
    assert.match(
      text,
      /^Internal error \(reference [0-9a-f]{8}\) — retry; if it persists ask the user to check the Agent Keyring log\./,
    );
    assert.doesNotMatch(text, /boom|\/home|TypeError/);
    const reference = r.structuredContent?.reference as string;
    const logged = logger.at('error').join('\n');
    assert.match(logged, new RegExp(`reference ${reference}`));
    assert.match(logged, /boom at \/home\/someone/);
  });

  it('scrubs a rotate new_value from internal-error logs and from refusal text', async () => {
    const NEW = `canary-new-${randomUUID()}`;
    api.failures.set('rotateCredential', new Error(`driver failed writing ${NEW}`));
    const r1 = await call(conn.client, 'rotate_credential', { name: 'alpha', new_value: NEW });
    assert.equal(r1.structuredContent?.code, 'internal_error');
    assert.ok(!JSON.stringify(r1).includes(NEW));
    assert.ok(!logger.text().includes(NEW), 'logger must not see the new value');
    assert.match(logger.text(), /driver failed writing \[REDACTED\]/);

    api.failures.set(
      'rotateCredential',
      new InvalidInputError(`value ${NEW} is weak`, { hint: `not ${NEW}` }),
    );
    const r2 = await call(conn.client, 'rotate_credential', { name: 'alpha', new_value: NEW });
    assert.equal(r2.structuredContent?.code, 'invalid_input');
    assert.ok(!JSON.stringify(r2).includes(NEW));
    assert.equal(r2.structuredContent?.hint, 'not [REDACTED]');
  });

  it('answers an unknown tool name with a not_found refusal that lists the tools', async () => {
    const r = await call(conn.client, 'get_credentials', { name: 'alpha', scope: 'read' });
    assert.equal(r.isError, true);
    assert.equal(r.structuredContent?.code, 'not_found');
    assert.equal(r.structuredContent?.tool, 'get_credentials');
    assert.match(
      textOf(r),
      /^There is no tool "get_credentials"\. The tools are get_credential, list_credentials, rotate_credential, http_request; call one of them\./,
    );
    assert.equal(api.calls.length, 0, 'the core is not asked');
    // A long or odd name is cut, never repeated whole.
    const long = `x${'y'.repeat(500)}${VALUE}`;
    const r2 = await call(conn.client, long);
    assert.equal(r2.structuredContent?.code, 'not_found');
    assert.ok(!JSON.stringify(r2).includes(VALUE));
  });

  it('validates arguments once, with the strict schema, through our own tools/call handler', async () => {
    const r = await call(conn.client, 'get_credential', { name: 'alpha', scope: 'read', extra: 1 });
    assert.equal(r.structuredContent?.code, 'invalid_input');
    assert.match(textOf(r), /unknown field 'extra': remove it/);
    const ok = await call(conn.client, 'get_credential', { name: 'alpha', scope: 'read' });
    assert.equal(ok.isError, undefined);
    assert.equal(ok.structuredContent?.value, VALUE);
  });

  it('passes new_value to the core as a SecretValue', async () => {
    const NEW = `canary-new-${randomUUID()}`;
    const r = await call(conn.client, 'rotate_credential', {
      name: 'alpha',
      new_value: NEW,
      grace_seconds: 60,
    });
    assert.equal(r.isError, undefined);
    const args = api.calls.find((c) => c.method === 'rotateCredential')?.args as {
      new_value: unknown;
      grace_seconds: number;
    };
    assert.ok(args.new_value instanceof SecretValue);
    assert.equal(args.new_value.reveal(), NEW);
    assert.equal(args.grace_seconds, 60);
    assert.equal(JSON.stringify(args).includes(NEW), false);
  });

  it('reports a core result that breaks the output schema as an internal error, without the value', async () => {
    api.overrides.set('getCredential', {
      name: 'alpha',
      scope: 'read',
      value: new SecretValue(VALUE),
      version: 'one',
      lease_id: 'l',
      expires_in: 1,
      expires_at: 'x',
    });
    const r = await call(conn.client, 'get_credential', { name: 'alpha', scope: 'read' });
    assert.equal(r.structuredContent?.code, 'internal_error');
    assert.ok(!JSON.stringify(r).includes(VALUE));
    assert.ok(!logger.text().includes(VALUE));
    assert.match(logger.text(), /version: invalid_type/);
  });

  it('carries KeyringError details into structuredContent', async () => {
    api.failures.set(
      'getCredential',
      new PolicyDeniedError('rate_limited', 'Too many requests. Wait a minute, then retry.', {
        retry_after_seconds: 42,
      }),
    );
    const r = await call(conn.client, 'get_credential', { name: 'alpha', scope: 'read' });
    assert.deepEqual(r.structuredContent, {
      code: 'rate_limited',
      message: 'Too many requests. Wait a minute, then retry.',
      retry_after_seconds: 42,
    });
    assert.match(textOf(r), /^Too many requests\. Wait a minute, then retry\.\n\n\{/);
  });

  it('puts client name/version in the CallContext', async () => {
    await call(conn.client, 'list_credentials');
    const ctx = api.calls.at(-1)?.ctx;
    assert.equal(ctx?.agentId, 'agent-a');
    assert.deepEqual(ctx?.client, { name: 'mcp-test-client', version: '9.9.9' });
  });

  it('passes _meta vscode.conversationId into the CallContext', async () => {
    await conn.client.callTool({
      name: 'list_credentials',
      arguments: {},
      _meta: { 'vscode.conversationId': 'conv-123' },
    });
    assert.equal(api.calls.at(-1)?.ctx.client?.conversation_id, 'conv-123');
  });

  it('detaches from onDidRotate on dispose', async () => {
    assert.equal(api.rotateListenerCount, 1);
    await conn.credentialServer.dispose();
    assert.equal(api.rotateListenerCount, 0);
  });
});

describe('identity is the agent the server was built for', () => {
  /**
   * Sends one tools/call straight through the transport with the given authInfo; returns the
   * result and the fake core (its calls say who the tools asked for).
   */
  async function callWithAuth(
    agentId: string,
    clientId: string,
  ): Promise<{ result: Record<string, unknown>; api: FakeKeyringApi }> {
    const api = new FakeKeyringApi();
    api.addAgent('agent-a');
    api.addCredential('alpha', 'v');
    const cs = createCredentialServer({ api, agentId });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await cs.server.connect(serverSide);
    const replies: JSONRPCMessage[] = [];
    clientSide.onmessage = (m) => void replies.push(m);
    await clientSide.start();
    const auth = { token: 't', clientId, scopes: [] };
    await clientSide.send(
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      },
      { authInfo: auth },
    );
    await clientSide.send({ jsonrpc: '2.0', method: 'notifications/initialized' }, { authInfo: auth });
    await clientSide.send(
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'list_credentials', arguments: {} } },
      { authInfo: auth },
    );
    await waitFor(() => replies.some((m) => 'id' in m && m.id === 2), 'the tools/call reply');
    await cs.dispose();
    const reply = replies.find((m) => 'id' in m && m.id === 2) as { result: Record<string, unknown> };
    return { result: reply.result, api };
  }

  it('the tools see the bound agent, the caller the gate admitted', async () => {
    const { result, api } = await callWithAuth('agent-a', 'agent-a');
    assert.equal(result.isError, undefined);
    assert.deepEqual(
      (result.structuredContent as { credentials: Array<{ name: string }> }).credentials.map((c) => c.name),
      ['alpha'],
    );
    assert.equal(api.calls.at(-1)?.ctx.agentId, 'agent-a');
  });

  it("a request's authInfo cannot change who the tools act for (no second identity source)", async () => {
    const { api } = await callWithAuth('agent-a', 'agent-b');
    assert.ok(api.calls.length > 0, 'the core was reached');
    assert.deepEqual(
      api.calls.map((c) => c.ctx.agentId),
      api.calls.map(() => 'agent-a'),
    );
  });
});
