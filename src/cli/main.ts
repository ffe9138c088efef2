/**
 * `agent-keyring`: the command line (README.md, "Headless CLI"). Dispatches to one command per file under
 * `commands/` and turns every error into one line on stderr and an exit code:
 *
 *   0  success
 *   1  refused or failed (a KeyringError, audit log not intact, port in use, internal error)
 *   2  bad usage or bad input (unknown command/flag, missing argument, invalid_input, bad policy.json)
 *   77 the store cannot be read or written by this user (permissions)
 *   130 cancelled at a prompt
 *
 * No stack trace is printed unless AGENT_KEYRING_LOG=debug, and every line is scrubbed of the
 * secrets this process has seen.
 */
import { redactError } from '../core/audit/redact';
import { isKeyringError } from '../core/errors';
import { version } from '../../package.json';
import { CliError, UsageError, clip, didYouMean } from './args';
import type { Command, CommandGroup, GlobalFlags } from './command';
import { agentGroup } from './commands/agent';
import { auditGroup } from './commands/audit';
import { bridgeCommand } from './commands/bridge';
import { credentialGroup } from './commands/credential';
import { leasesCommand } from './commands/leases';
import { migrateCommand } from './commands/migrate';
import { runCommand } from './commands/run';
import { serveCommand } from './commands/serve';
import { storeGroup } from './commands/store';
import { tokenCommand } from './commands/token';
import { CancelledError, err, out, scrub } from './io';
import { debugEnabled } from './logger';

const ENTRIES: Array<Command | CommandGroup> = [
  serveCommand,
  credentialGroup,
  agentGroup,
  auditGroup,
  storeGroup,
  leasesCommand,
  bridgeCommand,
  runCommand,
  migrateCommand,
  tokenCommand,
];

const OVERVIEW = `Usage: agent-keyring <command> [options]

Agent Keyring keeps API keys for AI agents and hands them out over MCP by name and scope,
with an audit log and anomaly rules.

Commands:
${ENTRIES.map((e) => `  ${e.name.padEnd(12)}${e.summary}`).join('\n')}

Global options:
  --store DIR     the keyring folder, or postgres://user@host:port/db for a team store
                  (default: $AGENT_KEYRING_STORE, else ~/.agent-keyring)
  -h, --help      show help (also after any command: agent-keyring credential add --help,
                  or agent-keyring help credential add)
  -v, --version   print the version

Run 'agent-keyring <command> --help' for a command's options.`;

/** Where to point the user after a usage error. */
class HelpHint {
  constructor(readonly path: string) {}
}

function wantsHelp(argv: string[]): boolean {
  for (const a of argv) {
    if (a === '--') {
      return false;
    }
    if (a === '-h' || a === '--help') {
      return true;
    }
  }
  return false;
}

function isGroup(e: Command | CommandGroup): e is CommandGroup {
  return 'subcommands' in e;
}

/** Leading global flags: `--store DIR`, `--help`, `--version`. */
function takeGlobals(argv: string[]): {
  globals: GlobalFlags;
  rest: string[];
  help: boolean;
  version: boolean;
} {
  const globals: GlobalFlags = {};
  let i = 0;
  let help = false;
  let showVersion = false;
  while (i < argv.length && (argv[i] ?? '').startsWith('-')) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      help = true;
    } else if (a === '--version' || a === '-V' || a === '-v') {
      showVersion = true;
    } else if (a === '--store') {
      const v = argv[i + 1];
      if (v === undefined) {
        throw new UsageError("option '--store' needs a value");
      }
      globals.store = v;
      i++;
    } else if (a.startsWith('--store=')) {
      globals.store = a.slice('--store='.length);
    } else {
      throw new UsageError(`unknown option '${clip(a, 40)}'`);
    }
    i++;
  }
  return { globals, rest: argv.slice(i), help, version: showVersion };
}

async function dispatch(argv: string[], hint: { current: HelpHint }): Promise<number> {
  const { globals, rest, help, version: showVersion } = takeGlobals(argv);
  if (showVersion) {
    out(version);
    return 0;
  }
  const [name, ...args] = rest;
  if (name === undefined) {
    // Bare `agent-keyring`: the overview is the most useful answer.
    out(OVERVIEW);
    return 0;
  }
  if (name === 'help') {
    // `agent-keyring help [command [subcommand]]` is `… --help`.
    return dispatch([...(globals.store ? ['--store', globals.store] : []), ...args, '--help'], hint);
  }
  const entry = ENTRIES.find((e) => e.name === name);
  if (!entry) {
    throw new UsageError(
      `unknown command '${clip(name, 40)}'${didYouMean(
        name,
        ENTRIES.map((e) => e.name),
      )} (commands: ${ENTRIES.map((e) => e.name).join(', ')})`,
    );
  }
  hint.current = new HelpHint(`agent-keyring ${entry.name}`);
  if (!isGroup(entry)) {
    if (help || wantsHelp(args)) {
      out(entry.usage);
      return 0;
    }
    return entry.run(args, globals);
  }
  const [subName, ...subArgs] = args;
  if (
    subName === undefined ||
    subName === '-h' ||
    subName === '--help' ||
    (help && subName.startsWith('-'))
  ) {
    if (subName === undefined && !help) {
      throw new UsageError(
        `missing ${entry.name} command (one of: ${entry.subcommands.map((s) => s.name).join(', ')})`,
      );
    }
    out(entry.usage);
    return 0;
  }
  const sub = entry.subcommands.find((s) => s.name === subName || s.aliases?.includes(subName));
  if (!sub) {
    const names = entry.subcommands.map((s) => s.name);
    throw new UsageError(
      `unknown ${entry.name} command '${clip(subName, 40)}'${didYouMean(subName, names)} (one of: ${names.join(', ')})`,
    );
  }
  hint.current = new HelpHint(`agent-keyring ${entry.name} ${sub.name}`);
  if (help || wantsHelp(subArgs)) {
    out(sub.usage);
    return 0;
  }
  return sub.run(subArgs, globals);
}

/** One line (or two, for usage errors) on stderr, and the exit code. */
export function reportError(e: unknown, hint: HelpHint): number {
  if (e instanceof UsageError) {
    err(`agent-keyring: ${e.message}`);
    err(`Run '${hint.path} --help' for usage.`);
    return 2;
  }
  if (e instanceof CliError) {
    err(`agent-keyring: ${e.message}`);
    return e.exitCode;
  }
  if (e instanceof CancelledError) {
    err('agent-keyring: cancelled.');
    return 130;
  }
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'EACCES' || errno === 'EPERM') {
    // A file of the store this user may not read or write (the folder itself is checked earlier).
    const where = (e as NodeJS.ErrnoException).path;
    err(
      `agent-keyring: permission denied${where ? ` on '${where}'` : ''}. Run agent-keyring as the user who owns the store, or fix its permissions (folder 0700, files 0600).`,
    );
    return 77;
  }
  if (isKeyringError(e)) {
    err(`agent-keyring: ${e.message}`);
    if (debugEnabled() && e.stack) {
      err(scrub(e.stack));
    }
    return e.code === 'invalid_input' ? 2 : 1;
  }
  // Anything else may carry arbitrary text from a library: redacted, and only the gist.
  err(`agent-keyring: internal error: ${scrub(redactError(e, []))}`);
  if (debugEnabled() && e instanceof Error && e.stack) {
    err(scrub(e.stack));
  } else {
    err('Set AGENT_KEYRING_LOG=debug for details.');
  }
  return 1;
}

/** Runs the command line with `argv` (without `node` and the script) and resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const hint = { current: new HelpHint('agent-keyring') };
  try {
    return await dispatch(argv, hint);
  } catch (e) {
    return reportError(e, hint.current);
  }
}

function exit(code: number): void {
  // Let stdout/stderr drain (pipes may be asynchronous) before exiting; lingering handles
  // (file watchers, sockets) must not keep a finished command alive.
  process.stdout.write('', () => {
    process.stderr.write('', () => process.exit(code));
  });
}

if (require.main === module) {
  const top = new HelpHint('agent-keyring');
  process.on('uncaughtException', (e) => exit(reportError(e, top)));
  process.on('unhandledRejection', (e) => exit(reportError(e, top)));
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    // `agent-keyring audit export | head`: the reader went away; that is not a failure.
    if (e.code === 'EPIPE') {
      process.exit(0);
    }
  });
  void main(process.argv.slice(2)).then(exit);
}
