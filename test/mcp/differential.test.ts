/**
 * Differential test: the same requests to our front door and to the SDK v2 reference server
 * (`bench/servers/referenceV2.mjs`, `@modelcontextprotocol/server` 2.4.0 wired for both eras, run as
 * a child process), for both protocol eras. Compared per request: HTTP status, the JSON-RPC shape
 * (error code, or the result fields that matter), and for the 2026-07-28 era the framing. The tools
 * differ (ours vs an `echo`), so tool calls compare the result's shape, not its content.
 * Every difference found is listed in KNOWN_DIFFERENCES with the reason; any other one fails.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startHttpHost, type HttpHost } from '../../src/core/mcp/http';
import { createTestKeyring, type TestKeyring } from '../helpers/testKeyring';
import { INITIALIZE_BODY, modernRequest, postHeaders, rawRequest, type RawResponse } from './harness';

const ROOT = path.resolve(__dirname, '..', '..', '..');

interface Observed {
  status: number;
  framing: 'json' | 'sse' | 'empty' | 'other';
  error?: number;
  result?: Record<string, unknown>;
}

/** What both servers must agree on, per case; `keys` are result fields both must carry. */
interface Case {
  name: string;
  era: 'modern' | 'legacy';
  request(
    port: number,
    session?: string,
  ): { method?: string; headers: Record<string, string>; body?: string };
  keys?: string[];
  /** Compare only status and error code, not the framing (2025 era: JSON vs SSE both allowed). */
  ignoreFraming?: boolean;
}

/** Differences we keep on purpose, with the reason (the report lists them). */
const KNOWN_DIFFERENCES: Record<string, string> = {
  'modern: GET':
    "ours answers a GET that names 2026-07-28 with 405 (the revision has no GET; the SDK's own createMcpHandler answers 405 too when it serves 2025 statelessly); the reference wiring routes every GET to its 2025 session transport, which says 400 'no session'",
  'legacy: tools/call of an unknown tool':
    'ours answers an isError result with code not_found (the refusal shape every tool error has, what 2025 clients and our docs expect); the SDK v2 answers JSON-RPC -32602',
};

function observe(r: RawResponse): Observed {
  const type = String(r.headers['content-type'] ?? '');
  if (r.body === '') {
    return { status: r.status, framing: 'empty' };
  }
  let text = r.body;
  let framing: Observed['framing'] = 'other';
  if (type.startsWith('application/json')) {
    framing = 'json';
  } else if (type.startsWith('text/event-stream')) {
    framing = 'sse';
    text = /^data: (.*)$/m.exec(r.body)?.[1] ?? '{}';
  }
  const msg = JSON.parse(text) as { error?: { code: number }; result?: Record<string, unknown> };
  return { status: r.status, framing, error: msg.error?.code, result: msg.result };
}

function modernCase(
  name: string,
  method: string,
  params: Record<string, unknown>,
  edit: (r: { headers: Record<string, string>; body: string }) => void = () => undefined,
  keys?: string[],
): Case {
  return {
    name: `modern: ${name}`,
    era: 'modern',
    keys,
    request: (port) => {
      const r = modernRequest(port, 'TOKEN', method, params);
      edit(r);
      return r;
    },
  };
}

const withoutHeader = (h: string) => (r: { headers: Record<string, string> }) => void delete r.headers[h];
const setHeader = (h: string, v: string) => (r: { headers: Record<string, string> }) =>
  void (r.headers[h] = v);
const editBody = (f: (b: Record<string, unknown>) => unknown) => (r: { body: string }) =>
  void (r.body = JSON.stringify(f(JSON.parse(r.body) as Record<string, unknown>)));
const metaOf = (b: Record<string, unknown>) => (b.params as { _meta: Record<string, unknown> })._meta;

/** Tool names differ: `list_credentials` on ours, `echo` on the reference (same call shape). */
const TOOL = {
  ours: { name: 'list_credentials', arguments: {} },
  ref: { name: 'echo', arguments: { text: 'x' } },
};

const CASES: Case[] = [
  modernCase('server/discover', 'server/discover', {}, undefined, [
    'supportedVersions',
    'capabilities',
    'resultType',
    'ttlMs',
    'cacheScope',
    '_meta',
  ]),
  modernCase('tools/list', 'tools/list', {}, undefined, [
    'tools',
    'resultType',
    'ttlMs',
    'cacheScope',
    '_meta',
  ]),
  modernCase('tools/call of a known tool', 'tools/call', TOOL.ours, undefined, [
    'content',
    'resultType',
    '_meta',
  ]),
  modernCase('tools/call of an unknown tool', 'tools/call', { name: 'no_such_tool', arguments: {} }),
  modernCase('resources/read of an unknown resource', 'resources/read', { uri: 'credential://nope' }),
  modernCase('no MCP-Protocol-Version header', 'tools/list', {}, withoutHeader('MCP-Protocol-Version')),
  modernCase(
    'header version ≠ body version',
    'tools/list',
    {},
    setHeader('MCP-Protocol-Version', '2025-11-25'),
  ),
  modernCase('no Mcp-Method header', 'tools/list', {}, withoutHeader('Mcp-Method')),
  modernCase('Mcp-Method ≠ body method', 'tools/list', {}, setHeader('Mcp-Method', 'resources/list')),
  modernCase('no Mcp-Name header', 'tools/call', TOOL.ours, withoutHeader('Mcp-Name')),
  modernCase('Mcp-Name ≠ body name', 'tools/call', TOOL.ours, setHeader('Mcp-Name', 'other_tool')),
  modernCase('unsupported revision', 'tools/list', {}, (r) => {
    setHeader('MCP-Protocol-Version', '2099-01-01')(r);
    editBody((b) => ((metaOf(b)['io.modelcontextprotocol/protocolVersion'] = '2099-01-01'), b))(r);
  }),
  modernCase(
    'no _meta',
    'tools/list',
    {},
    editBody((b) => ({ ...b, params: {} })),
  ),
  modernCase(
    'no client capabilities in _meta',
    'tools/list',
    {},
    editBody((b) => (delete metaOf(b)['io.modelcontextprotocol/clientCapabilities'], b)),
  ),
  modernCase('a batch', 'tools/list', {}, (r) => void (r.body = `[${r.body}]`)),
  modernCase('an unknown method', 'no/such_method', {}),
  modernCase(
    'a notification',
    'notifications/initialized',
    {},
    editBody((b) => (delete b.id, b)),
  ),
  {
    name: 'modern: GET',
    era: 'modern',
    request: (port) => ({
      method: 'GET',
      headers: { ...modernRequest(port, 'TOKEN', 'tools/list').headers, Accept: 'text/event-stream' },
    }),
  },
  {
    name: 'legacy: initialize',
    era: 'legacy',
    ignoreFraming: true,
    keys: ['protocolVersion', 'capabilities', 'serverInfo'],
    request: (port) => ({ headers: postHeaders(port, 'TOKEN'), body: INITIALIZE_BODY }),
  },
  {
    name: 'legacy: tools/list in the session',
    era: 'legacy',
    ignoreFraming: true,
    keys: ['tools'],
    request: (port, session) => ({
      headers: postHeaders(port, 'TOKEN', {
        'Mcp-Session-Id': session!,
        'MCP-Protocol-Version': '2025-06-18',
      }),
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    }),
  },
  {
    name: 'legacy: tools/call of an unknown tool',
    era: 'legacy',
    ignoreFraming: true,
    request: (port, session) => ({
      headers: postHeaders(port, 'TOKEN', {
        'Mcp-Session-Id': session!,
        'MCP-Protocol-Version': '2025-06-18',
      }),
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: { name: 'no_such_tool', arguments: {} },
      }),
    }),
  },
  {
    name: 'legacy: a request without a session',
    era: 'legacy',
    ignoreFraming: true,
    request: (port) => ({
      headers: postHeaders(port, 'TOKEN'),
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    }),
  },
  {
    name: 'legacy: an unknown session',
    era: 'legacy',
    ignoreFraming: true,
    request: (port) => ({
      headers: postHeaders(port, 'TOKEN', { 'Mcp-Session-Id': 'no-such-session' }),
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    }),
  },
  {
    name: 'legacy: DELETE the session',
    era: 'legacy',
    request: (port, session) => ({
      method: 'DELETE',
      headers: postHeaders(port, 'TOKEN', { 'Mcp-Session-Id': session! }),
    }),
  },
];

async function send(
  port: number,
  token: string,
  c: Case,
  session: string | undefined,
  ours: boolean,
): Promise<Observed> {
  const req = c.request(port, session);
  const headers = { ...req.headers };
  headers.Authorization = `Bearer ${token}`;
  let body = req.body;
  if (!ours && body !== undefined) {
    // Same request, the reference's tool name.
    body = body.split(JSON.stringify(TOOL.ours.name)).join(JSON.stringify(TOOL.ref.name));
    body = body.replace(
      '"arguments":{}',
      c.name.includes('known tool') && !c.name.includes('unknown')
        ? '"arguments":{"text":"x"}'
        : '"arguments":{}',
    );
    if (headers['Mcp-Name'] === TOOL.ours.name) {
      headers['Mcp-Name'] = TOOL.ref.name;
    }
  }
  return observe(await rawRequest(port, { method: req.method, headers, body }));
}

async function openSession(port: number, token: string): Promise<string> {
  const r = await rawRequest(port, { headers: postHeaders(port, token), body: INITIALIZE_BODY });
  assert.equal(r.status, 200, r.body);
  return String(r.headers['mcp-session-id']);
}

/** The first event of a subscriptions/listen answer, then the stream is dropped. */
function firstListenEvent(
  port: number,
  token: string,
): Promise<{ status: number; type: string; event: Record<string, unknown> }> {
  const r = modernRequest(
    port,
    token,
    'subscriptions/listen',
    { notifications: { resourceSubscriptions: [] } },
    { id: 'listen:1' },
  );
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', path: '/mcp', headers: r.headers, agent: false },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString('utf8');
          const m = /^data: (.*)$/m.exec(text);
          if (m) {
            resolve({
              status: res.statusCode ?? 0,
              type: String(res.headers['content-type']),
              event: JSON.parse(m[1]) as Record<string, unknown>,
            });
            req.destroy();
          }
        });
      },
    );
    req.on('error', (e) => (e.message.includes('socket hang up') ? undefined : reject(e)));
    req.end(r.body);
  });
}

describe('differential: ours vs the SDK v2 reference server, both eras', () => {
  let k: TestKeyring;
  let host: HttpHost;
  let ref: ChildProcess;
  let refPort: number;

  before(async () => {
    k = await createTestKeyring({
      anomaly: { actions: { first_use: 'off', probing: 'off', unusual_hours: 'off' } },
    });
    host = await startHttpHost({ api: k.api, port: 0 });
    ref = spawn(process.execPath, [path.join(ROOT, 'bench', 'servers', 'referenceV2.mjs'), '0'], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    refPort = await new Promise<number>((resolve, reject) => {
      ref.once('exit', (code) => reject(new Error(`reference server exited (${code})`)));
      ref.stdout!.on('data', (d: Buffer) => {
        const m = /LISTENING (\d+)/.exec(d.toString());
        if (m) {
          resolve(Number(m[1]));
        }
      });
    });
  });
  after(async () => {
    await host.close();
    await k.dispose();
    if (ref.exitCode === null) {
      const exited = new Promise((r) => ref.once('exit', r));
      ref.kill('SIGTERM');
      await exited;
    }
  });

  it('answers every request the same way, except the listed, deliberate differences', async () => {
    const token = k.tokens['research-agent'];
    const ourSession = await openSession(host.port, token);
    const refSession = await openSession(refPort, token);
    const differences: Record<string, string> = {};
    for (const c of CASES) {
      const ours = await send(host.port, token, c, ourSession, true);
      const theirs = await send(refPort, token, c, refSession, false);
      const problems: string[] = [];
      if (ours.status !== theirs.status) {
        problems.push(`status ${ours.status} vs ${theirs.status}`);
      }
      if (ours.error !== theirs.error) {
        problems.push(`JSON-RPC error ${ours.error} vs ${theirs.error}`);
      }
      if (!c.ignoreFraming && ours.framing !== theirs.framing) {
        problems.push(`framing ${ours.framing} vs ${theirs.framing}`);
      }
      for (const key of c.keys ?? []) {
        if (!(key in (ours.result ?? {})) || !(key in (theirs.result ?? {}))) {
          problems.push(
            `result.${key}: ours ${key in (ours.result ?? {})}, reference ${key in (theirs.result ?? {})}`,
          );
        }
      }
      if (problems.length > 0) {
        differences[c.name] = problems.join('; ');
      }
    }
    assert.deepEqual(
      Object.keys(differences).sort(),
      Object.keys(KNOWN_DIFFERENCES).sort(),
      JSON.stringify(differences, null, 2),
    );
  });

  it('subscriptions/listen: both open an event stream that starts with the acknowledgement', async () => {
    const token = k.tokens['research-agent'];
    const [ours, theirs] = await Promise.all([
      firstListenEvent(host.port, token),
      firstListenEvent(refPort, token),
    ]);
    for (const r of [ours, theirs]) {
      assert.equal(r.status, 200);
      assert.match(r.type, /^text\/event-stream/);
      assert.equal(r.event.method, 'notifications/subscriptions/acknowledged');
      const params = r.event.params as { _meta: Record<string, unknown> };
      assert.equal(params._meta['io.modelcontextprotocol/subscriptionId'], 'listen:1');
    }
  });
});
