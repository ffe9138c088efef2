/**
 * The MCP server as in-editor agents see it: VS Code starts it from our definition provider
 * (token injected in resolveMcpServerDefinition), lists its tools in `vscode.lm.tools` and calls
 * them through `vscode.lm.invokeTool`.
 */
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { MCP_TOOLS, activateExtension, invokeTool, ourTools, startMcpServers, waitFor } from './helpers';

const TOOLS = MCP_TOOLS;
const invoke = invokeTool;

suite('MCP in VS Code', () => {
  const name = `int-mcp-${randomUUID().slice(0, 8)}`;
  const canary = `canary-${randomUUID()}`;

  suiteSetup(async () => {
    const { api } = await activateExtension();
    await api.keyring.store.addCredential(
      {
        name,
        description: 'integration test credential',
        allowed_scopes: ['read'],
        allowed_agents: ['vscode'],
        // Tools per agent: with a host and rotation rights, all four tools are the vscode agent's.
        allowed_hosts: ['api.example.com'],
        rotation_agents: ['vscode'],
        ttl_seconds: 60,
      },
      new api.SecretValue(canary),
      'vscode-user',
    );
  });

  suiteTeardown(async () => {
    const { api } = await activateExtension();
    await api.keyring.store.removeCredential(name).catch(() => undefined);
  });

  test('workbench.mcp.startServer starts our server and lm.tools lists its four tools', async () => {
    // The definition reaches VS Code's MCP registry asynchronously after activation; until it is
    // there, workbench.mcp.startServer has nothing to start. So: start, look, and start again.
    const tools = await waitFor('the four Agent Keyring tools in vscode.lm.tools', async () => {
      await startMcpServers();
      const t = ourTools();
      return t.size === TOOLS.length ? t : undefined;
    }).catch((e: Error) => {
      const mcp = vscode.lm.tools
        .filter((t) => t.tags.includes('mcp') || t.name.startsWith('mcp_'))
        .map((t) => t.name);
      throw new Error(
        `${e.message} MCP tools present: ${JSON.stringify(mcp)}; ${vscode.lm.tools.length} tools in all.`,
      );
    });
    for (const t of TOOLS) {
      // VS Code names MCP tools mcp_<server name from initialize>_<tool>: mcp_agent-keyring_<tool>
      // on newer VS Code; 1.103 (the oldest we support) turns the '-' into '_'.
      assert.match(tools.get(t)?.name ?? '', new RegExp(`^mcp_agent[-_]keyring_${t}$`));
      assert.ok(tools.get(t)?.tags.includes('mcp'), `${t} is tagged mcp`);
    }
  });

  test('get_credential returns the value for an allowed scope (as agent vscode)', async () => {
    const tool = await waitFor('get_credential', () => ourTools().get('get_credential'));
    const { text, threw } = await invoke(tool.name, { name, scope: 'read' });
    assert.equal(threw, false, text);
    assert.ok(
      text.includes(canary),
      `the result carries the value; got: ${text.replaceAll(canary, '<canary>').slice(0, 500)}`,
    );
    assert.ok(text.includes('lease_id'), 'the result carries a lease');

    const { api } = await activateExtension();
    const leases = (await api.keyring.service.leases({ agentId: 'vscode' })).filter(
      (l) => l.credential === name,
    );
    assert.equal(
      leases.length,
      1,
      'the lease was issued to the vscode agent (identity from the injected token)',
    );
  });

  test('get_credential refuses a scope the credential does not allow, without the value', async () => {
    const tool = await waitFor('get_credential', () => ourTools().get('get_credential'));
    const { text } = await invoke(tool.name, { name, scope: 'deploy' });
    assert.match(
      text,
      /"code":\s*"scope_denied"/,
      `a scope refusal with its stable code; got: ${text.slice(0, 500)}`,
    );
    assert.match(text, /not allowed for scope 'deploy'/, 'the refusal says what was wrong');
    assert.ok(!text.includes(canary), 'a refusal never carries the value');
  });

  test('list_credentials shows the credential to vscode, without its value', async () => {
    const tool = await waitFor('list_credentials', () => ourTools().get('list_credentials'));
    const { text, threw } = await invoke(tool.name, {});
    assert.equal(threw, false, text);
    assert.ok(text.includes(name));
    assert.ok(!text.includes(canary));
  });
});
