// Preloaded into the server under test (`node --require bench/lib/countFs.cjs dist/cli.js serve …`)
// to count file-system calls: every fs.promises function, every callback/sync fs function, and
// FileHandle methods (sync = fsync). On SIGUSR2 it appends a JSON snapshot of the counters to the
// file named by AKR_FS_COUNT_FILE, so the bench can diff two snapshots around a measured run.
// With AKR_FS_NO_SYNC=1, FileHandle.sync/datasync resolve at once WITHOUT syncing, and the O_DSYNC /
// O_SYNC bits are removed from numeric open flags (the audit log opens its file with O_DSYNC, so
// each write is itself the flush): a what-if used only to attribute latency to the flush — never a
// configuration to run.
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

const NO_SYNC = process.env.AKR_FS_NO_SYNC === '1';
const SYNC_BITS = (fs.constants.O_DSYNC ?? 0) | (fs.constants.O_SYNC ?? 0);
/** Open flags without the synchronous-write bits (what-if only). */
function unsynced(flags) {
  return NO_SYNC && typeof flags === 'number' ? flags & ~SYNC_BITS : flags;
}
/** FileHandles opened with O_DSYNC/O_SYNC: each of their writes is also a flush to the disk. */
const syncHandles = new WeakSet();
const promises = fs.promises;
let handleProtoPatched = false;
const open = promises.open;
wrapAll(promises, 'promises.');
promises.open = async function (path, flags, ...rest) {
  bump('promises.open');
  const syncOpen = typeof flags === 'number' && (flags & SYNC_BITS) !== 0;
  const fh = await open.call(this, path, unsynced(flags), ...rest);
  if (syncOpen) {
    syncHandles.add(fh);
  }
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
        const skip = NO_SYNC && (m === 'sync' || m === 'datasync');
        proto[m] = function (...a) {
          bump(
            m === 'write' && syncHandles.has(this)
              ? 'handle.write on an O_DSYNC file (write + flush)'
              : `handle.${m}`,
          );
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
