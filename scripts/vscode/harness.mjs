// Process harness shared by run-integration.mjs and run-ui.mjs: the paths install.sh provides,
// logging with a per-runner prefix, a cleanup stack, free ports, waiting for an HTTP endpoint,
// starting/stopping detached process groups by PID, Chromium via playwright-core, per-run temp
// dirs with their own XDG_* env, signal handlers and the watchdog. Runner-specific logic stays in
// each runner.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

/** Root of this repository. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The VS Code builds install.sh provides (scripts/vscode/versions.json): `newest` and `oldest`. */
export const VERSIONS = JSON.parse(
  fs.readFileSync(path.join(REPO, 'scripts', 'vscode', 'versions.json'), 'utf8'),
);
/** Which of them this run uses (`--vscode=oldest` on the command line, or `AKR_VSCODE`; default `newest`). */
export const PROFILE_NAME =
  process.argv.find((a) => a.startsWith('--vscode='))?.slice('--vscode='.length) ||
  process.env.AKR_VSCODE ||
  'newest';
if (!['newest', 'oldest'].includes(PROFILE_NAME)) {
  throw new Error(`AKR_VSCODE must be 'newest' or 'oldest', not '${PROFILE_NAME}'.`);
}
const PROFILE = VERSIONS[PROFILE_NAME];
/** VS Code version of this run's server, for reports. */
export const VSCODE_VERSION = PROFILE.vscode;
/** Node version the VS Code server of this run needs. */
export const NODE_VERSION = PROFILE.node;
/** code-server version of this run. */
export const CODE_SERVER_VERSION = PROFILE.codeServer;
/** Cache dir of install.sh (`AKR_CACHE`, default ~/.cache/agent-keyring-ci). */
export const CACHE = process.env.AKR_CACHE || path.join(os.homedir(), '.cache', 'agent-keyring-ci');
/** The Node binary this run's VS Code server runs on. */
export const SERVER_NODE = path.join(CACHE, `node-${NODE_VERSION}`, 'bin', 'node');
/** The newest profile's Node (24): vsce and the conformance suite need it, whatever the profile. */
export const NODE24 = path.join(CACHE, `node-${VERSIONS.newest.node}`, 'bin', 'node');
/** Install dir of this run's code-server in the cache (join a path inside the package to it). */
export const CODE_SERVER_ROOT = path.join(CACHE, `code-server-${CODE_SERVER_VERSION}`);
/** Debian's Chromium, installed by install.sh. */
export const CHROMIUM = '/usr/bin/chromium';
/** Overall timeout of a run (`AKR_TIMEOUT_MS`, default 300000). */
export const TIMEOUT_MS = Number(process.env.AKR_TIMEOUT_MS || 300_000);
/** Command-line switches every headless Chromium run here gets. */
export const CHROMIUM_ARGS = Object.freeze([
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]);

/** An Error marked user-facing: the runner prints only its message (no stack). */
export function fail(message) {
  const err = new Error(message);
  err.userFacing = true;
  return err;
}

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Writes `value` as pretty JSON (trailing newline), creating parent dirs. */
export function writeJson(file, value) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Polls `url` every 200 ms until `accept(res)` is true. Throws `fail(exitedMessage(code))` as soon as
 * `child` has exited, `fail(timeoutMessage(lastError))` once `deadline` (epoch ms) has passed.
 */
export async function waitForHttp(url, child, deadline, { accept, exitedMessage, timeoutMessage }) {
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw fail(exitedMessage(child.exitCode));
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (accept(res)) {
        return;
      }
      lastError = `HTTP ${res.status}`;
    } catch (e) {
      lastError = e?.cause?.code ?? e?.message ?? String(e);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw fail(timeoutMessage(lastError));
}

/**
 * Makes a fresh temp dir `<os tmp>/<prefix>XXXXXX` with one subdir per name.
 * Returns `{ tmp, dirs }` where `dirs[name]` is the subdir's path. The caller removes it.
 */
export function makeRunDirs(prefix, names) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const dirs = Object.fromEntries(names.map((d) => [d, path.join(tmp, d)]));
  for (const d of Object.values(dirs)) {
    fs.mkdirSync(d, { recursive: true });
  }
  return { tmp, dirs };
}

/**
 * The environment for processes of a run: this process's env with Node 24 first on PATH,
 * XDG_CONFIG/DATA/CACHE_HOME and TMPDIR in the run's dirs (`xdg-config`, `xdg-data`, `xdg-cache`,
 * `tmp`), then `extra`; without ELECTRON_RUN_AS_NODE and VSCODE_IPC_HOOK_CLI.
 */
export function runEnv(dirs, extra = {}) {
  const env = {
    ...process.env,
    PATH: `${path.dirname(NODE24)}${path.delimiter}${process.env.PATH}`,
    XDG_CONFIG_HOME: dirs['xdg-config'],
    XDG_DATA_HOME: dirs['xdg-data'],
    XDG_CACHE_HOME: dirs['xdg-cache'],
    TMPDIR: dirs.tmp,
    ...extra,
  };
  delete env.ELECTRON_RUN_AS_NODE;
  delete env.VSCODE_IPC_HOOK_CLI;
  return env;
}

/**
 * The per-runner part of the harness. `tag` is the log prefix (`[tag 1.2s] msg`); the clock starts
 * when this is called. Everything registered with `addCleanup` is undone, last first, by `cleanup()`
 * (once, however often it is called; a throwing step is logged and the rest still run).
 */
export function createHarness(tag) {
  const t0 = Date.now();
  const since = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
  const log = (msg) => console.log(`[${tag} ${since()}] ${msg}`);

  const cleanups = [];
  let cleaningUp;
  /** Runs every registered cleanup step, last first; the same promise on every call. */
  function cleanup() {
    cleaningUp ??= (async () => {
      for (const fn of cleanups.splice(0).reverse()) {
        try {
          await fn();
        } catch (e) {
          console.error(`[${tag}] cleanup step failed: ${e?.message ?? e}`);
        }
      }
    })();
    return cleaningUp;
  }
  /** Registers a cleanup step (sync or async); it should not throw. */
  const addCleanup = (fn) => {
    cleanups.push(fn);
  };

  /** Stops a process group we started (detached => its PID is the group id): TERM, then KILL. */
  async function stopProcessGroup(child, name) {
    if (child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const signal = (sig) => {
      try {
        process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    signal('SIGTERM');
    const timer = new Promise((resolve) => setTimeout(() => resolve('timeout'), 5_000));
    if ((await Promise.race([exited, timer])) === 'timeout') {
      log(`${name} (pid ${child.pid}) did not stop on SIGTERM; sending SIGKILL`);
      signal('SIGKILL');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000))]);
    }
  }

  /**
   * Spawns `cmd args` detached (its own process group), stdout+stderr to `logFile`. Registers
   * closing the log and stopping the group by PID (`name` in messages) as cleanups.
   */
  function spawnDetached(cmd, args, { cwd, env }, logFile, name) {
    const out = fs.createWriteStream(logFile);
    const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    addCleanup(() => new Promise((r) => out.end(r)));
    addCleanup(() => stopProcessGroup(child, name));
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    return child;
  }

  /**
   * Starts headless Chromium (persistent profile in `userDataDir`, CHROMIUM_ARGS, 1280x800, env
   * with TMPDIR=`tmpDir`, plus `options`) and opens its page; the page's console and errors go to
   * `<artifacts>/browser-console.log`. Closing both is registered as cleanup. Returns `{ context, page }`.
   */
  async function launchChromium({ userDataDir, env, tmpDir, artifacts, options = {}, pageTimeoutMs }) {
    const { chromium } = await import('playwright-core');
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS],
      env: { ...env, TMPDIR: tmpDir },
      viewport: { width: 1280, height: 800 },
      ...options,
    });
    addCleanup(() => context.close().catch(() => undefined));
    const browserPid = context.browser()?.process?.()?.pid;
    log(`Chromium started${browserPid ? ` (pid ${browserPid})` : ''}`);
    const page = context.pages()[0] ?? (await context.newPage());
    if (pageTimeoutMs !== undefined) {
      page.setDefaultTimeout(pageTimeoutMs);
    }
    const consoleLog = fs.createWriteStream(path.join(artifacts, 'browser-console.log'));
    addCleanup(() => new Promise((r) => consoleLog.end(r)));
    page.on('console', (m) => consoleLog.write(`[${m.type()}] ${m.text()}\n`));
    page.on('pageerror', (e) => consoleLog.write(`[pageerror] ${e.stack ?? e.message}\n`));
    return { context, page };
  }

  /** On each of `signals`: log it, run the cleanups, exit 130. */
  function handleSignals(signals) {
    for (const sig of signals) {
      process.on(sig, () => {
        log(`${sig}: stopping everything started here`);
        void cleanup().then(() => process.exit(130));
      });
    }
  }

  /** Last resort after `ms`: print a watchdog line and `0 passed, 1 failed`, clean up, exit 1. */
  function startWatchdog(ms) {
    const watchdog = setTimeout(() => {
      console.error(`[${tag}] watchdog: still running after ${ms / 1000}s; stopping.`);
      console.log('0 passed, 1 failed');
      void cleanup().then(() => process.exit(1));
    }, ms);
    watchdog.unref();
  }

  /**
   * Awaits `main()` (its result is the exit code), prints a thrown error (message only if
   * user-facing; then `0 passed, 1 failed` if `failLineOnError`) and exits 1; always runs the
   * cleanups and logs the total time first.
   */
  async function runMain(main, { failLineOnError = false } = {}) {
    let code;
    try {
      code = await main();
    } catch (e) {
      console.error(e?.userFacing ? `[${tag}] ${e.message}` : e);
      if (failLineOnError) {
        console.log('0 passed, 1 failed');
      }
      code = 1;
    } finally {
      await cleanup();
      log(`done in ${since()}`);
    }
    process.exit(code);
  }

  return {
    t0,
    since,
    log,
    addCleanup,
    cleanup,
    stopProcessGroup,
    spawnDetached,
    launchChromium,
    handleSignals,
    startWatchdog,
    runMain,
  };
}
