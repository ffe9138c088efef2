/**
 * Several windows, one server (README.md, "In VS Code"), in the real extension host. The suite runs one window,
 * so "the first window" is simulated faithfully by a separate process: `agent-keyring serve` over
 * THIS window's global-storage folder (the same metadata file and audit log another window's
 * extension host would use; its values live in its own encrypted file, as SecretStorage is not
 * reachable from another process). Pointing `agentKeyring.port` at it makes this window attach;
 * changes the other process makes show in this window's trees, Show Status and Audit view without
 * a reload; stopping it by PID makes this window take the port over and serve. The setting, the
 * server and the store are left as they were found. First, `agent-keyring serve` over ANOTHER
 * store on the port: it answers like Agent Keyring but cannot prove it serves this store, so the
 * window does not attach and VS Code is never given the in-editor token for it.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { AgentKeyringTestApi } from '../../src/extension';
import type { ServerState } from '../../src/vscode/server/serverController';
import { identifyPort } from '../../src/vscode/server/portProbe';
import { canary, runCli, startServe, type Served } from '../cli/cliHarness';
import { isPage, type PageMessage } from './auditHelpers';
import { activateExtension, assertNoSecret, nextChange, renderTree, startMcpServers } from './helpers';

const SECTION = 'agentKeyring';
const ARTIFACTS = path.resolve(__dirname, '..', '..', '..', '.test-artifacts', 'integration');
/** Files only the headless store writes; removed afterwards if the test created them. */
const CLI_ONLY_FILES = ['secrets.json', 'secrets.lock', 'master.key', 'store.json', 'key.lock'];
// (attach.key is not among them: the window itself creates it in its global-storage folder.)

/** Resolves when the server state satisfies `ok` (now or at a later change). */
function serverReaches(
  api: AgentKeyringTestApi,
  what: string,
  ok: (s: ServerState) => boolean,
  timeoutMs = 20_000,
): Promise<ServerState> {
  if (ok(api.server.state)) {
    return Promise.resolve(api.server.state);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(
        new Error(
          `Timed out after ${timeoutMs} ms waiting for ${what}; state ${JSON.stringify(api.server.state)}.`,
        ),
      );
    }, timeoutMs);
    const sub = api.server.onDidChange((s) => {
      if (ok(s)) {
        clearTimeout(timer);
        sub.dispose();
        resolve(s);
      }
    });
  });
}

/** The next page the real Audit webview is sent (after `from` messages) that satisfies `ok`. */
async function auditPage(
  api: AgentKeyringTestApi,
  from: number,
  ok: (p: PageMessage) => boolean,
  timeoutMs = 15_000,
): Promise<PageMessage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = api.auditView.sent.slice(from).find((m): m is PageMessage => isPage(m) && ok(m));
    if (found) {
      return found;
    }
    if (Date.now() > deadline) {
      throw new Error(`The Audit webview got no matching page within ${timeoutMs} ms.`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

suite('several windows share one server: attach, live changes, takeover', () => {
  let api: AgentKeyringTestApi;
  let storeDir = '';
  let other: Served | undefined;
  let originalGlobalPort: number | undefined;
  let preexisting: Set<string>;
  const suffix = Math.random().toString(36).slice(2, 8);
  const cred = `attach-cred-${suffix}`;
  const agentId = `attach-agent-${suffix}`;
  const value1 = canary('attach-v1');
  const value2 = canary('attach-v2');
  let token = '';
  const clients: Client[] = [];
  const timings: Record<string, number> = {};

  const cli = async (args: string[], input?: string): Promise<string> => {
    const r = await runCli([...args, '--store', storeDir], { input });
    assert.equal(r.code, 0, `agent-keyring ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };

  const connect = async (url: string): Promise<Client> => {
    const client = new Client({ name: 'attach-test-agent', version: '1.0.0' });
    clients.push(client);
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    return client;
  };

  suiteSetup(async () => {
    ({ api } = await activateExtension());
    storeDir = api.keyring.stateDir;
    preexisting = new Set(fs.readdirSync(storeDir));
    originalGlobalPort = vscode.workspace.getConfiguration(SECTION).inspect<number>('port')?.globalValue;
    assert.equal(api.server.state.kind, 'running', 'this window serves before the suite');
  });

  suiteTeardown(async () => {
    for (const c of clients) {
      await c.close().catch(() => undefined);
    }
    other?.kill();
    await other?.exited;
    // The setting back as found, and this window serving on it again.
    const config = vscode.workspace.getConfiguration(SECTION);
    if (config.inspect<number>('port')?.globalValue !== originalGlobalPort) {
      await config.update('port', originalGlobalPort, vscode.ConfigurationTarget.Global);
    }
    const port = api.settings().port;
    await serverReaches(api, `serving on port ${port} again`, (s) => s.kind === 'running' && s.port === port);
    await api.keyring.store.removeCredential(cred).catch(() => undefined);
    await api.keyring.store.removeAgent(agentId).catch(() => undefined);
    for (const f of CLI_ONLY_FILES) {
      if (!preexisting.has(f)) {
        fs.rmSync(path.join(storeDir, f), { recursive: true, force: true });
      }
    }
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(ARTIFACTS, 'attach-timings.json'), JSON.stringify(timings, null, 2) + '\n');
  });

  test('a plain serve --store <other> on the port: NOT attached, says so, and is sent no token', async () => {
    const otherStore = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-attach-other-'));
    const stranger = await startServe(otherStore);
    const port = stranger.port;
    try {
      const refused = serverReaches(
        api,
        `refusing port ${port}`,
        (s) => s.kind === 'otherKeyring' && s.port === port,
      );
      await vscode.workspace
        .getConfiguration(SECTION)
        .update('port', port, vscode.ConfigurationTarget.Global);
      assert.deepEqual(await refused, { kind: 'otherKeyring', port });
      assert.equal(api.server.url, undefined, 'no URL: no MCP definition, so no token for it');
      assert.equal(
        api.statusBar.text,
        `$(warning) Agent Keyring: :${port} is NOT this keyring — not attached`,
      );
      assert.match(
        api.statusBar.tooltip,
        new RegExp(`a server on port ${port} that is NOT this keyring — not attached`),
      );
      const status = await vscode.commands.executeCommand<string>('agentKeyring.showStatus');
      assert.match(
        status,
        new RegExp(`^Agent Keyring: a server on port ${port} that is NOT this keyring — not attached\\.`),
      );
      await vscode.commands.executeCommand('notifications.clearAll');
      // Ask VS Code to start every MCP server: ours has no definition to start.
      await startMcpServers().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 1_000));
    } finally {
      stranger.kill();
      await stranger.exited;
    }
    // Refused tokens are audited by the stranger (aggregated): had VS Code sent the in-editor token,
    // its audit log would hold an 'unauthorized' line.
    const auditFile = path.join(otherStore, 'audit.jsonl');
    const audit = fs.existsSync(auditFile) ? fs.readFileSync(auditFile, 'utf8') : '';
    assert.ok(!audit.includes('"unauthorized"'), `the other store saw no token: ${audit}`);
    fs.rmSync(otherStore, { recursive: true, force: true });
  });

  test('another window serves the port: this window attaches and says so', async () => {
    other = await startServe(storeDir);
    const port = other.port;
    const attached = serverReaches(
      api,
      `attached to port ${port}`,
      (s) => s.kind === 'attached' && s.port === port,
    );
    await vscode.workspace.getConfiguration(SECTION).update('port', port, vscode.ConfigurationTarget.Global);
    assert.deepEqual(await attached, { kind: 'attached', port, url: `http://127.0.0.1:${port}/mcp` });
    assert.equal(api.server.url, other.url, 'agents in this window use the other window’s server');
    assert.equal(api.server.sessionCount, 0, 'this window hosts nothing');

    assert.equal(api.statusBar.text, `$(link) Agent Keyring :${port} (another window, same store)`);
    assert.match(
      api.statusBar.tooltip,
      new RegExp(`attached to the server of another window on this store \\(port ${port};`),
    );
    const changes: ServerState[] = [];
    const watch = api.server.onDidChange((s) => changes.push(s));
    try {
      const status = await vscode.commands.executeCommand<string>('agentKeyring.showStatus');
      assert.match(
        status,
        new RegExp(`^Agent Keyring: attached to the server of another window on this store \\(port ${port},`),
      );
      // Dismissing Show Status's notification does nothing (it used to run Start Server, which
      // restarted the server and dropped every agent's session).
      await new Promise((r) => setTimeout(r, 300));
      await vscode.commands.executeCommand('notifications.clearAll');
      await new Promise((r) => setTimeout(r, 1_500));
      assert.deepEqual(changes, [], 'dismissing the notification left the server alone');
      assert.equal(api.server.state.kind, 'attached');
    } finally {
      watch.dispose();
    }
  });

  test('credentials and agents added or rotated by the other window show here live; so do its audit events', async () => {
    // The Audit view open on screen, as a person would have it.
    await vscode.commands.executeCommand('agentKeyring.showAuditLog');
    const shown = api.auditView.sent.length;
    await auditPage(api, 0, () => true);

    const credsBefore = (await api.keyring.store.listCredentials()).length;
    // The other window adds an agent: the Agents tree repaints by itself.
    let agentsChanged = nextChange(api.trees.agents, 10_000);
    const out = await cli(['agent', 'add', agentId, '--label', 'Attach test agent']);
    token =
      out
        .trim()
        .split('\n')
        .at(-1)
        ?.replace(/^.*(akr_[A-Za-z0-9_-]{43}).*$/, '$1') ?? '';
    assert.match(token, /^akr_[A-Za-z0-9_-]{43}$/, 'the CLI printed the token');
    await agentsChanged;
    const agents = await renderTree(api.trees.agents);
    assert.equal(
      agents.find((i) => i.depth === 0 && i.label === agentId)?.description,
      'never seen · Attach test agent',
    );

    // … adds a credential for it: the Credentials tree repaints by itself (no command of ours ran).
    let credsChanged = nextChange(api.trees.credentials, 10_000);
    agentsChanged = nextChange(api.trees.agents, 10_000);
    await cli(['credential', 'add', cred, '--scopes', 'search_read', '--agents', agentId], value1);
    await credsChanged;
    await agentsChanged;
    let items = await renderTree(api.trees.credentials);
    assert.match(items.find((i) => i.id === `credential:${cred}`)?.description ?? '', /^v1 · /);
    assert.equal(
      (await renderTree(api.trees.agents)).find((i) => i.id === `agent:${agentId}/grant/${cred}`)
        ?.description,
      'search_read',
    );
    const status = await vscode.commands.executeCommand<string>('agentKeyring.showStatus');
    assert.match(status, new RegExp(` ${credsBefore + 1} credential\\(s\\)`));

    // … rotates it: version 2 shows here.
    credsChanged = nextChange(api.trees.credentials, 10_000);
    await cli(['credential', 'rotate', cred, '--grace', '0'], value2);
    await credsChanged;
    items = await renderTree(api.trees.credentials);
    assert.match(items.find((i) => i.id === `credential:${cred}`)?.description ?? '', /^v2 · /);
    assert.equal(
      items.find((i) => i.id === `credential:${cred}/versions/v2`)?.description?.startsWith('current'),
      true,
    );
    assertNoSecret(items, [value1, value2, token]);

    // An agent uses the other window's server (through this window's URL): the decision it audits
    // reaches this window's Audit view.
    const client = await connect(api.server.url ?? '');
    const got = await client.callTool({
      name: 'get_credential',
      arguments: { name: cred, scope: 'search_read' },
    });
    assert.notEqual(got.isError, true, 'get_credential answered');
    assert.equal((got.structuredContent as { value?: string }).value, value2, 'served by the other window');
    const page = await auditPage(api, shown, (p) =>
      p.rows.some((r) => r.credential === cred && r.agent === agentId && r.decision === 'allow'),
    );
    assert.ok(
      page.rows.some((r) => r.credential === cred && r.tool === 'add_credential'),
      'the add is there too',
    );
    const posted = JSON.stringify(api.auditView.sent.slice(shown));
    for (const secret of [value1, value2, token]) {
      assert.ok(!posted.includes(secret), 'no value or token crossed to the webview');
    }
    await client.close();
  });

  test('the serving window closes: this window takes the port over and serves the same store', async () => {
    assert.ok(other);
    const port = other.port;
    const served = serverReaches(api, `serving port ${port}`, (s) => s.kind === 'running' && s.port === port);
    assert.ok(other.child.pid);
    process.kill(other.child.pid, 'SIGTERM');
    const exit = await other.exited;
    const exitedAt = Date.now();
    assert.equal(exit.code, 0, `serve stopped cleanly: ${other.stderr()}`);
    assert.deepEqual(await served, { kind: 'running', port, url: `http://127.0.0.1:${port}/mcp` });
    timings['takeover after the serving process exited (ms)'] = Date.now() - exitedAt;
    other = undefined;

    assert.equal(await identifyPort(port), 'agentKeyring', 'the port answers as Agent Keyring');
    assert.equal(api.statusBar.text, `$(key) Agent Keyring :${port} (this window)`);
    const status = await vscode.commands.executeCommand<string>('agentKeyring.showStatus');
    assert.match(status, new RegExp(`^Agent Keyring: serving http://127\\.0\\.0\\.1:${port}/mcp\\.`));

    // Agents keep their config: same URL, same token (the metadata is shared), now this window.
    const client = await connect(`http://127.0.0.1:${port}/mcp`);
    const listed = await client.callTool({ name: 'list_credentials', arguments: {} });
    const { credentials } = listed.structuredContent as { credentials: { name: string; version: number }[] };
    assert.equal(
      credentials.find((c) => c.name === cred)?.version,
      2,
      'the other window’s credential, at v2',
    );
    assert.equal(api.server.sessionCount >= 1, true, 'the session is hosted by this window');
  });
});
