/**
 * Starts the command of `agent-keyring run` and waits for it: signals forwarded, the exit code the
 * child's (killed by signal n → 128+n, as a shell reports it), stdout/stderr masked unless
 * masking is off (then the child inherits our stdio and writes to the terminal directly).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { constants } from 'node:os';
import { OutputMasker } from './outputMasker';

/** Signals passed on to the child. */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** Exit codes of a command that could not be started, as shells use them. */
export const EXIT_NOT_FOUND = 127;
export const EXIT_NOT_EXECUTABLE = 126;

export interface RunProcessOptions {
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  /** Values to mask in the child's stdout/stderr; undefined: no masking (stdio inherited). */
  mask: readonly string[] | undefined;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Told (once) when the command cannot be started: a one-line reason. */
  onSpawnError?: (message: string) => void;
}

/**
 * Why `command` cannot be started, checked before any key is released: undefined when it is an
 * executable file (given with a path, or found on `PATH`), else `[exit code, one-line reason]`.
 */
export function commandProblem(
  command: string,
  env: NodeJS.ProcessEnv = process.env,
): [number, string] | undefined {
  const executable = (file: string): boolean => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (command.includes('/') || (process.platform === 'win32' && command.includes('\\'))) {
    if (executable(command)) {
      return undefined;
    }
    return fs.existsSync(command)
      ? [EXIT_NOT_EXECUTABLE, `command '${command}' is not an executable file; check its permissions`]
      : [EXIT_NOT_FOUND, `command '${command}' not found; check the path`];
  }
  if (process.platform === 'win32') {
    return undefined; // PATHEXT lookup is the shell's business there: spawn reports it
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && executable(path.join(dir, command))) {
      return undefined;
    }
  }
  return [EXIT_NOT_FOUND, `command '${command}' not found on PATH; check its name or give its full path`];
}

/** The exit code a shell would report for a child that ended with `code` or `signal`. */
export function shellExitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) {
    return code;
  }
  const n = signal ? (constants.signals as Record<string, number | undefined>)[signal] : undefined;
  return 128 + (n ?? 0);
}

/** Runs the command to its end; resolves with its exit code (never rejects). */
export function runProcess(opts: RunProcessOptions): Promise<number> {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  return new Promise((resolve) => {
    const child = spawn(opts.command, [...opts.args], {
      env: opts.env,
      stdio: opts.mask ? ['inherit', 'pipe', 'pipe'] : 'inherit',
    });
    const forward = (signal: NodeJS.Signals): void => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
      }
    };
    for (const s of FORWARDED_SIGNALS) {
      process.on(s, forward);
    }
    const maskers: OutputMasker[] = [];
    let open = 0;
    let exit: number | undefined;
    const finish = (): void => {
      if (exit !== undefined && open === 0) {
        for (const s of FORWARDED_SIGNALS) {
          process.off(s, forward);
        }
        resolve(exit);
      }
    };
    if (opts.mask && child.stdout && child.stderr) {
      for (const [from, to] of [
        [child.stdout, stdout],
        [child.stderr, stderr],
      ] as const) {
        const masker = new OutputMasker(opts.mask, (b) => to.write(b));
        maskers.push(masker);
        open++;
        from.on('data', (b: Buffer) => masker.push(b));
        from.on('close', () => {
          masker.end();
          open--;
          finish();
        });
      }
    }
    child.on('error', (e: NodeJS.ErrnoException) => {
      const code = e.code === 'ENOENT' ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
      opts.onSpawnError?.(
        e.code === 'ENOENT'
          ? `command '${opts.command}' not found; check its name and PATH`
          : `command '${opts.command}' could not be started (${e.code ?? 'error'}); check that it is executable`,
      );
      if (exit === undefined) {
        exit = code;
        open = 0;
        finish();
      }
    });
    child.on('exit', (code, signal) => {
      if (exit === undefined) {
        exit = shellExitCode(code, signal);
        finish();
      }
    });
  });
}
