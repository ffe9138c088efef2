// Bundles the CLI, the VS Code extension and the Audit webview script with esbuild.
//
//   node esbuild.mjs               development build: sourcemaps, no minify
//   node esbuild.mjs --production  minified, no sourcemaps
//   node esbuild.mjs --watch       rebuild on change (Ctrl+C to stop)
//
// Entries whose source file does not exist yet are skipped with a warning, so `npm run build`
// works at every stage of the project. Exits non-zero when any build fails.
//
// The extension is four CommonJS files in dist/, so that activation loads only what the views
// and commands need (VS Code counts the time to load `main` as part of activation):
//   extension.js  src/extension.ts and src/vscode/ — loaded at activation;
//   core.js       src/core/ (without mcp/ and the LAZY_CORE modules) and zod v4 — required by
//                 extension.js at activation;
//   lazy.js       the LAZY_CORE modules (Connect Agent's config writers, Import from .env, Scan MCP
//                 Configs, audit export/verify), the packages only they use (dotenv,
//                 jsonc-parser, smol-toml) and zod's locales (LAZY_PACKAGE_FILES) — required the
//                 first time one of their exports is used, that is when such a command first runs;
//   server.js     src/core/mcp/http.ts: the MCP SDK, its protocol schemas, our transport and tools —
//                 required only when the server starts (src/vscode/mcpHost.ts imports it with a
//                 dynamic import(), which becomes `require('./server.js')`).
// Each module of src/core/ is in exactly one of core.js and lazy.js; the other files take it from
// there, never from a copy of their own, so a class such as SecretValue or KeyringError has one
// identity everywhere (the tools and commands check `instanceof`). An import of a lazy.js module
// from extension.js or server.js becomes a stub whose exports are getters that require lazy.js on
// first use. The split is enforced here: the build fails on a static import of src/core/mcp/ from
// the extension side, on an import of a LAZY_CORE module from a core.js module, and on any package
// file that ends up in two of the four files. `import { buildExtensionBundles } from
// './esbuild.mjs'` builds the four files elsewhere (bench/extension.mjs does).
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
 * The src/core/ modules of dist/lazy.js (a folder ends with `/`): what only some commands need.
 * A module of core.js that imports one of them fails the build (it would pull it into activation).
 */
const LAZY_CORE = [
  'src/core/connect/',
  'src/core/importEnv/',
  'src/core/migrate/',
  'src/core/audit/export.ts',
  'src/core/audit/verify.ts',
  'src/core/textLines.ts',
  // The PostgreSQL team store and the `pg` driver: only the CLI opens one.
  'src/core/store/postgres/',
];
/**
 * Package files bundled in lazy.js, not core.js, although core.js imports them: core.js and the
 * others reach them through the same getters as a LAZY_CORE module (key → file). zod's 61 locales
 * (z.locales, ~350 KiB unminified, a third of core.js) are used by nobody here but would otherwise
 * be compiled at every activation; English, the default, is en.js, which stays in core.js.
 */
const LAZY_PACKAGE_FILES = { 'zod/v4/locales': 'node_modules/zod/v4/locales/index.js' };
/**
 * Package files of core.js that lazy.js's LAZY_PACKAGE_FILES import: core.js exports them by key,
 * lazy.js takes them from there (key → file).
 */
const CORE_PACKAGE_FILES = {
  'zod/v4/core/util': 'node_modules/zod/v4/core/util.js',
  'zod/v4/locales/en': 'node_modules/zod/v4/locales/en.js',
};
/** The file names of the two lists: a relative import inside a package is resolved only if it ends so. */
const PACKAGE_FILE_IMPORT = new RegExp(
  `(?:^|/)(?:${[...new Set([...Object.values(LAZY_PACKAGE_FILES), ...Object.values(CORE_PACKAGE_FILES)].map((f) => basename(f).replace(/\./g, '\\.')))].join('|')})$`,
);

/**
 * @typedef {object} Entry
 * @property {string} name        label used in log lines
 * @property {string} entry       source file, relative to the repo root (for `core` and `lazy`: a
 *                                directory whose modules are re-exported, one namespace per module)
 * @property {string} outfile     bundle, relative to the repo root
 * @property {string[]} external  modules left as run-time require()s
 * @property {boolean} [executable] add a `#!/usr/bin/env node` line and chmod 755
 * @property {'browser'} [platform] a webview script: an IIFE for the browser (default: node, cjs)
 * @property {'extension' | 'server' | 'core' | 'lazy'} [split] part of the extension (see top)
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
    name: 'extension-lazy',
    entry: 'src/core',
    outfile: 'dist/lazy.js',
    external: [...NATIVE_OPTIONAL],
    split: 'lazy',
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

/**
 * The file a repo-relative path (with or without `.ts`) lives in when it is a shared module of
 * src/core/: `'core'` (core.js), `'lazy'` (lazy.js, see {@link LAZY_CORE}); undefined for anything
 * else (src/core/mcp/ is server.js's own).
 * @param {string} path
 * @returns {'core' | 'lazy' | undefined}
 */
function homeOf(path) {
  if (!path.startsWith('src/core/') || path.startsWith('src/core/mcp/')) {
    return undefined;
  }
  const file = path.endsWith('.ts') ? path : `${path}.ts`;
  return LAZY_CORE.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p)) ? 'lazy' : 'core';
}

/**
 * The modules core.js or lazy.js re-exports, one namespace per module: every src/core/ module of
 * that file, keyed by its repo-relative path without `.ts`, and (core.js) the shared packages, keyed
 * by name.
 * @param {string} dir
 * @param {'core' | 'lazy'} home
 */
function coreBarrel(dir, home) {
  const modules = sharedModules(dir, home);
  const packages =
    home === 'core'
      ? [
          ...SHARED_MODULES.map((p) => [p, p]),
          ...Object.entries(CORE_PACKAGE_FILES).map(([k, f]) => [k, `./${f}`]),
        ]
      : Object.entries(LAZY_PACKAGE_FILES).map(([k, f]) => [k, `./${f}`]);
  return [...modules.map((key) => [key, `./${key}`]), ...packages]
    .map(([key, from]) => `export * as ${JSON.stringify(key)} from ${JSON.stringify(from)};`)
    .join('\n');
}

/**
 * The src/core/ modules of core.js or lazy.js, by repo-relative path without `.ts`.
 * @param {string} dir
 * @param {'core' | 'lazy'} home
 */
function sharedModules(dir, home) {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => `${dir}/${f.split(sep).join('/')}`.replace(/\.ts$/, ''))
    .filter((key) => homeOf(key) === home)
    .sort();
}

/**
 * The run-time export names (types are not) of each lazy.js module and of each
 * CORE_PACKAGE_FILES file, keyed as in {@link coreBarrel}: their stubs export these names one by
 * one. Read from esbuild's metafile of the modules built on their own with every import left
 * external.
 * @returns {Promise<Map<string, string[]>>}
 */
async function stubExportNames() {
  const keys = new Map([
    ...sharedModules('src/core', 'lazy').map((k) => [`${k}.ts`, k]),
    ...Object.entries(LAZY_PACKAGE_FILES).map(([k, f]) => [f, k]),
    ...Object.entries(CORE_PACKAGE_FILES).map(([k, f]) => [f, k]),
  ]);
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: [...keys.keys()].map((f) => join(ROOT, f)),
    outdir: join(ROOT, 'dist', '.lazy-exports'),
    write: false,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    metafile: true,
    logLevel: 'silent',
    plugins: [
      {
        name: 'akr-only-entry',
        setup(build) {
          build.onResolve({ filter: /.*/ }, (args) =>
            args.kind === 'entry-point' ? undefined : { path: args.path, external: true },
          );
        },
      },
    ],
  });
  const names = new Map();
  for (const [file, out] of Object.entries(result.metafile.outputs)) {
    if (!out.entryPoint) {
      continue;
    }
    const key = keys.get(out.entryPoint) ?? out.entryPoint;
    const text = result.outputFiles.find((f) => repoPath(f.path) === file)?.text ?? '';
    if (/^export \*/m.test(text)) {
      throw new Error(
        `${out.entryPoint} has an 'export * from': lazy.js stubs need every export by name. Export the names one by one.`,
      );
    }
    names.set(key, out.exports);
  }
  return names;
}

/**
 * The split of the extension (see the top of this file), in the build of `role`'s file. In
 * extension.js, server.js and lazy.js, an import of a core.js module or of a
 * {@link SHARED_MODULES} entry becomes a small module that takes that namespace from
 * `require('./core.js')`; in extension.js and server.js, an import of a lazy.js module becomes a
 * stub whose getters require lazy.js on first use. In core.js, an import of a lazy.js module is an
 * error. In extension.js, the dynamic import of the server entry becomes `require('./server.js')`,
 * and any other import of src/core/mcp/ is an error.
 * @param {'extension' | 'server' | 'core' | 'lazy'} role
 * @returns {esbuild.Plugin}
 */
function splitPlugin(role) {
  return {
    name: 'akr-split',
    setup(build) {
      /** @type {Promise<Map<string, string[]>> | undefined} */
      let stubNames;
      build.onStart(() => {
        stubNames = undefined; // a watch rebuild may have new exports
      });
      const namesOf = async (key) => {
        stubNames ??= stubExportNames();
        return (await stubNames).get(key);
      };
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.namespace !== 'file' || args.kind === 'entry-point' || args.pluginData?.akrSplit) {
          return undefined;
        }
        if (role === 'core') {
          // core.js bundles zod and its other packages itself: nothing to redirect but lazy modules.
        } else if (SHARED_MODULES.includes(args.path)) {
          return { path: args.path, namespace: 'akr-core' };
        } else if (UNSHARED_ZOD.test(args.path)) {
          return {
            errors: [
              {
                text: `'${args.path}' (imported by ${repoPath(args.importer)}) would bundle a second copy of zod v4: add it to SHARED_MODULES in esbuild.mjs.`,
              },
            ],
          };
        }
        const importer = repoPath(args.importer);
        if (importer.startsWith('node_modules/') && PACKAGE_FILE_IMPORT.test(args.path)) {
          return packageFile(role, args);
        }
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
        const home = homeOf(target);
        if (home !== undefined && home !== role) {
          if (role === 'core') {
            return {
              errors: [
                {
                  text: `${importer} imports ${target}, a module of dist/lazy.js (LAZY_CORE in esbuild.mjs): core.js is loaded at activation and must not pull it in. Take ${target} out of LAZY_CORE, or move the import to the command that needs it.`,
                },
              ],
            };
          }
          return { path: target.replace(/\.ts$/, ''), namespace: home === 'core' ? 'akr-core' : 'akr-lazy' };
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
      /**
       * An import inside a package of one of LAZY_PACKAGE_FILES or CORE_PACKAGE_FILES: a stub
       * unless this build is the file's home.
       * @param {'extension' | 'server' | 'core' | 'lazy'} role
       * @param {esbuild.OnResolveArgs} args
       */
      async function packageFile(role, args) {
        const resolved = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: { akrSplit: true },
        });
        const target = resolved.errors.length > 0 ? undefined : repoPath(resolved.path);
        const lazyKey = Object.keys(LAZY_PACKAGE_FILES).find((k) => LAZY_PACKAGE_FILES[k] === target);
        if (lazyKey !== undefined && role !== 'lazy') {
          return { path: lazyKey, namespace: 'akr-lazy' };
        }
        const coreKey = Object.keys(CORE_PACKAGE_FILES).find((k) => CORE_PACKAGE_FILES[k] === target);
        if (coreKey !== undefined && role !== 'core') {
          return { path: coreKey, namespace: 'akr-core' };
        }
        return undefined;
      }
      build.onResolve({ filter: /^\.\/(core|lazy)\.js$/, namespace: 'akr-core' }, (args) => ({
        path: args.path,
        external: true,
      }));
      build.onResolve({ filter: /^\.\/lazy\.js$/, namespace: 'akr-lazy' }, (args) => ({
        path: args.path,
        external: true,
      }));
      build.onLoad({ filter: /.*/, namespace: 'akr-core' }, async (args) => {
        const take = [
          `const ns = require('./core.js')[${JSON.stringify(args.path)}];`,
          'if (ns === undefined) {',
          `  throw new Error(${JSON.stringify(`dist/core.js has no module '${args.path}': rebuild with npm run build.`)});`,
          '}',
        ];
        if (!(args.path in CORE_PACKAGE_FILES)) {
          return { loader: 'js', contents: [...take, 'module.exports = ns;'].join('\n') };
        }
        // A package file is imported by ES modules of a `"type": "module"` package, for which a
        // CommonJS module's `default` is its module.exports: an ES module stub keeps `import en
        // from './en.js'` meaning en.js's default export. (core.js is loaded by then: the values
        // are final.)
        const names = (await namesOf(args.path)) ?? [];
        return {
          loader: 'js',
          contents: [
            ...take,
            ...names.map((n, i) => `const e${i} = ns[${JSON.stringify(n)}];`),
            // An export may be named by a reserved word (zod's regexes.js exports `null`).
            `export { ${names.map((n, i) => `e${i} as ${/^[A-Za-z_$][\w$]*$/.test(n) ? n : JSON.stringify(n)}`).join(', ')} };`,
          ].join('\n'),
        };
      });
      build.onLoad({ filter: /.*/, namespace: 'akr-lazy' }, async (args) => {
        const names = await namesOf(args.path);
        if (names === undefined) {
          return {
            errors: [{ text: `${args.path} is not a module of dist/lazy.js (LAZY_CORE in esbuild.mjs).` }],
          };
        }
        // esbuild reads an import of a CommonJS module at each use (`import_x.name`), and its
        // __toESM copies these getters without calling them: lazy.js loads on the first use.
        return {
          loader: 'js',
          contents: [
            'let ns;',
            'const load = () => {',
            '  if (ns === undefined) {',
            `    ns = require('./lazy.js')[${JSON.stringify(args.path)}];`,
            '    if (ns === undefined) {',
            `      throw new Error(${JSON.stringify(`dist/lazy.js has no module '${args.path}': rebuild with npm run build.`)});`,
            '    }',
            '  }',
            '  return ns;',
            '};',
            "Object.defineProperty(exports, '__esModule', { value: true });",
            `for (const name of ${JSON.stringify(names)}) {`,
            '  Object.defineProperty(exports, name, { enumerable: true, get: () => load()[name] });',
            '}',
          ].join('\n'),
        };
      });
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
  if (e.split) {
    plugins.push(splitPlugin(e.split));
  }
  return {
    absWorkingDir: ROOT,
    ...(e.split === 'core' || e.split === 'lazy'
      ? {
          stdin: {
            contents: coreBarrel(e.entry, e.split),
            resolveDir: ROOT,
            sourcefile: `${e.split}-barrel.js`,
            loader: 'js',
          },
        }
      : { entryPoints: [entryPath] }),
    outfile,
    // extension.js loads server.js with require(), as core.js and lazy.js: one CommonJS module
    // cache for the four files (an import() would go through Node's ES module loader).
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
 * The files (package files and src/ modules) bundled into more than one of the extension's files,
 * each with the files that hold it: there must be none (see the top of this file). zod/v3 is
 * server.js's own; the stubs that take a module from core.js or lazy.js are not files.
 * @param {{ entry: Entry, metafile: esbuild.Metafile }[]} built
 * @returns {string[]} one line per file held twice
 */
function duplicatedInputs(built) {
  /** @type {Map<string, string[]>} */
  const holders = new Map();
  for (const { entry, metafile } of built) {
    for (const input of Object.keys(metafile.inputs)) {
      if (!/^(akr-core|akr-lazy):|^<stdin>$/.test(input)) {
        holders.set(input, [...(holders.get(input) ?? []), entry.outfile]);
      }
    }
  }
  return [...holders]
    .filter(([, files]) => files.length > 1)
    .map(([input, files]) => `${input} is in ${files.join(' and ')}`);
}

/**
 * Fails (throws) when a file is bundled into two of the extension's files: a second copy of a
 * module has its own classes and state, so `instanceof` and shared caches break between them.
 * @param {{ entry: Entry, metafile: esbuild.Metafile }[]} built
 */
function assertOneCopy(built) {
  const dups = duplicatedInputs(built);
  if (dups.length > 0) {
    throw new Error(
      `the extension's files hold ${dups.length} module(s) twice (a second copy breaks instanceof): ${dups.slice(0, 5).join('; ')}${dups.length > 5 ? '; …' : ''}. Share it through core.js (SHARED_MODULES or src/core/) or move it to one file (LAZY_CORE) in esbuild.mjs.`,
    );
  }
}

/**
 * Builds the four extension files (extension.js, core.js, lazy.js, server.js) into `outdir`, as
 * `npm run build` (or, with `production`, `vscode:prepublish`) builds them into dist/.
 * @param {{ outdir: string, production: boolean }} opts
 * @returns {Promise<Record<'extension' | 'core' | 'lazy' | 'server', { file: string, bytes: number }>>}
 */
export async function buildExtensionBundles(opts) {
  const parts = ENTRIES.filter((e) => e.split);
  const results = await Promise.all(
    parts.map((e) =>
      esbuild.build(optionsFor(e, { outdir: opts.outdir, production: opts.production, report: false })),
    ),
  );
  assertOneCopy(parts.map((entry, i) => ({ entry, metafile: results[i].metafile })));
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
  const split = present
    .map((entry, i) => ({ entry, result: results[i] }))
    .filter(({ entry }) => entry.split)
    .map(({ entry, result }) => ({
      entry,
      metafile: /** @type {PromiseFulfilledResult<esbuild.BuildResult>} */ (result).value.metafile,
    }));
  try {
    assertOneCopy(split);
  } catch (err) {
    console.error(`✘ build failed: ${/** @type {Error} */ (err).message}`);
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
