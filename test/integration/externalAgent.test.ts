/**
 * An agent outside VS Code (Claude Code, a script…): Add Agent (command with args) gives it a
 * token, it connects with the MCP SDK's Client over Streamable HTTP to the server this extension
 * host runs, and gets a credential. Revoke Agent (command) shuts it out at once.
 */
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { activateExtension, assertNoSecret, renderTree } from './helpers';

interface ToolText {
  isError: boolean;
  text: string;
  structured: Record<string, unknown> | undefined;
}

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<ToolText> {
  const r = await client.callTool({ name, arguments: args });
  const content = (r.content ?? []) as { type: string; text?: string }[];
  return {
    isError: r.isError === true,
    text: content.map((c) => c.text ?? '').join('\n'),
    structured: r.structuredContent as Record<string, unknown> | undefined,
  };
}

suite('external agent over HTTP', () => {
  const agentId = `int-agent-${randomUUID().slice(0, 8)}`;
  const cred = `int-ext-cred-${randomUUID().slice(0, 8)}`;
  const canary = `canary-${randomUUID()}`;
  let token = '';
  const clients: Client[] = [];

  suiteTeardown(async () => {
    const { api } = await activateExtension();
    for (const c of clients) {
      await c.close().catch(() => undefined);
    }
    await api.keyring.store.removeCredential(cred).catch(() => undefined);
  });

  async function connect(url: string): Promise<Client> {
    const client = new Client({ name: 'integration-external-agent', version: '1.0.0' });
    clients.push(client);
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    return client;
  }

  test('Add Agent with args returns its token (test mode) and the Agents tree lists it', async () => {
    const { api } = await activateExtension();
    const result = await vscode.commands.executeCommand<{ id: string; token: string }>(
      'agentKeyring.addAgent',
      {
        id: agentId,
        label: 'Integration agent',
      },
    );
    assert.equal(result.id, agentId);
    assert.match(result.token, /^akr_[A-Za-z0-9_-]{43}$/);
    token = result.token;
    const agent = await api.keyring.store.getAgent(agentId);
    assert.equal(agent?.label, 'Integration agent');
    assert.notEqual(agent?.token_sha256, token, 'only a hash is stored');

    const items = await renderTree(api.trees.agents);
    const top = items.find((i) => i.depth === 0 && i.label === agentId);
    assert.equal(top?.description, 'never seen · Integration agent');
    assert.equal(top?.contextValue, 'agent');
    assertNoSecret(items, [token]);
  });

  test('the agent calls get_credential on the server hosted by the extension', async () => {
    const { api } = await activateExtension();
    await vscode.commands.executeCommand('agentKeyring.addCredential', {
      name: cred,
      value: canary,
      scopes: ['search_read'],
      agents: [agentId],
    });
    const url = api.server.url;
    assert.ok(url, 'the server runs');
    const client = await connect(url);
    const listed = await call(client, 'list_credentials', {});
    assert.ok(listed.text.includes(cred), 'the agent sees the credential it is allowed');
    assert.ok(!listed.text.includes(canary));

    const got = await call(client, 'get_credential', {
      name: cred,
      scope: 'search_read',
      reason: 'integration',
    });
    assert.equal(got.isError, false, got.text.replaceAll(canary, '<canary>'));
    assert.equal(got.structured?.value, canary);
    assert.equal(got.structured?.version, 1);

    const denied = await call(client, 'get_credential', { name: cred, scope: 'publish' });
    assert.equal(denied.isError, true);
    assert.equal(denied.structured?.code, 'scope_denied');
    assert.ok(!denied.text.includes(canary));

    const leases = (await api.keyring.service.leases({ agentId })).filter((l) => l.credential === cred);
    assert.equal(leases.length, 1, 'the lease is issued to the agent of the token');

    // A rotation from the editor reaches the external agent on its very next request.
    const rotated = `${canary}-v2`;
    await vscode.commands.executeCommand('agentKeyring.rotateCredential', {
      name: cred,
      value: rotated,
      graceSeconds: 0,
    });
    const after = await call(client, 'get_credential', { name: cred, scope: 'search_read' });
    assert.equal(after.isError, false, after.text.replaceAll(canary, '<canary>'));
    assert.equal(after.structured?.version, 2);
    assert.equal(after.structured?.value, rotated);

    // The Agents tree: last seen, and the grant with its scope.
    const items = await renderTree(api.trees.agents);
    assert.match(items.find((i) => i.depth === 0 && i.label === agentId)?.description ?? '', /seen just now/);
    assert.equal(items.find((i) => i.id === `agent:${agentId}/grant/${cred}`)?.description, 'search_read');
    assertNoSecret(items, [canary, token]);
  });

  test('Rotate Agent Token with args: the old token gets 401 at once, the new one works', async () => {
    const { api } = await activateExtension();
    const url = api.server.url;
    assert.ok(url);
    const old = token;
    const result = await vscode.commands.executeCommand<{ id: string; token: string }>(
      'agentKeyring.rotateAgentToken',
      { id: agentId, confirmed: true },
    );
    assert.equal(result.id, agentId);
    assert.match(result.token, /^akr_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(result.token, old);
    const refused = await fetch(url, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${old}`,
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    assert.equal(refused.status, 401, 'the old token stopped working');
    token = result.token;
    const client = await connect(url);
    const listed = await call(client, 'list_credentials', {});
    assert.equal(listed.isError, false, listed.text);
  });

  test('Revoke Agent with args: the token stops working at once; the tree marks it revoked', async () => {
    const { api } = await activateExtension();
    const url = api.server.url;
    assert.ok(url);
    assert.equal(
      await vscode.commands.executeCommand('agentKeyring.revokeAgent', { id: agentId, confirmed: true }),
      true,
    );
    assert.ok((await api.keyring.store.getAgent(agentId))?.revoked_at);
    assert.equal(await api.keyring.service.authenticate(token), undefined);

    const res = await fetch(url, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
      }),
    });
    assert.equal(res.status, 401, 'a revoked token gets 401');
    await res.arrayBuffer();

    const items = await renderTree(api.trees.agents);
    const top = items.find((i) => i.depth === 0 && i.label === agentId);
    assert.match(top?.description ?? '', /^revoked · /);
    assert.equal(top?.contextValue, 'agent.revoked');
  });
});
