// One MCP client over a child's stdio (newline-delimited JSON-RPC), for the `run --mcp` rows:
// bench/runMcp.mjs and bench/abForward.mjs. `measure` runs sequential `tools/call` round trips and
// reports the latency summary plus the CPU (user + system, from /proc) the child process used per
// call — for `run --mcp` that child is the wrapper (the server it starts is its own child).
import { spawn } from 'node:child_process';
import { cpuMsOf, initializeBody, killPid, summarize, toolCallBody } from './common.mjs';

export function stdioSession(cmd, args, env) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  child.stderr.resume();
  const pending = new Map();
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const msg = JSON.parse(line);
      const p = pending.get(msg.id);
      if (p) {
        pending.delete(msg.id);
        p(msg);
      }
    }
  });
  let id = 0;
  const request = (body) =>
    new Promise((resolve) => {
      pending.set(body.id, resolve);
      child.stdin.write(JSON.stringify(body) + '\n');
    });
  return {
    pid: child.pid,
    async init() {
      await request(initializeBody(++id, 'bench'));
      child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
    },
    call: (tool = 'whoami', args = {}) => request(toolCallBody(++id, tool, args)),
    /** Any method with params (e.g. tools/list). */
    rpc: (method, params = {}) => request({ jsonrpc: '2.0', id: ++id, method, params }),
    stop: () => killPid(child.pid),
  };
}

/**
 * `n` sequential calls of `call` after 200 warm-up ones; a failed call throws. Returns the latency
 * summary and `cpuMsPerCall` of the session's process.
 */
export async function measure(session, n, call = () => session.call()) {
  for (let i = 0; i < 200; i++) {
    await call();
  }
  const lat = [];
  const cpu0 = cpuMsOf(session.pid);
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = await call();
    if (r.error || r.result?.isError) {
      throw new Error(`a call failed: ${JSON.stringify(r.error ?? r.result).slice(0, 300)}`);
    }
    lat.push(performance.now() - t);
  }
  const s = summarize(lat, performance.now() - start, 0, []);
  s.cpuMsPerCall = (cpuMsOf(session.pid) - cpu0) / n;
  return s;
}
