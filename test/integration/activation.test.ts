import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ALL_COMMAND_IDS } from '../../src/vscode/commands/commandIds';
import { VSCODE_AGENT_TOKEN_KEY } from '../../src/vscode/vscodeAgent';
import { activateExtension, waitFor } from './helpers';

const ARTIFACTS = path.resolve(__dirname, '..', '..', '..', '.test-artifacts', 'integration');
const ACTIVATED = /Activated in (\d+\.\d) ms\./;
const LISTENING =
  /MCP server listening in (\d+\.\d) ms since activation start \(server code loaded in (\d+\.\d) ms\)\./;

suite('activation', () => {
  test('the log says how long activation took and when the MCP server was listening', async () => {
    const { api } = await activateExtension();
    const logFile = path.join(api.logUri.fsPath, 'Agent Keyring.log');
    // The channel writes its file a moment after the line is logged.
    const text = await waitFor(`both timing lines in ${logFile}`, () => {
      const t = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
      return ACTIVATED.test(t) && LISTENING.test(t) ? t : undefined;
    });
    assert.equal(text.match(new RegExp(ACTIVATED.source, 'g'))?.length, 1, 'one activation, logged once');
    const activatedMs = Number(ACTIVATED.exec(text)?.[1]);
    const [, listening, loaded] = LISTENING.exec(text) ?? [];
    const listeningMs = Number(listening);
    const serverCodeLoadMs = Number(loaded);
    // No threshold on the figures (machines are noisy); only what must hold on any machine: the
    // server starts after activate() has returned, and its code was loaded then, not before.
    assert.ok(activatedMs > 0, text);
    assert.ok(listeningMs > activatedMs, `listening ${listeningMs} ms after activated ${activatedMs} ms`);
    assert.ok(serverCodeLoadMs > 0 && serverCodeLoadMs < listeningMs, text);
    assert.ok(
      text.indexOf('Activated in') < text.indexOf('MCP server listening in'),
      'the server was listening only after activation finished',
    );
    const figures = { activatedMs, listeningMs, serverCodeLoadMs };
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.writeFileSync(
      path.join(ARTIFACTS, 'activation-timings.json'),
      JSON.stringify(figures, null, 2) + '\n',
    );
    console.log(`activation figures: ${JSON.stringify(figures)}`);
  });

  test('the extension activates, serves MCP on the configured port and creates the vscode agent', async () => {
    const { extension, api } = await activateExtension();
    assert.equal(extension.isActive, true);
    assert.equal(api.server.state.kind, 'running', `server state: ${JSON.stringify(api.server.state)}`);
    const configured = vscode.workspace.getConfiguration('agentKeyring').get<number>('port');
    assert.equal(api.server.url, `http://127.0.0.1:${configured}/mcp`);
    const expected = process.env.AKR_INTEGRATION_KEYRING_PORT;
    if (expected) {
      assert.equal(
        configured,
        Number(expected),
        "the runner's agentKeyring.port setting reached the extension host",
      );
    }

    const agent = await api.keyring.store.getAgent('vscode');
    assert.ok(agent, 'the built-in agent vscode exists');
    assert.equal(agent.revoked_at, undefined);
    const token = await api.secrets.get(VSCODE_AGENT_TOKEN_KEY);
    assert.ok(token, 'its token is kept in SecretStorage');
    assert.equal((await api.keyring.service.authenticate(token))?.id, 'vscode');
  });

  test('every contributed command is registered, and package.json lists exactly the registry', async () => {
    const { extension } = await activateExtension();
    const contributed = (
      extension.packageJSON as { contributes: { commands: { command: string }[] } }
    ).contributes.commands.map((c) => c.command);
    assert.deepEqual([...contributed].sort(), [...ALL_COMMAND_IDS].sort());
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributed.filter((id) => !registered.has(id));
    assert.deepEqual(missing, [], `contributed but not registered: ${missing.join(', ')}`);
  });

  test('Show Status answers with the server state and counts', async () => {
    const { api } = await activateExtension();
    const text = await vscode.commands.executeCommand<string>('agentKeyring.showStatus');
    assert.match(text, /Agent Keyring: serving http:\/\/127\.0\.0\.1:\d+\/mcp\./);
    const credentials = (await api.keyring.store.listCredentials()).length;
    assert.match(text, new RegExp(`${credentials} credential\\(s\\)`));
  });

  test('the status bar shows the port, and "stopped" after Stop Server', async () => {
    const { api } = await activateExtension();
    const port = vscode.workspace.getConfiguration('agentKeyring').get<number>('port');
    assert.ok(api.statusBar.text.startsWith(`$(key) Agent Keyring :${port}`), api.statusBar.text);
    assert.match(api.statusBar.tooltip, /serving http:\/\/127\.0\.0\.1:\d+\/mcp/);
    assert.match(api.statusBar.tooltip, /\d+ agent sessions? connected/);
    assert.match(api.statusBar.tooltip, /No alerts waiting|alerts? waiting/);
    await vscode.commands.executeCommand('agentKeyring.stopServer');
    try {
      assert.ok(api.statusBar.text.startsWith('$(circle-slash) Agent Keyring: stopped'), api.statusBar.text);
    } finally {
      await vscode.commands.executeCommand('agentKeyring.startServer');
    }
    assert.ok(api.statusBar.text.startsWith(`$(key) Agent Keyring :${port}`), api.statusBar.text);
  });

  test('the MCP server definition provider is contributed with id agentKeyring', async () => {
    const { extension } = await activateExtension();
    const providers = (
      extension.packageJSON as {
        contributes: { mcpServerDefinitionProviders: { id: string; label: string }[] };
      }
    ).contributes.mcpServerDefinitionProviders;
    assert.deepEqual(providers, [{ id: 'agentKeyring', label: 'Agent Keyring' }]);
  });

  test('Stop Server and Start Server commands stop and restart the host', async () => {
    const { api } = await activateExtension();
    const url = api.server.url;
    assert.ok(url);
    await vscode.commands.executeCommand('agentKeyring.stopServer');
    assert.equal(api.server.state.kind, 'stopped');
    await assert.rejects(
      fetch(url, { method: 'POST', signal: AbortSignal.timeout(2_000) }),
      'nothing listens after Stop Server',
    );
    await vscode.commands.executeCommand('agentKeyring.startServer');
    assert.equal(api.server.state.kind, 'running');
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    assert.equal(res.status, 401, 'the restarted host answers and wants a token');
  });
});
