/**
 * The OS keyring through the tools every desktop has, so the same entries are reachable from the
 * CLI and from the packaged extension (which ships no native module): `secret-tool` (libsecret,
 * the Secret Service) on Linux and `security` (the login Keychain) on macOS. Windows has no
 * built-in tool that reads a stored password back, so there is none there (saved tokens then go to
 * a 0600 file). A secret is passed on stdin, never in argv (which other processes can list).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { KeyringAccess } from '../store/masterKey';

/** A keyring that can also forget an entry (false when there was none). */
export interface TokenKeyring extends KeyringAccess {
  delete(service: string, account: string): Promise<boolean>;
}

/** Runs a tool with `input` on stdin; resolves with its exit code and output (never rejects on exit ≠ 0). */
export type ToolRunner = (
  file: string,
  args: readonly string[],
  input: string,
) => Promise<{ code: number | null; stdout: string; stderr: string }>;

const TOOL_TIMEOUT_MS = 5000;

/** The real runner: a child process with a 5 s deadline (a locked keyring must not hang a client). */
export const runTool: ToolRunner = (file, args, input) =>
  new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { stdio: ['pipe', 'pipe', 'pipe'], timeout: TOOL_TIMEOUT_MS });
    const out: Buffer[] = [];
    const errs: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => errs.push(b));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(errs).toString('utf8'),
      }),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });

/** The first executable `name` on `PATH`, or undefined. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') {
      continue;
    }
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) {
        return candidate;
      }
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface ToolKeyringOptions {
  platform?: NodeJS.Platform;
  env?: NodeJS.ProcessEnv;
  run?: ToolRunner;
}

/**
 * The keyring tool of this platform, when it is on `PATH`; null otherwise (Windows, or the tool is
 * not installed). Whether a keyring daemon answers is only known when it is used: callers treat a
 * throw as "no keyring".
 */
export function toolKeyring(opts: ToolKeyringOptions = {}): TokenKeyring | null {
  const platform = opts.platform ?? process.platform;
  const env = opts.env ?? process.env;
  const run = opts.run ?? runTool;
  if (platform === 'linux' || platform === 'freebsd' || platform === 'openbsd') {
    const tool = findOnPath('secret-tool', env);
    return tool ? secretTool(tool, run) : null;
  }
  if (platform === 'darwin') {
    const tool = findOnPath('security', env);
    return tool ? macSecurity(tool, run) : null;
  }
  return null;
}

function failure(tool: string, r: { code: number | null; stderr: string }): Error {
  // stderr of these tools names the entry at most, never the secret (it is only on stdin).
  const why = r.stderr.trim().split('\n')[0]?.slice(0, 200) || `exit code ${String(r.code)}`;
  return new Error(`${path.basename(tool)} failed: ${why}`);
}

/** libsecret's `secret-tool`: attributes `service` and `username`; the password on stdin. */
function secretTool(tool: string, run: ToolRunner): TokenKeyring {
  const attrs = (service: string, account: string) => ['service', service, 'username', account];
  return {
    async get(service, account) {
      const r = await run(tool, ['lookup', ...attrs(service, account)], '');
      if (r.code === 0) {
        return r.stdout.replace(/\n$/, '');
      }
      // Exit 1 with nothing on stderr is "no such item"; anything on stderr is a keyring error.
      if (r.code === 1 && r.stderr.trim() === '') {
        return null;
      }
      throw failure(tool, r);
    },
    async set(service, account, password) {
      const r = await run(
        tool,
        ['store', `--label=${service} (${account})`, ...attrs(service, account)],
        password,
      );
      if (r.code !== 0) {
        throw failure(tool, r);
      }
    },
    async delete(service, account) {
      const had = (await this.get(service, account)) !== null;
      const r = await run(tool, ['clear', ...attrs(service, account)], '');
      if (r.code !== 0 && had) {
        throw failure(tool, r);
      }
      return had;
    },
  };
}

/**
 * macOS `security`: generic passwords (service, account) in the default keychain. Writing goes
 * through `security -i`, which reads its command from stdin, so the password is never in argv.
 */
function macSecurity(tool: string, run: ToolRunner): TokenKeyring {
  const q = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  return {
    async get(service, account) {
      const r = await run(tool, ['find-generic-password', '-s', service, '-a', account, '-w'], '');
      if (r.code === 0) {
        return r.stdout.replace(/\n$/, '');
      }
      // 44: errSecItemNotFound.
      if (r.code === 44) {
        return null;
      }
      throw failure(tool, r);
    },
    async set(service, account, password) {
      const r = await run(
        tool,
        ['-i'],
        `add-generic-password -U -s ${q(service)} -a ${q(account)} -w ${q(password)}\n`,
      );
      if (r.code !== 0 || /error/i.test(r.stderr)) {
        throw failure(tool, r);
      }
    },
    async delete(service, account) {
      const r = await run(tool, ['delete-generic-password', '-s', service, '-a', account], '');
      if (r.code === 0) {
        return true;
      }
      if (r.code === 44) {
        return false;
      }
      throw failure(tool, r);
    },
  };
}
