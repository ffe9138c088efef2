// `agent-keyring run --mcp` overhead: the same fixture MCP server (test/fixtures/keyedEchoServer.mjs)
// spoken to over stdio directly and through the wrapper (local file store), sequential `tools/call`
// round trips, alternating rounds in one run; and restart on rotation: from `credential rotate`
// (another process) returning to the first call answered by the new child, median and max.
//
//   npm run build && node bench/runMcp.mjs [--calls=N] [--rounds=N] [--rotations=N] [--cli=FILE] [--json]
//
// --json: the last stdout line is the results as JSON (bench/run.mjs, section `mcp`, renders them).
//
// Every process is ours and stopped by PID; nothing listens on the network.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  fmtMs,
  fmtRate,
  initializeBody,
  killPid,
  percentile,
  runProcess,
  summarize,
  toolCallBody,
} from './lib/common.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI =
  process.argv.find((a) => a.startsWith('--cli='))?.slice('--cli='.length) ?? join(ROOT, 'dist', 'cli.js');
const JSON_OUT = process.argv.includes('--json');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'keyedEchoServer.mjs');
const arg = (name, def) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def);
const CALLS = arg('calls', 2000);
const ROUNDS = arg('rounds', 3);
const ROTATIONS = arg('rotations', 10);
const hash = (v) => createHmac('sha256', 'fixture').update(v).digest('hex').slice(0, 16);

function stdioSession(cmd, args, env) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  child.stderr.resume();
  const pending = new Map();
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const msg = JSON.parse(line);
      const p = pending.get(msg.id);
      if (p) {
        pending.delete(msg.id);
        p(msg);
      }
    }
  });
  let id = 0;
  const request = (body) =>
    new Promise((resolve) => {
      pending.set(body.id, resolve);
      child.stdin.write(JSON.stringify(body) + '\n');
    });
  return {
    async init() {
      await request(initializeBody(++id, 'bench'));
      child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
    },
    call: (args = {}) => request(toolCallBody(++id, 'whoami', args)),
    stop: () => killPid(child.pid),
  };
}

async function measure(session, n) {
  for (let i = 0; i < 200; i++) {
    await session.call();
  }
  const lat = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = await session.call();
    if (r.error || r.result?.isError) {
      throw new Error('a call failed');
    }
    lat.push(performance.now() - t);
  }
  return summarize(lat, performance.now() - start, 0, []);
}

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
  const direct = [];
  const wrapped = [];
  for (let round = 0; round < ROUNDS; round++) {
    const d = stdioSession(process.execPath, [FIXTURE], { FIXTURE_KEY: value });
    await d.init();
    direct.push(await measure(d, CALLS));
    d.stop();
    const w = stdioSession(
      process.execPath,
      [CLI, 'run', '--mcp', '--env', 'FIXTURE_KEY=fixture_key', '--', process.execPath, FIXTURE],
      {
        ...env,
        AGENT_KEYRING_TOKEN: token,
      },
    );
    await w.init();
    wrapped.push(await measure(w, CALLS));
    w.stop();
  }
  const med = (xs, k) => xs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const dp50 = med(direct, 'p50');
  const wp50 = med(wrapped, 'p50');
  const drate = med(direct, 'callsPerSec');
  const wrate = med(wrapped, 'callsPerSec');
  const dp99 = med(direct, 'p99');
  const wp99 = med(wrapped, 'p99');
  console.log(`sequential tools/call, ${ROUNDS} alternating rounds of ${CALLS} (medians):`);
  console.log(`  direct stdio:      p50 ${fmtMs(dp50)} ms, ${fmtRate(drate)} calls/s`);
  console.log(`  through run --mcp: p50 ${fmtMs(wp50)} ms, ${fmtRate(wrate)} calls/s`);
  console.log(`  ratio: p50 ${(wp50 / dp50).toFixed(2)}x, calls/s ${(wrate / drate).toFixed(2)}x`);

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
        direct: { p50: dp50, p99: dp99, callsPerSec: drate },
        wrapped: { p50: wp50, p99: wp99, callsPerSec: wrate },
        restart: { median: percentile(sorted, 50), max: sorted[sorted.length - 1] },
        wait: { median: percentile(waitSorted, 50), max: waitSorted[waitSorted.length - 1] },
        retryErrors,
      }),
    );
  }
} finally {
  rmSync(store, { recursive: true, force: true });
}
