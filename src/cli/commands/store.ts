/**
 * `agent-keyring store upgrade`: creates or upgrades the schema of a team store on PostgreSQL
 * (README "Team keyring on PostgreSQL"). Needs no master key and no superuser: the role must only
 * own the database (or have CREATE on its schema). Idempotent; safe to run from several hosts at once.
 */
import { COMMON_OPTIONS, UsageError, parseCommand } from '../args';
import { HELP_HELP, type Command, type CommandGroup } from '../command';
import { isTeamStore, makeLogger, resolveStoreDir, teamStoreUrl } from '../context';
import { out } from '../io';

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
${HELP_HELP}`,
  async run(argv, globals) {
    const { values } = parseCommand(argv, COMMON_OPTIONS, 0);
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
      if (result.applied.length === 0) {
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

export const storeGroup: CommandGroup = {
  name: 'store',
  summary: 'manage a PostgreSQL team store (upgrade)',
  usage: `Usage: agent-keyring store <command> --store postgres://user@host:port/db

Commands:
  upgrade     ${upgrade.summary}

Run 'agent-keyring store <command> --help' for a command's options.`,
  subcommands: [upgrade],
};
