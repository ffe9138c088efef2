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
import { COMMAND_ALIASES, CommandId } from './commandIds';
import { connectAgent } from './connectAgent';
import { copyCredentialName } from './copyCredentialName';
import { editScopes } from './editScopes';
import { exportAuditLog } from './exportAuditLog';
import { importEnv } from './importEnv';
import { migrateConfigs } from './migrateConfigs';
import { revokeAgent } from './revokeAgent';
import { rotateAgentToken } from './rotateAgentToken';
import { removeCredential } from './removeCredential';
import { rotateCredential } from './rotateCredential';
import { scanConfigs } from './scanConfigs';
import { setPlacement } from './setPlacement';
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
  [CommandId.setPlacement]: setPlacement,
  [CommandId.rotateCredential]: rotateCredential,
  [CommandId.removeCredential]: removeCredential,
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
  [CommandId.migrateConfigs]: migrateConfigs,
  [CommandId.showAuditLog]: showAuditLog,
  [CommandId.openAuditLogInEditor]: openAuditLogInEditor,
  [CommandId.verifyAuditLog]: verifyAuditLog,
  [CommandId.exportAuditLog]: exportAuditLog,
};

export function registerCommands(ctx: CommandContext): vscode.Disposable {
  const store = new DisposableStore();
  const aliases = Object.entries(COMMAND_ALIASES);
  for (const [id, factory] of Object.entries(FACTORIES) as [
    CommandId,
    (c: CommandContext) => CommandHandler,
  ][]) {
    const handler = factory(ctx);
    const ids = [id, ...aliases.filter(([, target]) => target === id).map(([old]) => old)];
    for (const registered of ids) {
      store.add(register(ctx, registered, handler));
    }
  }
  return store;
}

function register(ctx: CommandContext, id: string, handler: CommandHandler): vscode.Disposable {
  return vscode.commands.registerCommand(id, async (arg?: unknown) => {
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
  });
}
