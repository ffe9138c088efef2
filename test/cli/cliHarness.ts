/**
 * Runs the real `agent-keyring` bundle (`dist/cli.js`) as child processes against a temp store.
 * Every process gets `AGENT_KEYRING_NO_KEYRING=1` (key file, never the OS keyring) and none of
 * the user's AGENT_KEYRING_* settings. Servers listen on 127.0.0.1 and are killed by PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(ROOT, 'dist', 'cli.js');

/** Builds dist/cli.js once if it is missing (npm test builds it first anyway). */
export function ensureBuilt(): void {
  if (fs.existsSync(CLI)) {
    return;
  }
  const r = spawnSync(process.execPath, [path.join(ROOT, 'esbuild.mjs')], { cwd: ROOT, encoding: 'utf8' });
  if (!fs.existsSync(CLI)) {
    throw new Error(`Could not build ${CLI}:\n${r.stdout}\n${r.stderr}`);
  }
}

export function canary(label = 'value'): string {
  return `canary-${label}-${randomUUID()}`;
}

export function tempStore(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'akr-cli-'));
}

export function removeStore(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('AGENT_KEYRING_') && !k.startsWith('NODE_TEST') && v !== undefined) {
      env[k] = v;
    }
  }
  env.AGENT_KEYRING_NO_KEYRING = '1';
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) {
      delete env[k];
    } else {
      env[k] = v;
    }
  }
  return env;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to stdin, which is then closed (default: closed empty). */
  input?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Working folder of the process (default: this one). */
  cwd?: string;
}

/**
 * How long one CLI command may take before the test calls it hung. A guard, not a timing: on a
 * 2-core machine at a load average above 20, even `serve --help` took over 15 s.
 */
const CLI_TIMEOUT_MS = 45_000;

/** Runs `node dist/cli.js ...args` to completion. */
export function runCli(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: cliEnv(opts.env),
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timeoutMs = opts.timeoutMs ?? CLI_TIMEOUT_MS;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `agent-keyring ${args.join(' ')} did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => undefined); // the command may exit before reading stdin
    child.stdin.end(opts.input ?? '');
  });
}

/** A port that was free a moment ago (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface Served {
  child: ChildProcess;
  url: string;
  port: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code and signal once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILLs the process if it still runs (for `after` hooks). */
  kill(): void;
}

/** Starts `agent-keyring serve` on a free port and waits until it prints its URL. */
export async function startServe(
  store: string,
  extraArgs: string[] = [],
  env: Record<string, string | undefined> = {},
): Promise<Served> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--store', store, '--port', String(port), ...extraArgs],
    {
      env: cliEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not ready in time: stop it, or the orphan keeps the test process (and the run) alive.
      child.kill('SIGKILL');
      reject(new Error(`serve did not start in time\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 10_000);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const m = /serving MCP at (https?:\/\/\S+)/.exec(stdout);
      if (m && stdout.includes('Press Ctrl+C to stop.')) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before it was ready\nstdout: ${stdout}\nstderr: ${stderr}`));
    });
  });
  return {
    child,
    url,
    port,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, 'SIGKILL');
      }
    },
  };
}

/** Every file in the store folder, concatenated (to look for canaries). */
export function storeFilesText(dir: string): string {
  return fs
    .readdirSync(dir)
    .map((f) => path.join(dir, f))
    .filter((f) => fs.statSync(f).isFile())
    .map((f) => fs.readFileSync(f, 'utf8'))
    .join('\n');
}
