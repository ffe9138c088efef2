// Shared helpers for the bench scripts: latency statistics, child processes (spawned, awaited and
// killed by PID), and MCP JSON-RPC bodies. Plain ESM so `node bench/run.mjs` needs no compile step.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import * as path from 'node:path';

export const PROTOCOL_VERSION = '2025-06-18';

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** p-th percentile (0..100) of an ascending-sorted array, nearest-rank. */
export function percentile(sorted, p) {
  if (sorted.length === 0) {
    return NaN;
  }
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** Summary of latencies in ms plus throughput. */
export function summarize(latenciesMs, elapsedMs, errors, firstErrors) {
  const sorted = Float64Array.from(latenciesMs).sort();
  return {
    calls: latenciesMs.length,
    errors,
    firstErrors,
    elapsedMs,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
    callsPerSec: elapsedMs > 0 ? (latenciesMs.length * 1000) / elapsedMs : NaN,
  };
}

const MAX_ERRORS_KEPT = 5;

/**
 * The load loop both generators run: a warm-up (not recorded: JIT, connections, caches) of
 * `cfg.warmupPerAgent` calls per agent, then the measured phase, bounded by `cfg.maxCalls` AND
 * `cfg.maxSeconds`. Each `call()` resolves with undefined (a checked success) or a short problem
 * text; a throw counts as a failed request. Errors are counted, never hidden.
 * @returns the {@link summarize} of the measured phase.
 */
export async function driveLoad(calls, cfg, onMeasureStart = () => undefined) {
  let errors = 0;
  const firstErrors = [];
  const fail = (what) => {
    errors++;
    if (firstErrors.length < MAX_ERRORS_KEPT) {
      firstErrors.push(what);
    }
  };
  const warmEnd = performance.now() + cfg.maxSeconds * 1000;
  await Promise.all(
    calls.map(async (call) => {
      for (let k = 0; k < cfg.warmupPerAgent && performance.now() < warmEnd; k++) {
        const problem = await call().catch((e) => String(e.message));
        if (problem) {
          fail(`warm-up: ${problem}`);
        }
      }
    }),
  );
  const latencies = [];
  let issued = 0;
  onMeasureStart();
  const start = performance.now();
  const end = start + cfg.maxSeconds * 1000;
  await Promise.all(
    calls.map(async (call) => {
      while (issued < cfg.maxCalls && performance.now() < end) {
        issued++;
        const t0 = performance.now();
        const problem = await call().catch((e) => `request failed: ${e.message}`);
        const dt = performance.now() - t0;
        if (problem) {
          fail(problem);
        } else {
          latencies.push(dt);
        }
      }
    }),
  );
  return summarize(latencies, performance.now() - start, errors, firstErrors);
}

export function initializeBody(id, clientName) {
  return {
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: {
      protocolVersion: PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: clientName, version: '1.0.0' },
    },
  };
}

export function toolCallBody(id, name, args) {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } };
}

/**
 * Checks one tools/call response; returns undefined when it is a successful result, else a short
 * description of what was wrong (never the response body itself: it may hold a secret value).
 */
export function checkToolResult(msg, id, expect) {
  if (!msg || typeof msg !== 'object') {
    return 'no JSON-RPC message';
  }
  if (msg.id !== id) {
    return `wrong id (${String(msg.id)} instead of ${id})`;
  }
  if (msg.error) {
    return `JSON-RPC error ${msg.error.code}: ${String(msg.error.message).slice(0, 160)}`;
  }
  const r = msg.result;
  if (!r || r.isError) {
    const code = r?.structuredContent?.code;
    return `tool error${code ? ` (${code})` : ''}: ${String(r?.content?.[0]?.text ?? '').slice(0, 160)}`;
  }
  if (expect === 'get_credential') {
    const s = r.structuredContent;
    if (
      !s ||
      typeof s.value !== 'string' ||
      s.value.length === 0 ||
      !Number.isInteger(s.version) ||
      !s.lease_id
    ) {
      return 'get_credential result without value/version/lease_id';
    }
  } else if (expect === 'echo') {
    if (r.content?.[0]?.text === undefined) {
      return 'echo result without text';
    }
  }
  return undefined;
}

/** Parses a Streamable HTTP response body: plain JSON, or SSE `data:` lines (the SDK default). */
export function parseRpcBody(contentType, text) {
  if ((contentType ?? '').includes('text/event-stream')) {
    const messages = [];
    for (const line of text.split('\n')) {
      if (line.startsWith('data:')) {
        const data = line.slice(5).trim();
        if (data) {
          messages.push(JSON.parse(data));
        }
      }
    }
    return messages;
  }
  if (text.trim() === '') {
    return [];
  }
  const v = JSON.parse(text);
  return Array.isArray(v) ? v : [v];
}

/**
 * Starts a child process and resolves once a stdout line matches `ready` (its match is returned).
 * Rejects if the process exits first or `timeoutMs` passes (and then kills it by PID).
 */
export async function startProcess(
  cmd,
  args,
  { ready, timeoutMs = 20_000, env, label = cmd, stderrTo } = {},
) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let errText = '';
  child.stderr.on('data', (d) => {
    errText = (errText + d.toString()).slice(-4000);
    stderrTo?.write(d);
  });
  const match = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      killPid(child.pid);
      reject(new Error(`${label} did not become ready within ${timeoutMs} ms. stderr: ${errText}`));
    }, timeoutMs);
    const onData = (d) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve(m);
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited (${code ?? signal}) before it was ready. stderr: ${errText}`));
    });
  });
  return { child, match, stderr: () => errText };
}

/** Runs a command to completion; resolves with {code, stdout, stderr, ms}. */
export async function runProcess(cmd, args, { env, input, timeoutMs = 60_000 } = {}) {
  const started = performance.now();
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d.toString()));
  child.stderr.on('data', (d) => (stderr += d.toString()));
  child.stdin.end(input ?? '');
  const timer = setTimeout(() => killPid(child.pid), timeoutMs);
  const [code, signal] = await once(child, 'exit');
  clearTimeout(timer);
  return { code: code ?? signal, stdout, stderr, ms: performance.now() - started };
}

/** Sends SIGTERM to one PID (ours), then SIGKILL if it is still alive after `graceMs`. */
export async function stopChild(child, graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = once(child, 'exit');
  killPid(child.pid, 'SIGTERM');
  const timer = setTimeout(() => killPid(child.pid, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export function killPid(pid, signal = 'SIGKILL') {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export function fmtMs(v) {
  return Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) : '-';
}

export function fmtRate(v) {
  return Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-';
}

export function fmtBytes(n) {
  if (!Number.isFinite(n)) {
    return '-';
  }
  return n >= 1024 * 1024
    ? `${(n / 1048576).toFixed(2)} MiB`
    : n >= 1024
      ? `${(n / 1024).toFixed(1)} KiB`
      : `${n} B`;
}

/** A markdown table. */
export function mdTable(headers, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * CPU time (user + system, ms) a process has used so far, from /proc (Linux; undefined elsewhere).
 * Unlike wall-clock rates, this does not grow when other work on the machine steals the cores.
 */
export function cpuMsOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15, in clock ticks.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/**
 * Runs a bench script (a load generator) as its own process with `cfg` as JSON on stdin; resolves
 * with the last JSON line it prints. Killed after twice its `maxSeconds` (default 60) plus a minute.
 */
export async function runLoadGenerator(script, cfg) {
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  child.stdin.end(JSON.stringify(cfg));
  const timer = setTimeout(() => child.kill('SIGKILL'), ((cfg.maxSeconds ?? 60) * 2 + 60) * 1000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  if (code !== 0) {
    throw new Error(`${path.basename(script)} exited ${code}: ${err.trim().slice(-800)}`);
  }
  return JSON.parse(out.trim().split('\n').pop());
}
