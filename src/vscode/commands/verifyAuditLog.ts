/**
 * `agentKeyring.verifyAuditLog`: checks the hash chain of the audit log (and its end against the
 * `.head` sidecar) and says so: an information message when intact, an error message naming the
 * first bad line otherwise, with "Open Audit File" (at that line) and "Show Audit Log".
 * Args (tests, other callers): `{ silent?: boolean }` — no message, just the result.
 */
import * as vscode from 'vscode';
import { isKeyringError } from '../../core/errors';
import type { ChainKey } from '../../core/audit/chain';
import type { AuditVerifyResult } from '../../core/audit/verify';
import type { AuditSource } from '../../core/audit/auditSource';
import { argObject, type CommandContext, type CommandHandler } from './commandContext';
import { CommandId } from './commandIds';

/**
 * Verifies the audit trail (a file store's file, or a team store's rows). A log that does not
 * exist yet is an empty, intact log (count 0), not an error.
 */
export async function verifyAudit(
  source: AuditSource,
  audit?: { chainKey(): Promise<ChainKey | undefined> },
): Promise<AuditVerifyResult> {
  try {
    const key = await audit?.chainKey();
    return await source.verify({ chainKeys: key ? [key] : [] });
  } catch (e) {
    if (isKeyringError(e) && e.code === 'invalid_input') {
      return { ok: true, count: 0 };
    }
    throw e;
  }
}

/** One sentence for a person: "intact, N events" or "damaged: line N: …". */
export function describeVerifyResult(r: AuditVerifyResult): string {
  if (r.ok && r.warning) {
    return `The audit log's hash chain is intact (${r.count} events), with a warning: ${r.warning.reason}`;
  }
  if (r.ok && r.lines) {
    return `The audit log is intact: ${r.count} event${r.count === 1 ? '' : 's'}, hash chain verified (${r.lines.keyed} sealed with this keyring's key${r.lines.legacy ? `, ${r.lines.legacy} in the older unkeyed format` : ''}).`;
  }
  if (r.ok) {
    return r.count === 0
      ? 'The audit log is empty: nothing recorded yet.'
      : `The audit log is intact: ${r.count} event${r.count === 1 ? '' : 's'}, hash chain verified.`;
  }
  return `The audit log was tampered with or damaged at ${r.firstBad?.reason ?? 'an unknown line.'}`;
}

export function verifyAuditLog(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const silent = argObject(arg)?.silent === true;
    const result = await verifyAudit(ctx.keyring.auditSource, ctx.keyring.audit);
    const text = `Agent Keyring: ${describeVerifyResult(result)}`;
    if (result.ok) {
      if (result.warning) {
        ctx.logger.warn(text);
      } else {
        ctx.logger.info(text);
      }
      if (!silent) {
        void (result.warning
          ? vscode.window.showWarningMessage(text)
          : vscode.window.showInformationMessage(text));
      }
      return result;
    }
    ctx.logger.error(text);
    const file = ctx.keyring.auditPath;
    if (!silent) {
      // A team store's trail is rows in the database (line N = the N-th row by seq): no file to open.
      const actions = file !== undefined ? ['Open Audit File', 'Show Audit Log'] : ['Show Audit Log'];
      void vscode.window.showErrorMessage(text, ...actions).then(async (choice) => {
        if (choice === 'Open Audit File' && file !== undefined) {
          const line = Math.max(0, (result.firstBad?.line ?? 1) - 1);
          const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
          await vscode.window.showTextDocument(doc, {
            selection: new vscode.Range(line, 0, line, 0),
            preview: true,
          });
        } else if (choice === 'Show Audit Log') {
          await vscode.commands.executeCommand(CommandId.showAuditLog);
        }
      });
    }
    return result;
  };
}
