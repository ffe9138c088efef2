/**
 * Export Audit Log: the (filtered) events as JSONL — lines byte for byte, so an unfiltered export
 * still verifies — or as CSV for spreadsheets, with formula-injection protection.
 */
import { InvalidInputError } from '../errors';
import type { AuditEvent } from '../model';
import { type AuditFilter, type AuditRecord, readAuditRecords } from './auditReader';
import type { AuditSource } from './auditSource';

export type AuditExportFormat = 'jsonl' | 'csv';

/** CSV columns, in order. `client` is flattened; `rules` is joined with `;`. */
export const CSV_COLUMNS = [
  'ts',
  'agent_id',
  'claimed_agent_id',
  'credential',
  'scope',
  'tool',
  'decision',
  'code',
  'reason',
  'lease_id',
  'version',
  'value_fingerprint',
  'client_name',
  'client_version',
  'conversation_id',
  'rules',
  'prev_hash',
  'hash',
] as const;

/**
 * One CSV cell (RFC 4180): a cell starting with `=`, `+`, `-`, `@`, tab or CR gets a leading `'`
 * so spreadsheets show it as text instead of running it as a formula; a cell containing `"`, `,`,
 * CR or LF (or the `'` guard) is quoted with inner quotes doubled.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  let s =
    typeof value === 'string'
      ? value
      : typeof value === 'number' || typeof value === 'boolean'
        ? String(value)
        : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(s)) {
    s = `'${s}`;
  }
  if (/[",\r\n]/.test(s)) {
    s = `"${s.replace(/"/g, '""')}"`;
  }
  return s;
}

/** The CSV row (without line break) of one event, in {@link CSV_COLUMNS} order. */
export function csvRow(e: AuditEvent): string {
  const client = e.client && typeof e.client === 'object' ? e.client : null;
  const cells: unknown[] = [
    e.ts,
    e.agent_id,
    e.claimed_agent_id,
    e.credential,
    e.scope,
    e.tool,
    e.decision,
    e.code,
    e.reason,
    e.lease_id,
    e.version,
    e.value_fingerprint,
    client?.name,
    client?.version,
    client?.conversation_id,
    Array.isArray(e.rules) ? e.rules.join(';') : null,
    e.prev_hash,
    e.hash,
  ];
  return cells.map(csvCell).join(',');
}

/**
 * Writes the matching events of the audit file at `path` to `out` (which is left open), honouring
 * back-pressure. JSONL lines are copied unchanged; CSV has a header row and CRLF line breaks.
 * A missing audit file exports nothing (CSV: the header only). Resolves with the number of events.
 * @throws InvalidInputError for an unknown format; the `fs` error when the file cannot be read, or the stream's error when `out` fails.
 */
export async function exportAudit(
  path: string,
  format: AuditExportFormat,
  out: NodeJS.WritableStream,
  filter?: AuditFilter,
): Promise<number> {
  return exportAuditRecords(readAuditRecords(path, filter), format, out);
}

/**
 * Writes the matching events of the audit trail `source` (a file store's file, a team store's rows)
 * to `out` (left open): JSONL lines byte for byte (an unfiltered export of either verifies), or CSV.
 * Resolves with the number of events.
 */
export function exportAuditSource(
  source: AuditSource,
  format: AuditExportFormat,
  out: NodeJS.WritableStream,
  filter?: AuditFilter,
): Promise<number> {
  return exportAuditRecords(source.records(filter), format, out);
}

/**
 * {@link exportAudit} over any source of records (a file's, a team store's rows): JSONL lines are
 * copied unchanged, CSV rows are built from the events.
 * @throws InvalidInputError for an unknown format; the source's error, or the stream's when `out` fails.
 */
export async function exportAuditRecords(
  records: AsyncIterable<AuditRecord>,
  format: AuditExportFormat,
  out: NodeJS.WritableStream,
): Promise<number> {
  if (format !== 'jsonl' && format !== 'csv') {
    throw new InvalidInputError(`Unknown audit export format '${String(format)}'. Use 'jsonl' or 'csv'.`);
  }
  let failure: Error | undefined;
  const onError = (e: unknown): void => {
    failure ??= e instanceof Error ? e : new Error(String(e));
  };
  out.on('error', onError);
  try {
    const write = async (text: string): Promise<void> => {
      if (failure !== undefined) {
        throw failure;
      }
      if (!out.write(text)) {
        await new Promise<void>((resolve, reject) => {
          const cleanup = (): void => {
            out.removeListener('drain', onDrain);
            out.removeListener('error', onErr);
          };
          const onDrain = (): void => {
            cleanup();
            resolve();
          };
          const onErr = (e: unknown): void => {
            cleanup();
            reject(e instanceof Error ? e : new Error(String(e)));
          };
          out.once('drain', onDrain);
          out.once('error', onErr);
        });
      }
    };
    let count = 0;
    if (format === 'csv') {
      await write(CSV_COLUMNS.join(',') + '\r\n');
    }
    for await (const { line, event } of records) {
      await write(format === 'csv' ? csvRow(event) + '\r\n' : line + '\n');
      count++;
    }
    if (failure !== undefined) {
      throw failure;
    }
    return count;
  } finally {
    out.removeListener('error', onError);
  }
}
