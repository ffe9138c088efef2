/**
 * Registers every command of {@link CommandId} with one error policy: a failure is logged, shown
 * with `showErrorMessage` (KeyringError messages are written for people) and the views repaint.
 * Under test the error is also rethrown, so a test sees why a command failed.
 */
import * as vscode from 'vscode';
import { isKeyringError } from '../../core/errors';
import { DisposableStore } from '../lifecycle';
import { addAgent } from './addAgent';
import { addCredential } from './addCredential';
import type { CommandContext, CommandHandler } from './commandContext';
import { CommandId } from './commandIds';
import { connectAgent } from './connectAgent';
import { copyCredentialName } from './copyCredentialName';
import { editScopes } from './editScopes';
import { exportAuditLog } from './exportAuditLog';
import { importEnv } from './importEnv';
import { revokeAgent } from './revokeAgent';
import { rotateAgentToken } from './rotateAgentToken';
import { revokeCredential } from './revokeCredential';
import { rotateCredential } from './rotateCredential';
import { scanConfigs } from './scanConfigs';
import { setRevealMode } from './setRevealMode';
import { openAuditLogInEditor } from './openAuditLogInEditor';
import { showAuditLog } from './showAuditLog';
import { showStatus } from './showStatus';
import { startServer } from './startServer';
import { stopServer } from './stopServer';
import { verifyAuditLog } from './verifyAuditLog';

const FACTORIES: Record<CommandId, (ctx: CommandContext) => CommandHandler> = {
  [CommandId.addCredential]: addCredential,
  [CommandId.editScopes]: editScopes,
  [CommandId.setRevealMode]: setRevealMode,
  [CommandId.rotateCredential]: rotateCredential,
  [CommandId.revokeCredential]: revokeCredential,
  [CommandId.copyCredentialName]: copyCredentialName,
  [CommandId.addAgent]: addAgent,
  [CommandId.revokeAgent]: revokeAgent,
  [CommandId.rotateAgentToken]: rotateAgentToken,
  [CommandId.startServer]: startServer,
  [CommandId.stopServer]: stopServer,
  [CommandId.showStatus]: showStatus,
  [CommandId.connectAgent]: connectAgent,
  [CommandId.importEnv]: importEnv,
  [CommandId.scanConfigs]: scanConfigs,
  [CommandId.showAuditLog]: showAuditLog,
  [CommandId.openAuditLogInEditor]: openAuditLogInEditor,
  [CommandId.verifyAuditLog]: verifyAuditLog,
  [CommandId.exportAuditLog]: exportAuditLog,
};

export function registerCommands(ctx: CommandContext): vscode.Disposable {
  const store = new DisposableStore();
  for (const [id, factory] of Object.entries(FACTORIES) as [
    CommandId,
    (c: CommandContext) => CommandHandler,
  ][]) {
    const handler = factory(ctx);
    store.add(
      vscode.commands.registerCommand(id, async (arg?: unknown) => {
        try {
          return await handler(arg);
        } catch (e) {
          // KeyringError messages never hold a value; anything else is reported by kind only in
          // the notification (a library message could contain anything), in full in the log.
          const message = isKeyringError(e)
            ? e.message
            : `Unexpected error (${e instanceof Error ? e.name : typeof e}). See the Agent Keyring log.`;
          ctx.logger.error(`Command ${id} failed: ${e instanceof Error ? e.message : String(e)}`);
          void vscode.window
            .showErrorMessage(`Agent Keyring: ${message}`, 'Show Log')
            .then((a) => a && ctx.showLog());
          ctx.refreshViews();
          if (ctx.testMode) {
            throw e;
          }
          return undefined;
        }
      }),
    );
  }
  return store;
}
