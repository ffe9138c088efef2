/**
 * `agentKeyring.copyCredentialName`: copies a credential's NAME (never its value) to the
 * clipboard, for agent prompts and configs. From the Credentials view's context menu.
 *
 * Args: `{ name }` or a tree node. Resolves the name copied.
 */
import * as vscode from 'vscode';
import { argCredentialName, type CommandContext, type CommandHandler } from './commandContext';
import { pickCredential } from './prompts';

export function copyCredentialName(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const name = argCredentialName(arg) ?? (await pickCredential(ctx.keyring.admin, 'Copy Name', Date.now()));
    if (name === undefined) {
      return undefined;
    }
    await vscode.env.clipboard.writeText(name);
    vscode.window.setStatusBarMessage(`$(copy) Copied '${name}'`, 3_000);
    return name;
  };
}
