/**
 * `agent-keyring audit verify|export`: checks the hash chain of an audit file, or writes its
 * events as JSONL (byte for byte) or CSV. On a team store (`--store postgres://…`) both work the
 * same on the store's audit trail in the database (one chain for every server).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type AuditSource, FileAuditSource } from '../../core/audit/auditSource';
import { exportAuditSource } from '../../core/audit/export';
import type { ChainKey } from '../../core/audit/chain';
import { readFileStoreChainKey } from '../../core/keyring';
import type { AuditFilter } from '../../core/audit/auditReader';
import type { Logger } from '../../core/ports';
import { COMMON_OPTIONS, JSON_OPTION, UsageError, clip, parseCommand } from '../args';
import {
  HELP_HELP,
  JSON_HELP,
  STORE_HELP,
  type Command,
  type CommandGroup,
  type GlobalFlags,
} from '../command';
import { AUDIT_FILE, isTeamStore, localDirOf, makeLogger, resolveStoreDir, withKeyring } from '../context';
import { printResult } from '../io';

function auditPath(file: string | undefined, store: string | undefined, globals: GlobalFlags): string {
  return file !== undefined
    ? path.resolve(file)
    : path.join(localDirOf(resolveStoreDir(store ?? globals.store)), AUDIT_FILE);
}

/**
 * Runs `fn` on the audit trail the options name: `--file F`, else the store's — a team store's is in
 * its database (opened for this, and closed after), a file store's is `audit.jsonl` in its folder.
 * `label` names it in messages: the file's path, or the team store's masked URL.
 */
async function withAuditSource<T>(
  file: string | undefined,
  store: string | undefined,
  globals: GlobalFlags,
  logger: Logger,
  fn: (source: AuditSource, label: string, chainKey: () => Promise<ChainKey | undefined>) => Promise<T>,
): Promise<T> {
  const dir = file === undefined ? resolveStoreDir(store ?? globals.store) : undefined;
  if (dir !== undefined && isTeamStore(dir)) {
    return withKeyring(dir, logger, (k) => fn(k.auditSource, dir, () => k.audit.chainKey()));
  }
  const target = auditPath(file, store, globals);
  return fn(new FileAuditSource(target, logger), target, async () => {
    const keyDir =
      file !== undefined && (store ?? globals.store) === undefined
        ? path.dirname(target)
        : resolveStoreDir(store ?? globals.store);
    return isTeamStore(keyDir)
      ? // --file with a team store: the audit key is in the database; open it to read the key only.
        await withKeyring(keyDir, logger, (k) => k.audit.chainKey())
      : await readFileStoreChainKey(keyDir, logger);
  });
}

/** `audit verify`'s exit code for an intact chain with a warning (crash tail, unknown key). */
export const WARNING_EXIT = 3;

const FILE_HELP =
  "  --file F        an audit file (default: the store's: audit.jsonl, or a team store's database)";

const verify: Command = {
  name: 'verify',
  summary: 'check that no audit line was edited, deleted or inserted',
  usage: `Usage: agent-keyring audit verify [--file F]

Checks the audit log's hash chain. Lines are sealed with a key kept in the store's encrypted
secrets (read from --store, else from the folder of --file), so a line rewritten without that
key fails. On a team store (--store postgres://…) it checks the store's audit trail in the
database: every row in seq order, and its end against the recorded head (deleted last rows). Exit 0 when intact; exit 1 naming the first bad line and why; exit 3 for an intact
chain with a warning: a "crash tail" (lines past the end recorded in the .head file, left by a
server killed mid-append; the next append adopts them), or lines sealed with a key this store
does not have.

Options:
${FILE_HELP}
${JSON_HELP} (same exit codes)
${STORE_HELP}
${HELP_HELP}`,
  async run(argv, globals) {
    const { values } = parseCommand(argv, { ...COMMON_OPTIONS, ...JSON_OPTION, file: { type: 'string' } }, 0);
    const logger = makeLogger('warn');
    const { result, file } = await withAuditSource(
      values.file,
      values.store,
      globals,
      logger,
      async (source, label, chainKey) => {
        const key = await chainKey();
        return { result: await source.verify({ chainKeys: key ? [key] : [] }), file: label };
      },
    );
    const legacy = result.lines?.legacy ? `; ${result.lines.legacy} in the older unkeyed format` : '';
    const bad = result.firstBad;
    const data = {
      file,
      intact: result.ok,
      events: result.count,
      legacy_events: result.lines?.legacy ?? 0,
      warning:
        result.ok && result.warning ? { kind: result.warning.kind, reason: result.warning.reason } : null,
      first_bad: result.ok ? null : { line: bad?.line ?? null, reason: bad?.reason ?? 'unknown problem' },
    };
    if (result.ok && result.warning) {
      const what = result.warning.kind === 'crash_tail' ? 'intact up to a crash tail' : 'chain intact';
      printResult(
        values.json,
        data,
        `${file}: ${what} (${result.count} events${legacy}) — warning: ${result.warning.reason}`,
      );
      return WARNING_EXIT;
    }
    if (result.ok) {
      printResult(
        values.json,
        data,
        `${file}: intact (${result.count} event${result.count === 1 ? '' : 's'}${legacy})`,
      );
      return 0;
    }
    printResult(
      values.json,
      data,
      `${file}: NOT intact — first bad line ${bad?.line ?? '?'}: ${bad?.reason ?? 'unknown problem'}`,
    );
    return 1;
  },
};

const exportCommand: Command = {
  name: 'export',
  summary: 'write audit events as JSONL or CSV',
  usage: `Usage: agent-keyring audit export [--format jsonl|csv] [--file F] [--out F]

Writes the audit events to stdout (or --out F). JSONL lines are copied byte for byte, so an
unfiltered export still verifies; CSV has a header row and is safe to open in a spreadsheet.
On a team store (--store postgres://…) the events come from the store's audit trail in the
database, in chain order: the JSONL is the file a file store would hold.

Options:
  --format jsonl|csv    output format (default jsonl)
  --out F               write to file F instead of stdout
  --agent ID            only events of this agent
  --credential NAME     only events about this credential
  --json                with --out: print what was written ({file, format, events}) as JSON
${FILE_HELP}
${STORE_HELP}
${HELP_HELP}`,
  async run(argv, globals) {
    const { values } = parseCommand(
      argv,
      {
        ...COMMON_OPTIONS,
        ...JSON_OPTION,
        file: { type: 'string' },
        format: { type: 'string' },
        out: { type: 'string' },
        agent: { type: 'string' },
        credential: { type: 'string' },
      },
      0,
    );
    const format = values.format ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'csv') {
      throw new UsageError(`--format must be jsonl or csv (got '${clip(format, 20)}')`);
    }
    const filter: AuditFilter = {
      ...(values.agent !== undefined ? { agent_id: values.agent } : {}),
      ...(values.credential !== undefined ? { credential: values.credential } : {}),
    };
    if (values.out === undefined && values.json) {
      throw new UsageError(
        '--json describes the file written with --out F; without --out the events themselves go to stdout (already JSON lines with --format jsonl)',
      );
    }
    return withAuditSource(values.file, values.store, globals, makeLogger('warn'), async (source) => {
      if (source.path !== undefined && !fs.existsSync(source.path)) {
        throw new UsageError(`there is no audit log at '${source.path}'; check --file or --store`);
      }
      return writeExport(source, format, values.out, values.json === true, filter);
    });
  },
};

/** `audit export`'s output: stdout, or `out` (0600) with a count on stderr (or JSON on stdout). */
async function writeExport(
  source: AuditSource,
  format: 'jsonl' | 'csv',
  out: string | undefined,
  json: boolean,
  filter: AuditFilter,
): Promise<number> {
  if (out === undefined) {
    await exportAuditSource(source, format, process.stdout, filter);
    return 0;
  }
  const target = path.resolve(out);
  const stream = fs.createWriteStream(target, { mode: 0o600 });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  await opened;
  let count: number;
  try {
    count = await exportAuditSource(source, format, stream, filter);
  } finally {
    await new Promise<void>((resolve, reject) => {
      stream.once('error', reject);
      stream.end(() => resolve());
    });
  }
  if (json) {
    printResult(true, { file: target, format, events: count }, '');
  } else {
    process.stderr.write(`Wrote ${count} event${count === 1 ? '' : 's'} to ${target}.\n`);
  }
  return 0;
}

export const auditGroup: CommandGroup = {
  name: 'audit',
  summary: 'verify or export the audit log',
  usage: `Usage: agent-keyring audit <command> [options]

Commands:
  verify [--file F]                                  check the hash chain
  export [--format jsonl|csv] [--file F] [--out F]   write the events

Run 'agent-keyring audit <command> --help' for a command's options.`,
  subcommands: [verify, exportCommand],
};
