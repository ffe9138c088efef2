// Preloaded into the server under test (`node --require bench/lib/countFs.cjs dist/cli.js serve …`)
// to count file-system calls: every fs.promises function, every callback/sync fs function, and
// FileHandle methods (sync = fsync). On SIGUSR2 it appends a JSON snapshot of the counters to the
// file named by AKR_FS_COUNT_FILE, so the bench can diff two snapshots around a measured run.
// With AKR_FS_NO_SYNC=1, FileHandle.sync/datasync resolve at once WITHOUT syncing: a what-if used
// only to attribute latency to fsync — never a configuration to run.
'use strict';
const fs = require('node:fs');

const counts = Object.create(null);
const bump = (k) => (counts[k] = (counts[k] ?? 0) + 1);

function wrapAll(obj, prefix) {
  for (const name of Object.keys(obj)) {
    const fn = obj[name];
    if (typeof fn !== 'function' || /^[A-Z]/.test(name) || name === 'watch' || name === 'watchFile') {
      continue;
    }
    obj[name] = function (...args) {
      bump(`${prefix}${name}`);
      return fn.apply(this, args);
    };
  }
}

const promises = fs.promises;
let handleProtoPatched = false;
const open = promises.open;
wrapAll(promises, 'promises.');
promises.open = async function (...args) {
  bump('promises.open');
  const fh = await open.apply(this, args);
  if (!handleProtoPatched) {
    handleProtoPatched = true;
    const proto = Object.getPrototypeOf(fh);
    for (const m of [
      'sync',
      'datasync',
      'read',
      'write',
      'writeFile',
      'readFile',
      'stat',
      'close',
      'truncate',
    ]) {
      const orig = proto[m];
      if (typeof orig === 'function') {
        const skip = process.env.AKR_FS_NO_SYNC === '1' && (m === 'sync' || m === 'datasync');
        proto[m] = function (...a) {
          bump(`handle.${m}`);
          return skip ? Promise.resolve() : orig.apply(this, a);
        };
      }
    }
  }
  return fh;
};
wrapAll(fs, 'fs.');

process.on('SIGUSR2', () => {
  const file = process.env.AKR_FS_COUNT_FILE;
  if (file) {
    fs.appendFileSync(file, JSON.stringify({ ...counts }) + '\n');
  }
});
