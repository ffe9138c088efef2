/**
 * The encrypted file store under concurrency and crashes, with real child processes
 * (test/unit/store/storeWorker.ts, compiled next to this file).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { SecretValue } from '../../../src/core/model';
import { type FileStore, openFileStore } from '../../../src/core/store/fileStore';
import { canary, encodingsOf, tempDir } from './tmpStore';

const WORKER = path.join(__dirname, 'storeWorker.js');
const ENV = { ...process.env, AGENT_KEYRING_NO_KEYRING: '1' };
const NAME = 'shared_key';
const execFileP = promisify(execFile);

async function openStore(dir: string): Promise<FileStore> {
  return openFileStore(dir, { env: { AGENT_KEYRING_NO_KEYRING: '1' } });
}

async function worker(...args: string[]): Promise<string[]> {
  const { stdout } = await execFileP(process.execPath, [WORKER, ...args], { env: ENV, timeout: 20_000 });
  return stdout.split('\n').filter(Boolean);
}

/** Starts a worker and collects its stdout lines as they arrive. */
function startWorker(...args: string[]): { child: ChildProcess; lines: string[]; exited: Promise<void> } {
  const child = spawn(process.execPath, [WORKER, ...args], { env: ENV, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
  });
  const exited = new Promise<void>((resolve) =>
    child.on('close', () => {
      if (buf) {
        lines.push(buf);
      }
      resolve();
    }),
  );
  return { child, lines, exited };
}

async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
}

test('50 concurrent rotations on the file store give versions 1..51, every value intact', async () => {
  const t = tempDir();
  try {
    const s = await openStore(t.dir);
    const first = canary('first');
    await s.credentials.addCredential(
      { name: NAME, allowed_scopes: ['read'] },
      new SecretValue(first),
      'test',
    );
    const values = Array.from({ length: 50 }, (_, i) => canary(`r${i}`));
    const results = await Promise.all(
      values.map((v) =>
        s.credentials.rotate(NAME, { value: new SecretValue(v), graceSeconds: 60, actor: 'test' }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.version).sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i + 2),
    );
    const meta = await s.credentials.getCredential(NAME);
    assert.deepEqual(
      meta?.versions.map((v) => v.version),
      Array.from({ length: 51 }, (_, i) => i + 1),
    );
    const cur = await s.credentials.readCurrentValue(NAME);
    assert.equal(cur.version, 51);
    assert.equal(cur.value.reveal(), values[results.findIndex((r) => r.version === 51)]);
    const prev = results.find((r) => r.version === 51)?.previous_version ?? 0;
    assert.equal(
      (await s.credentials.readValue(NAME, prev))?.reveal(),
      values[results.findIndex((r) => r.version === prev)],
    );
    assert.deepEqual((await s.secrets.keys()).sort(), [`credential/${NAME}/v50`, `credential/${NAME}/v51`]);
    // Nothing on disk holds any value in the clear.
    const disk = fs
      .readdirSync(t.dir)
      .filter((n) => fs.statSync(path.join(t.dir, n)).isFile())
      .map((n) => fs.readFileSync(path.join(t.dir, n), 'utf8'))
      .join('\n');
    for (const v of [first, ...values]) {
      for (const enc of encodingsOf(v)) {
        assert.ok(!disk.includes(enc));
      }
    }
    s.dispose();
  } finally {
    t.cleanup();
  }
});

test('rotations from 3 processes at once never lose a version', async () => {
  const t = tempDir();
  try {
    const s = await openStore(t.dir);
    await s.credentials.addCredential(
      { name: NAME, allowed_scopes: ['read'] },
      new SecretValue(canary()),
      'test',
    );
    const per = 12;
    const outs = await Promise.all(
      ['p0', 'p1', 'p2'].map((p) => worker('rotate', t.dir, NAME, String(per), p)),
    );
    const versions = outs.flatMap((lines) =>
      lines.filter((l) => l.startsWith('v ')).map((l) => Number(l.slice(2))),
    );
    assert.equal(versions.length, 3 * per);
    assert.deepEqual(
      versions.sort((a, b) => a - b),
      Array.from({ length: 3 * per }, (_, i) => i + 2),
      'each rotation got its own version',
    );
    const meta = await s.credentials.getCredential(NAME);
    assert.equal(meta?.version, 3 * per + 1);
    assert.deepEqual(
      meta?.versions.map((v) => v.version),
      Array.from({ length: 3 * per + 1 }, (_, i) => i + 1),
    );
    const cur = await s.credentials.readCurrentValue(NAME);
    assert.match(
      cur.value.reveal(),
      new RegExp(`^p[012]-${per - 1}$`),
      'the last rotation of one of the workers',
    );
    s.dispose();
  } finally {
    t.cleanup();
  }
});

test('readers during rotations by another process see a consistent old or new value, never anything else', async () => {
  const t = tempDir();
  try {
    const s = await openStore(t.dir);
    const initial = canary('initial');
    await s.credentials.addCredential(
      { name: NAME, allowed_scopes: ['read'] },
      new SecretValue(initial),
      'test',
    );
    const count = 25;
    const w = startWorker('rotate', t.dir, NAME, String(count), 'rv');
    let reads = 0;
    let lastVersion = 1;
    let done = false;
    void w.exited.then(() => {
      done = true;
    });
    while (!done) {
      const { version, value } = await s.credentials.readCurrentValue(NAME);
      const expected = version === 1 ? initial : `rv-${version - 2}`;
      assert.equal(value.reveal(), expected, `version ${version} must carry its own value`);
      assert.ok(version >= lastVersion, 'versions never go backwards');
      lastVersion = version;
      reads++;
    }
    assert.equal(w.child.exitCode, 0, w.lines.join('\n'));
    assert.ok(reads > 0);
    assert.equal((await s.credentials.readCurrentValue(NAME)).value.reveal(), `rv-${count - 1}`);
    s.dispose();
  } finally {
    t.cleanup();
  }
});

test('crash safety: a rotating process SIGKILLed at random moments never breaks the store', async () => {
  const t = tempDir();
  try {
    const s = await openStore(t.dir);
    const initial = canary('initial');
    await s.credentials.addCredential(
      { name: NAME, allowed_scopes: ['read'] },
      new SecretValue(initial),
      'test',
    );
    const written = new Set<string>([initial]);
    const started = Date.now();
    let next = startWorker('rotate-loop', t.dir, NAME, 'crash0');
    for (let round = 0; round < 15; round++) {
      const w = next;
      await until(() => w.lines.includes('ready') || w.child.exitCode !== null, 10_000, 'worker start');
      w.child.stdin?.write('go\n');
      // Start the next one now, so its start-up overlaps this round.
      next = startWorker('rotate-loop', t.dir, NAME, `crash${round + 1}`);
      const lines = () => w.lines.filter((l) => l.startsWith('w ')).length;
      const target = 1 + Math.floor(Math.random() * 3);
      await until(() => lines() >= target || w.child.exitCode !== null, 10_000, 'worker progress');
      await new Promise((r) => setTimeout(r, Math.random() * 8));
      w.child.kill('SIGKILL');
      await w.exited;
      for (const l of w.lines) {
        if (l.startsWith('w ')) {
          written.add(l.slice(2));
        }
      }
      // The store opens and the current version's value is readable and one that was written.
      const fresh = await openStore(t.dir);
      const meta = await fresh.credentials.getCredential(NAME);
      assert.ok(meta);
      assert.deepEqual(
        meta.versions.map((v) => v.version),
        Array.from({ length: meta.version }, (_, i) => i + 1),
      );
      const cur = await fresh.credentials.readCurrentValue(NAME);
      assert.ok(written.has(cur.value.reveal()), `round ${round}: current value was never written`);
      fresh.dispose();
    }
    next.child.kill('SIGKILL');
    await next.exited;
    // A dead holder's lock does not hold anyone up for the stale timeout: the whole run is quick.
    assert.ok(Date.now() - started < 20_000);
    // The store still accepts writes, and leftovers of killed writers are cleaned up.
    const r = await s.credentials.rotate(NAME, {
      value: new SecretValue(canary()),
      graceSeconds: 0,
      actor: 'test',
    });
    assert.equal((await s.credentials.getCredential(NAME))?.version, r.version);
    const after = await openStore(t.dir);
    await after.secrets.store('probe', 'x');
    assert.deepEqual(
      fs.readdirSync(t.dir).filter((n) => n.endsWith('.tmp')),
      [],
    );
    assert.deepEqual(
      fs.readdirSync(t.dir).filter((n) => n.includes('.lock')),
      [],
      'no lock left behind',
    );
    after.dispose();
    s.dispose();
  } finally {
    t.cleanup();
  }
});

test("a lock left by a dead process is broken at once; a live holder's lock is waited for", async () => {
  const t = tempDir();
  try {
    const s = await openStore(t.dir);
    // A pid that certainly is not running: a child that already exited.
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.on('close', r));
    const lockDir = path.join(t.dir, 'metadata.lock');
    fs.mkdirSync(lockDir);
    fs.writeFileSync(
      path.join(lockDir, 'owner.json'),
      JSON.stringify({ pid: dead.pid, host: os.hostname(), nonce: 'dead' }),
    );
    const started = Date.now();
    await s.credentials.addCredential(
      { name: 'a', allowed_scopes: ['read'] },
      new SecretValue(canary()),
      'test',
    );
    assert.ok(Date.now() - started < 1500, 'did not wait for the stale timeout');

    // Held by a live process (ourselves, as another instance would be): the writer waits.
    fs.mkdirSync(lockDir);
    fs.writeFileSync(
      path.join(lockDir, 'owner.json'),
      JSON.stringify({ pid: process.pid, host: os.hostname(), nonce: 'live' }),
    );
    let finished = false;
    const p = s.credentials
      .addCredential({ name: 'b', allowed_scopes: ['read'] }, new SecretValue(canary()), 'test')
      .then(() => {
        finished = true;
      });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(finished, false, 'waits while a live process holds the lock');
    fs.rmSync(lockDir, { recursive: true });
    await p;
    assert.ok(await s.credentials.getCredential('b'));
    s.dispose();
  } finally {
    t.cleanup();
  }
});

test('an agent token made by another process authenticates on the very next call', async () => {
  const t = tempDir();
  try {
    const s = await openStore(t.dir);
    assert.equal((await s.credentials.listAgents()).length, 0);
    const lines = await worker('agent', t.dir, 'ci-bot');
    const token = lines.find((l) => l.startsWith('t '))?.slice(2) ?? '';
    assert.equal((await s.credentials.authenticate(token))?.id, 'ci-bot');
    s.dispose();
  } finally {
    t.cleanup();
  }
});
