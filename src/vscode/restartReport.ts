/**
 * After a rotation in VS Code: how many running MCP servers (`agent-keyring run --mcp --url` through
 * this window's server) picked up the new version and restarted, told in the status bar and the log
 * a few seconds later (the wrappers fetch the new value, then restart their server) — "No running
 * MCP server …" when none did.
 */
import * as vscode from 'vscode';
import { countRunRestarts } from '../core/migrate/credentialUsage';
import type { AuditSource } from '../core/audit/auditSource';
import type { Logger } from '../core/ports';

const SETTLE_MS = 5_000;

/** What the status bar and the log say: `1 running MCP server restarted with 'x' v2`. */
export function restartText(count: number, name: string, version: number): string {
  return `${count === 0 ? 'No' : count} running MCP server${count === 1 ? '' : 's'} restarted with '${name}' v${version}`;
}

/** Resolves the count once it has been told (the rotate command's test mode waits for it). */
export function reportRestartsLater(
  deps: { auditSource: AuditSource; logger: Logger },
  name: string,
  version: number,
  sinceMs: number,
): Promise<number> {
  return new Promise<void>((resolve) => setTimeout(resolve, SETTLE_MS).unref())
    .then(() => countRunRestarts(deps.auditSource, name, version, sinceMs))
    .then((n) => {
      const text = restartText(n, name, version);
      deps.logger.info(`${text}.`);
      vscode.window.setStatusBarMessage(`${n > 0 ? '$(debug-restart)' : '$(info)'} ${text}`, 10_000);
      return n;
    });
}
