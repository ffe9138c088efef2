// A/B of the forwarding path in one run: two CLI bundles (A = e.g. the previous commit's, B = this
// one's) measured in interleaved rounds against the same server and store — `bridge` for 1 and 10
// agents next to direct HTTP, and `run --mcp` (echo fixture) next to direct stdio — with the
// bridges'/wrapper's CPU per call (from /proc) and the load average, since the machine is shared.
//
//   node bench/abForward.mjs --a=OLD_CLI.js --b=NEW_CLI.js [--rounds=3] [--calls=1500] [--only=bridge,mcp]
//
// Build a bundle of another commit with bench/run.mjs's settings (esbuild, src/cli/main.ts, cjs,
// node20, the ALIAS of scripts/build/entries.mjs). Every process is ours, stopped by PID; servers
// listen on 127.0.0.1 only.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cpuMsOf,
  fmtMs,
  fmtRate,
  mdTable,
  runLoadGenerator,
  runProcess,
  startProcess,
  stopChild,
} from './lib/common.mjs';
import { measure, stdioSession } from './lib/stdioSession.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const opt = (name, def) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def;
const A = opt('a');
const B = opt('b');
if (!A || !B) {
  process.stderr.write('usage: node bench/abForward.mjs --a=OLD_CLI.js --b=NEW_CLI.js [--rounds=N]\n');
  process.exit(2);
}
const ROUNDS = Number(opt('rounds', 3));
const CALLS = Number(opt('calls', 1500));
const ONLY = new Set(opt('only', 'bridge,mcp').split(','));
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'keyedEchoServer.mjs');
const getCred = {
  tool: 'get_credential',
  args: { name: 'bench_key', scope: 'bench_read' },
  expect: 'get_credential',
};
const load = (script, cfg) => runLoadGenerator(path.join(ROOT, 'bench', script), cfg);
const log = (m) => process.stderr.write(`[ab] ${m}\n`);
const med = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)] : NaN;
};

const store = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-ab-'));
const env = { AGENT_KEYRING_NO_KEYRING: '1', AGENT_KEYRING_STORE: store };
const cli = async (argv, input) => {
  const r = await runProcess(process.execPath, [B, ...argv], { env, input });
  if (r.code !== 0) {
    throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  }
  return r.stdout.trim().split('\n').pop();
};
fs.writeFileSync(
  path.join(store, 'policy.json'),
  // As bench/run.mjs: burst raised so a bench agent is not rate-limited; first_use/unusual_hours off.
  JSON.stringify({ actions: { first_use: 'off', unusual_hours: 'off' }, burst_per_minute: 100_000 }),
);
await cli(['credential', 'add', 'bench_key', '--scopes', 'bench_read', '--agents', '*', '--generate']);
await cli(['credential', 'add', 'fixture_key', '--scopes', 'use', '--agents', '*'], 'fixture-value-1234');
const tokens = [];
for (let i = 0; i < 10; i++) {
  tokens.push(await cli(['agent', 'add', `ab-${i}`]));
}
const server = await startProcess(process.execPath, [B, 'serve', '--port', '0'], {
  ready: /serving MCP at (http:\/\/\S+)/,
  label: 'serve',
  env,
});
const url = server.match[1];
const res = {
  http: { seq: [], c10: [] },
  A: { seq: [], c10: [], mcp: [] },
  B: { seq: [], c10: [], mcp: [] },
};
const directMcp = [];
const load0 = os.loadavg();
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
    for (const [key, concurrency] of ONLY.has('bridge')
      ? [
          ['seq', 1],
          ['c10', 10],
        ]
      : []) {
      const cfg = {
        url,
        tokens: tokens.slice(0, concurrency),
        concurrency,
        warmupPerAgent: 50,
        maxCalls: concurrency === 1 ? CALLS : CALLS * 2,
        maxSeconds: 30,
        ...getCred,
      };
      log(`round ${round + 1} ${key}: direct HTTP…`);
      res.http[key].push(await load('loadgen.mjs', cfg));
      for (const v of order) {
        log(`round ${round + 1} ${key}: bridge ${v}…`);
        const c0 = cpuMsOf(server.child.pid);
        const r = await load('stdioLoadgen.mjs', { ...cfg, cli: v === 'A' ? A : B });
        r.serverCpuMsPerCall = (cpuMsOf(server.child.pid) - c0) / (r.calls + concurrency * 53);
        res[v][key].push(r);
      }
    }
    if (ONLY.has('mcp')) {
      log(`round ${round + 1}: run --mcp…`);
      const d = stdioSession(process.execPath, [FIXTURE], { FIXTURE_KEY: 'fixture-value-1234' });
      await d.init();
      directMcp.push(await measure(d, CALLS * 2));
      d.stop();
      for (const v of order) {
        const w = stdioSession(
          process.execPath,
          [
            v === 'A' ? A : B,
            'run',
            '--mcp',
            '--env',
            'FIXTURE_KEY=fixture_key',
            '--',
            process.execPath,
            FIXTURE,
          ],
          { ...env, AGENT_KEYRING_TOKEN: tokens[0] },
        );
        await w.init();
        res[v].mcp.push(await measure(w, CALLS * 2));
        w.stop();
      }
    }
  }
} finally {
  await stopChild(server.child);
  fs.rmSync(store, { recursive: true, force: true });
}

const m = (xs, k) => med(xs.map((x) => x[k]));
const rows = [];
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '-');
for (const [key, label] of [
  ['seq', 'bridge, 1 agent'],
  ['c10', 'bridge, 10 agents'],
].filter(() => ONLY.has('bridge'))) {
  const h = res.http[key];
  for (const [what, k, fmt] of [
    ['p50 ms', 'p50', fmtMs],
    ['calls/s', 'callsPerSec', fmtRate],
    ['bridge CPU ms/call', 'bridgeCpuMsPerCall', fmtMs],
    ['server CPU ms/call', 'serverCpuMsPerCall', fmtMs],
  ]) {
    const a = m(res.A[key], k);
    const b = m(res.B[key], k);
    const d = k === 'p50' || k === 'callsPerSec' ? m(h, k) : NaN;
    rows.push([
      `${label}, ${what}`,
      fmt(a),
      fmt(b),
      ratio(b, a),
      Number.isFinite(d) ? `${fmt(d)} (A ${ratio(a, d)}, B ${ratio(b, d)})` : '',
    ]);
  }
}
if (ONLY.has('mcp')) {
  for (const [what, k, fmt] of [
    ['p50 ms', 'p50', fmtMs],
    ['calls/s', 'callsPerSec', fmtRate],
    ['wrapper CPU ms/call', 'cpuMsPerCall', fmtMs],
  ]) {
    const a = m(res.A.mcp, k);
    const b = m(res.B.mcp, k);
    const d = m(directMcp, k);
    rows.push([
      `run --mcp (echo), ${what}`,
      fmt(a),
      fmt(b),
      ratio(b, a),
      k === 'cpuMsPerCall' ? `server ${fmt(d)}` : `${fmt(d)} (A ${ratio(a, d)}, B ${ratio(b, d)})`,
    ]);
  }
}
const la = (l) => l.map((x) => x.toFixed(1)).join(' / ');
console.log(
  `A/B ${new Date().toISOString()}, ${ROUNDS} interleaved rounds (medians), load average before ${la(load0)}, after ${la(os.loadavg())}`,
);
console.log(`A = ${A}\nB = ${B}\n`);
console.log(mdTable(['measure', 'A', 'B', 'B ÷ A', 'direct (same run)'], rows));
fs.writeFileSync(path.join(os.tmpdir(), `akr-ab-${process.pid}.json`), JSON.stringify({ res, directMcp }));
