// Runs the integration suite (test/integration) inside a REAL VS Code extension host: the VS Code
// server from the npm package code-server, driven by Debian's Chromium through playwright-core
// (README.md, Development). Needs `scripts/vscode/install.sh` once per machine, then:
//
//   npm run build && npx tsc -p tsconfig.integration.json && node scripts/vscode/run-integration.mjs
//   (or: npm run test:integration, which does all three)
//
// Options (environment):
//   AKR_CACHE             cache dir of install.sh (default ~/.cache/agent-keyring-ci)
//   AKR_VSCODE            newest (default) or oldest: which VS Code of scripts/vscode/versions.json
//                         (or --vscode=oldest)
//   AKR_VSCODE_EXECUTABLE a desktop VS Code: run the same suite there through @vscode/test-electron
//                         (--desktop without it: test-electron downloads VS Code, where the network allows)
//   AKR_TIMEOUT_MS        overall timeout (default 300000)
//   AKR_KEEP_TMP=1        keep the per-run temp dir (settings, server data) for debugging
//   AKR_GREP=text         only run tests whose full title contains text
//
// Prints the in-host mocha report and a closing line `N passed, N failed`; exits non-zero on any
// failure, timeout or missing report. Logs and screenshots go to .test-artifacts/integration/.
// Every process started here is stopped by its PID (process group) on exit, error or timeout.
import * as fs from 'node:fs';
import * as path from 'node:path';
import process from 'node:process';

import {
  CACHE,
  CHROMIUM,
  CODE_SERVER_ROOT,
  createHarness,
  fail,
  freePort,
  makeRunDirs,
  NODE_VERSION,
  PROFILE_NAME,
  REPO,
  runEnv,
  SERVER_NODE,
  VERSIONS,
  TIMEOUT_MS,
  VSCODE_VERSION,
  waitForHttp,
  writeJson,
} from './harness.mjs';

const SERVER_MAIN = path.join(CODE_SERVER_ROOT, 'lib/node_modules/code-server/lib/vscode/out/server-main.js');
const EXTENSION_MAIN = path.join(REPO, 'dist', 'extension.js');
const TESTS_INDEX = path.join(REPO, 'out', 'test', 'integration', 'index.js');
const ARTIFACTS = path.join(REPO, '.test-artifacts', 'integration');
const SERVER_READY_TIMEOUT_MS = 60_000;

const h = createHarness('integration');
/** Desktop VS Code through @vscode/test-electron instead of the code-server path. */
const DESKTOP = Boolean(process.env.AKR_VSCODE_EXECUTABLE) || process.argv.includes('--desktop');
const { log } = h;

function checkPrerequisites() {
  const missing = [];
  if (!DESKTOP && (!fs.existsSync(SERVER_NODE) || !fs.existsSync(SERVER_MAIN))) {
    missing.push(`VS Code server / Node ${NODE_VERSION} in ${CACHE}: run npm run setup:vscode`);
  }
  if (!DESKTOP && !fs.existsSync(CHROMIUM)) {
    missing.push(`${CHROMIUM}: run npm run setup:vscode (installs Debian's chromium)`);
  }
  if (!fs.existsSync(EXTENSION_MAIN)) {
    missing.push(`${path.relative(REPO, EXTENSION_MAIN)}: run npm run build`);
  }
  if (!fs.existsSync(TESTS_INDEX)) {
    missing.push(`${path.relative(REPO, TESTS_INDEX)}: run npx tsc -p tsconfig.integration.json`);
  }
  if (missing.length > 0) {
    throw fail(`Cannot run the integration tests; missing:\n  - ${missing.join('\n  - ')}`);
  }
}

/** Waits until the VS Code server answers `url` with a status below 500. */
function waitForServer(url, child, deadline) {
  return waitForHttp(url, child, deadline, {
    accept: (res) => res.status < 500,
    exitedMessage: (code) =>
      `The VS Code server exited with code ${code} before answering. See ${ARTIFACTS}/server.log`,
    timeoutMessage: (lastError) =>
      `The VS Code server did not answer ${url} within ${SERVER_READY_TIMEOUT_MS / 1000}s (${lastError}).`,
  });
}

function printReport(reportFile) {
  if (!fs.existsSync(reportFile)) {
    return undefined;
  }
  const report = JSON.parse(fs.readFileSync(reportFile, 'utf8'));
  fs.copyFileSync(reportFile, path.join(ARTIFACTS, 'report.json'));
  console.log('');
  for (const t of report.tests) {
    const mark = t.state === 'passed' ? 'ok  ' : t.state === 'failed' ? 'FAIL' : 'skip';
    console.log(`  ${mark} ${t.fullTitle} (${t.durationMs ?? 0} ms)`);
    if (t.error) {
      console.log(
        t.error
          .split('\n')
          .map((l) => `         ${l}`)
          .join('\n'),
      );
    }
  }
  console.log('');
  return report;
}

async function main() {
  checkPrerequisites();
  fs.rmSync(ARTIFACTS, { recursive: true, force: true });
  fs.mkdirSync(ARTIFACTS, { recursive: true });

  // --- per-run temp dir: XDG_*, TMPDIR, server/user data, extensions, workspace, browser profile
  const { tmp, dirs } = makeRunDirs('akr-int-', [
    'xdg-config',
    'xdg-data',
    'xdg-cache',
    'tmp',
    'server-data',
    'user-data',
    'extensions',
    'workspace',
    'browser',
  ]);
  h.addCleanup(() => {
    // The remote extension host's logs (exthost, MCP servers, our output channel) live server-side.
    const serverLogs = path.join(tmp, 'user-data', 'logs');
    if (fs.existsSync(serverLogs)) {
      fs.cpSync(serverLogs, path.join(ARTIFACTS, 'server-logs'), { recursive: true });
    }
    if (process.env.AKR_KEEP_TMP === '1') {
      log(`kept temp dir ${tmp}`);
    } else {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
  const reportFile = path.join(tmp, 'report.json');
  const [vscodePort, keyringPort] = [await freePort(), await freePort()];

  // Test-profile settings (TESTING.md). The web client reads user settings from the server's user
  // data dir; machine and workspace copies cover settings of narrower scope.
  const settings = {
    'security.workspace.trust.enabled': false,
    'remote.autoForwardPorts': false,
    'workbench.startupEditor': 'none',
    'extensions.autoUpdate': false,
    'telemetry.telemetryLevel': 'off',
    'agentKeyring.port': keyringPort,
  };
  writeJson(path.join(dirs['user-data'], 'User', 'settings.json'), settings);
  writeJson(path.join(dirs['user-data'], 'Machine', 'settings.json'), settings);
  writeJson(path.join(dirs.workspace, '.vscode', 'settings.json'), settings);
  fs.writeFileSync(path.join(dirs.workspace, 'README.md'), '# Agent Keyring integration test workspace\n');

  // --- VS Code server (Node 24)
  const env = runEnv(dirs, {
    AKR_INTEGRATION_REPORT: reportFile,
    AKR_INTEGRATION_WORKSPACE: dirs.workspace,
    AKR_INTEGRATION_KEYRING_PORT: String(keyringPort),
    ...(process.env.AKR_GREP ? { AKR_INTEGRATION_GREP: process.env.AKR_GREP } : {}),
  });
  if (DESKTOP) {
    return runOnDesktop(dirs, env, reportFile);
  }
  log(`path: code-server — VS Code ${VSCODE_VERSION} (AKR_VSCODE=${PROFILE_NAME}) on Node ${NODE_VERSION}`);
  const serverArgs = [
    SERVER_MAIN,
    '--host',
    '127.0.0.1',
    '--port',
    String(vscodePort),
    '--without-connection-token',
    '--accept-server-license-terms',
    '--enable-smoke-test-driver',
    '--disable-telemetry',
    '--disable-workspace-trust',
    '--server-data-dir',
    dirs['server-data'],
    '--user-data-dir',
    dirs['user-data'],
    '--extensions-dir',
    dirs.extensions,
  ];
  const server = h.spawnDetached(
    SERVER_NODE,
    serverArgs,
    { cwd: dirs.workspace, env },
    path.join(ARTIFACTS, 'server.log'),
    'VS Code server',
  );
  log(`VS Code server pid ${server.pid} on 127.0.0.1:${vscodePort} (keyring port ${keyringPort})`);

  const base = `http://127.0.0.1:${vscodePort}`;
  await waitForServer(`${base}/version`, server, Date.now() + SERVER_READY_TIMEOUT_MS);
  log('VS Code server answers');

  // --- Chromium via playwright-core
  const { page } = await h.launchChromium({
    userDataDir: dirs.browser,
    env,
    tmpDir: dirs.tmp,
    artifacts: ARTIFACTS,
  });

  let resolveExit;
  const exitCode = new Promise((resolve) => (resolveExit = resolve));
  await page.exposeFunction('codeAutomationExit', (code, logs) => {
    if (Array.isArray(logs)) {
      for (const entry of logs) {
        if (entry && typeof entry.relativePath === 'string' && !entry.relativePath.includes('..')) {
          const file = path.join(ARTIFACTS, 'vscode-logs', entry.relativePath);
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, entry.contents ?? '');
        }
      }
    }
    resolveExit(Number(code));
  });

  const remote = (p) => `vscode-remote://127.0.0.1:${vscodePort}${p}`;
  const payload = [
    ['extensionDevelopmentPath', remote(REPO)],
    ['extensionTestsPath', remote(TESTS_INDEX)],
  ];
  const url = `${base}/?folder=${encodeURIComponent(dirs.workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  log('opening the workbench; the extension host runs the suite');
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 60_000 });

  const remaining = TIMEOUT_MS - (Date.now() - h.t0);
  let timer;
  const timedOut = new Promise(
    (resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(remaining, 1_000))),
  );
  const outcome = await Promise.race([exitCode, timedOut]);
  clearTimeout(timer);
  await page
    .screenshot({ path: path.join(ARTIFACTS, outcome === 0 ? 'workbench.png' : 'workbench-failure.png') })
    .catch(() => undefined);

  return finish(outcome, reportFile);
}

/** Prints the report with the closing `N passed, N failed` line; the exit code of the run. */
function finish(outcome, reportFile) {
  const report = printReport(reportFile);
  if (outcome === 'timeout') {
    console.log(report ? `${report.passed} passed, ${report.failed + 1} failed` : '0 passed, 1 failed');
    throw fail(
      `The suite did not finish within ${TIMEOUT_MS / 1000}s. See ${ARTIFACTS}/ (server.log, browser-console.log, screenshot).`,
    );
  }
  if (!report) {
    console.log('0 passed, 1 failed');
    throw fail(
      `The extension host exited with code ${outcome} but wrote no report (${reportFile}). ` +
        (DESKTOP
          ? 'VS Code did not start or the suite failed to load: see the output above.'
          : `The suite probably failed to load: see ${ARTIFACTS}/browser-console.log and vscode-logs/.`),
    );
  }
  if (report.passed + report.failed === 0) {
    console.log('0 passed, 1 failed');
    throw fail(
      `No integration test ran${process.env.AKR_GREP ? ` (AKR_GREP='${process.env.AKR_GREP}' matched nothing)` : ''}.`,
    );
  }
  console.log(`${report.passed} passed, ${report.failed} failed`);
  log(`suite finished with exit code ${outcome}`);
  return outcome !== 0 || report.failed > 0 ? 1 : 0;
}

/**
 * The same `run()` suite in a desktop VS Code through @vscode/test-electron: the VS Code at
 * AKR_VSCODE_EXECUTABLE, or (with --desktop and no executable) the build test-electron downloads,
 * where the network allows it. Not the path these machines use (no desktop VS Code, no download).
 */
async function runOnDesktop(dirs, env, reportFile) {
  const { runTests } = await import('@vscode/test-electron');
  const executable = process.env.AKR_VSCODE_EXECUTABLE;
  log(
    `path: @vscode/test-electron — ${executable ? `VS Code at ${executable}` : `downloaded VS Code ${VERSIONS.oldest.vscode}`}`,
  );
  let outcome;
  try {
    outcome = await runTests({
      ...(executable ? { vscodeExecutablePath: executable } : { version: VERSIONS.oldest.vscode }),
      extensionDevelopmentPath: REPO,
      extensionTestsPath: TESTS_INDEX,
      extensionTestsEnv: env,
      launchArgs: [
        dirs.workspace,
        '--user-data-dir',
        dirs['user-data'],
        '--extensions-dir',
        dirs.extensions,
        '--disable-workspace-trust',
        '--disable-telemetry',
      ],
    });
  } catch (e) {
    // runTests rejects when the suite fails (non-zero exit) as well as when VS Code cannot start.
    log(`@vscode/test-electron: ${e instanceof Error ? e.message : String(e)}`);
    outcome = 1;
  }
  return finish(outcome, reportFile);
}

h.handleSignals(['SIGINT', 'SIGTERM']);

// Last resort if something hangs outside the awaited steps: stop everything, fail.
h.startWatchdog(TIMEOUT_MS + 30_000);

await h.runMain(main);
