// Bundles the CLI, the VS Code extension and the Audit webview script with esbuild.
//
//   node esbuild.mjs               development build: sourcemaps, no minify
//   node esbuild.mjs --production  minified, no sourcemaps
//   node esbuild.mjs --watch       rebuild on change (Ctrl+C to stop)
//
// Entries whose source file does not exist yet are skipped with a warning, so `npm run build`
// works at every stage of the project. Exits non-zero when any build fails.
//
// The parts live in scripts/build/: entries.mjs (what is built, and the extension's split into
// extension.js, core.js, lazy.js and server.js, so that activation loads only what it needs),
// split.mjs (the esbuild plugin that enforces that split), bundles.mjs (esbuild's options and the
// builds) and report.mjs (a line per bundle, a line per problem). `import { buildExtensionBundles }
// from './esbuild.mjs'` builds the four extension files elsewhere (bench/extension.mjs does).
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { buildAll } from './scripts/build/bundles.mjs';

export { buildExtensionBundles } from './scripts/build/bundles.mjs';

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];

if (isMain) {
  const args = new Set(process.argv.slice(2));
  for (const arg of args) {
    if (arg !== '--production' && arg !== '--watch') {
      console.error(`esbuild.mjs: unknown argument '${arg}'. Use --production and/or --watch.`);
      process.exit(2);
    }
  }
  buildAll({ production: args.has('--production'), watch: args.has('--watch') }).then(
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
