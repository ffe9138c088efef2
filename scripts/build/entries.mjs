// What the build makes, and the rules of the extension's split into four files.
//
// The extension is four CommonJS files in dist/, so that activation loads only what the views
// and commands need (VS Code counts the time to load `main` as part of activation):
//   extension.js  src/extension.ts and src/vscode/ — loaded at activation;
//   core.js       src/core/ (without mcp/ and the LAZY_CORE modules) and zod v4 — required by
//                 extension.js at activation;
//   lazy.js       the LAZY_CORE modules (Connect Agent's config writers, Import from .env, Scan MCP
//                 Configs, audit export), the packages only they use (dotenv,
//                 jsonc-parser, smol-toml) and zod's locales (LAZY_PACKAGE_FILES) — required the
//                 first time one of their exports is used, that is when such a command first runs;
//   server.js     src/core/mcp/http.ts: the MCP SDK, its protocol schemas, our transport and tools —
//                 required only when the server starts (src/vscode/server/mcpHost.ts imports it with a
//                 dynamic import(), which becomes `require('./server.js')`).
// Each module of src/core/ is in exactly one of core.js and lazy.js; the other files take it from
// there, never from a copy of their own, so a class such as SecretValue or KeyringError has one
// identity everywhere (the tools and commands check `instanceof`). An import of a lazy.js module
// from extension.js or server.js becomes a stub whose exports are getters that require lazy.js on
// first use. The split is enforced by split.mjs: the build fails on a static import of
// src/core/mcp/ from the extension side, on an import of a LAZY_CORE module from a core.js module,
// and on any package file that ends up in two of the four files. `import { buildExtensionBundles }
// from './esbuild.mjs'` builds the four files elsewhere (bench/extension.mjs does).
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is scripts/build/entries.mjs). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Native modules that must be loaded at run time (optional: code falls back when they are absent). */
export const NATIVE_OPTIONAL = ['@napi-rs/keyring'];

/**
 * Module aliases every bundle needs (the bench's own bundles too): jsonc-parser's `main` is a UMD
 * build whose internal require()s esbuild cannot follow; its ES module build bundles cleanly.
 */
export const ALIAS = { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' };

/** The MCP server's entry: the only module of src/core/mcp/ the extension side may import (lazily). */
export const SERVER_ENTRY = 'src/core/mcp/http.ts';
/**
 * Package entry points that extension.js and server.js take from core.js instead of bundling their
 * own copy: zod v4 (src/vscode/, src/core/ and the MCP SDK all build schemas with it; one copy
 * means one load, and one set of classes as in a single bundle). `zod/v3`, a separate
 * implementation the SDK uses to recognise v3 schemas, stays in server.js.
 */
export const SHARED_MODULES = ['zod', 'zod/v4', 'zod/v4/core', 'zod/v4-mini'];
/** A zod entry point that is neither shared nor v3 would be a second copy of zod v4. */
export const UNSHARED_ZOD = /^zod(?!\/v3(?:\/|$))(?:\/|$)/;
/**
 * The src/core/ modules of dist/lazy.js (a folder ends with `/`): what only some commands need.
 * A module of core.js that imports one of them fails the build (it would pull it into activation).
 */
export const LAZY_CORE = [
  'src/core/connect/',
  'src/core/importEnv/',
  'src/core/migrate/',
  'src/core/audit/export.ts',
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
export const LAZY_PACKAGE_FILES = { 'zod/v4/locales': 'node_modules/zod/v4/locales/index.js' };
/**
 * Package files of core.js that lazy.js's LAZY_PACKAGE_FILES import: core.js exports them by key,
 * lazy.js takes them from there (key → file).
 */
export const CORE_PACKAGE_FILES = {
  'zod/v4/core/util': 'node_modules/zod/v4/core/util.js',
  'zod/v4/locales/en': 'node_modules/zod/v4/locales/en.js',
};
/** The file names of the two lists: a relative import inside a package is resolved only if it ends so. */
export const PACKAGE_FILE_IMPORT = new RegExp(
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
export const ENTRIES = [
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
