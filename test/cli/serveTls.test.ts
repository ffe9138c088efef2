/**
 * `serve` beyond loopback: HTTPS with a certificate made here by the openssl CLI (no network),
 * `--public-name` accepted by the Host and Origin checks, a non-loopback address refused without
 * TLS, and the unauthenticated `GET /healthz`. Everything stays on 127.0.0.2 (loopback). An agent
 * connects through the real `agent-keyring bridge` (the SDK client inside it) trusting the test CA
 * with NODE_EXTRA_CA_CERTS; no output shows the value or the token.
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  CLI,
  type Served,
  canary,
  cliEnv,
  ensureBuilt,
  removeStore,
  runCli,
  startServe,
  tempStore,
} from './cliHarness';

const ADDRESS = '127.0.0.2';
const PUBLIC = 'keyring.test';

interface Answer {
  status: number;
  body: string;
}

function opensslMissing(): string | undefined {
  return spawnSync('openssl', ['version']).status === 0
    ? undefined
    : 'the openssl CLI is not installed (it makes the test certificate)';
}

/** One request over HTTPS to ADDRESS:port, trusting `ca`, with the given Host (and Origin). */
function request(
  port: number,
  ca: Buffer,
  opts: { method?: string; path?: string; host?: string; origin?: string; token?: string; body?: unknown },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = https.request(
      {
        host: ADDRESS,
        port,
        ca,
        servername: PUBLIC,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/healthz',
        headers: {
          Host: opts.host ?? `${PUBLIC}:${port}`,
          ...(opts.origin ? { Origin: opts.origin } : {}),
          ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}),
          ...(body
            ? { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'tls-test', version: '1' } },
};

describe('serve over TLS with a public name', { skip: opensslMissing() }, () => {
  let store: string;
  let certDir: string;
  let certFile: string;
  let keyFile: string;
  let ca: Buffer;
  let token = '';
  const value = canary('tls');
  const served: Served[] = [];

  before(async () => {
    ensureBuilt();
    store = tempStore();
    certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-tls-'));
    certFile = path.join(certDir, 'cert.pem');
    keyFile = path.join(certDir, 'key.pem');
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=${PUBLIC}`,
        '-addext',
        `subjectAltName=DNS:${PUBLIC},IP:${ADDRESS}`,
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(made.status, 0, made.stderr);
    ca = fs.readFileSync(certFile);
    const add = await runCli(
      ['credential', 'add', 'team_key', '--scopes', 'read', '--agents', '*', '--store', store],
      {
        input: `${value}\n`,
      },
    );
    assert.equal(add.code, 0, add.stderr);
    const agent = await runCli(['agent', 'add', 'remote-agent', '--store', store]);
    token = agent.stdout.trim().split('\n').pop() ?? '';
    assert.match(token, /^akr_/);
  });

  after(() => {
    for (const s of served) {
      s.kill();
    }
    removeStore(store);
    fs.rmSync(certDir, { recursive: true, force: true });
  });

  test('a non-loopback address without TLS, half a TLS pair, a bad name or a non-PEM file: exit 2, says what to do', async () => {
    const open = await runCli(['serve', '--store', store, '--host', '0.0.0.0', '--port', '0']);
    assert.equal(open.code, 2);
    assert.match(
      open.stderr,
      /--host '0\.0\.0\.0' is not a loopback address: .*--tls-cert FILE --tls-key FILE/,
    );
    const half = await runCli(['serve', '--store', store, '--port', '0', '--tls-cert', certFile]);
    assert.equal(half.code, 2);
    assert.match(half.stderr, /--tls-cert and --tls-key go together/);
    const name = await runCli(['serve', '--store', store, '--port', '0', '--public-name', 'evil.test/x']);
    assert.equal(name.code, 2);
    assert.match(name.stderr, /--public-name 'evil\.test\/x' is not a host name or host:port/);
    const notPem = await runCli([
      'serve',
      '--store',
      store,
      '--port',
      '0',
      '--tls-cert',
      path.join(store, 'policy.json.missing'),
      '--tls-key',
      keyFile,
    ]);
    assert.equal(notPem.code, 2);
    assert.match(notPem.stderr, /cannot read the TLS certificate .*policy\.json\.missing \(ENOENT\)/);
  });

  test('HTTPS on 127.0.0.2: the URL has the public name; Host and Origin accept it and nothing else; /healthz needs no token', async () => {
    const s = await startServe(store, [
      '--host',
      ADDRESS,
      '--tls-cert',
      certFile,
      '--tls-key',
      keyFile,
      '--public-name',
      PUBLIC,
    ]);
    served.push(s);
    assert.equal(s.url, `https://${PUBLIC}:${s.port}/mcp`);

    const health = await request(s.port, ca, { host: '10.1.2.3' });
    assert.deepEqual([health.status, JSON.parse(health.body)], [200, { status: 'ok' }]);
    const post = await request(s.port, ca, { method: 'POST', body: {} });
    assert.equal(post.status, 405);

    const init = (host: string, origin?: string): Promise<Answer> =>
      request(s.port, ca, { method: 'POST', path: '/mcp', host, origin, token, body: INITIALIZE });
    for (const host of [`${PUBLIC}:${s.port}`, PUBLIC, `${ADDRESS}:${s.port}`, `127.0.0.1:${s.port}`]) {
      assert.equal((await init(host)).status, 200, `Host ${host} is this server`);
    }
    const wrongHost = await init(`evil.test:${s.port}`);
    assert.equal(wrongHost.status, 403);
    assert.match(
      wrongHost.body,
      /Host header must be this server's address .* or a name given with --public-name/,
    );
    assert.equal((await init(PUBLIC, `https://${PUBLIC}:${s.port}`)).status, 200);
    assert.equal((await init(PUBLIC, `https://${PUBLIC}`)).status, 200);
    for (const origin of [`http://${PUBLIC}:${s.port}`, 'https://evil.test', `https://${PUBLIC}.evil.test`]) {
      const refused = await init(PUBLIC, origin);
      assert.equal(refused.status, 403, `Origin ${origin}`);
      assert.match(refused.body, /Origin is not a loopback http origin or this server's public name/);
    }

    // No clear text on the TLS port: a plain HTTP request gets no MCP answer.
    const plain = await new Promise<string>((resolve) => {
      const req = http.request({ host: ADDRESS, port: s.port, path: '/healthz' }, (res) =>
        resolve(`HTTP ${res.statusCode}`),
      );
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      req.end();
    });
    assert.ok(!plain.startsWith('HTTP 200'), plain);
  });

  test('an agent through the bridge over HTTPS (CA trusted with NODE_EXTRA_CA_CERTS) gets the value; no output shows it', async () => {
    const s = served[0];
    const url = `https://${ADDRESS}:${s.port}/mcp`;
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'bridge', '--url', url],
      env: cliEnv({ AGENT_KEYRING_TOKEN: token, NODE_EXTRA_CA_CERTS: certFile }) as Record<string, string>,
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const client = new Client({ name: 'tls-agent', version: '1.0.0' });
    await client.connect(transport);
    try {
      const r = (await client.callTool({
        name: 'get_credential',
        arguments: { name: 'team_key', scope: 'read' },
      })) as CallToolResult;
      assert.notEqual(r.isError, true, JSON.stringify(r.content));
      assert.equal((r.structuredContent as { value: string }).value, value);
    } finally {
      await client.close();
    }
    // Without the CA the bridge refuses the self-signed certificate: nothing is answered, it says so.
    const untrusted = await runCli(['bridge', '--url', url], {
      env: { AGENT_KEYRING_TOKEN: token },
      input: `${JSON.stringify(INITIALIZE)}\n`,
    });
    assert.ok(!untrusted.stdout.includes('"result"'), untrusted.stdout);
    assert.match(untrusted.stderr, /bridge: (could not forward initialize|.*not reachable)/);
    for (const text of [stderr, s.stdout(), s.stderr(), untrusted.stdout, untrusted.stderr]) {
      assert.ok(!text.includes(value), 'the value was printed');
      assert.ok(!text.includes(token), 'the token was printed');
    }
  });
});
