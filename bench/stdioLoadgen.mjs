// stdio load generator: starts one `agent-keyring bridge` per virtual agent (each with its own
// AGENT_KEYRING_TOKEN) and speaks newline-delimited JSON-RPC to it — exactly what a stdio-only MCP
// client does. The bridge forwards to the HTTP server (a third process). Responses are checked
// like the HTTP load generator's. Bridges are stopped by closing stdin, then by PID.
//
// Config (JSON on stdin): { cli, url, tokens, concurrency, warmupPerAgent, maxCalls, maxSeconds,
//   tool, args, expect }
// Output: one JSON line: { calls, errors, firstErrors, elapsedMs, p50, p99, max, callsPerSec,
//   bridgeCpuMsPerCall } — the last is the bridges' user+system CPU (from /proc) during the measured
//   calls, divided by them.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { checkToolResult, cpuMsOf, driveLoad, initializeBody, killPid, toolCallBody } from './lib/common.mjs';

const REQUEST_TIMEOUT_MS = 30_000;

async function readStdin() {
  let text = '';
  for await (const chunk of process.stdin) {
    text += chunk;
  }
  return JSON.parse(text);
}

function startBridge(cli, url, token) {
  const child = spawn(process.execPath, [cli, 'bridge', '--url', url], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, AGENT_KEYRING_TOKEN: token },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d.toString()).slice(-2000)));
  const pending = new Map();
  createInterface({ input: child.stdout }).on('line', (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return; // not JSON-RPC: the bridge must never do this; counted as a timeout of the request
    }
    const p = msg.id !== undefined ? pending.get(msg.id) : undefined;
    if (p) {
      pending.delete(msg.id);
      clearTimeout(p.timer);
      p.resolve(msg);
    }
  });
  child.once('exit', () => {
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`bridge exited: ${stderr.slice(-300)}`));
    }
    pending.clear();
  });
  const request = (msg) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(msg.id);
        reject(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      pending.set(msg.id, { resolve, reject, timer });
      child.stdin.write(JSON.stringify(msg) + '\n');
    });
  const notify = (msg) => child.stdin.write(JSON.stringify(msg) + '\n');
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    const exited = once(child, 'exit');
    child.stdin.end();
    const timer = setTimeout(() => killPid(child.pid), 5000);
    await exited;
    clearTimeout(timer);
  };
  return { request, notify, stop, pid: child.pid };
}

async function main() {
  const cfg = await readStdin();
  const bridges = Array.from({ length: cfg.concurrency }, (_, i) =>
    startBridge(cfg.cli, cfg.url, cfg.tokens[i % cfg.tokens.length]),
  );
  try {
    const agents = await Promise.all(
      bridges.map(async (b, i) => {
        const init = await b.request(initializeBody(1, `bench-stdio-${i}`));
        if (!init.result) {
          throw new Error(`initialize through bridge ${i} failed: ${JSON.stringify(init.error)}`);
        }
        b.notify({ jsonrpc: '2.0', method: 'notifications/initialized' });
        let nextId = 2;
        return async () => {
          const id = nextId++;
          const msg = await b.request(toolCallBody(id, cfg.tool, cfg.args));
          return checkToolResult(msg, id, cfg.expect);
        };
      }),
    );
    const cpu = () => bridges.reduce((sum, b) => sum + (cpuMsOf(b.pid) ?? NaN), 0);
    let cpu0 = NaN;
    const summary = await driveLoad(agents, cfg, () => (cpu0 = cpu()));
    summary.bridgeCpuMsPerCall = (cpu() - cpu0) / (summary.calls + summary.errors);
    process.stdout.write(JSON.stringify(summary) + '\n');
  } finally {
    await Promise.all(bridges.map((b) => b.stop()));
  }
}

main().catch((e) => {
  process.stderr.write(`stdioLoadgen: ${e.stack ?? e}\n`);
  process.exit(1);
});
