/** `agentKeyring.stopServer`: stops this window's MCP host; agents get no credentials until Start. */
import * as vscode from 'vscode';
import type { CommandContext, CommandHandler } from './commandContext';

export function stopServer(ctx: CommandContext): CommandHandler {
  return async () => {
    await ctx.server.stop();
    void vscode.window.showInformationMessage(
      'Agent Keyring: the MCP server is stopped. Agents cannot get credentials until you start it.',
    );
    return ctx.server.state;
  };
}
