/**
 * A throwaway PostgreSQL cluster in a process of its own, for the extension host's team-store test
 * (not a test file): the cluster's `postgres` is this process's child, not the extension host's, and
 * goes when this process goes — on SIGTERM, or when its stdin closes (the test, or the extension
 * host, went away).
 *
 *   node pgClusterProcess.js   prints one JSON line {url, password, pid} once the database exists;
 *                              reads "pause" / "resume" lines (stops / restarts the server on the
 *                              same port; answers "paused" / "resumed").
 */
import * as fs from 'node:fs';
import { startPgCluster } from '../helpers/pgCluster';

function out(line: string): void {
  fs.writeSync(1, `${line}\n`);
}

async function main(): Promise<void> {
  const pg = await startPgCluster();
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= pg
      .stop()
      .catch(() => undefined)
      .then(() => process.exit(0)));
  process.on('SIGTERM', () => void stop());
  process.stdin.on('end', () => void stop());
  process.stdin.setEncoding('utf8').on('data', (d: string) => {
    for (const cmd of d.split('\n').map((l) => l.trim())) {
      if (cmd === 'pause') {
        void pg.pause().then(() => out('paused'));
      } else if (cmd === 'resume') {
        void pg.resume().then(() => out('resumed'));
      }
    }
  });
  const url = await pg.createDatabase('editor_team');
  out(JSON.stringify({ url, password: pg.password, pid: pg.pid() }));
}

main().catch((e: unknown) => {
  fs.writeSync(2, `${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
