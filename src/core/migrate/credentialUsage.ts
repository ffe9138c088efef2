/**
 * Where a credential is used (issue #9 item 5): the MCP servers migrate rewrote to get it (its
 * usage records) and the commands `agent-keyring run` started with it (the audit log's `tool: run`
 * releases: command name, how often, last time). Names and paths only, never a value.
 */
import * as path from 'node:path';
import { type AuditSource, auditEvents } from '../audit/auditSource';
import { UsageRecords } from './usage';

export interface CredentialUse {
  kind: 'server' | 'command';
  label: string;
  description: string;
  tooltip: string;
}

/** `run node: …` → `node`. */
function commandOf(reason: string | null): string | undefined {
  const m = /^run ([^:]+)/.exec(reason ?? '');
  return m ? m[1].trim() : undefined;
}

/**
 * The servers (from `<stateDir>/migrate/usage.json`) and run commands (from the audit trail,
 * file or team store) that use `name`. A damaged usage file or unreadable log gives what could be read.
 */
export async function credentialUsage(
  stateDir: string,
  audit: AuditSource,
  name: string,
): Promise<CredentialUse[]> {
  const out: CredentialUse[] = [];
  const records = await new UsageRecords(stateDir).forCredential(name).catch(() => []);
  for (const r of records) {
    out.push({
      kind: 'server',
      label: r.server,
      description: `${r.client} · ${path.basename(r.file)}`,
      tooltip: `MCP server '${r.server}' in ${r.file} (${r.field}) starts through agent-keyring run --mcp as agent '${r.agent}' (migrated ${r.at}).`,
    });
  }
  const commands = new Map<string, { count: number; last: string; agents: Set<string> }>();
  try {
    for await (const e of auditEvents(audit, { credential: name, tool: 'run', decision: 'allow' })) {
      const command = commandOf(e.reason);
      if (!command) {
        continue;
      }
      const c = commands.get(command) ?? { count: 0, last: e.ts, agents: new Set<string>() };
      c.count++;
      c.last = e.ts > c.last ? e.ts : c.last;
      if (e.agent_id) {
        c.agents.add(e.agent_id);
      }
      commands.set(command, c);
    }
  } catch {
    // no log yet, or unreadable: the servers are still worth showing
  }
  for (const [command, c] of commands) {
    out.push({
      kind: 'command',
      label: command,
      description: `run · ${c.count}× · last ${c.last.slice(0, 16).replace('T', ' ')}`,
      tooltip: `agent-keyring run started '${command}' with this credential ${c.count} time(s) (agents: ${[...c.agents].join(', ') || '?'}), last at ${c.last}.`,
    });
  }
  return out;
}

/**
 * How many running `run --mcp` wrappers took up `version` of `name` since `sinceMs`: each wrapper
 * told of a rotation fetches the new value (one `tool: run` release of that version in the audit
 * log of the keyring it reads from) and then restarts its server. Wrappers that read another
 * keyring (a CLI store) are audited there and not counted here.
 */
export async function countRunRestarts(
  audit: AuditSource,
  name: string,
  version: number,
  sinceMs: number,
): Promise<number> {
  let n = 0;
  try {
    for await (const e of auditEvents(audit, {
      credential: name,
      tool: 'run',
      decision: 'allow',
      since: sinceMs,
    })) {
      if (e.version === version) {
        n++;
      }
    }
  } catch {
    // no log: nothing to count
  }
  return n;
}
