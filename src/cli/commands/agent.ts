/**
 * `agent-keyring agent add|list|revoke|rotate-token`: agents and their bearer tokens. A token is printed once,
 * alone on the last line of stdout (so `TOKEN=$(agent-keyring agent add x)` works); the store
 * keeps only its SHA-256.
 */
import { tokenEnvVar } from '../../core/connect/clients';
import { KeyringError } from '../../core/errors';
import type { AgentMeta } from '../../core/model';
import { AgentInputSchema, parseInput } from '../../core/store/schemas';
import { COMMON_OPTIONS, JSON_OPTION, parseCommand, requirePositional } from '../args';
import { HELP_HELP, JSON_HELP, STORE_HELP, type Command, type CommandGroup } from '../command';
import {
  DEFAULT_HOST,
  DEFAULT_PORT,
  makeLogger,
  resolveStoreDir,
  storeExists,
  withKeyring,
} from '../context';
import { err, out, printResult, rememberSecret, shortTime, table } from '../io';
import { saveAgentToken, updateSavedAgentToken } from './token';

const ACTOR = 'cli';

function agentNotFound(id: string): KeyringError {
  return new KeyringError(
    'not_found',
    `No agent named '${id}' in this store. Run 'agent-keyring agent list' to see the ids.`,
    { agent: id },
  );
}

const add: Command = {
  name: 'add',
  summary: 'add an agent and print its token (once)',
  usage: `Usage: agent-keyring agent add ID [--label LABEL] [--active-hours HH:MM-HH:MM] [--save-token]

Adds an agent and prints its bearer token ONCE, alone on the last line of stdout:
  export AGENT_KEYRING_TOKEN_RESEARCH_AGENT="$(agent-keyring agent add research-agent)"
With --save-token it is saved for 'agent-keyring token --agent ID' instead, and not printed.
Only a hash of the token is stored; if it is lost, get a new one with 'agent rotate-token ID'.
Grant it credentials with 'agent-keyring credential edit NAME --agents ID,...'.

Options:
  --label LABEL                 human-readable name (default: the id)
  --active-hours HH:MM-HH:MM    local-time window it works in; requests outside it are denied
                                (e.g. 08:00-20:00; 22:00-06:00 wraps midnight)
  --save-token                  save the token (OS keyring, else a 0600 file in the store folder)
                                for 'agent-keyring token --agent ID' instead of printing it
${JSON_HELP}
${STORE_HELP}
${HELP_HELP}`,
  async run(argv, globals) {
    const { values, positionals } = parseCommand(
      argv,
      {
        ...COMMON_OPTIONS,
        ...JSON_OPTION,
        label: { type: 'string' },
        'active-hours': { type: 'string' },
        'save-token': { type: 'boolean' },
      },
      1,
    );
    const id = requirePositional(positionals, 0, 'agent ID');
    const input = parseInput(
      AgentInputSchema,
      {
        id,
        ...(values.label !== undefined ? { label: values.label } : {}),
        ...(values['active-hours'] !== undefined ? { active_hours: values['active-hours'] } : {}),
      },
      'agent',
    );
    const dir = resolveStoreDir(values.store ?? globals.store);
    return withKeyring(dir, makeLogger('warn'), async (k) => {
      const { agent, token } = await k.admin.addAgent(input, ACTOR);
      const raw = token.reveal();
      rememberSecret(raw);
      if (values['save-token']) {
        await saveAgentToken(values.store ?? globals.store, agent.id, token);
        // Nothing on stdout without --json: the token is saved, not printed.
        if (values.json) {
          printResult(true, { ...toRow(agent), token_saved: true }, '');
        } else {
          err(`Added agent '${agent.id}'; its token is saved.`);
        }
        return 0;
      }
      if (values.json) {
        // The token is the result: shown once, in the document (never through a logger).
        process.stdout.write(`${JSON.stringify({ ...toRow(agent), token: raw }, null, 2)}\n`);
        return 0;
      }
      err(
        `Added agent '${agent.id}'${agent.active_hours ? ` (active ${agent.active_hours} local time)` : ''}. Its token is on the next line, shown once: ` +
          `give it to the agent as ${tokenEnvVar(agent.id)} (header 'Authorization: Bearer <token>' to http://${DEFAULT_HOST}:${DEFAULT_PORT}/mcp).`,
      );
      // The token alone on the last line of stdout — written directly, never through a logger.
      process.stdout.write(`${raw}\n`);
      return 0;
    });
  },
};

interface AgentRow {
  id: string;
  label: string;
  created_at: string;
  last_seen_at: string | null;
  revoked_at: string | null;
  active_hours: string | null;
}

function toRow(a: AgentMeta): AgentRow {
  return {
    id: a.id,
    label: a.label,
    created_at: a.created_at,
    last_seen_at: a.last_seen_at ?? null,
    revoked_at: a.revoked_at ?? null,
    active_hours: a.active_hours ?? null,
  };
}

const list: Command = {
  name: 'list',
  summary: 'list agents (never tokens)',
  usage: `Usage: agent-keyring agent list [--json]

Lists agents: id, label, when created, when last seen, when revoked, active hours.

Options:
  --json          print a JSON array instead of a table
${STORE_HELP}
${HELP_HELP}`,
  async run(argv, globals) {
    const { values } = parseCommand(argv, { ...COMMON_OPTIONS, ...JSON_OPTION }, 0);
    const dir = resolveStoreDir(values.store ?? globals.store);
    if (!storeExists(dir)) {
      out(values.json ? '[]' : `No keyring at ${dir} yet. Add an agent with: agent-keyring agent add ID`);
      return 0;
    }
    return withKeyring(dir, makeLogger('warn'), async (k) => {
      const rows = (await k.admin.listAgents()).map(toRow).sort((a, b) => a.id.localeCompare(b.id));
      if (values.json) {
        out(JSON.stringify(rows, null, 2));
        return 0;
      }
      if (rows.length === 0) {
        out(`No agents in ${dir} yet. Add one with: agent-keyring agent add ID`);
        return 0;
      }
      out(
        table(
          ['id', 'label', 'created', 'last seen', 'revoked', 'active hours'],
          rows.map((r) => [
            r.id,
            r.label,
            shortTime(r.created_at),
            shortTime(r.last_seen_at),
            shortTime(r.revoked_at),
            r.active_hours ?? '-',
          ]),
        ),
      );
      return 0;
    });
  },
};

const revoke: Command = {
  name: 'revoke',
  summary: 'revoke an agent: its token stops working',
  usage: `Usage: agent-keyring agent revoke ID

Revokes the agent: its token stops working at once (also for a running 'serve'), its
leases are marked revoked, and it is removed from every credential's allowed agents and
rotation agents. Adding the same id again starts with no grants: grant it the credentials again.

Options:
${JSON_HELP}
${STORE_HELP}
${HELP_HELP}`,
  async run(argv, globals) {
    const { values, positionals } = parseCommand(argv, { ...COMMON_OPTIONS, ...JSON_OPTION }, 1);
    const id = requirePositional(positionals, 0, 'agent ID');
    const dir = resolveStoreDir(values.store ?? globals.store);
    return withKeyring(dir, makeLogger('warn'), async (k) => {
      const agent = await k.admin.getAgent(id);
      if (!agent) {
        throw agentNotFound(id);
      }
      if (agent.revoked_at) {
        printResult(
          values.json,
          { id, revoked: true, already: true, revoked_at: agent.revoked_at, removed_from: [] },
          `Agent '${id}' was already revoked (${agent.revoked_at}).`,
        );
        return 0;
      }
      const { removedFrom } = await k.admin.revokeAgent(id, ACTOR);
      await updateSavedAgentToken(values.store ?? globals.store, id, undefined);
      const revokedAt = (await k.admin.getAgent(id))?.revoked_at ?? null;
      printResult(
        values.json,
        { id, revoked: true, already: false, revoked_at: revokedAt, removed_from: removedFrom },
        `Revoked agent '${id}': its token no longer works` +
          (removedFrom.length > 0 ? `; removed from ${removedFrom.join(', ')}.` : '.'),
      );
      return 0;
    });
  },
};

const rotateToken: Command = {
  name: 'rotate-token',
  summary: 'give an agent a new token (the old one stops working)',
  usage: `Usage: agent-keyring agent rotate-token ID [--save-token]

Gives the agent a new bearer token and prints it ONCE, alone on the last line of stdout. The old
token stops working at once (also for a running 'serve'); grants and history are kept.

Options:
  --save-token    save the new token (OS keyring, else a 0600 file in the store folder) for
                  'agent-keyring token --agent ID' instead of printing it
${JSON_HELP}
${STORE_HELP}
${HELP_HELP}`,
  async run(argv, globals) {
    const { values, positionals } = parseCommand(
      argv,
      { ...COMMON_OPTIONS, ...JSON_OPTION, 'save-token': { type: 'boolean' } },
      1,
    );
    const id = requirePositional(positionals, 0, 'agent ID');
    const dir = resolveStoreDir(values.store ?? globals.store);
    return withKeyring(dir, makeLogger('warn'), async (k) => {
      if (!(await k.admin.getAgent(id))) {
        throw agentNotFound(id);
      }
      const { agent, token } = await k.admin.rotateAgentToken(id, ACTOR);
      const raw = token.reveal();
      rememberSecret(raw);
      if (values['save-token']) {
        await saveAgentToken(values.store ?? globals.store, agent.id, token);
        if (values.json) {
          printResult(true, { ...toRow(agent), token_saved: true }, '');
        } else {
          err(`New token for agent '${agent.id}' saved; the old token no longer works.`);
        }
        return 0;
      }
      // A saved token (for a client's start-up helper) follows the rotation.
      await updateSavedAgentToken(values.store ?? globals.store, agent.id, token);
      if (values.json) {
        process.stdout.write(`${JSON.stringify({ ...toRow(agent), token: raw }, null, 2)}\n`);
        return 0;
      }
      err(`New token for agent '${agent.id}' on the next line, shown once; the old token no longer works.`);
      process.stdout.write(`${raw}\n`);
      return 0;
    });
  },
};

export const agentGroup: CommandGroup = {
  name: 'agent',
  summary: 'add, list and revoke agents and their tokens',
  usage: `Usage: agent-keyring agent <command> [options]

Commands:
  add ID [--label L] [--active-hours HH:MM-HH:MM]   add an agent, print (or --save-token) its token once
  list                                              list agents (never tokens)
  revoke ID                                         revoke an agent's token
  rotate-token ID                                   new token for an agent, printed once

Run 'agent-keyring agent <command> --help' for a command's options.`,
  subcommands: [add, list, revoke, rotateToken],
};
