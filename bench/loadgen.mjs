// HTTP load generator: a separate process from the server under test. Speaks real MCP over
// Streamable HTTP, one keep-alive connection per virtual agent (lib/rawHttp.mjs: a lean HTTP/1.1
// client, so the generator is not the bottleneck): each agent initializes once (its own token
// and session), sends notifications/initialized, then loops tools/call POSTs with its session
// header. Every response is checked (successful result, right id); errors are counted, never hidden.
//
// With `era: 'modern'` it speaks MCP 2026-07-28 instead: no initialize and no session; every
// tools/call carries the per-request `_meta` envelope and the MCP-Protocol-Version / Mcp-Method /
// Mcp-Name headers.
//
// Config (JSON on stdin):
//   { url, tokens?: string[] (one per agent; omitted = no Authorization), concurrency,
//     warmupPerAgent, maxCalls, maxSeconds, tool, args, expect: 'get_credential'|'echo'|'any',
//     era?: 'legacy' (default) | 'modern' }
// Output: one JSON line on stdout: { calls, errors, firstErrors, elapsedMs, p50, p99, max, callsPerSec }
import {
  checkToolResult,
  driveLoad,
  initializeBody,
  parseRpcBody,
  PROTOCOL_VERSION,
  toolCallBody,
} from './lib/common.mjs';

const MODERN_PROTOCOL_VERSION = '2026-07-28';
import { RawHttpConnection, requestHead } from './lib/rawHttp.mjs';

const REQUEST_TIMEOUT_MS = 30_000;

async function readStdin() {
  let text = '';
  for await (const chunk of process.stdin) {
    text += chunk;
  }
  return JSON.parse(text);
}

async function main() {
  const cfg = await readStdin();
  const url = new URL(cfg.url);
  const concurrency = cfg.concurrency;

  // One virtual agent of the 2026-07-28 era: its own connection and token, no session.
  const makeModernAgent = async (i) => {
    const conn = new RawHttpConnection(url, { timeoutMs: REQUEST_TIMEOUT_MS });
    await conn.connect();
    const auth = cfg.tokens ? { authorization: `Bearer ${cfg.tokens[i % cfg.tokens.length]}` } : {};
    const postHead = requestHead('POST', url, {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...auth,
      'mcp-protocol-version': MODERN_PROTOCOL_VERSION,
      'mcp-method': 'tools/call',
      'mcp-name': cfg.tool,
    });
    const meta = {
      'io.modelcontextprotocol/protocolVersion': MODERN_PROTOCOL_VERSION,
      'io.modelcontextprotocol/clientInfo': { name: `bench-loadgen-${i}`, version: '1.0.0' },
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    let nextId = 1;
    const call = async () => {
      const id = nextId++;
      const body = toolCallBody(id, cfg.tool, cfg.args);
      body.params._meta = meta;
      const res = await conn.request(postHead, JSON.stringify(body));
      const text = res.body.toString('utf8');
      if (res.status !== 200) {
        return `HTTP ${res.status}: ${text.slice(0, 160)}`;
      }
      let msgs;
      try {
        msgs = parseRpcBody(res.headers['content-type'], text);
      } catch {
        return 'response is not JSON';
      }
      return checkToolResult(msgs.find((m) => m.id === id) ?? msgs[0], id, cfg.expect);
    };
    return { call, close: async () => conn.close() };
  };

  // One virtual agent: its own connection, token and session.
  const makeAgent = async (i) => {
    if (cfg.era === 'modern') {
      return makeModernAgent(i);
    }
    const conn = new RawHttpConnection(url, { timeoutMs: REQUEST_TIMEOUT_MS });
    await conn.connect();
    const auth = cfg.tokens ? { authorization: `Bearer ${cfg.tokens[i % cfg.tokens.length]}` } : {};
    const base = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const init = await conn.request(
      requestHead('POST', url, { ...base, ...auth }),
      JSON.stringify(initializeBody(1, `bench-loadgen-${i}`)),
    );
    const initText = init.body.toString('utf8');
    const session = init.headers['mcp-session-id'];
    const initMsg = init.status === 200 ? parseRpcBody(init.headers['content-type'], initText)[0] : undefined;
    if (init.status !== 200 || !initMsg?.result) {
      throw new Error(`initialize for agent ${i} failed: HTTP ${init.status} ${initText.slice(0, 200)}`);
    }
    const headers = {
      ...auth,
      'mcp-protocol-version': PROTOCOL_VERSION,
      ...(session ? { 'mcp-session-id': session } : {}),
    };
    // Built once per agent: every call sends the same header block.
    const postHead = requestHead('POST', url, { ...base, ...headers });
    const note = await conn.request(
      postHead,
      JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    );
    if (note.status !== 202 && note.status !== 200) {
      throw new Error(`notifications/initialized for agent ${i}: HTTP ${note.status}`);
    }
    let nextId = 2;
    const call = async () => {
      const id = nextId++;
      const res = await conn.request(postHead, JSON.stringify(toolCallBody(id, cfg.tool, cfg.args)));
      const text = res.body.toString('utf8');
      if (res.status !== 200) {
        return `HTTP ${res.status}: ${text.slice(0, 160)}`;
      }
      let msgs;
      try {
        msgs = parseRpcBody(res.headers['content-type'], text);
      } catch {
        return 'response is not JSON';
      }
      return checkToolResult(msgs.find((m) => m.id === id) ?? msgs[0], id, cfg.expect);
    };
    const close = async () => {
      if (session) {
        await conn.request(requestHead('DELETE', url, headers), '').catch(() => undefined);
      }
      conn.close();
    };
    return { call, close };
  };

  const agents = await Promise.all(Array.from({ length: concurrency }, (_, i) => makeAgent(i)));

  const summary = await driveLoad(
    agents.map((a) => a.call),
    cfg,
  );
  await Promise.all(agents.map((a) => a.close()));
  process.stdout.write(JSON.stringify(summary) + '\n');
}

main().catch((e) => {
  process.stderr.write(`loadgen: ${e.stack ?? e}\n`);
  process.exit(1);
});
