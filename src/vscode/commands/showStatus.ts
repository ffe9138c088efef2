/**
 * `agentKeyring.showStatus` (also the status bar item's click): server state, credentials and
 * agents, rotations due, with buttons for what to do next.
 */
import * as vscode from 'vscode';
import { isRotationDue } from '../views/format';
import { describeState } from '../server/serverReport';
import { CommandId } from './commandIds';
import type { CommandContext, CommandHandler } from './commandContext';

/** Which store, and this editor's agent on a team store; a team store that does not answer is degraded. */
function storeText(ctx: CommandContext): string {
  const store = ctx.store;
  if (!store || store.label === 'local') {
    return " Store: local (this editor's SecretStorage).";
  }
  const problem = store.health();
  return ` Store: ${store.label}${problem === undefined ? '' : ` — degraded: the database does not answer (${problem})`}; in-editor chat is agent '${store.agentId}'.`;
}

/** Credentials, rotations due and agents; while a team store does not answer, says so instead. */
async function counts(ctx: CommandContext): Promise<string> {
  let credentials, agents;
  try {
    [credentials, agents] = await Promise.all([
      ctx.keyring.admin.listCredentials(),
      ctx.keyring.admin.listAgents(),
    ]);
  } catch (e) {
    if (!ctx.store || ctx.store.label === 'local') {
      throw e;
    }
    return 'Credentials and agents cannot be listed now (the team store does not answer).';
  }
  const live = agents.filter((a) => !a.revoked_at).length;
  const due = credentials.filter((c) => isRotationDue(c, Date.now())).length;
  return `${credentials.length} credential(s)${due ? ` (${due} due for rotation)` : ''}, ${live} agent(s).`;
}

export function showStatus(ctx: CommandContext): CommandHandler {
  return async () => {
    const sessions =
      ctx.server.state.kind === 'running' ? ` ${ctx.server.sessionCount} session(s) open.` : '';
    const text = `Agent Keyring: ${describeState(ctx.server.state)}${sessions} ${await counts(ctx)}${storeText(ctx)}`;
    const running = ctx.server.state.kind === 'running';
    // Attached: the server is another window's, so this window has nothing to start or stop.
    const action =
      ctx.server.state.kind === 'attached' ? undefined : running ? 'Stop Server' : 'Start Server';
    const actions = action ? [action, 'Show Log'] : ['Show Log'];
    void vscode.window.showInformationMessage(text, ...actions).then((choice) => {
      // Dismissed (choice undefined) does nothing: when attached there is no action either, and
      // `choice === action` would then restart the server and drop every agent's session.
      if (choice === undefined) {
        return;
      }
      if (choice === action) {
        void vscode.commands.executeCommand(running ? CommandId.stopServer : CommandId.startServer);
      } else if (choice === 'Show Log') {
        ctx.showLog();
      }
    });
    return text;
  };
}
