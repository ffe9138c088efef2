// esbuild's options for each entry, and the builds: every entry once (npm run build), in watch
// mode, or the four extension files elsewhere (buildExtensionBundles, for the benchmark).
import * as esbuild from 'esbuild';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import process from 'node:process';
import { copyWebviewAssets } from '../webviewAssets.mjs';
import { ALIAS, ENTRIES, ROOT } from './entries.mjs';
import { reportPlugin } from './report.mjs';
import { assertOneCopy, coreBarrel, splitPlugin } from './split.mjs';

/** @typedef {import('./entries.mjs').Entry} Entry */

const HASHBANG = '#!/usr/bin/env node';

/**
 * @param {Entry} e
 * @param {{ outdir?: string, production: boolean, watch?: boolean, report?: boolean }} opts
 *   outdir defaults to dist/ as in `e.outfile`; a report line per build unless `report: false`
 * @returns {esbuild.BuildOptions}
 */
function optionsFor(e, opts) {
  const prod = opts.production;
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
    plugins.push(reportPlugin(e, { watch: opts.watch === true, production: prod }));
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
    alias: ALIAS,
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

/**
 * Builds every entry (`watch`: and rebuilds on change until SIGINT/SIGTERM).
 * @param {{ production: boolean, watch: boolean }} mode
 * @returns {Promise<number | undefined>} the exit code; undefined while watching
 */
export async function buildAll(mode) {
  const { watch } = mode;
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
    const contexts = await Promise.all(present.map((e) => esbuild.context(optionsFor(e, mode))));
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
  const results = await Promise.allSettled(present.map((e) => esbuild.build(optionsFor(e, mode))));
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
