/**
 * The shape of a command: its name, a one-line summary for the overview, its usage text for
 * `--help`, and `run`, which resolves to the process exit code.
 */

/** Flags given before the command name (`agent-keyring --store DIR credential list`). */
export interface GlobalFlags {
  store?: string;
}

export interface Command {
  name: string;
  summary: string;
  /** Full `--help` text. */
  usage: string;
  /** Other names that run this command, not listed in help (kept for old scripts). */
  aliases?: readonly string[];
  run(argv: string[], globals: GlobalFlags): Promise<number>;
}

/** A command with subcommands (`credential add`, `agent list`, `audit verify`). */
export interface CommandGroup {
  name: string;
  summary: string;
  usage: string;
  subcommands: Command[];
}

export const STORE_HELP =
  '  --store DIR     the keyring folder, or postgres://user@host:port/db for a team store\n' +
  '                  (default: $AGENT_KEYRING_STORE, else ~/.agent-keyring)';
export const HELP_HELP = '  -h, --help      show this help';
export const JSON_HELP = '  --json          print the result as one JSON document (for scripts)';
