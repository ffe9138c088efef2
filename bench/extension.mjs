// Extension-side figures: bundle sizes (the extension's four files — extension.js and core.js,
// loaded at activation, lazy.js, loaded when a command that needs it first runs (Connect Agent,
// Import from .env, Scan MCP Configs, Export/Verify Audit Log), and server.js, loaded when the MCP
// server starts — built here by esbuild.mjs's own buildExtensionBundles, dev and production, with
// gzip of each), the .vsix when `npm run package` exists, load (require) times, and the Audit
// view's page load over 100k events (queryAuditEvents from src/core/audit/auditReader.ts, bundled
// here with esbuild).
//
// Load times, each in a fresh Node process with a stub `vscode`, median of 5:
//   load.{dev,production}        require('extension.js') — the activation path (it requires
//                                core.js); VS Code counts this as part of activation. `files` lists
//                                the bundle files that this require loaded: extension.js and
//                                core.js, or the split is broken;
//   serverLoad.{dev,production}  then require('server.js') in the same process, as the extension
//                                does when the server starts (core.js is loaded by then);
//   lazyLoad.{dev,production}    then require('lazy.js'), as the first command that needs it does.
// With --cpu-prof, one more load of the dev files runs under `node --cpu-prof`; `loadProfile`
// says where the time went (per package / source folder; the profile is in bench/.runs/).
//
//   node bench/extension.mjs [--events 100000] [--cpu-prof] [--load-only]    prints one JSON line
//   (--load-only: bundles and load times only, no .vsix and no Audit page)
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { buildExtensionBundles } from '../esbuild.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = path.join(ROOT, 'bench', '.runs');
const require = createRequire(import.meta.url);
const argv = process.argv.slice(2);
const EVENTS = Number(argv[argv.indexOf('--events') + 1] || 100_000) || 100_000;
const CPU_PROF = argv.includes('--cpu-prof');
const LOAD_ONLY = argv.includes('--load-only');
const REPEATS = 5;

function sizes(file) {
  if (!fs.existsSync(file)) {
    return undefined;
  }
  const buf = fs.readFileSync(file);
  return { bytes: buf.length, gzipBytes: gzipSync(buf, { level: 9 }).length };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Sizes of a set of files, summed. */
function totalSizes(files) {
  const each = files.map(sizes);
  if (each.some((x) => x === undefined)) {
    return undefined;
  }
  return {
    bytes: each.reduce((a, x) => a + x.bytes, 0),
    gzipBytes: each.reduce((a, x) => a + x.gzipBytes, 0),
  };
}

/**
 * Both variants built by esbuild.mjs into bench/.runs/{dev,production} (dist/ is shared). For
 * each: `bytes`/`gzipBytes` of all four files (what the .vsix ships), `activation` (extension.js
 * + core.js) and `files` one by one.
 */
async function bundleSizes() {
  const out = {};
  const dirs = {};
  for (const variant of ['dev', 'production']) {
    const outdir = path.join(RUNS, `extension-${variant}`);
    fs.rmSync(outdir, { recursive: true, force: true });
    const built = await buildExtensionBundles({ outdir, production: variant === 'production' });
    const files = Object.fromEntries(Object.entries(built).map(([k, v]) => [k, sizes(v.file)]));
    out[variant] = {
      ...totalSizes(Object.values(built).map((v) => v.file)),
      activation: totalSizes([built.extension.file, built.core.file]),
      files,
    };
    dirs[variant] = outdir;
  }
  return { sizes: out, dirs };
}

/**
 * `npm run package -- --out bench/.runs/bench.vsix` (vsce; its vscode:prepublish rewrites dist/ as
 * a production build, so `npm run build` is run afterwards to leave dist/ as `npm run bench` found
 * it). vsce 4 wants Node >= 22: Node 24 from the CI cache goes first on PATH when it is there.
 */
function vsix() {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  if (!pkg.scripts?.package) {
    return { note: "no 'npm run package' script in package.json yet: .vsix size not measured" };
  }
  const out = path.join(RUNS, 'bench.vsix');
  fs.rmSync(out, { force: true });
  const cache = process.env.AKR_CACHE || path.join(os.homedir(), '.cache', 'agent-keyring-ci');
  const node24 = fs
    .readdirSync(fs.existsSync(cache) ? cache : os.tmpdir())
    .filter((d) => /^node-24\./.test(d))
    .map((d) => path.join(cache, d, 'bin'))
    .find((d) => fs.existsSync(path.join(d, 'node')));
  const env = node24
    ? { ...process.env, PATH: `${node24}${path.delimiter}${process.env.PATH}` }
    : process.env;
  const started = performance.now();
  try {
    execFileSync('npm', ['run', '--silent', 'package', '--', '--out', out], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 300_000,
    });
  } catch (e) {
    return { note: `'npm run package' failed: ${String(e.stderr ?? e.message).slice(0, 300)}` };
  } finally {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'ignore', timeout: 300_000 });
  }
  const ms = performance.now() - started;
  if (!fs.existsSync(out)) {
    return { note: `'npm run package' made no ${path.relative(ROOT, out)}` };
  }
  return {
    file: path.relative(ROOT, out),
    bytes: fs.statSync(out).size,
    packageMs: ms,
    node: node24 ? 'node 24 (cache)' : process.version,
  };
}

/**
 * Requires extension.js (stub `vscode`), then server.js, then lazy.js; prints the three times as
 * JSON, with the bundle files the first require loaded. With a second argument, the requires (and
 * nothing else) run under the inspector's CPU profiler, whose profile is written to that file.
 */
const LOAD_SCRIPT = `
  const Module = require('node:module');
  const path = require('node:path');
  const fs = require('node:fs');
  const orig = Module._load;
  const stub = new Proxy(function () {}, { get: (t, k) => (k === '__esModule' ? false : stub), apply: () => stub, construct: () => stub });
  Module._load = function (req, ...rest) { return req === 'vscode' ? stub : orig.call(this, req, ...rest); };
  const [dir, profileFile] = process.argv.slice(1);
  const load = () => {
    const t0 = process.hrtime.bigint();
    const m = require(path.join(dir, 'extension.js'));
    const t1 = process.hrtime.bigint();
    const files = Object.keys(require.cache).filter((f) => path.dirname(f) === dir).map((f) => path.basename(f));
    const s = require(path.join(dir, 'server.js'));
    const t2 = process.hrtime.bigint();
    const l = require(path.join(dir, 'lazy.js'));
    const t3 = process.hrtime.bigint();
    process.stdout.write(JSON.stringify({
      ms: Number(t1 - t0) / 1e6,
      serverMs: Number(t2 - t1) / 1e6,
      lazyMs: Number(t3 - t2) / 1e6,
      files,
      activate: typeof m.activate,
      startHttpHost: typeof s.startHttpHost,
      lazyModules: Object.keys(l).length,
    }));
  };
  if (!profileFile) {
    load();
  } else {
    const session = new (require('node:inspector').Session)();
    session.connect();
    session.post('Profiler.enable', () =>
      session.post('Profiler.setSamplingInterval', { interval: 100 }, () =>
        session.post('Profiler.start', () => {
          load();
          session.post('Profiler.stop', (err, res) => {
            if (err) throw err;
            fs.writeFileSync(profileFile, JSON.stringify(res.profile));
          });
        }),
      ),
    );
  }`;

/**
 * Time to load the activation path (parse + evaluate the top level of extension.js and core.js)
 * and then the server bundle and lazy.js, in fresh Node processes with a stub `vscode` — the part
 * of activation that does not depend on the editor. activate() itself needs a real extension host
 * and is measured by the integration suite (its log line `Activated in X ms`).
 */
function loadTimes(dir) {
  if (!dir || !fs.existsSync(path.join(dir, 'extension.js'))) {
    return { load: undefined, server: undefined, lazy: undefined };
  }
  const runs = [];
  const serverRuns = [];
  const lazyRuns = [];
  let last;
  for (let i = 0; i < REPEATS; i++) {
    let text;
    try {
      text = execFileSync(process.execPath, ['-e', LOAD_SCRIPT, dir], {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      // A bundle that cannot even be required is a finding, not a reason to stop the bench.
      const line = String(e.stderr ?? e.message)
        .split('\n')
        .find((l) => /^\w*Error: /.test(l));
      const error = { error: (line ?? 'require failed').trim().slice(0, 200) };
      return { load: error, server: error, lazy: error };
    }
    last = JSON.parse(text);
    runs.push(last.ms);
    serverRuns.push(last.serverMs);
    lazyRuns.push(last.lazyMs);
  }
  return {
    load: { medianMs: median(runs), activateExport: last.activate, files: last.files },
    server: { medianMs: median(serverRuns), startHttpHostExport: last.startHttpHost },
    lazy: { medianMs: median(lazyRuns), modules: last.lazyModules },
  };
}

/**
 * One load of the dev files (extension.js, then server.js, then lazy.js) under the CPU profiler:
 * self time per package (node_modules) or source folder, for each phase (`activation`: the samples
 * taken while extension.js was being required, `server`: while server.js was, `lazy`: the rest),
 * read from the samples' lines and the
 * `// path` comments esbuild writes before each module in a dev bundle. Time in a file is where
 * the code runs, not who asked: the SDK building its schemas shows as `core.js: zod` under
 * `server`. `(compile)` is V8 compiling the files, `(node)` Node's own loader and file reads.
 */
function loadProfile(dir) {
  const file = path.join(RUNS, 'extension-load.cpuprofile');
  fs.rmSync(file, { force: true });
  const timing = JSON.parse(
    execFileSync(process.execPath, ['-e', LOAD_SCRIPT, dir, file], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  /** Per bundle file: the module each line belongs to. */
  const modulesByFile = new Map();
  const moduleAt = (url, line) => {
    const name = url.startsWith('file://') ? fileURLToPath(url) : url;
    if (!modulesByFile.has(name)) {
      let current = '(bundle prelude)';
      modulesByFile.set(
        name,
        fs
          .readFileSync(name, 'utf8')
          .split('\n')
          .map((l) => {
            const m = /^\/\/ ((?:node_modules|src)\/\S+)$/.exec(l);
            current = m ? m[1] : current;
            return current;
          }),
      );
    }
    return modulesByFile.get(name)[line] ?? '?';
  };
  const group = (mod) => {
    const parts = mod.split('/');
    if (parts[0] === 'node_modules') {
      return parts.slice(0, parts[1].startsWith('@') ? 3 : 2).join('/');
    }
    return parts[0] === 'src' ? parts.slice(0, Math.min(3, parts.length - 1)).join('/') : mod;
  };
  const bundleFiles = new Set(
    ['extension.js', 'core.js', 'lazy.js', 'server.js'].map((f) => path.join(dir, f)),
  );
  const phases = { activation: new Map(), server: new Map(), lazy: new Map() };
  let at = 0;
  prof.samples.forEach((id, i) => {
    const delta = prof.timeDeltas[i] ?? 0;
    at += delta;
    const self =
      at <= timing.ms * 1000
        ? phases.activation
        : at <= (timing.ms + timing.serverMs) * 1000
          ? phases.server
          : phases.lazy;
    self.set(id, (self.get(id) ?? 0) + delta);
  });
  return {
    file: path.relative(ROOT, file),
    profiledMs: { activation: timing.ms, server: timing.serverMs, lazy: timing.lazyMs },
    selfMs: {
      activation: attribute(prof, phases.activation, bundleFiles, moduleAt, group),
      server: attribute(prof, phases.server, bundleFiles, moduleAt, group),
      lazy: attribute(prof, phases.lazy, bundleFiles, moduleAt, group),
    },
  };
}

/** Self time (ms) of the profile's nodes, by where their code is; the 12 largest. */
function attribute(prof, selfUs, bundleFiles, moduleAt, group) {
  const byGroup = {};
  const add = (k, us) => (byGroup[k] = (byGroup[k] ?? 0) + us / 1000);
  for (const n of prof.nodes) {
    const us = selfUs.get(n.id);
    if (!us) {
      continue;
    }
    const { url, functionName, lineNumber } = n.callFrame;
    const file = url.startsWith('file://') ? fileURLToPath(url) : url;
    if (bundleFiles.has(file)) {
      const ticks = n.positionTicks ?? [{ line: lineNumber + 1, ticks: 1 }];
      const total = ticks.reduce((a, t) => a + t.ticks, 0);
      for (const t of ticks) {
        add(`${path.basename(file)}: ${group(moduleAt(url, t.line - 1))}`, (us * t.ticks) / total);
      }
    } else if (functionName === 'wrapSafe' || functionName === 'compileFunction') {
      add('(compile)', us);
    } else if (functionName === '(garbage collector)') {
      add('(garbage collector)', us);
    } else if (functionName !== '(idle)' && functionName !== '(program)') {
      add('(node)', us);
    }
  }
  return Object.entries(byGroup)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([where, ms]) => ({ where, ms: Math.round(ms * 10) / 10 }));
}

async function auditPage() {
  const coreFile = path.join(RUNS, 'auditCore.cjs');
  await esbuild.build({
    absWorkingDir: ROOT,
    stdin: {
      contents:
        "export { queryAuditEvents } from './src/core/audit/auditReader';\nexport { sealEvent, eventLine, GENESIS_HASH } from './src/core/audit/chain';",
      resolveDir: ROOT,
      loader: 'ts',
    },
    outfile: coreFile,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    logLevel: 'silent',
  });
  const core = require(coreFile);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-bench-audit-'));
  try {
    const file = path.join(dir, 'audit.jsonl');
    const fd = fs.openSync(file, 'w');
    let prev = core.GENESIS_HASH;
    const start = Date.parse('2026-01-01T00:00:00Z');
    let batch = [];
    for (let i = 0; i < EVENTS; i++) {
      const agent = `agent-${i % 12}`;
      const denied = i % 50 === 0;
      const ev = core.sealEvent(
        {
          ts: new Date(start + i * 7_000).toISOString(),
          agent_id: agent,
          claimed_agent_id: null,
          credential: `cred_${i % 20}`,
          scope: i % 3 === 0 ? 'publish' : 'search_read',
          tool: 'get_credential',
          decision: denied ? 'deny' : 'allow',
          code: denied ? 'scope_denied' : null,
          reason: 'bench event',
          lease_id: denied ? null : `lease-${i}`,
          version: 1,
          value_fingerprint: denied ? null : `hmac-sha256:${'ab'.repeat(32)}`,
          client: { name: 'bench', version: '1.0.0' },
          rules: [],
        },
        prev,
      );
      prev = ev.hash;
      batch.push(core.eventLine(ev));
      if (batch.length === 5000) {
        fs.writeSync(fd, batch.join('\n') + '\n');
        batch = [];
      }
    }
    if (batch.length) {
      fs.writeSync(fd, batch.join('\n') + '\n');
    }
    fs.closeSync(fd);
    const bytes = fs.statSync(file).size;
    const cases = {
      'newest 100, no filter': [{}, { limit: 100, newestFirst: true }],
      'oldest 100, no filter': [{}, { limit: 100 }],
      'newest 100 of one agent': [{ agent_id: 'agent-3' }, { limit: 100, newestFirst: true }],
      'newest 100 denials': [{ decision: 'deny' }, { limit: 100, newestFirst: true }],
    };
    const results = {};
    for (const [name, [filter, opts]] of Object.entries(cases)) {
      const runs = [];
      let total;
      for (let i = 0; i < REPEATS; i++) {
        const t0 = performance.now();
        const r = await core.queryAuditEvents(file, filter, opts);
        runs.push(performance.now() - t0);
        total = r.total;
        if (r.events.length !== Math.min(100, r.total)) {
          throw new Error(`${name}: page has ${r.events.length} events, expected ${Math.min(100, r.total)}`);
        }
      }
      results[name] = { medianMs: median(runs), total };
    }
    return { events: EVENTS, bytes, results };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  fs.mkdirSync(RUNS, { recursive: true });
  const bundles = await bundleSizes();
  const dev = loadTimes(bundles.dirs.dev);
  const production = loadTimes(bundles.dirs.production);
  const result = {
    bundle: bundles.sizes,
    ...(LOAD_ONLY ? {} : { vsix: vsix() }),
    load: { dev: dev.load, production: production.load },
    serverLoad: { dev: dev.server, production: production.server },
    lazyLoad: { dev: dev.lazy, production: production.lazy },
    ...(CPU_PROF ? { loadProfile: loadProfile(bundles.dirs.dev) } : {}),
    ...(LOAD_ONLY ? {} : { audit: await auditPage() }),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  process.stderr.write(`extension bench: ${e.stack ?? e}\n`);
  process.exit(1);
});
