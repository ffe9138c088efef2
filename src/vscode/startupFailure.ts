/**
 * When the keyring cannot be opened, every command still answers — with the reason and a way to
 * the log — rather than "command not found", and the status bar says it is not connected. A team
 * store that cannot be opened (bad setting, no master key, database unreachable) is the same: the
 * window works on nothing rather than on another store, and offers Connect to Team Store and Use
 * Local Store.
 */
import * as vscode from 'vscode';
import type { Logger } from '../core/ports';
import type { StoreChoice } from '../core/store/postgres/teamStoreSetting';
import { KEYRING_COMMAND_IDS, StoreCommandId } from './commands/commandIds';
import type { DisposableStore } from './lifecycle';

const CONNECT = 'Connect to Team Store…';
const USE_LOCAL = 'Use Local Store';
const SHOW_LOG = 'Show Log';

/** Registers the keyring's commands to answer with `message`; returns the status bar item saying so. */
export function answerCommandsWithStartupError(
  choice: StoreChoice,
  message: string,
  channel: vscode.LogOutputChannel,
  logger: Logger,
  disposables: DisposableStore,
): vscode.StatusBarItem {
  const local = choice.kind === 'local';
  const text = local
    ? `Agent Keyring could not start: ${message} Fix the cause, then run "Developer: Reload Window".`
    : `Agent Keyring is not connected to a store (${choice.kind === 'team' ? choice.label : 'setting agentKeyring.store'}): ${message}`;
  logger.error(text);
  for (const id of KEYRING_COMMAND_IDS) {
    disposables.add(vscode.commands.registerCommand(id, () => showStartupError(text, local, channel)));
  }
  const item = disposables.add(
    vscode.window.createStatusBarItem('agentKeyring.status', vscode.StatusBarAlignment.Left, 50),
  );
  item.name = 'Agent Keyring';
  item.text = local ? '$(error) Agent Keyring: failed' : '$(error) Agent Keyring: not connected';
  item.tooltip = `${text}\n\nClick for what to do`;
  item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
  item.command = KEYRING_COMMAND_IDS.find((id) => id.endsWith('.showStatus'));
  item.show();
  void showStartupError(text, local, channel);
  return item;
}

async function showStartupError(
  text: string,
  local: boolean,
  channel: vscode.LogOutputChannel,
): Promise<string> {
  const actions = local ? [SHOW_LOG] : [CONNECT, USE_LOCAL, SHOW_LOG];
  void vscode.window.showErrorMessage(text, ...actions).then((choice) => {
    if (choice === SHOW_LOG) {
      channel.show();
    } else if (choice === CONNECT) {
      void vscode.commands.executeCommand(StoreCommandId.connectTeamStore);
    } else if (choice === USE_LOCAL) {
      void vscode.commands.executeCommand(StoreCommandId.useLocalStore);
    }
  });
  return text;
}
