/**
 * `agent-keyring audit verify|export`: checks the hash chain of an audit file, or writes its
 * events as JSONL (byte for byte) or CSV. Neither needs the store's keys: they read the file only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exportAudit } from '../../core/audit/export';
import { readFileStoreChainKey } from '../../core/keyring';
import { verifyAuditFile } from '../../core/audit/verify';
import type { AuditFilter } from '../../core/audit/auditReader';
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

/** `audit verify`'s exit code for an intact chain with a warning (crash tail, unknown key). */
export const WARNING_EXIT = 3;

const FILE_HELP = '  --file F        the audit file (default: audit.jsonl in the store)';

const verify: Command = {
  name: 'verify',
  summary: 'check that no audit line was edited, deleted or inserted',
  usage: `Usage: agent-keyring audit verify [--file F]

Checks the audit log's hash chain. Lines are sealed with a key kept in the store's encrypted
secrets (read from --store, else from the folder of --file), so a line rewritten without that
key fails. Exit 0 when intact; exit 1 naming the first bad line and why; exit 3 for an intact
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
    const file = auditPath(values.file, values.store, globals);
    const logger = makeLogger('warn');
    const keyDir =
      values.file !== undefined && (values.store ?? globals.store) === undefined
        ? path.dirname(file)
        : resolveStoreDir(values.store ?? globals.store);
    const chainKey = isTeamStore(keyDir)
      ? // A team store keeps the audit key in the database: open it to read the key (nothing else).
        await withKeyring(keyDir, logger, (k) => k.audit.chainKey())
      : await readFileStoreChainKey(keyDir, logger);
    const result = await verifyAuditFile(file, logger, { chainKeys: chainKey ? [chainKey] : [] });
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
    const file = auditPath(values.file, values.store, globals);
    if (!fs.existsSync(file)) {
      throw new UsageError(`there is no audit log at '${file}'; check --file or --store`);
    }
    const filter: AuditFilter = {
      ...(values.agent !== undefined ? { agent_id: values.agent } : {}),
      ...(values.credential !== undefined ? { credential: values.credential } : {}),
    };
    if (values.out === undefined) {
      if (values.json) {
        throw new UsageError(
          '--json describes the file written with --out F; without --out the events themselves go to stdout (already JSON lines with --format jsonl)',
        );
      }
      await exportAudit(file, format, process.stdout, filter);
      return 0;
    }
    const target = path.resolve(values.out);
    const stream = fs.createWriteStream(target, { mode: 0o600 });
    const opened = new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
    await opened;
    let count: number;
    try {
      count = await exportAudit(file, format, stream, filter);
    } finally {
      await new Promise<void>((resolve, reject) => {
        stream.once('error', reject);
        stream.end(() => resolve());
      });
    }
    if (values.json) {
      printResult(true, { file: target, format, events: count }, '');
    } else {
      process.stderr.write(`Wrote ${count} event${count === 1 ? '' : 's'} to ${target}.\n`);
    }
    return 0;
  },
};

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
