/**
 * `agentKeyring.exportAuditLog`: writes the audit log (optionally filtered) to a file chosen in a
 * save dialog. The format follows the file name: `.csv` → CSV (header row, formula-safe cells),
 * `.json` → one JSON array, anything else → JSONL (lines byte for byte, so an unfiltered export
 * still verifies). Args (tests, other callers): `{ uri?: Uri | string, format?: 'csv' | 'jsonl' |
 * 'json', filter?: AuditFilter }`; returns `{ path, format, count }`, or undefined when cancelled.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import * as vscode from 'vscode';
import type { AuditFilter } from '../../core/audit/auditReader';
import type { AuditSource } from '../../core/audit/auditSource';
import { exportAuditSource } from '../../core/audit/export';
import { InvalidInputError } from '../../core/errors';
import { argObject, type CommandContext, type CommandHandler } from './commandContext';

export type ExportFormat = 'csv' | 'jsonl' | 'json';
const FORMATS: readonly ExportFormat[] = ['csv', 'jsonl', 'json'];
const FORMAT_LABEL: Record<ExportFormat, string> = {
  csv: 'CSV (spreadsheets)',
  jsonl: 'JSON Lines (verifiable)',
  json: 'JSON',
};

export interface ExportResult {
  path: string;
  format: ExportFormat;
  count: number;
}

/** The format a file name asks for: `.csv`, `.json`, else JSONL. */
export function formatForPath(file: string): ExportFormat {
  const ext = path.extname(file).toLowerCase();
  return ext === '.csv' ? 'csv' : ext === '.json' ? 'json' : 'jsonl';
}

/** Asks where to save; `preferred` picks the default extension. Undefined when cancelled. */
export async function pickExportTarget(preferred: ExportFormat = 'jsonl'): Promise<vscode.Uri | undefined> {
  const stamp = new Date().toISOString().slice(0, 10);
  // The home folder, not the workspace: an export inside a repository is one `git add .` away from
  // being committed with the project.
  const folder = vscode.Uri.file(os.homedir());
  return vscode.window.showSaveDialog({
    title: `Export Audit Log as ${FORMAT_LABEL[preferred]} (the file's extension picks the format: .csv, .jsonl or .json)`,
    saveLabel: 'Export',
    defaultUri: vscode.Uri.joinPath(folder, `agent-keyring-audit-${stamp}.${preferred}`),
    filters: Object.fromEntries(
      [preferred, ...FORMATS.filter((f) => f !== preferred)].map((f) => [FORMAT_LABEL[f], [f]]),
    ),
  });
}

/**
 * Writes the matching events of the audit trail `source` to `target` in `format`: to a temporary file next to
 * it, renamed into place when complete (a failed export leaves no half file). Resolves with the
 * number of events.
 */
export async function exportAuditToFile(
  source: AuditSource,
  target: vscode.Uri,
  format: ExportFormat,
  filter?: AuditFilter,
): Promise<number> {
  if (target.scheme !== 'file') {
    // A virtual file system: build the text in memory and hand it to VS Code.
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer | string, _enc, cb) {
        chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
        cb();
      },
    });
    const count = await writeFormat(source, format, sink, filter);
    await vscode.workspace.fs.writeFile(target, Buffer.concat(chunks));
    return count;
  }
  const file = target.fsPath;
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  const out = fs.createWriteStream(tmp, { mode: 0o600 });
  try {
    const count = await writeFormat(source, format, out, filter);
    await new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.end(() => resolve());
    });
    await fs.promises.rename(tmp, file);
    return count;
  } catch (e) {
    out.destroy();
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
}

/** JSON: the JSONL export with each line turned into an array element. */
async function writeFormat(
  source: AuditSource,
  format: ExportFormat,
  out: NodeJS.WritableStream,
  filter: AuditFilter | undefined,
): Promise<number> {
  if (format !== 'json') {
    return exportAuditSource(source, format, out, filter);
  }
  let first = true;
  let pending = '';
  let failure: Error | undefined;
  const onError = (e: unknown): void => {
    failure ??= e instanceof Error ? e : new Error(String(e));
  };
  out.on('error', onError);
  const arrayWriter = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      if (failure) {
        cb(failure);
        return;
      }
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      let text = '';
      for (const line of lines) {
        text += (first ? '[\n' : ',\n') + line;
        first = false;
      }
      if (text === '' || out.write(text)) {
        cb();
        return;
      }
      const done = (e?: unknown): void => {
        out.removeListener('drain', done);
        out.removeListener('error', done);
        cb(e instanceof Error ? e : undefined);
      };
      out.once('drain', done);
      out.once('error', done);
    },
  });
  try {
    const count = await exportAuditSource(source, 'jsonl', arrayWriter, filter);
    await new Promise<void>((resolve) => arrayWriter.end(() => resolve()));
    out.write(first ? '[]\n' : '\n]\n');
    if (failure) {
      throw failure;
    }
    return count;
  } finally {
    out.removeListener('error', onError);
  }
}

export function exportAuditLog(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const o = argObject(arg);
    const fmt = o?.format;
    if (fmt !== undefined && !FORMATS.includes(fmt as ExportFormat)) {
      throw new InvalidInputError(
        `Unknown export format (${typeof fmt === 'string' ? `'${fmt.slice(0, 20)}'` : typeof fmt}). Use 'csv', 'jsonl' or 'json'.`,
      );
    }
    let target: vscode.Uri | undefined;
    if (o?.uri instanceof vscode.Uri) {
      target = o.uri;
    } else if (typeof o?.uri === 'string') {
      target = o.uri.includes('://') ? vscode.Uri.parse(o.uri) : vscode.Uri.file(o.uri);
    } else {
      target = await pickExportTarget((fmt as ExportFormat | undefined) ?? 'jsonl');
    }
    if (!target) {
      return undefined;
    }
    const format = (fmt as ExportFormat | undefined) ?? formatForPath(target.path);
    const filter = argObject(o?.filter) as AuditFilter | undefined;
    const count = await exportAuditToFile(ctx.keyring.auditSource, target, format, filter);
    const where = target.scheme === 'file' ? target.fsPath : target.toString();
    ctx.logger.info(`Exported ${count} audit event(s) as ${format} to ${where}.`);
    if (o?.uri === undefined) {
      void vscode.window
        .showInformationMessage(
          `Agent Keyring: exported ${count} audit event(s) to ${path.basename(where)}.`,
          'Open',
        )
        .then((choice) => choice && vscode.commands.executeCommand('vscode.open', target));
    }
    const result: ExportResult = { path: where, format, count };
    return result;
  };
}
