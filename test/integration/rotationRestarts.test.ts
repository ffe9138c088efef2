/**
 * "A rotation says how many running servers were restarted" (README, Migrate MCP configs): a real
 * `agent-keyring run --mcp --url <this window's server>` wrapper (the CLI from dist/) runs the
 * fixture server with a credential of this window; Rotate Credential (test-mode args) then reports,
 * in its result and the log (the status bar shows the same text), 1 restarted server, and the
 * wrapper's new child answers with the new value's keyed hash. With the wrapper stopped, the next
 * rotation reports none. The values and the token are in no log line.
 */
import * as assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { tokenEnvVar } from '../../src/core/connect/clients';
import { activateExtension, waitFor } from './helpers';

/** The fixture's keyed hash (test/fixtures/keyedEchoServer.mjs). */
function keyedHash(value: string): string {
  return createHmac('sha256', 'fixture').update(value).digest('hex').slice(0, 16);
}

async function whoami(client: Client): Promise<{ key_hash: string; pid: number }> {
  const r = await client.callTool({ name: 'whoami', arguments: {} });
  const text = ((r.content ?? []) as { text?: string }[]).map((c) => c.text ?? '').join('');
  return JSON.parse(text) as { key_hash: string; pid: number };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

suite('Rotate Credential: restarted MCP servers', () => {
  const id = randomUUID().slice(0, 8);
  const agentId = `restart-agent-${id}`;
  const cred = `restart-cred-${id}`;
  const values = [1, 2, 3].map(() => `sk-canary${randomUUID().replace(/-/g, '')}`);
  let client: Client | undefined;
  const pids: number[] = [];
  let stderr = '';
  let token = '';

  suiteTeardown(async () => {
    await client?.close().catch(() => undefined);
    // The wrapper and its child must not outlive the suite, whatever failed.
    for (const pid of pids.filter(isAlive)) {
      process.kill(pid, 'SIGKILL');
    }
  });

  test('a running run --mcp wrapper restarts with the new value and the rotation counts it; none running counts 0', async function () {
    this.timeout(120_000);
    const { extension, api } = await activateExtension();
    if (api.server.state.kind !== 'running') {
      await vscode.commands.executeCommand('agentKeyring.startServer');
    }
    const url = api.server.url;
    assert.ok(url, 'the window serves: the wrapper reads its key through it');
    token = (
      await vscode.commands.executeCommand<{ token: string }>('agentKeyring.addAgent', { id: agentId })
    ).token;
    await vscode.commands.executeCommand('agentKeyring.addCredential', {
      name: cred,
      value: values[0],
      scopes: ['read'],
      agents: [agentId],
    });

    const cli = path.join(extension.extensionPath, 'dist', 'cli.js');
    const fixture = path.join(extension.extensionPath, 'test', 'fixtures', 'keyedEchoServer.mjs');
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (v !== undefined && !k.startsWith('AGENT_KEYRING_')) {
        env[k] = v;
      }
    }
    env[tokenEnvVar(agentId)] = token;
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [
        cli,
        'run',
        '--mcp',
        '--url',
        url,
        '--agent',
        agentId,
        '--env',
        `FIXTURE_KEY=${cred}`,
        '--',
        process.execPath,
        fixture,
      ],
      env,
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    client = new Client({ name: 'rotation-restart-test', version: '1.0.0' });
    await client.connect(transport);
    if (transport.pid) {
      pids.push(transport.pid);
    }
    const first = await whoami(client);
    pids.push(first.pid);
    assert.equal(first.key_hash, keyedHash(values[0]), `the child started with v1; stderr: ${stderr}`);

    const rotated = await vscode.commands.executeCommand<{ version: number; restarted: number }>(
      'agentKeyring.rotateCredential',
      { name: cred, value: values[1], waitForRestarts: true },
    );
    assert.equal(rotated.version, 2);
    assert.equal(rotated.restarted, 1, `one running server restarted; wrapper stderr: ${stderr}`);
    const c = client;
    const second = await waitFor(
      "the wrapper's new child with v2",
      async () => {
        const w = await whoami(c);
        return w.key_hash === keyedHash(values[1]) ? w : undefined;
      },
      30_000,
    );
    pids.push(second.pid);
    assert.notEqual(second.pid, first.pid, 'a new child process');

    // Stop the wrapper: the next rotation finds no running server.
    await client.close();
    client = undefined;
    await waitFor('the wrapper and its children to exit', () => (pids.some(isAlive) ? undefined : true));
    const again = await vscode.commands.executeCommand<{ version: number; restarted: number }>(
      'agentKeyring.rotateCredential',
      { name: cred, value: values[2], waitForRestarts: true },
    );
    assert.equal(again.version, 3);
    assert.equal(again.restarted, 0, 'no running server');

    const logFile = path.join(api.logUri.fsPath, 'Agent Keyring.log');
    const log = await waitFor('both restart lines in the log', () => {
      const t = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
      return t.includes(`1 running MCP server restarted with '${cred}' v2.`) &&
        t.includes(`No running MCP servers restarted with '${cred}' v3.`)
        ? t
        : undefined;
    });
    for (const secret of [...values, token]) {
      assert.ok(!log.includes(secret), 'no value or token in the log');
      assert.ok(!stderr.includes(secret), "no value or token on the wrapper's stderr");
    }
  });
});
