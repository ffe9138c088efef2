/**
 * `agentKeyring.openAuditLogInEditor`: the Audit view in an editor tab, for more room than the side
 * bar gives (the same page and session code as the side bar's view). One tab: run again, it is
 * revealed, not duplicated. Showing it marks the alerts as seen.
 */
import * as vscode from 'vscode';
import type { CommandContext, CommandHandler } from './commandContext';

export function openAuditLogInEditor(ctx: CommandContext): CommandHandler {
  return async () => {
    if (!ctx.openAuditInEditor) {
      void vscode.window.showErrorMessage(
        'Agent Keyring: the Audit view is not available in this window. Run "Agent Keyring: Show Audit Log" instead.',
      );
      return false;
    }
    ctx.openAuditInEditor();
    return true;
  };
}
