// Bundles the CLI (and, once it exists, the VS Code extension) with esbuild.
//
//   node esbuild.mjs               development build: sourcemaps, no minify
//   node esbuild.mjs --production  minified, no sourcemaps
//   node esbuild.mjs --watch       rebuild on change (Ctrl+C to stop)
//
// Entries whose source file does not exist yet are skipped with a warning, so `npm run build`
// works at every stage of the project. Exits non-zero when any build fails.
import * as esbuild from 'esbuild';
import { chmodSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { copyWebviewAssets } from './scripts/webviewAssets.mjs';

const ROOT = dirname(fileURLToPath(import.meta.url));
const args = new Set(process.argv.slice(2));
const production = args.has('--production');
const watch = args.has('--watch');

for (const arg of args) {
  if (arg !== '--production' && arg !== '--watch') {
    console.error(`esbuild.mjs: unknown argument '${arg}'. Use --production and/or --watch.`);
    process.exit(2);
  }
}

/** Native modules that must be loaded at run time (optional: code falls back when they are absent). */
const NATIVE_OPTIONAL = ['@napi-rs/keyring'];

/**
 * @typedef {object} Entry
 * @property {string} name        label used in log lines
 * @property {string} entry       source file, relative to the repo root
 * @property {string} outfile     bundle, relative to the repo root
 * @property {string[]} external  modules left as run-time require()s
 * @property {boolean} [executable] add a `#!/usr/bin/env node` line and chmod 755
 * @property {'browser'} [platform] a webview script: an IIFE for the browser (default: node, cjs)
 */

/** @type {Entry[]} */
const ENTRIES = [
  {
    name: 'cli',
    entry: 'src/cli/main.ts',
    outfile: 'dist/cli.js',
    external: [...NATIVE_OPTIONAL],
    executable: true,
  },
  {
    name: 'extension',
    entry: 'src/extension.ts',
    outfile: 'dist/extension.js',
    external: ['vscode', ...NATIVE_OPTIONAL],
  },
  {
    name: 'audit-webview',
    entry: 'src/webview-ui/audit/main.ts',
    outfile: 'media/dist/audit.js',
    external: [],
    platform: 'browser',
  },
];

const HASHBANG = '#!/usr/bin/env node';

/** @param {number} bytes */
function formatSize(bytes) {
  if (bytes < 1024) {
    return `${bytes} B`;
  }
  if (bytes < 1024 * 1024) {
    return `${(bytes / 1024).toFixed(1)} KiB`;
  }
  return `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;
}

/**
 * Reports sizes (and fixes the mode of executables) after every build, including watch rebuilds.
 * @param {Entry} e
 * @returns {esbuild.Plugin}
 */
function reportPlugin(e) {
  return {
    name: 'akr-report',
    setup(build) {
      let started = 0;
      build.onStart(() => {
        started = Date.now();
        if (watch) {
          console.log(`[watch] ${e.name} build started`);
        }
      });
      build.onEnd((result) => {
        const ms = Date.now() - started;
        // One line per problem, `file:line:col: severity: text`, for the problem matcher in
        // .vscode/tasks.json (esbuild's own report above spreads each problem over several lines).
        for (const [severity, messages] of /** @type {const} */ ([
          ['error', result.errors],
          ['warning', result.warnings],
        ])) {
          for (const m of messages) {
            const where = m.location
              ? `${m.location.file}:${m.location.line}:${m.location.column + 1}`
              : e.entry;
            console.error(`${where}: ${severity}: ${m.text}`);
          }
        }
        if (watch) {
          console.log(`[watch] ${e.name} build finished`);
        }
        if (result.errors.length > 0) {
          console.error(`✘ ${e.name}: ${result.errors.length} error(s), ${e.outfile} not updated`);
          return;
        }
        const outfile = join(ROOT, e.outfile);
        if (e.executable) {
          chmodSync(outfile, 0o755);
        }
        const outputs = Object.entries(result.metafile?.outputs ?? {})
          .map(([file, info]) => `${relative(ROOT, join(ROOT, file))} ${formatSize(info.bytes)}`)
          .join(', ');
        console.log(`✔ ${e.name}: ${outputs} (${ms} ms${production ? ', production' : ''})`);
      });
    },
  };
}

/**
 * @param {Entry} e
 * @returns {esbuild.BuildOptions}
 */
function optionsFor(e) {
  const entryPath = join(ROOT, e.entry);
  // If the source already starts with a hashbang, esbuild keeps it; adding a banner too would give
  // a second '#!' line, which is a syntax error.
  const needsBanner = e.executable === true && !readFileSync(entryPath, 'utf8').startsWith('#!');
  if (production) {
    // A production bundle has no sourcemap: drop a stale one from an earlier dev build so it is
    // never packaged next to a bundle it does not describe.
    rmSync(join(ROOT, `${e.outfile}.map`), { force: true });
  }
  return {
    absWorkingDir: ROOT,
    entryPoints: [entryPath],
    outfile: join(ROOT, e.outfile),
    bundle: true,
    format: e.platform === 'browser' ? 'iife' : 'cjs',
    platform: e.platform ?? 'node',
    target: e.platform === 'browser' ? 'es2022' : 'node20',
    external: e.external,
    // jsonc-parser's `main` is a UMD build whose internal require()s esbuild cannot follow;
    // its ES module build bundles cleanly.
    alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
    banner: needsBanner ? { js: HASHBANG } : undefined,
    minify: production,
    sourcemap: !production,
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
    plugins: [reportPlugin(e)],
  };
}

async function main() {
  console.log(`✔ webview assets: ${copyWebviewAssets(ROOT)}`);
  const present = [];
  for (const e of ENTRIES) {
    if (existsSync(join(ROOT, e.entry))) {
      present.push(e);
    } else {
      console.warn(`⚠ ${e.name}: ${e.entry} does not exist yet, skipping ${e.outfile}`);
    }
  }
  if (present.length === 0) {
    console.warn('⚠ nothing to build: no entry file exists yet');
    return 0;
  }

  if (watch) {
    const contexts = await Promise.all(present.map((e) => esbuild.context(optionsFor(e))));
    await Promise.all(contexts.map((ctx) => ctx.watch()));
    console.log(`watching ${present.map((e) => e.entry).join(', ')} (Ctrl+C to stop)`);
    const stop = () => {
      void Promise.all(contexts.map((ctx) => ctx.dispose())).then(() => process.exit(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    return undefined; // keep running
  }

  // Build every entry even when one fails, so all errors show up in one run.
  const results = await Promise.allSettled(present.map((e) => esbuild.build(optionsFor(e))));
  const failed = results.filter((r) => r.status === 'rejected').length;
  if (failed > 0) {
    console.error(`✘ build failed: ${failed} of ${present.length} bundle(s) had errors (see above)`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    if (code !== undefined) {
      process.exitCode = code;
    }
  },
  (err) => {
    console.error('✘ build crashed:', err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
