// The extension's split into extension.js, core.js, lazy.js and server.js (see entries.mjs):
// the esbuild plugin that redirects imports between them, the barrels of core.js and lazy.js, and
// the check that no module is bundled twice.
import * as esbuild from 'esbuild';
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import {
  CORE_PACKAGE_FILES,
  LAZY_CORE,
  LAZY_PACKAGE_FILES,
  PACKAGE_FILE_IMPORT,
  ROOT,
  SERVER_ENTRY,
  SHARED_MODULES,
  UNSHARED_ZOD,
} from './entries.mjs';

/** @typedef {import('./entries.mjs').Entry} Entry */

/** Repo-relative path with `/` separators. */
export function repoPath(file) {
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
export function coreBarrel(dir, home) {
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
 * The split of the extension (see entries.mjs), in the build of `role`'s file. In
 * extension.js, server.js and lazy.js, an import of a core.js module or of a
 * {@link SHARED_MODULES} entry becomes a small module that takes that namespace from
 * `require('./core.js')`; in extension.js and server.js, an import of a lazy.js module becomes a
 * stub whose getters require lazy.js on first use. In core.js, an import of a lazy.js module is an
 * error. In extension.js, the dynamic import of the server entry becomes `require('./server.js')`,
 * and any other import of src/core/mcp/ is an error.
 * @param {'extension' | 'server' | 'core' | 'lazy'} role
 * @returns {esbuild.Plugin}
 */
export function splitPlugin(role) {
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
                text: `'${args.path}' (imported by ${repoPath(args.importer)}) would bundle a second copy of zod v4: add it to SHARED_MODULES in scripts/build/entries.mjs.`,
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
                  text: `${importer} imports ${target}, a module of dist/lazy.js (LAZY_CORE in scripts/build/entries.mjs): core.js is loaded at activation and must not pull it in. Take ${target} out of LAZY_CORE, or move the import to the command that needs it.`,
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
                text: `${importer} imports ${target}${args.kind === 'dynamic-import' ? '' : ' statically'}: the MCP server is dist/server.js, loaded when the server starts. Import MCP_PATH and startHttpHost from src/vscode/server/mcpHost.ts instead.`,
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
            errors: [
              {
                text: `${args.path} is not a module of dist/lazy.js (LAZY_CORE in scripts/build/entries.mjs).`,
              },
            ],
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
 * The files (package files and src/ modules) bundled into more than one of the extension's files,
 * each with the files that hold it: there must be none (see entries.mjs). zod/v3 is
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
export function assertOneCopy(built) {
  const dups = duplicatedInputs(built);
  if (dups.length > 0) {
    throw new Error(
      `the extension's files hold ${dups.length} module(s) twice (a second copy breaks instanceof): ${dups.slice(0, 5).join('; ')}${dups.length > 5 ? '; …' : ''}. Share it through core.js (SHARED_MODULES or src/core/) or move it to one file (LAZY_CORE) in scripts/build/entries.mjs.`,
    );
  }
}
