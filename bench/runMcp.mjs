// `agent-keyring run --mcp` overhead: the same MCP server spoken to over stdio directly and through
// the wrapper (local file store), alternating rounds in one run — the fixture server
// (test/fixtures/keyedEchoServer.mjs, sequential `tools/call`) and a real third-party server
// (@modelcontextprotocol/server-github, sequential `tools/list`), with the wrapper's CPU per call,
// and the floor of any process in the middle (bench/servers/nullRelay.mjs copies bytes, no more); and restart on rotation: from `credential rotate`
// (another process) returning to the first call answered by the new child, median and max.
//
//   npm run build && node bench/runMcp.mjs [--calls=N] [--rounds=N] [--rotations=N] [--cli=FILE] [--json]
//
// --json: the last stdout line is the results as JSON (bench/run.mjs, section `mcp`, renders them).
//
// Every process is ours and stopped by PID; nothing listens on the network.
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmtMs, fmtRate, percentile, runProcess } from './lib/common.mjs';
import { measure, stdioSession } from './lib/stdioSession.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI =
  process.argv.find((a) => a.startsWith('--cli='))?.slice('--cli='.length) ?? join(ROOT, 'dist', 'cli.js');
const JSON_OUT = process.argv.includes('--json');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'keyedEchoServer.mjs');
const RELAY = join(ROOT, 'bench', 'servers', 'nullRelay.mjs');
const GITHUB_SERVER = join(
  ROOT,
  'node_modules',
  '@modelcontextprotocol',
  'server-github',
  'dist',
  'index.js',
);
const arg = (name, def) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def);
const CALLS = arg('calls', 2000);
const ROUNDS = arg('rounds', 3);
const ROTATIONS = arg('rotations', 10);
const hash = (v) => createHmac('sha256', 'fixture').update(v).digest('hex').slice(0, 16);

const store = mkdtempSync(join(tmpdir(), 'akr-bench-run-'));
const env = { AGENT_KEYRING_NO_KEYRING: '1', AGENT_KEYRING_STORE: store };
try {
  let value = `bench-value-${Date.now()}-0`;
  await runProcess(
    process.execPath,
    [CLI, 'credential', 'add', 'fixture_key', '--scopes', 'use', '--agents', '*'],
    { env, input: value },
  );
  const agent = await runProcess(process.execPath, [CLI, 'agent', 'add', 'bench-agent'], { env });
  const token = agent.stdout.trim().split('\n').pop();
  const gh = `ghp_bench${Date.now()}`;
  await runProcess(
    process.execPath,
    [CLI, 'credential', 'add', 'github_pat', '--scopes', 'use', '--agents', '*'],
    { env, input: gh },
  );
  // Two servers: the echo fixture (a round trip that does nothing: the wrapper's cost in full) and a
  // real third-party one doing real work (server-github answering tools/list: its schemas, ~16 KB).
  const pairs = [
    {
      key: 'echo',
      direct: [[FIXTURE], { FIXTURE_KEY: value }],
      wrapped: ['FIXTURE_KEY=fixture_key', FIXTURE],
      call: (s) => s.call(),
      calls: CALLS,
    },
    {
      key: 'github',
      direct: [[GITHUB_SERVER], { GITHUB_PERSONAL_ACCESS_TOKEN: gh }],
      wrapped: ['GITHUB_PERSONAL_ACCESS_TOKEN=github_pat', GITHUB_SERVER],
      call: (s) => s.rpc('tools/list'),
      calls: Math.max(100, Math.round(CALLS / 4)),
    },
  ];
  const rows = {};
  for (const pair of pairs) {
    const direct = [];
    const wrapped = [];
    const relay = [];
    for (let round = 0; round < ROUNDS; round++) {
      const d = stdioSession(process.execPath, ...pair.direct);
      await d.init();
      direct.push(await measure(d, pair.calls, () => pair.call(d)));
      d.stop();
      const w = stdioSession(
        process.execPath,
        [CLI, 'run', '--mcp', '--env', pair.wrapped[0], '--', process.execPath, pair.wrapped[1]],
        { ...env, AGENT_KEYRING_TOKEN: token },
      );
      await w.init();
      wrapped.push(await measure(w, pair.calls, () => pair.call(w)));
      w.stop();
      if (pair.key === 'echo') {
        const n = stdioSession(
          process.execPath,
          [RELAY, '--', process.execPath, ...pair.direct[0]],
          pair.direct[1],
        );
        await n.init();
        relay.push(await measure(n, pair.calls, () => pair.call(n)));
        n.stop();
      }
    }
    const med = (xs, k) => xs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const pick = (xs) => ({ p50: med(xs, 'p50'), p99: med(xs, 'p99'), callsPerSec: med(xs, 'callsPerSec') });
    const r = { calls: pair.calls, direct: pick(direct), wrapped: pick(wrapped) };
    r.wrapped.cpuMsPerCall = med(wrapped, 'cpuMsPerCall');
    r.direct.cpuMsPerCall = med(direct, 'cpuMsPerCall');
    if (relay.length > 0) {
      r.relay = { ...pick(relay), cpuMsPerCall: med(relay, 'cpuMsPerCall') };
      console.log(
        `  null relay (floor): p50 ${fmtMs(r.relay.p50)} ms, ${fmtRate(r.relay.callsPerSec)} calls/s, relay CPU ${fmtMs(r.relay.cpuMsPerCall)} ms/call`,
      );
    }
    rows[pair.key] = r;
    console.log(`${pair.key}: sequential, ${ROUNDS} alternating rounds of ${pair.calls} (medians):`);
    console.log(
      `  direct stdio:      p50 ${fmtMs(r.direct.p50)} ms, ${fmtRate(r.direct.callsPerSec)} calls/s`,
    );
    console.log(
      `  through run --mcp: p50 ${fmtMs(r.wrapped.p50)} ms, ${fmtRate(r.wrapped.callsPerSec)} calls/s, wrapper CPU ${fmtMs(r.wrapped.cpuMsPerCall)} ms/call`,
    );
    console.log(
      `  ratio: p50 ${(r.wrapped.p50 / r.direct.p50).toFixed(2)}x, calls/s ${(r.wrapped.callsPerSec / r.direct.callsPerSec).toFixed(2)}x`,
    );
  }

  // Restart on rotation: rotate (another process) while a client calls in a loop; time from the
  // rotation to the first answer by the new child, and the longest single call during it (what the
  // client waits for the swap).
  const w = stdioSession(
    process.execPath,
    [CLI, 'run', '--mcp', '--env', 'FIXTURE_KEY=fixture_key', '--', process.execPath, FIXTURE],
    {
      ...env,
      AGENT_KEYRING_TOKEN: token,
    },
  );
  await w.init();
  await w.call();
  const restarts = [];
  const waits = [];
  let retryErrors = 0;
  for (let i = 1; i <= ROTATIONS; i++) {
    value = `bench-value-${Date.now()}-${i}`;
    await runProcess(process.execPath, [CLI, 'credential', 'rotate', 'fixture_key'], { env, input: value });
    const t0 = performance.now(); // the rotation is durable once the CLI has exited
    let longest = 0;
    for (;;) {
      const t = performance.now();
      const r = await w.call();
      longest = Math.max(longest, performance.now() - t);
      if (r.error) {
        retryErrors++;
        continue; // a retry error would count as a call the client must repeat
      }
      if (JSON.parse(r.result.content[0].text).key_hash === hash(value)) {
        break;
      }
    }
    restarts.push(performance.now() - t0);
    waits.push(longest);
  }
  w.stop();
  const sorted = Float64Array.from(restarts).sort();
  const waitSorted = Float64Array.from(waits).sort();
  console.log(
    `restart on rotation (${ROTATIONS}x): rotate CLI exited -> first answer from the new child: median ${fmtMs(percentile(sorted, 50))} ms, max ${fmtMs(sorted[sorted.length - 1])} ms; longest single call meanwhile: median ${fmtMs(percentile(waitSorted, 50))} ms, max ${fmtMs(waitSorted[waitSorted.length - 1])} ms; retry errors: ${retryErrors}`,
  );
  if (JSON_OUT) {
    console.log(
      JSON.stringify({
        calls: CALLS,
        rounds: ROUNDS,
        rotations: ROTATIONS,
        direct: rows.echo.direct,
        relay: rows.echo.relay,
        wrapped: rows.echo.wrapped,
        github: rows.github,
        restart: { median: percentile(sorted, 50), max: sorted[sorted.length - 1] },
        wait: { median: percentile(waitSorted, 50), max: waitSorted[waitSorted.length - 1] },
        retryErrors,
      }),
    );
  }
} finally {
  rmSync(store, { recursive: true, force: true });
}
