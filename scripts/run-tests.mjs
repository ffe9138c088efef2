// Runs node's test runner over the compiled tests found under the given folders.
//
//   node scripts/run-tests.mjs out/test/unit out/test/mcp out/test/cli [--test-name-pattern=…]
//
// Why not `node --test "out/test/**/*.test.js"`: Node 20's runner does not expand globs (it looks
// for a file literally named `**/*.test.js` and fails), and a folder with no tests yet must not
// fail the run. Arguments starting with `--` are passed on to `node --test`, so
// `npm test -- --test-name-pattern=rotation` works. The exit code is the runner's.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import process from 'node:process';

const ROOT = process.cwd();
const nodeFlags = ['--test-concurrency=2'];
const roots = [];
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith('--')) {
    nodeFlags.push(arg);
  } else {
    roots.push(arg);
  }
}
if (roots.length === 0) {
  console.error('run-tests: name at least one folder or .test.js file, e.g. out/test/unit');
  process.exit(2);
}

/**
 * A compiled test under out/ whose TypeScript source was deleted or renamed is stale: tsc never
 * removes old output, so running it would test code that no longer exists.
 * @param {string} file path relative to ROOT
 */
function isStale(file) {
  const parts = file.split(sep);
  if (parts[0] !== 'out') {
    return false;
  }
  const source = join(ROOT, ...parts.slice(1)).replace(/\.js$/, '.ts');
  return !existsSync(source);
}

/** @param {string} dir absolute path */
function collect(dir) {
  /** @type {string[]} */
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) {
      found.push(...collect(full));
    } else if (entry.isFile() && entry.name.endsWith('.test.js')) {
      found.push(full);
    }
  }
  return found;
}

const files = [];
for (const root of roots) {
  const abs = join(ROOT, root);
  if (!existsSync(abs)) {
    console.log(`run-tests: ${root} does not exist, no tests there yet`);
    continue;
  }
  const candidates = statSync(abs).isDirectory() ? collect(abs) : [abs];
  let count = 0;
  for (const full of candidates.sort()) {
    const rel = relative(ROOT, full);
    if (isStale(rel)) {
      console.log(`run-tests: skipping ${rel}: its source .ts no longer exists (stale build output)`);
      continue;
    }
    files.push(rel);
    count += 1;
  }
  if (count === 0) {
    console.log(`run-tests: no *.test.js files under ${root}`);
  }
}

if (files.length === 0) {
  console.log(`run-tests: ran no tests: no *.test.js files under ${roots.join(', ')}`);
  process.exit(0);
}

const child = spawn(process.execPath, ['--test', ...nodeFlags, ...files], { stdio: 'inherit' });
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.on(signal, () => child.kill(signal));
}
child.on('error', (err) => {
  console.error(`run-tests: could not start the test runner: ${err.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  if (signal) {
    console.error(`run-tests: test runner ended by ${signal}`);
    process.exit(1);
  }
  process.exit(code ?? 1);
});
