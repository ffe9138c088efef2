// Bundles the CLI, the VS Code extension and the Audit webview script with esbuild.
//
//   node esbuild.mjs               development build: sourcemaps, no minify
//   node esbuild.mjs --production  minified, no sourcemaps
//   node esbuild.mjs --watch       rebuild on change (Ctrl+C to stop)
//
// Entries whose source file does not exist yet are skipped with a warning, so `npm run build`
// works at every stage of the project. Exits non-zero when any build fails.
//
// The extension is three CommonJS files in dist/, so that activation loads only what the views
// and commands need (VS Code counts the time to load `main` as part of activation):
//   extension.js  src/extension.ts and src/vscode/ — loaded at activation;
//   core.js       src/core/ (without mcp/) and zod v4 — required by extension.js at activation;
//   server.js     src/core/mcp/http.ts: the MCP SDK, its protocol schemas, our transport and tools —
//                 required only when the server starts (src/vscode/mcpHost.ts imports it with a
//                 dynamic import(), which becomes `require('./server.js')`).
// extension.js and server.js both take src/core from core.js, never from a copy of their own, so a
// class such as SecretValue or KeyringError has one identity on both sides (the tools check
// `instanceof`). The split is enforced here: a static import of src/core/mcp/ from the extension
// side fails the build. `import { buildExtensionBundles } from './esbuild.mjs'` builds the three
// files elsewhere (bench/extension.mjs does).
import * as esbuild from 'esbuild';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { copyWebviewAssets } from './scripts/webviewAssets.mjs';

const ROOT = dirname(fileURLToPath(import.meta.url));
const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
const args = new Set(isMain ? process.argv.slice(2) : []);
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

/** The MCP server's entry: the only module of src/core/mcp/ the extension side may import (lazily). */
const SERVER_ENTRY = 'src/core/mcp/http.ts';
/**
 * Package entry points that extension.js and server.js take from core.js instead of bundling their
 * own copy: zod v4 (src/vscode/, src/core/ and the MCP SDK all build schemas with it; one copy
 * means one load, and one set of classes as in a single bundle). `zod/v3`, a separate
 * implementation the SDK uses to recognise v3 schemas, stays in server.js.
 */
const SHARED_MODULES = ['zod', 'zod/v4', 'zod/v4/core', 'zod/v4-mini'];
/** A zod entry point that is neither shared nor v3 would be a second copy of zod v4. */
const UNSHARED_ZOD = /^zod(?!\/v3(?:\/|$))(?:\/|$)/;

/**
 * @typedef {object} Entry
 * @property {string} name        label used in log lines
 * @property {string} entry       source file, relative to the repo root (for `core`: a directory
 *                                whose modules are re-exported, one namespace per module)
 * @property {string} outfile     bundle, relative to the repo root
 * @property {string[]} external  modules left as run-time require()s
 * @property {boolean} [executable] add a `#!/usr/bin/env node` line and chmod 755
 * @property {'browser'} [platform] a webview script: an IIFE for the browser (default: node, cjs)
 * @property {'extension' | 'server' | 'core'} [split] part of the three-file extension (see top)
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
    split: 'extension',
  },
  {
    name: 'extension-core',
    entry: 'src/core',
    outfile: 'dist/core.js',
    external: [...NATIVE_OPTIONAL],
    split: 'core',
  },
  {
    name: 'extension-server',
    entry: SERVER_ENTRY,
    outfile: 'dist/server.js',
    external: [...NATIVE_OPTIONAL],
    split: 'server',
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

/** Repo-relative path with `/` separators. */
function repoPath(file) {
  return relative(ROOT, file).split(sep).join('/');
}

/** Whether a repo-relative path is a module of the shared core (src/core/ outside src/core/mcp/). */
function isSharedCore(path) {
  return path.startsWith('src/core/') && !path.startsWith('src/core/mcp/');
}

/**
 * The modules core.js re-exports, one namespace per module: every src/core/ module outside mcp/,
 * keyed by its repo-relative path without `.ts`, and the shared packages, keyed by name.
 * @param {string} dir
 */
function coreBarrel(dir) {
  const modules = readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => `${dir}/${f.split(sep).join('/')}`.replace(/\.ts$/, ''))
    .filter((key) => isSharedCore(key))
    .sort();
  return [...modules.map((key) => [key, `./${key}`]), ...SHARED_MODULES.map((p) => [p, p])]
    .map(([key, from]) => `export * as ${JSON.stringify(key)} from ${JSON.stringify(from)};`)
    .join('\n');
}

/**
 * The split of the extension (see the top of this file). In extension.js and server.js, an import
 * of a shared-core module or of a {@link SHARED_MODULES} entry becomes a small module that takes
 * that namespace from `require('./core.js')`. In extension.js, the dynamic import of the
 * server entry becomes `require('./server.js')`, and any other import of src/core/mcp/ is an error.
 * @param {'extension' | 'server'} role
 * @returns {esbuild.Plugin}
 */
function splitPlugin(role) {
  return {
    name: 'akr-split',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.namespace !== 'file' || args.kind === 'entry-point' || args.pluginData?.akrSplit) {
          return undefined;
        }
        if (SHARED_MODULES.includes(args.path)) {
          return { path: args.path, namespace: 'akr-core' };
        }
        if (UNSHARED_ZOD.test(args.path)) {
          return {
            errors: [
              {
                text: `'${args.path}' (imported by ${repoPath(args.importer)}) would bundle a second copy of zod v4: add it to SHARED_MODULES in esbuild.mjs.`,
              },
            ],
          };
        }
        const importer = repoPath(args.importer);
        if (!args.path.startsWith('.') || !importer.startsWith('src/')) {
          return undefined;
        }
        const resolved = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: { akrSplit: true },
        });
        if (resolved.errors.length > 0) {
          return { errors: resolved.errors };
        }
        const target = repoPath(resolved.path);
        if (isSharedCore(target) && !isSharedCore(importer)) {
          return { path: target.replace(/\.ts$/, ''), namespace: 'akr-core' };
        }
        if (role === 'extension' && target.startsWith('src/core/mcp/')) {
          if (target === SERVER_ENTRY && args.kind === 'dynamic-import') {
            return { path: './server.js', external: true };
          }
          return {
            errors: [
              {
                text: `${importer} imports ${target}${args.kind === 'dynamic-import' ? '' : ' statically'}: the MCP server is dist/server.js, loaded when the server starts. Import MCP_PATH and startHttpHost from src/vscode/mcpHost.ts instead.`,
              },
            ],
          };
        }
        return undefined;
      });
      build.onResolve({ filter: /^\.\/core\.js$/, namespace: 'akr-core' }, () => ({
        path: './core.js',
        external: true,
      }));
      build.onLoad({ filter: /.*/, namespace: 'akr-core' }, (args) => ({
        loader: 'js',
        contents: [
          `const ns = require('./core.js')[${JSON.stringify(args.path)}];`,
          'if (ns === undefined) {',
          `  throw new Error(${JSON.stringify(`dist/core.js has no module '${args.path}': rebuild with npm run build.`)});`,
          '}',
          'module.exports = ns;',
        ].join('\n'),
      }));
    },
  };
}

/**
 * @param {Entry} e
 * @param {{ outdir?: string, production?: boolean, report?: boolean }} [opts] defaults: dist/ as
 *   in `e.outfile`, this run's --production, a report line per build
 * @returns {esbuild.BuildOptions}
 */
function optionsFor(e, opts = {}) {
  const prod = opts.production ?? production;
  const entryPath = join(ROOT, e.entry);
  const outfile = opts.outdir ? join(opts.outdir, basename(e.outfile)) : join(ROOT, e.outfile);
  // If the source already starts with a hashbang, esbuild keeps it; adding a banner too would give
  // a second '#!' line, which is a syntax error.
  const needsBanner = e.executable === true && !readFileSync(entryPath, 'utf8').startsWith('#!');
  if (prod) {
    // A production bundle has no sourcemap: drop a stale one from an earlier dev build so it is
    // never packaged next to a bundle it does not describe.
    rmSync(`${outfile}.map`, { force: true });
  }
  const plugins = [];
  if (opts.report !== false) {
    plugins.push(reportPlugin(e));
  }
  if (e.split === 'extension' || e.split === 'server') {
    plugins.push(splitPlugin(e.split));
  }
  return {
    absWorkingDir: ROOT,
    ...(e.split === 'core'
      ? {
          stdin: {
            contents: coreBarrel(e.entry),
            resolveDir: ROOT,
            sourcefile: 'core-barrel.js',
            loader: 'js',
          },
        }
      : { entryPoints: [entryPath] }),
    outfile,
    // extension.js loads server.js with require(), as core.js: one CommonJS module cache for the
    // three files (an import() would go through Node's ES module loader).
    ...(e.split === 'extension' ? { supported: { 'dynamic-import': false } } : {}),
    bundle: true,
    format: e.platform === 'browser' ? 'iife' : 'cjs',
    platform: e.platform ?? 'node',
    target: e.platform === 'browser' ? 'es2022' : 'node20',
    external: e.external,
    // jsonc-parser's `main` is a UMD build whose internal require()s esbuild cannot follow;
    // its ES module build bundles cleanly.
    alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
    banner: needsBanner ? { js: HASHBANG } : undefined,
    minify: prod,
    sourcemap: !prod,
    sourcesContent: false,
    metafile: true,
    logLevel: opts.report === false ? 'silent' : 'warning',
    plugins,
  };
}

/**
 * Builds the three extension files (extension.js, core.js, server.js) into `outdir`, as
 * `npm run build` (or, with `production`, `vscode:prepublish`) builds them into dist/.
 * @param {{ outdir: string, production: boolean }} opts
 * @returns {Promise<Record<'extension' | 'core' | 'server', { file: string, bytes: number }>>}
 */
export async function buildExtensionBundles(opts) {
  const parts = ENTRIES.filter((e) => e.split);
  const results = await Promise.all(
    parts.map((e) =>
      esbuild.build(optionsFor(e, { outdir: opts.outdir, production: opts.production, report: false })),
    ),
  );
  return Object.fromEntries(
    parts.map((e, i) => {
      const file = join(opts.outdir, basename(e.outfile));
      const out = results[i].metafile.outputs[relative(ROOT, file).split(sep).join('/')];
      return [e.split, { file, bytes: out?.bytes ?? 0 }];
    }),
  );
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

if (isMain) {
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
}
