// One line per bundle built (its size and time), and one `file:line:col: severity: text` line
// per problem for the problem matcher in .vscode/tasks.json.
import { chmodSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from './entries.mjs';

/** @typedef {import('./entries.mjs').Entry} Entry */

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
 * @param {{ watch: boolean, production: boolean }} mode
 * @returns {import('esbuild').Plugin}
 */
export function reportPlugin(e, { watch, production }) {
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
