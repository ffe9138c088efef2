/**
 * A throwaway PostgreSQL cluster for the team-store tests: `initdb` in a temp folder, `postgres`
 * on a free 127.0.0.1 port with its socket in that folder, stopped by PID. Run as the `postgres`
 * system user when the tests run as root (PostgreSQL refuses to run as root), else as the current
 * user. The application role is a plain LOGIN role (no superuser, no CREATEDB) that owns its
 * database, as README's set-up describes.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { freePort } from '../cli/cliHarness';

export const APP_ROLE = 'akr_team';

/** The folder holding initdb and postgres (newest version), or undefined when none is installed. */
export function findPgBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = fs.readdirSync(root).sort((a, b) => Number(b) - Number(a));
  } catch {
    return undefined;
  }
  for (const v of versions) {
    const bin = path.join(root, v, 'bin');
    if (fs.existsSync(path.join(bin, 'initdb')) && fs.existsSync(path.join(bin, 'postgres'))) {
      return bin;
    }
  }
  return undefined;
}

/** Why the team tests cannot run here (printed loudly), or undefined when they can. */
export function pgUnavailableReason(): string | undefined {
  if (!findPgBin()) {
    return "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): install Debian's postgresql package to run the team-store tests. SKIPPED.";
  }
  return undefined;
}

export interface PgCluster {
  port: number;
  /** Folder of the data directory and the socket. */
  dir: string;
  /** `postgres://akr_team:PASSWORD@127.0.0.1:PORT/DB` for a fresh database owned by the app role. */
  createDatabase(name: string): Promise<string>;
  /** The app role's password (tests check it never shows). */
  password: string;
  /** Runs SQL as the superuser over the socket (set-up only). */
  admin(sql: string, db?: string): Promise<void>;
  /** Stops the server (SIGINT = fast shutdown, then SIGKILL) and removes the folder. */
  stop(): Promise<void>;
  /** Stops the server without removing data (to test a database that goes away). */
  pause(): Promise<void>;
  /** Starts it again on the same port after {@link pause}. */
  resume(): Promise<void>;
  pid(): number | undefined;
}

function ids(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) {
    return undefined;
  }
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) {
    throw new Error('Tests run as root but there is no `postgres` user to run PostgreSQL as.');
  }
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

export async function startPgCluster(): Promise<PgCluster> {
  const bin = findPgBin();
  if (!bin) {
    throw new Error(pgUnavailableReason());
  }
  const owner = ids();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-pg-'));
  const data = path.join(dir, 'data');
  if (owner) {
    fs.chownSync(dir, owner.uid, owner.gid);
  }
  const init = spawnSync(
    path.join(bin, 'initdb'),
    [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '-E',
      'UTF8',
      '--no-sync',
    ],
    { encoding: 'utf8', cwd: dir, ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' } },
  );
  if (init.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed:\n${init.stdout}\n${init.stderr}`);
  }
  const port = await freePort();
  const password = `pw-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  let child: ChildProcess | undefined;
  let log = '';

  const start = async (): Promise<void> => {
    const c = spawn(
      path.join(bin, 'postgres'),
      [
        '-D',
        data,
        '-k',
        dir,
        '-p',
        String(port),
        '-h',
        '127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'max_connections=200',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], ...(owner ?? {}) },
    );
    c.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    child = c;
    const end = Date.now() + 20_000;
    for (;;) {
      const probe = new Client({ host: dir, port, user: 'postgres', database: 'postgres' });
      try {
        await probe.connect();
        await probe.end();
        return;
      } catch {
        await probe.end().catch(() => undefined);
        if (c.exitCode !== null || Date.now() > end) {
          throw new Error(`postgres did not start:\n${log}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  const halt = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) {
      return;
    }
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGINT');
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  const admin = async (sql: string, db = 'postgres'): Promise<void> => {
    const client = new Client({ host: dir, port, user: 'postgres', database: db });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };

  try {
    await start();
    await admin(`CREATE ROLE ${APP_ROLE} LOGIN PASSWORD '${password}' NOSUPERUSER NOCREATEDB NOCREATEROLE`);
  } catch (e) {
    await halt();
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  return {
    port,
    dir,
    password,
    admin,
    pid: () => child?.pid,
    async createDatabase(name: string): Promise<string> {
      await admin(`CREATE DATABASE ${name} OWNER ${APP_ROLE}`);
      return `postgres://${APP_ROLE}:${encodeURIComponent(password)}@127.0.0.1:${port}/${name}`;
    },
    pause: halt,
    resume: start,
    async stop(): Promise<void> {
      await halt();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
