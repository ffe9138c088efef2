/**
 * `agent-keyring bridge` with clients of either protocol era: the SDK v2 client over stdio, pinned
 * to 2026-07-28 (server/discover, tools, a rotation notice on subscriptions/listen, a refusal for an
 * unsupported revision), and in `auto` mode. Real processes: `agent-keyring serve --demo` and the
 * bridge; the 2025-era bridge path is covered in serve.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import {
  CLI,
  cliEnv,
  ensureBuilt,
  removeStore,
  runCli,
  startServe,
  tempStore,
  type Served,
} from './cliHarness';

function demoToken(stdout: string): string {
  const m = /AGENT_KEYRING_TOKEN_RESEARCH_AGENT=(akr_[A-Za-z0-9_-]+)/.exec(stdout);
  assert.ok(m, stdout);
  return m[1];
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms).unref(),
    ),
  ]);
}

describe('agent-keyring bridge: 2026-07-28 clients', () => {
  let store: string;
  let served: Served;
  let token: string;

  before(async () => {
    ensureBuilt();
    store = tempStore();
    served = await startServe(store, ['--demo']);
    token = demoToken(served.stdout());
  });
  after(() => {
    served.kill();
    removeStore(store);
  });

  const connect = async (
    mode: 'auto' | { pin: string },
  ): Promise<{ client: Client; stderr: () => string }> => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'bridge', '--url', served.url],
      env: cliEnv({ AGENT_KEYRING_TOKEN: token }) as Record<string, string>,
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const client = new Client({ name: 'bridge-v2-test', version: '2.0.0' }, { versionNegotiation: { mode } });
    await client.connect(transport);
    return { client, stderr: () => stderr };
  };

  test('pinned to 2026-07-28: tools, a credential, and a rotation notice on subscriptions/listen', async () => {
    const { client, stderr } = await connect({ pin: '2026-07-28' });
    try {
      const { tools } = await client.listTools();
      assert.ok(tools.some((t) => t.name === 'get_credential'));
      const got = (await client.callTool({
        name: 'get_credential',
        arguments: { name: 'scavio_api_key', scope: 'search_read' },
      })) as { isError?: boolean; structuredContent?: { version?: number } };
      assert.equal(got.isError, undefined);
      const updated = new Promise<string>((resolve) =>
        client.setNotificationHandler('notifications/resources/updated', (n) => resolve(n.params.uri)),
      );
      const sub = await client.listen({ resourceSubscriptions: ['credential://scavio_api_key'] });
      const rot = await runCli(['credential', 'rotate', 'scavio_api_key', '--generate', '--store', store]);
      assert.equal(rot.code, 0, rot.stderr);
      assert.equal(
        await within(updated, 5000, 'resources/updated through the bridge'),
        'credential://scavio_api_key',
      );
      await sub.close();
    } finally {
      await client.close();
    }
    assert.ok(!stderr().includes(token), 'the token never appears in the bridge diagnostics');
  });

  test('auto mode picks 2026-07-28 through the bridge; a pinned unknown revision is refused, not hung', async () => {
    const { client } = await connect('auto');
    try {
      // Tools per agent: at least the two every agent with a readable credential gets.
      const names = (await client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('list_credentials') && names.includes('get_credential'), names.join(', '));
    } finally {
      await client.close();
    }
    await assert.rejects(
      within(connect({ pin: '2099-01-01' }), 10_000, 'a refusal'),
      (e: Error) => !/timed out/.test(e.message),
    );
  });
});
