/**
 * Child-process helper for the store's cross-process tests (compiled to out/ by tsc; not a test).
 *
 *   node storeWorker.js add <dir> <name> <value>          add a credential
 *   node storeWorker.js rotate <dir> <name> <count> <p>   rotate <count> times to "<p>-<i>", print "v <version>" each
 *   node storeWorker.js rotate-loop <dir> <name> <p>      after "go" on stdin, rotate forever; print "w <value>" (sync) BEFORE each write
 *   node storeWorker.js agent <dir> <id>                  add an agent, print "t <token>"
 *
 * Prints "ready" once the store is open. Uses the key file (run with AGENT_KEYRING_NO_KEYRING=1).
 */
import * as fs from 'node:fs';
import { SecretValue } from '../../../src/core/model';
import { openFileStore } from '../../../src/core/store/fileStore';

function out(line: string): void {
  // Synchronous, so a line is in the pipe before the next step starts (the crash test relies on it).
  fs.writeSync(1, `${line}\n`);
}

async function main(): Promise<void> {
  const [cmd, dir, ...rest] = process.argv.slice(2);
  const store = await openFileStore(dir);
  const creds = store.credentials;
  out('ready');
  switch (cmd) {
    case 'add': {
      const [name, value] = rest;
      await creds.addCredential({ name, allowed_scopes: ['read'] }, new SecretValue(value), 'worker');
      out('done');
      break;
    }
    case 'rotate': {
      const [name, count, prefix] = rest;
      for (let i = 0; i < Number(count); i++) {
        const r = await creds.rotate(name, {
          value: new SecretValue(`${prefix}-${i}`),
          graceSeconds: 0,
          actor: 'worker',
        });
        out(`v ${r.version}`);
      }
      out('done');
      break;
    }
    case 'rotate-loop': {
      const [name, prefix] = rest;
      // Started ahead of time by the crash test, so process start-up is not part of each round.
      await new Promise<void>((resolve) => {
        process.stdin.on('data', (d: Buffer) => {
          if (d.toString().includes('go')) {
            resolve();
          }
        });
      });
      for (let i = 0; ; i++) {
        const value = `${prefix}-${i}`;
        out(`w ${value}`);
        await creds.rotate(name, { value: new SecretValue(value), graceSeconds: 60, actor: 'worker' });
      }
    }
    case 'agent': {
      const { token } = await creds.addAgent({ id: rest[0] });
      out(`t ${token.reveal()}`);
      break;
    }
    default:
      throw new Error(`unknown command ${cmd}`);
  }
  store.dispose();
}

main().catch((e: unknown) => {
  fs.writeSync(2, `worker failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
