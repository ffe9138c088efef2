// Extension-side figures: bundle sizes (dist/extension.js as built, plus a minified production
// build made here with the same esbuild settings, gzip of each), the .vsix when `npm run package`
// exists, the bundle's load (require) time, and the Audit view's page load over 100k events
// (queryAuditEvents from src/core/audit/auditReader.ts, bundled here with esbuild).
//
//   node bench/extension.mjs [--events 100000]    prints one JSON line
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = path.join(ROOT, 'bench', '.runs');
const require = createRequire(import.meta.url);
const argv = process.argv.slice(2);
const EVENTS = Number(argv[argv.indexOf('--events') + 1] || 100_000) || 100_000;
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

/** Both variants built here with esbuild.mjs's settings, into bench/.runs (dist/ is shared). */
async function bundleSizes() {
  const build = (outfile, production) =>
    esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: [path.join(ROOT, 'src', 'extension.ts')],
      outfile,
      bundle: true,
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      external: ['vscode', '@napi-rs/keyring'],
      // As esbuild.mjs: jsonc-parser's UMD `main` cannot be bundled, its ES module build can.
      alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
      minify: production,
      sourcemap: !production,
      sourcesContent: false,
      logLevel: 'silent',
    });
  const devFile = path.join(RUNS, 'extension.dev.js');
  const prodFile = path.join(RUNS, 'extension.prod.js');
  await build(devFile, false);
  await build(prodFile, true);
  return { dev: sizes(devFile), production: sizes(prodFile), devFile, prodFile };
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
 * Time to load the bundle (parse + evaluate its top level) in a fresh Node process, with a stub
 * `vscode` module — the part of activation that does not depend on the editor. activate() itself
 * needs a real extension host and is not measured here.
 */
function loadTime(file) {
  if (!file || !fs.existsSync(file)) {
    return undefined;
  }
  const script = `
    const Module = require('node:module');
    const orig = Module._load;
    const stub = new Proxy(function () {}, { get: (t, k) => (k === '__esModule' ? false : stub), apply: () => stub, construct: () => stub });
    Module._load = function (req, ...rest) { return req === 'vscode' ? stub : orig.call(this, req, ...rest); };
    const t0 = process.hrtime.bigint();
    const m = require(${JSON.stringify(file)});
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    process.stdout.write(JSON.stringify({ ms, activate: typeof m.activate }));`;
  const runs = [];
  let activate;
  for (let i = 0; i < REPEATS; i++) {
    let text;
    try {
      text = execFileSync(process.execPath, ['-e', script], {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      // A bundle that cannot even be required is a finding, not a reason to stop the bench.
      const line = String(e.stderr ?? e.message)
        .split('\n')
        .find((l) => /^\w*Error: /.test(l));
      return { error: (line ?? 'require failed').trim().slice(0, 200) };
    }
    const r = JSON.parse(text);
    runs.push(r.ms);
    activate = r.activate;
  }
  return { medianMs: median(runs), activateExport: activate };
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
  const result = {
    bundle: { dev: bundles.dev, production: bundles.production },
    vsix: vsix(),
    load: { dev: loadTime(bundles.devFile), production: loadTime(bundles.prodFile) },
    audit: await auditPage(),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  process.stderr.write(`extension bench: ${e.stack ?? e}\n`);
  process.exit(1);
});
