/**
 * After a migration: starts each rewritten server as its client would (the new command, the entry's
 * remaining `env`, the agent's token variable) and lists its tools. `${VAR}` and `${env:VAR}` in
 * the entry's env are expanded from this process's environment, as the clients do.
 */
import type { probeStdioServer } from '../mcp/stdioProbe';
import type { MigrationReport } from './migrate';

export interface ServerCheck {
  file: string;
  server: string;
  status: 'ok' | 'failed' | 'not checked';
  tools?: number;
  reason?: string;
}

function expand(v: string, env: NodeJS.ProcessEnv): string {
  return v.replace(
    /\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (_, name: string, dflt?: string) => env[name] ?? dflt ?? '',
  );
}

/** `AGENT_KEYRING_TOKEN` and every `AGENT_KEYRING_TOKEN_<ID>`: what a client may or may not have set. */
const TOKEN_VARIABLE = /^AGENT_KEYRING_TOKEN(_|$)/;

/**
 * Checks every rewritten server, two at a time. A server whose agent is in `savedTokens` starts with
 * no token variable at all (`run --agent` must find the saved token, as when a client outside the
 * editor starts it). Otherwise the token is the new one (in `report.tokens`) or the agent's variable
 * in `env`; with neither, the server is `not checked` (the reason names the variable to set).
 */
export async function checkMigratedServers(
  report: MigrationReport,
  opts: {
    env: NodeJS.ProcessEnv;
    timeoutMs: number;
    secrets?: readonly string[];
    /** Agents whose token is saved where `run --agent` looks (the entry's `--store`). */
    savedTokens?: ReadonlySet<string>;
    /** src/core/mcp/stdioProbe.ts (passed in: core/mcp is loaded only where the SDK may be). */
    probe: typeof probeStdioServer;
  },
): Promise<ServerCheck[]> {
  const todo = report.servers.filter((s) => s.status === 'rewritten' && s.command && s.args);
  const out: ServerCheck[] = new Array<ServerCheck>(todo.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      const i = next++;
      const s = todo[i];
      const variable = s.token_variable as string;
      const saved = opts.savedTokens?.has(s.agent) === true;
      const token = saved
        ? undefined
        : (report.tokens.find((t) => t.variable === variable)?.token.reveal() ?? opts.env[variable]);
      if (!saved && !token) {
        out[i] = {
          file: s.file,
          server: s.server,
          status: 'not checked',
          reason: `set ${variable} to check it`,
        };
        continue;
      }
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.env)) {
        if (v !== undefined && !(saved && TOKEN_VARIABLE.test(k))) {
          env[k] = v;
        }
      }
      for (const [k, v] of Object.entries(s.env ?? {})) {
        env[k] = expand(v, opts.env);
      }
      if (token) {
        env[variable] = token;
      }
      const r = await opts.probe(s.command as string, s.args as string[], env, {
        timeoutMs: opts.timeoutMs,
        secrets: [
          ...(opts.secrets ?? []),
          ...report.tokens.map((t) => t.token.reveal()),
          ...(token ? [token] : []),
        ],
      });
      out[i] = r.ok
        ? { file: s.file, server: s.server, status: 'ok', tools: r.tools }
        : { file: s.file, server: s.server, status: 'failed', reason: r.reason };
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}
