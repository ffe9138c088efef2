// Runs the UI suite (test/e2e/ui.spec.mjs) against a REAL VS Code in Chromium, the way a user gets
// the extension (README.md, "Development"): package the .vsix (`npm run package`),
// install it with code-server --install-extension into a per-run extensions dir, start code-server,
// drive the workbench with playwright-core. Needs `scripts/vscode/install.sh` once per machine.
//
//   npm run test:ui
//
// Options (environment):
//   AKR_CACHE             cache dir of install.sh (default ~/.cache/agent-keyring-ci)
//   AKR_TIMEOUT_MS        overall timeout (default 300000)
//   AKR_UI_VSIX=file      use this .vsix instead of packaging one
//   AKR_GREP=text         only run tests whose name contains text
//   AKR_KEEP_TMP=1        keep the per-run temp dir
//
// Screenshots go to .test-artifacts/ui/ (git-ignored; CI keeps them as artifacts), with the
// code-server log and the browser console. Prints `N passed, N failed` last; exits non-zero on any
// failure. Every process started here is stopped by its PID (process group) on exit or timeout.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

import {
  CACHE,
  CHROMIUM,
  CODE_SERVER_ROOT,
  createHarness,
  fail,
  freePort,
  makeRunDirs,
  NODE_VERSION,
  SERVER_NODE,
  REPO,
  runEnv,
  TIMEOUT_MS,
  waitForHttp,
  writeJson,
} from './harness.mjs';

const CODE_SERVER = path.join(CODE_SERVER_ROOT, 'lib/node_modules/code-server/out/node/entry.js');
const SPEC = path.join(REPO, 'test', 'e2e', 'ui.spec.mjs');
const ARTIFACTS = path.join(REPO, '.test-artifacts', 'ui');

const h = createHarness('ui');
const { log } = h;

/** Runs a command to completion; output to `logFile`. Rejects with the tail of the log on failure. */
function run(cmd, args, opts, logFile) {
  return new Promise((resolve, reject) => {
    const out = fs.createWriteStream(logFile);
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('error', reject);
    child.on('exit', (code) => {
      out.end(() => {
        if (code === 0) {
          resolve();
        } else {
          const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
          reject(fail(`${path.basename(cmd)} ${args.join(' ')} exited with ${code}:\n${tail}`));
        }
      });
    });
  });
}

/** Waits until code-server answers `url` with a 2xx status. */
function waitForHealthz(url, child, deadline) {
  return waitForHttp(url, child, deadline, {
    accept: (res) => res.ok,
    exitedMessage: (code) =>
      `code-server exited with code ${code} before answering. See ${ARTIFACTS}/code-server.log`,
    timeoutMessage: (lastError) => `code-server did not answer ${url} in time (${lastError}).`,
  });
}

/** Name → uncompressed size of every entry of a zip file (reads the central directory). */
function zipEntries(file) {
  const buf = fs.readFileSync(file);
  let eocd = buf.length - 22;
  while (eocd >= 0 && buf.readUInt32LE(eocd) !== 0x06054b50) {
    eocd--;
  }
  if (eocd < 0) {
    throw fail(`${file} is not a zip file.`);
  }
  const count = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  const entries = new Map();
  for (let i = 0; i < count; i++) {
    const size = buf.readUInt32LE(at + 24);
    const nameLen = buf.readUInt16LE(at + 28);
    const extraLen = buf.readUInt16LE(at + 30);
    const commentLen = buf.readUInt16LE(at + 32);
    entries.set(buf.toString('utf8', at + 46, at + 46 + nameLen), size);
    at += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** What a shipped .vsix must be: the production bundle, no dev files, under 1 MB. */
function vsixProblems(file) {
  const problems = [];
  const size = fs.statSync(file).size;
  if (size >= 1024 * 1024) {
    problems.push(`it is ${(size / 1024).toFixed(0)} KiB (must be < 1 MB)`);
  }
  const entries = zipEntries(file);
  const main = entries.get('extension/dist/extension.js');
  if (main === undefined) {
    problems.push('extension/dist/extension.js is missing');
  } else if (main > 1024 * 1024) {
    problems.push(
      `extension/dist/extension.js is ${(main / 1024).toFixed(0)} KiB: not the minified production bundle`,
    );
  }
  const dev = [...entries.keys()].filter((n) =>
    /(\.map$|\.ts$|^extension\/(src|test|out|node_modules|scripts|bench|\.test-artifacts)\/)/.test(n),
  );
  if (dev.length > 0) {
    problems.push(`dev files are packaged: ${dev.slice(0, 5).join(', ')}`);
  }
  return problems;
}

/**
 * `vsce package` as `npm run package` does it (its vscode:prepublish makes the production bundle).
 * dist/ is shared with whoever builds in this tree: a dev build landing mid-package gives a broken
 * or dev .vsix, so a bad result is packaged again (up to 3 times).
 */
async function packageVsix(out) {
  let last = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      await run(
        'npx',
        ['vsce', 'package', '--no-dependencies', '--allow-missing-repository', '--out', out],
        { cwd: REPO, env: process.env },
        path.join(ARTIFACTS, `package-${attempt}.log`),
      );
      const problems = vsixProblems(out);
      if (problems.length === 0) {
        return;
      }
      last = problems.join('; ');
    } catch (e) {
      last = e.message;
    }
    log(`packaging attempt ${attempt} gave a bad .vsix (${last.split('\n')[0]}); retrying`);
  }
  throw fail(`Could not package a good .vsix: ${last}`);
}

function checkVsix(file) {
  const problems = vsixProblems(file);
  if (problems.length > 0) {
    throw fail(`The .vsix ${file} is not shippable: ${problems.join('; ')}.`);
  }
}

async function main() {
  const missing = [];
  if (!fs.existsSync(SERVER_NODE) || !fs.existsSync(CODE_SERVER)) {
    missing.push(`code-server / Node ${NODE_VERSION} in ${CACHE}: run scripts/vscode/install.sh`);
  }
  if (!fs.existsSync(CHROMIUM)) {
    missing.push(`${CHROMIUM}: run scripts/vscode/install.sh`);
  }
  if (missing.length > 0) {
    throw fail(`Cannot run the UI tests; missing:\n  - ${missing.join('\n  - ')}`);
  }
  fs.rmSync(ARTIFACTS, { recursive: true, force: true });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const timings = {};
  const timed = async (label, fn) => {
    const s = Date.now();
    const r = await fn();
    timings[label] = Date.now() - s;
    log(`${label}: ${(timings[label] / 1000).toFixed(1)} s`);
    return r;
  };

  const { tmp, dirs } = makeRunDirs('akr-ui-', [
    'xdg-config',
    'xdg-data',
    'xdg-cache',
    'tmp',
    'user-data',
    'extensions',
    'workspace',
    'browser',
  ]);
  h.addCleanup(() => {
    if (process.env.AKR_KEEP_TMP === '1') {
      log(`kept temp dir ${tmp}`);
    } else {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
  const env = runEnv(dirs);

  // --- 1. the .vsix, as a user gets it
  let vsix = process.env.AKR_UI_VSIX;
  if (!vsix) {
    vsix = path.join(tmp, 'agent-keyring.vsix');
    await timed('package (.vsix)', () => packageVsix(vsix));
  }
  checkVsix(vsix);
  const size = fs.statSync(vsix).size;
  log(`vsix ${path.basename(vsix)}: ${(size / 1024).toFixed(0)} KiB`);

  // --- 2. install it into a per-run extensions dir
  await timed('install extension', () =>
    run(
      SERVER_NODE,
      [
        CODE_SERVER,
        '--install-extension',
        vsix,
        '--extensions-dir',
        dirs.extensions,
        '--user-data-dir',
        dirs['user-data'],
      ],
      { cwd: tmp, env },
      path.join(ARTIFACTS, 'install.log'),
    ),
  );

  // --- 3. code-server
  const [csPort, keyringPort] = [await freePort(), await freePort()];
  const settings = {
    'security.workspace.trust.enabled': false,
    'remote.autoForwardPorts': false,
    'workbench.startupEditor': 'none',
    'extensions.autoUpdate': false,
    'extensions.autoCheckUpdates': false,
    'telemetry.telemetryLevel': 'off',
    'workbench.tips.enabled': false,
    'window.commandCenter': false,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'agentKeyring.port': keyringPort,
  };
  writeJson(path.join(dirs['user-data'], 'User', 'settings.json'), settings);
  writeJson(path.join(dirs['user-data'], 'Machine', 'settings.json'), settings);
  fs.writeFileSync(path.join(dirs.workspace, 'README.md'), '# Agent Keyring UI test workspace\n');
  const configFile = path.join(tmp, 'code-server.yaml');
  fs.writeFileSync(configFile, 'auth: none\ncert: false\n');
  const server = h.spawnDetached(
    SERVER_NODE,
    [
      CODE_SERVER,
      '--config',
      configFile,
      '--bind-addr',
      `127.0.0.1:${csPort}`,
      '--auth',
      'none',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--user-data-dir',
      dirs['user-data'],
      '--extensions-dir',
      dirs.extensions,
      dirs.workspace,
    ],
    { cwd: dirs.workspace, env },
    path.join(ARTIFACTS, 'code-server.log'),
    'code-server',
  );
  log(`code-server pid ${server.pid} on 127.0.0.1:${csPort} (keyring port ${keyringPort})`);
  const base = `http://127.0.0.1:${csPort}`;
  await timed('code-server ready', () => waitForHealthz(`${base}/healthz`, server, Date.now() + 60_000));

  // --- 4. Chromium
  const { page } = await h.launchChromium({
    userDataDir: dirs.browser,
    env,
    tmpDir: dirs.tmp,
    artifacts: ARTIFACTS,
    options: { permissions: ['clipboard-read', 'clipboard-write'] },
    pageTimeoutMs: 15_000,
  });

  await timed('workbench loaded', async () => {
    await page.goto(`${base}/?folder=${encodeURIComponent(dirs.workspace)}`, {
      waitUntil: 'domcontentloaded',
    });
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    await page.locator('.statusbar').waitFor({ timeout: 60_000 });
  });

  // --- 5. the suite
  const { tests } = await import(pathToFileURL(SPEC).href);
  const grep = process.env.AKR_GREP;
  // workspace: the folder VS Code has open (tests write files a user would have, e.g. a .env);
  // userDataDir: where the extension host's logs (the Agent Keyring output channel) are written.
  const env2 = {
    page,
    base,
    keyringPort,
    artifacts: ARTIFACTS,
    log,
    workspace: dirs.workspace,
    userDataDir: dirs['user-data'],
  };
  const results = [];
  // A UI test that fails is run once more (the workbench sometimes drops a keystroke or a click
  // while it animates); a pass on the retry is reported as flaky, never silently.
  const attempt = async (t) => {
    const s = Date.now();
    try {
      await t.run(env2);
      return { ok: true, ms: Date.now() - s };
    } catch (e) {
      const shot = path.join(ARTIFACTS, `failure-${results.length + 1}.png`);
      await page.screenshot({ path: shot }).catch(() => undefined);
      // Leave no prompt open for what runs next.
      await page.keyboard.press('Escape').catch(() => undefined);
      await page.keyboard.press('Escape').catch(() => undefined);
      return { ok: false, ms: Date.now() - s, error: String(e?.stack ?? e), shot };
    }
  };
  const printError = (r) =>
    console.log(
      `${r.error
        .split('\n')
        .map((l) => `         ${l}`)
        .join('\n')}\n         screenshot: ${path.relative(REPO, r.shot)}`,
    );
  for (const t of tests) {
    if (grep && !t.name.includes(grep)) {
      continue;
    }
    const first = await attempt(t);
    if (first.ok) {
      results.push({ name: t.name, ok: true, ms: first.ms });
      console.log(`  ok   ${t.name} (${first.ms} ms)`);
      continue;
    }
    console.log(`  retry ${t.name} (first attempt failed after ${first.ms} ms):`);
    printError(first);
    const second = await attempt(t);
    results.push({
      name: t.name,
      ok: second.ok,
      flaky: second.ok,
      ms: second.ms,
      error: second.error ?? first.error,
    });
    if (second.ok) {
      console.log(`  ok   ${t.name} (flaky: passed on the retry, ${second.ms} ms)`);
    } else {
      console.log(`  FAIL ${t.name} (${second.ms} ms)`);
      printError(second);
    }
  }
  const flaky = results.filter((r) => r.flaky).length;
  if (flaky > 0) {
    log(`${flaky} test(s) passed only on the retry: see the 'retry' lines above.`);
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  writeJson(path.join(ARTIFACTS, 'report.json'), {
    passed,
    failed,
    timings,
    vsixBytes: size,
    tests: results,
  });
  const shots = fs.readdirSync(ARTIFACTS).filter((f) => f.endsWith('.png'));
  log(`${shots.length} screenshot(s) in ${path.relative(REPO, ARTIFACTS)}/`);
  if (results.length === 0) {
    throw fail(`No UI test ran${grep ? ` (AKR_GREP='${grep}' matched nothing)` : ''}.`);
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

// A closed stdout (`| head`) must not kill the runner before it stops what it started.
process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);

h.handleSignals(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGPIPE']);

h.startWatchdog(TIMEOUT_MS);

await h.runMain(main, { failLineOnError: true });
