// The direct call the `http_request` row is compared with: what an agent that holds the key does
// itself — a GET to the same local upstream with `Authorization: Bearer <key>`, one keep-alive
// connection per virtual agent (lib/rawHttp.mjs, the same lean client as the MCP load generator).
// Every answer is checked (status 200, a JSON body).
//
// Config (JSON on stdin): { url, key, concurrency, warmupPerAgent, maxCalls, maxSeconds }
// Output: one JSON line on stdout: { calls, errors, firstErrors, elapsedMs, p50, p99, max, callsPerSec }
import { driveLoad } from './lib/common.mjs';
import { RawHttpConnection, requestHead } from './lib/rawHttp.mjs';

let text = '';
for await (const chunk of process.stdin) {
  text += chunk;
}
const cfg = JSON.parse(text);
const url = new URL(cfg.url);
const agents = await Promise.all(
  Array.from({ length: cfg.concurrency }, async () => {
    const conn = new RawHttpConnection(url, { timeoutMs: 30_000 });
    await conn.connect();
    const head = requestHead('GET', url, { authorization: `Bearer ${cfg.key}`, accept: 'application/json' });
    return {
      conn,
      call: async () => {
        const res = await conn.request(head, '');
        if (res.status !== 200) {
          return `HTTP ${res.status}`;
        }
        try {
          JSON.parse(res.body.toString('utf8'));
        } catch {
          return 'body is not JSON';
        }
        return undefined;
      },
    };
  }),
);
const summary = await driveLoad(
  agents.map((a) => a.call),
  cfg,
);
for (const a of agents) {
  a.conn.close();
}
process.stdout.write(JSON.stringify(summary) + '\n');
