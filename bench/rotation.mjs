// Rotation latency, measured from a client's point of view (a separate process from the server).
// An SDK Client (Streamable HTTP, its own token) subscribes to credential://<name>. Each round:
// `agent-keyring credential rotate <name> --generate` runs as ANOTHER process; from the moment it
// exits we time (a) the next get_credential that returns the new version and (b) the arrival of
// notifications/resources/updated for that URI. Bounded by rounds and by a timeout per wait.
//
// Config (JSON on stdin): { cli, store, url, token, credential, scope, rounds }
// Output: one JSON line: { rounds: [{ cliMs, toNewVersionMs, staleReads, toNotificationMs }], errors }
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const WAIT_MS = 5000;
const PAUSE_MS = 300;

async function readStdin() {
  let text = '';
  for await (const chunk of process.stdin) {
    text += chunk;
  }
  return JSON.parse(text);
}

async function rotateWithCli(cfg) {
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [cfg.cli, 'credential', 'rotate', cfg.credential, '--generate', '--store', cfg.store],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  const returned = performance.now();
  if (code !== 0) {
    throw new Error(`credential rotate exited ${code}: ${stderr.slice(0, 300)}`);
  }
  return { started: t0, returned };
}

async function main() {
  const cfg = await readStdin();
  const uri = `credential://${cfg.credential}`;
  const client = new Client({ name: 'bench-rotation', version: '1.0.0' });
  const notices = [];
  let wake;
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    if (n.params.uri === uri) {
      notices.push(performance.now());
      wake?.();
    }
  });
  const transport = new StreamableHTTPClientTransport(new URL(cfg.url), {
    requestInit: { headers: { Authorization: `Bearer ${cfg.token}` } },
  });
  await client.connect(transport);
  await client.subscribeResource({ uri });
  // Give the client's GET event stream (where notifications arrive) a moment to open.
  await new Promise((r) => setTimeout(r, 300));

  const get = async () => {
    const r = await client.callTool({
      name: 'get_credential',
      arguments: { name: cfg.credential, scope: cfg.scope },
    });
    if (r.isError) {
      throw new Error(`get_credential refused: ${r.structuredContent?.code}`);
    }
    return r.structuredContent.version;
  };

  const rounds = [];
  const errors = [];
  for (let i = 0; i < cfg.rounds; i++) {
    try {
      const before = await get();
      const seen = notices.length;
      const cli = await rotateWithCli(cfg);
      // (a) next get_credential with the new version
      let staleReads = 0;
      let toNewVersionMs;
      while (performance.now() - cli.returned < WAIT_MS) {
        const v = await get();
        if (v > before) {
          toNewVersionMs = performance.now() - cli.returned;
          break;
        }
        staleReads++;
      }
      // (b) the notification (it may already be here)
      if (notices.length === seen) {
        await new Promise((resolve) => {
          const t = setTimeout(resolve, WAIT_MS);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = undefined;
      }
      const toNotificationMs = notices.length > seen ? notices[seen] - cli.returned : undefined;
      rounds.push({ cliMs: cli.returned - cli.started, toNewVersionMs, staleReads, toNotificationMs });
      if (toNewVersionMs === undefined) {
        errors.push(
          `round ${i}: get_credential still returned version ${before} ${WAIT_MS} ms after the rotation`,
        );
      }
      if (toNotificationMs === undefined) {
        errors.push(`round ${i}: no notifications/resources/updated within ${WAIT_MS} ms`);
      }
    } catch (e) {
      errors.push(`round ${i}: ${e.message}`);
    }
    await new Promise((r) => setTimeout(r, PAUSE_MS));
  }
  await transport.terminateSession().catch(() => undefined);
  await client.close();
  process.stdout.write(JSON.stringify({ rounds, errors }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`rotation: ${e.stack ?? e}\n`);
  process.exit(1);
});
