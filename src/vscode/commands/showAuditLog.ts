/**
 * `agentKeyring.showAuditLog`: opens the Agent Keyring sidebar on the Audit view (a webview view;
 * VS Code generates `<viewId>.focus` for it). Showing the view marks the alerts as seen.
 */
import * as vscode from 'vscode';
import { AUDIT_VIEW_ID } from '../webview/auditView';
import type { CommandContext, CommandHandler } from './commandContext';

export function showAuditLog(_ctx: CommandContext): CommandHandler {
  return async () => {
    await vscode.commands.executeCommand(`${AUDIT_VIEW_ID}.focus`);
    return true;
  };
}
