// HTTP load generator: a separate process from the server under test. Speaks real MCP over
// Streamable HTTP with a keep-alive http.Agent: each virtual agent initializes once (its own token
// and session), sends notifications/initialized, then loops tools/call POSTs with its session
// header. Every response is checked (successful result, right id); errors are counted, never hidden.
//
// Config (JSON on stdin):
//   { url, tokens?: string[] (one per agent; omitted = no Authorization), concurrency,
//     warmupPerAgent, maxCalls, maxSeconds, tool, args, expect: 'get_credential'|'echo'|'any' }
// Output: one JSON line on stdout: { calls, errors, firstErrors, elapsedMs, p50, p99, max, callsPerSec }
import * as http from 'node:http';
import {
  checkToolResult,
  initializeBody,
  parseRpcBody,
  PROTOCOL_VERSION,
  summarize,
  toolCallBody,
} from './lib/common.mjs';

const MAX_ERRORS_KEPT = 5;
const REQUEST_TIMEOUT_MS = 30_000;

async function readStdin() {
  let text = '';
  for await (const chunk of process.stdin) {
    text += chunk;
  }
  return JSON.parse(text);
}

function post(agent, url, headers, body) {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'content-length': Buffer.byteLength(payload),
          ...headers,
        },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

async function main() {
  const cfg = await readStdin();
  const url = new URL(cfg.url);
  const concurrency = cfg.concurrency;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const deadline = () => performance.now() + cfg.maxSeconds * 1000;
  let errors = 0;
  const firstErrors = [];
  const fail = (what) => {
    errors++;
    if (firstErrors.length < MAX_ERRORS_KEPT) {
      firstErrors.push(what);
    }
  };

  // One virtual agent: its own token and session.
  const makeAgent = async (i) => {
    const auth = cfg.tokens ? { authorization: `Bearer ${cfg.tokens[i % cfg.tokens.length]}` } : {};
    const init = await post(agent, url, auth, initializeBody(1, `bench-loadgen-${i}`));
    const session = init.headers['mcp-session-id'];
    const initMsg =
      init.status === 200 ? parseRpcBody(init.headers['content-type'], init.text)[0] : undefined;
    if (init.status !== 200 || !initMsg?.result) {
      throw new Error(`initialize for agent ${i} failed: HTTP ${init.status} ${init.text.slice(0, 200)}`);
    }
    const headers = {
      ...auth,
      'mcp-protocol-version': PROTOCOL_VERSION,
      ...(session ? { 'mcp-session-id': session } : {}),
    };
    const note = await post(agent, url, headers, { jsonrpc: '2.0', method: 'notifications/initialized' });
    if (note.status !== 202 && note.status !== 200) {
      throw new Error(`notifications/initialized for agent ${i}: HTTP ${note.status}`);
    }
    let nextId = 2;
    const call = async () => {
      const id = nextId++;
      const res = await post(agent, url, headers, toolCallBody(id, cfg.tool, cfg.args));
      if (res.status !== 200) {
        return `HTTP ${res.status}: ${res.text.slice(0, 160)}`;
      }
      let msgs;
      try {
        msgs = parseRpcBody(res.headers['content-type'], res.text);
      } catch {
        return 'response is not JSON';
      }
      return checkToolResult(msgs.find((m) => m.id === id) ?? msgs[0], id, cfg.expect);
    };
    const close = async () => {
      if (session) {
        await new Promise((resolve) => {
          const req = http.request(url, { method: 'DELETE', agent, headers }, (res) => {
            res.resume();
            res.on('end', resolve);
          });
          req.on('error', resolve);
          req.end();
        });
      }
    };
    return { call, close };
  };

  const agents = await Promise.all(Array.from({ length: concurrency }, (_, i) => makeAgent(i)));

  // Warm-up (not recorded): JIT, connection pool, caches.
  const warmEnd = deadline();
  await Promise.all(
    agents.map(async (a) => {
      for (let k = 0; k < cfg.warmupPerAgent && performance.now() < warmEnd; k++) {
        const problem = await a.call().catch((e) => String(e.message));
        if (problem) {
          fail(`warm-up: ${problem}`);
        }
      }
    }),
  );

  // Measured phase: bounded by count AND time.
  const latencies = [];
  let issued = 0;
  const start = performance.now();
  const end = start + cfg.maxSeconds * 1000;
  await Promise.all(
    agents.map(async (a) => {
      while (issued < cfg.maxCalls && performance.now() < end) {
        issued++;
        const t0 = performance.now();
        let problem;
        try {
          problem = await a.call();
        } catch (e) {
          problem = `request failed: ${e.message}`;
        }
        const dt = performance.now() - t0;
        if (problem) {
          fail(problem);
        } else {
          latencies.push(dt);
        }
      }
    }),
  );
  const elapsed = performance.now() - start;
  await Promise.all(agents.map((a) => a.close()));
  agent.destroy();
  process.stdout.write(JSON.stringify(summarize(latencies, elapsed, errors, firstErrors)) + '\n');
}

main().catch((e) => {
  process.stderr.write(`loadgen: ${e.stack ?? e}\n`);
  process.exit(1);
});
