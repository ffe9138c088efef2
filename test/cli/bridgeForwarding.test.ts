/**
 * `agent-keyring bridge` as a real process in front of a real `agent-keyring serve`, driven line by
 * line: bad input on stdin (not JSON, a batch, an empty line) is one warning on stderr and nothing
 * on stdout, and the bridge keeps serving; a request the server refuses with an HTTP error gets a
 * JSON-RPC error under its own id, never silence; several requests in one write all get their
 * answer; stdout carries only JSON-RPC lines.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { CLI, cliEnv, ensureBuilt, removeStore, startServe, tempStore, type Served } from './cliHarness';

interface Line {
  jsonrpc?: string;
  id?: unknown;
  result?: unknown;
  error?: { code: number; message: string };
}

describe('agent-keyring bridge: forwarding line by line', () => {
  let store: string;
  let served: Served;
  let token: string;
  let bridge: ChildProcessWithoutNullStreams;
  let stdout = '';
  let stderr = '';

  const lines = (): Line[] =>
    stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Line);
  const answerTo = async (id: unknown): Promise<Line> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const found = lines().find((l) => l.id === id);
      if (found) {
        return found;
      }
      assert.ok(Date.now() < deadline, `no answer to id ${String(id)}:\n${stdout}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  before(async () => {
    ensureBuilt();
    store = tempStore();
    served = await startServe(store, ['--demo']);
    const m = /AGENT_KEYRING_TOKEN_RESEARCH_AGENT=(akr_[A-Za-z0-9_-]+)/.exec(served.stdout());
    assert.ok(m, served.stdout());
    token = m[1];
    bridge = spawn(process.execPath, [CLI, 'bridge', '--url', served.url], {
      env: cliEnv({ AGENT_KEYRING_TOKEN: token }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    bridge.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    bridge.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  });
  after(() => {
    // Also when before() failed half-way: the server must not outlive the test.
    if (bridge && bridge.exitCode === null) {
      bridge.kill('SIGKILL');
    }
    served?.kill();
    removeStore(store);
  });

  test('a request before initialize is refused by the server: the client gets an error under its id', async () => {
    bridge.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 'early', method: 'tools/list' })}\n`);
    const early = await answerTo('early');
    assert.ok(early.error, JSON.stringify(early));
  });

  test('bad input is one warning and nothing on stdout; the bridge keeps serving', async () => {
    bridge.stdin.write('this is not json\n\n[{"jsonrpc":"2.0","id":99,"method":"ping"}]\n');
    const init = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    };
    bridge.stdin.write(`${JSON.stringify(init)}\n`);
    assert.ok((await answerTo(1)).result);
    assert.match(stderr, /bad input on stdin/);
    assert.equal((stderr.match(/bad input on stdin/g) ?? []).length, 2, stderr);
    assert.equal(
      lines().find((l) => l.id === 99),
      undefined,
    );
    // Several messages in one write: each is forwarded and answered.
    bridge.stdin.write(
      [
        JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
        JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
        JSON.stringify({
          jsonrpc: '2.0',
          id: 3,
          method: 'tools/call',
          params: { name: 'list_credentials', arguments: {} },
        }),
        '',
      ].join('\n'),
    );
    assert.ok(JSON.stringify((await answerTo(2)).result).includes('get_credential'));
    assert.ok(JSON.stringify((await answerTo(3)).result).includes('scavio_api_key'));
    for (const l of lines()) {
      assert.equal(l.jsonrpc, '2.0');
    }
    assert.ok(!stderr.includes(token), 'the token never appears in the bridge diagnostics');
    bridge.stdin.end();
    const code = await new Promise<number | null>((r) => bridge.once('exit', (c) => r(c)));
    assert.equal(code, 0, stderr);
  });
});
