/**
 * After a rotation in VS Code: how many running MCP servers (`agent-keyring run --mcp --url` through
 * this window's server) picked up the new version and restarted, told in the status bar and the log
 * a few seconds later (the wrappers fetch the new value, then restart their server).
 */
import * as vscode from 'vscode';
import { countRunRestarts } from '../core/migrate/credentialUsage';
import type { AuditSource } from '../core/audit/auditSource';
import type { Logger } from '../core/ports';

const SETTLE_MS = 5_000;

export function reportRestartsLater(
  deps: { auditSource: AuditSource; logger: Logger },
  name: string,
  version: number,
  sinceMs: number,
): void {
  setTimeout(() => {
    void countRunRestarts(deps.auditSource, name, version, sinceMs).then((n) => {
      if (n === 0) {
        return;
      }
      const text = `${n} running MCP server(s) restarted with '${name}' v${version}`;
      deps.logger.info(`${text}.`);
      vscode.window.setStatusBarMessage(`$(debug-restart) ${text}`, 10_000);
    });
  }, SETTLE_MS).unref();
}
