/**
 * Child-process helper for the team-store concurrency tests (compiled to out/ by tsc; not a test).
 *
 *   node pgWorker.js rotate <url> <name> <count> <prefix>   after "go" on stdin, <count> concurrent
 *                                                          rotations to "<prefix>-<i>"; prints "v <version>" each
 *
 * The master key comes from AGENT_KEYRING_MASTER_KEY. Prints "ready" once the store is open.
 */
import * as fs from 'node:fs';
import { SecretValue } from '../../src/core/model';
import { loadTeamMasterKey, openPostgresStore } from '../../src/core/store/postgres/postgresStore';

function out(line: string): void {
  fs.writeSync(1, `${line}\n`);
}

async function main(): Promise<void> {
  const [cmd, url, name, count, prefix] = process.argv.slice(2);
  if (cmd !== 'rotate') {
    throw new Error(`unknown command ${cmd}`);
  }
  const key = await loadTeamMasterKey('/nonexistent-unused');
  const store = await openPostgresStore(url, { masterKey: key });
  out('ready');
  await new Promise<void>((resolve) => {
    process.stdin.on('data', (d: Buffer) => {
      if (d.toString().includes('go')) {
        resolve();
      }
    });
  });
  const results = await Promise.all(
    Array.from({ length: Number(count) }, (_, i) =>
      store.credentials.rotate(name, {
        value: new SecretValue(`${prefix}-${i}`),
        graceSeconds: 0,
        actor: 'worker',
      }),
    ),
  );
  for (const r of results) {
    out(`v ${r.version}`);
  }
  await store.close();
  out('done');
  process.stdin.destroy();
}

main().catch((e: unknown) => {
  fs.writeSync(2, `${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
