/**
 * When the keyring cannot be opened, every command still answers — with the reason and a way to
 * the log — rather than "command not found".
 */
import * as vscode from 'vscode';
import type { Logger } from '../core/ports';
import { ALL_COMMAND_IDS } from './commands/commandIds';
import type { DisposableStore } from './lifecycle';

export function answerCommandsWithStartupError(
  message: string,
  channel: vscode.LogOutputChannel,
  logger: Logger,
  disposables: DisposableStore,
): void {
  logger.error(`Agent Keyring could not start: ${message}`);
  for (const id of ALL_COMMAND_IDS) {
    disposables.add(vscode.commands.registerCommand(id, () => showStartupError(message, channel)));
  }
  void showStartupError(message, channel);
}

async function showStartupError(message: string, channel: vscode.LogOutputChannel): Promise<void> {
  const choice = await vscode.window.showErrorMessage(
    `Agent Keyring could not start: ${message} Fix the cause, then run "Developer: Reload Window".`,
    'Show Log',
  );
  if (choice) {
    channel.show();
  }
}
