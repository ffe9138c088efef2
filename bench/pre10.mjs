// The "server CPU per get_credential vs pre-#10" row of `npm run bench` (issue #10 asks for our
// server's CPU per get_credential within 10 % of the server before it). The pre-#10 server is
// commit 78d57c0 (the last commit before the issue #10 branches were merged), taken from this
// clone's git history with `git archive` into bench/.runs/pre10/ and bundled with esbuild against
// this checkout's node_modules (its runtime dependencies are the same). Nothing is downloaded.
//
// Both servers run the same way: their own temp store made by their own CLI (the store format grew
// since), the same policy.json, 10 agents, the same load; rounds alternate between the two so that
// slow drift of the machine hits both. CPU = utime + stime of the server process (/proc) divided by
// every request it handled. Without git or that commit (a tarball), the row says so and is skipped.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import * as esbuild from 'esbuild';
import { cpuMsOf, runProcess, startProcess, stopChild } from './lib/common.mjs';

export const PRE10_COMMIT = '78d57c0';
const AGENTS = 10;

/** Bundles the pre-#10 CLI; resolves with its path, or `{ skipped }` saying why not. */
export async function buildPre10Cli(root, runsDir) {
  const dir = path.join(runsDir, 'pre10');
  const out = path.join(dir, 'cli.js');
  try {
    execFileSync('git', ['cat-file', '-e', `${PRE10_COMMIT}^{commit}`], { cwd: root, stdio: 'ignore' });
  } catch {
    return {
      skipped: `commit ${PRE10_COMMIT} is not in this checkout's git history (a tarball or shallow clone)`,
    };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const tar = execFileSync(
    'git',
    ['archive', '--format=tar', PRE10_COMMIT, 'src', 'package.json', 'tsconfig.json'],
    {
      cwd: root,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  try {
    await buildBundle(root, dir, out);
  } catch (e) {
    // The old commit may import packages this checkout no longer installs (proper-lockfile was
    // dropped after it): nothing is downloaded, so the row is skipped and says why.
    const missing = [...String(e?.message ?? e).matchAll(/Could not resolve "([^"]+)"/g)].map((m) => m[1]);
    return {
      skipped: missing.length
        ? `commit ${PRE10_COMMIT} imports ${[...new Set(missing)].join(', ')}, which this checkout's node_modules no longer has (the bench downloads nothing)`
        : `commit ${PRE10_COMMIT} did not build: ${String(e?.message ?? e).split('\n')[0]}`,
    };
  }
  return { cli: out };
}

function buildBundle(root, dir, out) {
  return esbuild.build({
    absWorkingDir: dir,
    entryPoints: [path.join(dir, 'src', 'cli', 'main.ts')],
    outfile: out,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external: ['@napi-rs/keyring'],
    nodePaths: [path.join(root, 'node_modules')],
    logLevel: 'silent',
  });
}

async function makeStore(cli, policy, credential, scope) {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-bench-pre10-'));
  fs.writeFileSync(path.join(store, 'policy.json'), JSON.stringify(policy, null, 2));
  const run = async (argv) => {
    const r = await runProcess(process.execPath, [cli, ...argv, '--store', store]);
    if (r.code !== 0) {
      throw new Error(
        `${path.basename(path.dirname(cli))} agent-keyring ${argv.join(' ')} exited ${r.code}: ${r.stderr}`,
      );
    }
    return r.stdout;
  };
  await run(['credential', 'add', credential, '--scopes', scope, '--agents', '*', '--generate']);
  const tokens = [];
  for (let i = 0; i < AGENTS; i++) {
    tokens.push((await run(['agent', 'add', `bench-${i}`])).trim().split('\n').pop());
  }
  return { store, tokens };
}

/**
 * Alternating rounds of the same load against a fresh server of each build; per build the median
 * of the rounds' CPU ms per handled request.
 * @param load (script, cfg) → summary, as run.mjs's `load`
 */
export async function measurePre10({
  currentCli,
  pre10Cli,
  policy,
  credential,
  scope,
  load,
  limits,
  rounds,
}) {
  const ours = await makeStore(currentCli, policy, credential, scope);
  const pre = await makeStore(pre10Cli, policy, credential, scope);
  const samples = { ours: [], pre10: [] };
  const errors = { ours: 0, pre10: 0 };
  const calls = { ours: 0, pre10: 0 };
  try {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? ['ours', 'pre10'] : ['pre10', 'ours'];
      for (const who of order) {
        const { store, tokens } = who === 'ours' ? ours : pre;
        const cli = who === 'ours' ? currentCli : pre10Cli;
        const p = await startProcess(process.execPath, [cli, 'serve', '--store', store, '--port', '0'], {
          ready: /serving MCP at (http:\/\/\S+)/,
          label: `${who} serve`,
        });
        try {
          const cfg = {
            url: p.match[1],
            tokens,
            concurrency: AGENTS,
            maxSeconds: limits.seconds,
            tool: 'get_credential',
            args: { name: credential, scope },
            expect: 'get_credential',
          };
          // Warm-up (JIT, caches) is not counted: CPU is read after it.
          await load('loadgen.mjs', { ...cfg, warmupPerAgent: limits.warm, maxCalls: AGENTS });
          const cpu0 = cpuMsOf(p.child.pid);
          const r = await load('loadgen.mjs', { ...cfg, warmupPerAgent: 0, maxCalls: limits.calls });
          const cpu1 = cpuMsOf(p.child.pid);
          // Measured calls plus, per agent, initialize, notifications/initialized and DELETE.
          const handled = r.calls + r.errors + AGENTS * 3;
          if (cpu0 !== undefined && cpu1 !== undefined) {
            samples[who].push((cpu1 - cpu0) / handled);
          }
          errors[who] += r.errors;
          calls[who] += r.calls;
        } finally {
          await stopChild(p.child);
        }
      }
    }
  } finally {
    fs.rmSync(ours.store, { recursive: true, force: true });
    fs.rmSync(pre.store, { recursive: true, force: true });
  }
  const median = (v) => {
    const s = [...v].sort((a, b) => a - b);
    return s.length === 0
      ? undefined
      : s.length % 2
        ? s[(s.length - 1) / 2]
        : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  return {
    commit: PRE10_COMMIT,
    agents: AGENTS,
    rounds,
    samples,
    errors,
    calls,
    ours: median(samples.ours),
    pre10: median(samples.pre10),
  };
}
