/**
 * `agent-keyring leases [--agent ID] [--active] [--json]`: the leases handed out (never a value).
 * A team store keeps them in the database, so this lists what every server handed out, also after
 * restarts; a file store's leases live in the memory of the process that handed them out (`serve`
 * or VS Code), so there is nothing to list from another process and the command says so.
 */
import type { Lease } from '../../core/model';
import { COMMON_OPTIONS, JSON_OPTION, parseCommand } from '../args';
import { HELP_HELP, STORE_HELP, type Command } from '../command';
import { isTeamStore, makeLogger, resolveStoreDir, withKeyring } from '../context';
import { err, out, shortTime, table } from '../io';

export const leasesCommand: Command = {
  name: 'leases',
  summary: 'list the leases handed out (a team store: by every server)',
  usage: `Usage: agent-keyring leases [--agent ID] [--active] [--json]

Lists the leases handed out: id, agent, credential, version, scope, when issued, when it
expires, when revoked. Revoking an agent ('agent revoke ID') marks its leases revoked.
A team store (postgres://…) lists the leases of every server, also after restarts (expired
leases are forgotten after a minute; the audit log keeps every hand-out). A file store's leases
live in the memory of the process that handed them out ('serve' or VS Code): nothing to list here.

Options:
  --agent ID      only this agent's leases
  --active        only leases neither revoked nor expired
  --json          print a JSON array instead of a table
${STORE_HELP}
${HELP_HELP}`,
  async run(argv, globals) {
    const { values } = parseCommand(
      argv,
      { ...COMMON_OPTIONS, ...JSON_OPTION, agent: { type: 'string' }, active: { type: 'boolean' } },
      0,
    );
    const store = values.store ?? globals.store;
    const dir = resolveStoreDir(store);
    if (!isTeamStore(dir)) {
      err(
        `The file store ${dir} keeps leases in the memory of the process that handed them out ('serve' or VS Code), not on disk: nothing to list from here. The audit log records every hand-out: agent-keyring audit export. A team store (--store postgres://…) lists the leases of every server.`,
      );
      if (values.json) {
        out('[]');
      }
      return 0;
    }
    return withKeyring(dir, makeLogger('warn'), async (k) => {
      const leases = await k.admin.leases({ agentId: values.agent, activeOnly: values.active === true });
      if (values.json) {
        out(JSON.stringify(leases.map(toRow), null, 2));
        return 0;
      }
      if (leases.length === 0) {
        out(`No ${values.active ? 'active ' : ''}leases${values.agent ? ` of '${values.agent}'` : ''}.`);
        return 0;
      }
      out(
        table(
          ['lease', 'agent', 'credential', 'version', 'scope', 'issued', 'expires', 'revoked'],
          leases.map((l) => [
            l.lease_id,
            l.agent_id,
            l.credential,
            String(l.version),
            l.scope,
            shortTime(l.issued_at),
            shortTime(l.expires_at),
            shortTime(l.revoked_at ?? null),
          ]),
        ),
      );
      return 0;
    });
  },
};

/** A lease as `--json` prints it: every field present, `revoked_at` null while not revoked. */
function toRow(l: Lease): Omit<Lease, 'revoked_at'> & { revoked_at: string | null } {
  return { ...l, revoked_at: l.revoked_at ?? null };
}
