/**
 * `agent-keyring migrate [--dry-run] [--undo] [--json] [files…]`: moves literal keys out of MCP
 * client configs into the keyring and rewrites each server to start through `agent-keyring run
 * --mcp` (README.md, "Migrate MCP configs"). The core is src/core/migrate/.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkMigratedServers, type ServerCheck } from '../../core/migrate/check';
import { classifyConfigFile, defaultConfigFiles, type ClientFile } from '../../core/migrate/clientFiles';
import {
  applyMigration,
  keyringAdapter,
  planMigration,
  undoMigration,
  type MigrationPlan,
  type MigrationReport,
} from '../../core/migrate/migrate';
import { CliError, parseCommand, parseInteger } from '../args';
import { HELP_HELP, STORE_HELP, type Command } from '../command';
import { isTeamStore, localDirOf, makeLogger, resolveStoreDir, storeExists, withKeyring } from '../context';
import { err, out, rememberSecret } from '../io';
import { saveAgentToken } from './token';

const ACTOR = 'cli';
const DEFAULT_TTL = 3600;

const USAGE = `Usage: agent-keyring migrate [--dry-run] [--undo] [--json] [--no-check] [files…]

Moves literal keys out of MCP client configs into the keyring. Without files it reads the current
folder's .mcp.json, .cursor/mcp.json and .vscode/mcp.json and the user's ~/.claude.json (with its
per-project servers), ~/.cursor/mcp.json, VS Code's User/mcp.json, ~/.codex/config.toml
($CODEX_HOME) and Claude Desktop's claude_desktop_config.json. It shows file, server and field,
never a value.

Each distinct value becomes one credential (the same key in several configs: one credential; a
credential already holding it is reused), named after its variable. Each client gets an agent
(claude-code, cursor, vscode-copilot, codex, claude-desktop; reused when it exists; a new one's
token is printed once, on stdout, as AGENT_KEYRING_TOKEN_<AGENT>=…, and saved for 'run --agent'
like 'agent add --save-token') with the credentials its servers use. Each server is rewritten to start
through 'agent-keyring run --mcp --agent AGENT --env VAR=credential --
<its command>' (remote servers: 'run --mcp --upstream URL --header …'), every other byte of the
file kept. A backup without values goes to the store folder; --undo puts the files back byte for
byte with the values from the keyring. Then each rewritten server is started and must list its
tools (20 s each).

Options:
  --dry-run       show what would change; change nothing
  --undo          restore the files of the last migration
  --json          print the result as JSON (new tokens included, once)
  --no-check      do not start the rewritten servers afterwards
  --timeout SEC   how long each server may take to list its tools (default 20)
${STORE_HELP}
${HELP_HELP}

Exit codes: 0 done; 1 a file or server failed (see the report); 2 bad usage or a file that is
not an MCP config.`;

function launcher(): { command: string; args: string[] } {
  const script = process.argv[1] ? fs.realpathSync(process.argv[1]) : '';
  return { command: process.execPath, args: script ? [script] : [] };
}

function printPlan(plan: MigrationPlan): void {
  const withKeys = plan.files.filter((f) => f.status === 'keys');
  const total = plan.servers.reduce((n, s) => n + s.keys.length, 0);
  out(`Found ${total} literal key(s) in ${withKeys.length} file(s).`);
  for (const f of plan.files.filter((x) => x.status === 'error')) {
    out(`  ${f.file}: ${f.problem ?? 'cannot be read'}`);
  }
  for (const f of withKeys) {
    out(`  ${f.file} (${f.client})`);
    for (const s of plan.servers.filter((x) => x.file === f.file)) {
      for (const k of s.keys) {
        const c = plan.credentials.find((x) => x.name === k.credential);
        out(
          `    ${s.server}  ${k.field}  (${k.reason}) → ${k.credential}${c?.new ? ' (new)' : ' (existing)'}`,
        );
      }
      if (s.skipped) {
        out(`    ${s.server}: left as it is — ${s.skipped}`);
      }
    }
  }
  const created = plan.credentials.filter((c) => c.new && c.agents.length > 0);
  const reused = plan.credentials.filter((c) => !c.new);
  if (created.length + reused.length > 0) {
    out(
      `Credentials: ${created.length} new${created.length ? ` (${created.map((c) => c.name).join(', ')})` : ''}, ${reused.length} reused${reused.length ? ` (${reused.map((c) => c.name).join(', ')})` : ''}.`,
    );
  }
  if (plan.agents.length > 0) {
    out(`Agents: ${plan.agents.map((a) => `${a.id}${a.new ? ' (new)' : ''}`).join(', ')}.`);
  }
}

function printReport(report: MigrationReport, checks: ServerCheck[]): void {
  for (const f of report.files) {
    out(
      `${f.status === 'written' ? 'Rewrote' : 'Could not rewrite'} ${f.file}${f.reason ? `: ${f.reason}` : ''}`,
    );
  }
  if (report.backup) {
    out(`Backup (no values; undo with 'agent-keyring migrate --undo'): ${report.backup}`);
  }
  for (const c of checks) {
    out(
      `  ${c.status === 'ok' ? 'ok' : c.status === 'failed' ? 'FAILED' : 'not checked'}  ${c.server} (${c.file})${c.tools !== undefined ? `: ${c.tools} tools` : ''}${c.reason ? `: ${c.reason}` : ''}`,
    );
  }
}

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'move literal keys out of MCP client configs into the keyring',
  usage: USAGE,
  async run(argv, globals) {
    const { values, positionals } = parseCommand(
      argv,
      {
        store: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        'dry-run': { type: 'boolean' },
        undo: { type: 'boolean' },
        json: { type: 'boolean' },
        'no-check': { type: 'boolean' },
        timeout: { type: 'string' },
      },
      100,
    );
    const timeoutMs =
      values.timeout !== undefined ? parseInteger(values.timeout, '--timeout', 1, 600) * 1000 : 20_000;
    const dir = resolveStoreDir(values.store ?? globals.store);
    const stateDir = localDirOf(dir);
    const logger = makeLogger('warn');

    if (values.undo) {
      if (positionals.length > 0 || values['dry-run']) {
        throw new CliError('--undo takes no files and no --dry-run: it restores the last migration', 2);
      }
      if (!storeExists(dir)) {
        throw new CliError(`no keyring at ${dir}: nothing to undo (pass --store DIR)`, 2);
      }
      return withKeyring(dir, logger, async (k) => {
        const r = await undoMigration(keyringAdapter(k, ACTOR), stateDir);
        if (values.json) {
          out(JSON.stringify(r, null, 2));
        } else if (!r.backup) {
          out('Nothing to undo: no migration recorded in this store.');
        } else {
          for (const f of r.files) {
            out(
              `${f.status === 'restored' ? 'Restored' : f.status === 'unchanged' ? 'Already as before:' : 'Could not restore'} ${f.file}${f.reason ? `: ${f.reason}` : ''}`,
            );
          }
        }
        return r.files.some((f) => f.status === 'failed') ? 1 : 0;
      });
    }

    let files: ClientFile[];
    if (positionals.length > 0) {
      files = positionals.map((p) => classifyConfigFile(path.resolve(p)));
      const missing = files.find((f) => !fs.existsSync(f.file));
      if (missing) {
        throw new CliError(`${missing.file} does not exist; check the path`, 2);
      }
    } else {
      files = defaultConfigFiles(process.cwd(), os.homedir());
    }
    if (values['dry-run'] && !storeExists(dir)) {
      // A dry run creates nothing, not even the store: plan against an empty keyring.
      const plan = await planMigration(
        {
          listCredentials: () => Promise.resolve([]),
          currentValue: () => Promise.resolve(undefined),
          versionValue: () => Promise.resolve(undefined),
          agentExists: () => Promise.resolve(false),
          addAgent: () => Promise.reject(new Error('dry run')),
          addCredential: () => Promise.reject(new Error('dry run')),
          grant: () => Promise.reject(new Error('dry run')),
        },
        files,
      );
      emitPlan(plan, values.json ?? false);
      return 0;
    }
    const runArgs = isTeamStore(dir) ? [] : ['--store', dir];
    let report: MigrationReport | undefined;
    const code = await withKeyring(dir, logger, async (k) => {
      const keyring = keyringAdapter(k, ACTOR);
      const plan = await planMigration(keyring, files);
      if (values['dry-run']) {
        emitPlan(plan, values.json ?? false);
        return 0;
      }
      if (!values.json) {
        printPlan(plan);
      }
      report = await applyMigration(keyring, plan, {
        launcher: launcher(),
        runArgs,
        stateDir,
        ttlSeconds: DEFAULT_TTL,
        now: () => new Date(),
      });
      return -1;
    });
    if (code >= 0 || !report) {
      return code;
    }
    const r: MigrationReport = report;
    for (const t of r.tokens) {
      rememberSecret(t.token.reveal());
    }
    // New agents' tokens are saved where `run --agent` finds them (the OS keyring, else a 0600
    // file in the store folder), so the rewritten servers start without a token in the client's
    // environment. A team store has no folder of its own: its tokens go to the environment.
    const saved = !isTeamStore(dir);
    const savedTokens = new Set<string>();
    if (saved) {
      for (const t of r.tokens) {
        await saveAgentToken(dir, t.agent, t.token);
        savedTokens.add(t.agent);
      }
    }
    // The keyring is closed before the check: the rewritten servers open it themselves.
    let checks: ServerCheck[] = [];
    if (!values['no-check']) {
      // Loaded on demand: the MCP SDK client is not evaluated for other commands.
      const { probeStdioServer } = await import('../../core/mcp/stdioProbe.js');
      // A new agent's servers start with no token variable, as the client starts them: `run
      // --agent` must find the token just saved.
      checks = await checkMigratedServers(r, {
        env: process.env,
        timeoutMs,
        probe: probeStdioServer,
        savedTokens,
      });
    }
    const failed =
      r.files.some((f) => f.status === 'failed') ||
      r.plan.files.some((f) => f.status === 'error') ||
      checks.some((c) => c.status === 'failed');
    if (values.json) {
      out(
        JSON.stringify(
          {
            ...r.plan,
            written: r.files,
            outcomes: r.servers.map(({ file, server, agent, status, reason }) => ({
              file,
              server,
              agent,
              status,
              reason,
            })),
            checks,
            backup: r.backup ?? null,
            tokens: Object.fromEntries(r.tokens.map((t) => [t.variable, t.token.reveal()])),
          },
          null,
          2,
        ),
      );
      return failed ? 1 : 0;
    }
    printReport(r, checks);
    if (r.tokens.length > 0) {
      err(
        saved
          ? `New agent token(s) below, shown once; they are also saved for 'run --agent' (see above), so the rewritten servers start as they are. A variable of that name in the client's environment takes precedence.`
          : `New agent token(s) below, shown once: set each variable in the environment that starts the client (e.g. your shell profile), or the rewritten servers cannot get their keys.`,
      );
      for (const t of r.tokens) {
        process.stdout.write(`${t.variable}=${t.token.reveal()}\n`);
      }
    }
    return failed ? 1 : 0;
  },
};

function emitPlan(plan: MigrationPlan, json: boolean): void {
  if (json) {
    out(JSON.stringify({ ...plan, dry_run: true }, null, 2));
  } else {
    printPlan(plan);
    out('Dry run: nothing was changed.');
  }
}
