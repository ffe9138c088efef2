/**
 * `agent-keyring store upgrade`: creates or upgrades the schema of a team store on PostgreSQL
 * (README "Team keyring on PostgreSQL"). Needs no master key and no superuser: the role must only
 * own the database (or have CREATE on its schema). Idempotent; safe to run from several hosts at once.
 *
 * `agent-keyring store copy --from A --to B`: moves a keyring between a folder and a team store
 * (either way) without printing a value.
 */
import * as fs from 'node:fs';
import type { Logger } from '../../core/ports';
import type { StoreSide } from '../../core/store/postgres/storeCopy';
import { COMMON_OPTIONS, JSON_OPTION, UsageError, parseCommand } from '../args';
import { HELP_HELP, JSON_HELP, type Command, type CommandGroup } from '../command';
import { ConfigError, isTeamStore, localDirOf, makeLogger, resolveStoreDir, teamStoreUrl } from '../context';
import { out, printResult } from '../io';

const TEAM_STORE_HELP =
  '  --store URL     the team store, postgres://user@host:port/db (default: $AGENT_KEYRING_STORE)';

const upgrade: Command = {
  name: 'upgrade',
  summary: 'create or upgrade the schema of a PostgreSQL team store',
  usage: `Usage: agent-keyring store upgrade --store postgres://user@host:port/db

Creates the team store's tables in an empty database, or applies the migrations a newer
agent-keyring needs. Run it once before the first 'serve', and after installing a new version.
Already up to date: changes nothing. The password may also come from PGPASSWORD or ~/.pgpass;
it is never printed.

Options:
${TEAM_STORE_HELP}
${JSON_HELP}
${HELP_HELP}`,
  async run(argv, globals) {
    const { values } = parseCommand(argv, { ...COMMON_OPTIONS, ...JSON_OPTION }, 0);
    const store = resolveStoreDir(values.store ?? globals.store);
    if (!isTeamStore(store)) {
      throw new UsageError(
        `'store upgrade' works on a PostgreSQL team store: pass --store postgres://user@host:port/db (a folder store needs no upgrade)`,
      );
    }
    const { PostgresDb } = await import('../../core/store/postgres/postgresDb.js');
    const { upgradeSchema } = await import('../../core/store/postgres/schema.js');
    const db = new PostgresDb(teamStoreUrl(store), {
      logger: makeLogger('warn'),
      poolSize: 1,
      writerPoolSize: 1,
    });
    try {
      let result;
      try {
        result = await upgradeSchema(db.statements, db.display);
      } catch (e) {
        throw db.error(e, 'upgrading the schema');
      }
      if (values.json) {
        printResult(
          true,
          {
            store: db.display,
            from: result.from,
            to: result.to,
            applied: result.applied.map((m) => ({ version: m.version, name: m.name })),
          },
          '',
        );
      } else if (result.applied.length === 0) {
        out(`${db.display}: schema version ${result.to}, up to date; nothing to do.`);
      } else {
        out(`${db.display}: schema version ${result.from} -> ${result.to}`);
        for (const m of result.applied) {
          out(`  applied ${m.version}: ${m.name}`);
        }
      }
      return 0;
    } finally {
      await db.close();
    }
  },
};

/** Opens the store side of a copy: the value backend and metadata of a folder or a team store. */
async function openSide(
  store: string,
  logger: Logger,
  role: 'from' | 'to',
): Promise<StoreSide & { close(): Promise<void> }> {
  if (isTeamStore(store)) {
    const { loadTeamMasterKey, openPostgresStore } =
      await import('../../core/store/postgres/postgresStore.js');
    const key = await loadTeamMasterKey(localDirOf(store), { logger });
    try {
      const s = await openPostgresStore(teamStoreUrl(store), { masterKey: key, logger });
      return { metadata: s.metadata, secrets: s.secrets, close: () => s.close() };
    } finally {
      key.fill(0);
    }
  }
  if (role === 'from' && !fs.existsSync(store)) {
    throw new ConfigError(`There is no keyring at ${store} to copy from. Check --from.`);
  }
  if (fs.existsSync(store) && !fs.statSync(store).isDirectory()) {
    throw new ConfigError(`'${store}' is not a folder; pass a keyring folder or a postgres:// URL.`);
  }
  const { openFileStore } = await import('../../core/store/fileStore.js');
  const s = await openFileStore(store, { logger });
  return { metadata: s.metadata, secrets: s.secrets, close: async () => s.dispose() };
}

const copy: Command = {
  name: 'copy',
  summary: 'copy a keyring between a folder and a team store (either way)',
  usage: `Usage: agent-keyring store copy --from DIR|URL --to DIR|URL

Copies every credential (with its stored versions), every agent (their tokens keep working) and
the audit fingerprint key into an EMPTY store: a personal folder into a team store on PostgreSQL,
or back. Values are decrypted from one and encrypted for the other in memory, never printed. The
audit log is not copied; keep the source's audit.jsonl (agent-keyring audit export) if you need it.
A team store must exist already (agent-keyring store upgrade); it uses its master key as 'serve'
does (AGENT_KEYRING_MASTER_KEY, AGENT_KEYRING_MASTER_KEY_FILE, else the local key).

Options:
  --from DIR|URL  the keyring to copy (a folder, or postgres://user@host:port/db)
  --to DIR|URL    the empty keyring to fill
${JSON_HELP}
${HELP_HELP}`,
  async run(argv) {
    const { values } = parseCommand(
      argv,
      { help: COMMON_OPTIONS.help, ...JSON_OPTION, from: { type: 'string' }, to: { type: 'string' } },
      0,
    );
    if (values.from === undefined || values.to === undefined) {
      throw new UsageError('store copy needs both --from and --to');
    }
    const from = resolveStoreDir(values.from);
    const to = resolveStoreDir(values.to);
    if (from === to) {
      throw new UsageError('--from and --to name the same store');
    }
    const logger = makeLogger('warn');
    const { copyStore } = await import('../../core/store/postgres/storeCopy.js');
    const source = await openSide(from, logger, 'from');
    try {
      const target = await openSide(to, logger, 'to');
      try {
        const r = await copyStore(source, target, to);
        printResult(
          values.json,
          { from, to, credentials: r.credentials, values: r.values, agents: r.agents },
          `Copied ${r.credentials} credential(s) (${r.values} stored value(s)) and ${r.agents} agent(s) from ${from} to ${to}.`,
        );
        return 0;
      } finally {
        await target.close();
      }
    } finally {
      await source.close();
    }
  },
};

export const storeGroup: CommandGroup = {
  name: 'store',
  summary: 'manage a PostgreSQL team store (upgrade, copy)',
  usage: `Usage: agent-keyring store <command> …

Commands:
  upgrade     ${upgrade.summary}
  copy        ${copy.summary}

Run 'agent-keyring store <command> --help' for a command's options.`,
  subcommands: [upgrade, copy],
};
