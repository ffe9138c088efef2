/**
 * `agentKeyring.revokeAgent`: after a modal confirmation, revokes an agent: its token stops
 * working at once and its leases are marked revoked (KeyringService.revokeAgent, audited).
 *
 * Then offers to remove the MCP config entries Connect Agent wrote for it (connectAgent.ts).
 *
 * Args: `{ id, confirmed?, removeConfigs? }` or an Agents tree node — `confirmed: true` skips the
 * confirmation and `removeConfigs` answers the removal offer, in test mode only. Resolves true when revoked, undefined when cancelled.
 */
import * as vscode from 'vscode';
import { ACTOR, argObject, type CommandContext, type CommandHandler } from './commandContext';
import { offerToRemoveConnections } from './connectAgent';
import { agentFromArg } from './prompts';

const REVOKE = 'Revoke';

export function revokeAgent(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const admin = ctx.keyring.admin;
    const agent = await agentFromArg(admin, arg, 'Revoke Agent');
    if (!agent) {
      return undefined;
    }
    const id = agent.id;
    if (agent.revoked_at) {
      void vscode.window.showInformationMessage(`Agent Keyring: agent '${id}' is already revoked.`);
      return true;
    }
    const confirmed = ctx.testMode && argObject(arg)?.confirmed === true;
    if (!confirmed) {
      const choice = await vscode.window.showWarningMessage(
        `Revoke agent '${id}'?`,
        {
          modal: true,
          detail:
            id === ctx.vscodeAgent.id
              ? 'In-editor chat loses access to every credential at once, and the agent is removed from every credential it was allowed on. Add the agent again and grant it the credentials again to reconnect.'
              : `Its token stops working at once, its leases are revoked and it is removed from every credential it was allowed on. To reconnect '${id}', add it again, give it the new token and grant it the credentials again.`,
        },
        REVOKE,
      );
      if (choice !== REVOKE) {
        ctx.logger.info(`Revoke of agent '${id}' cancelled.`);
        return undefined;
      }
    }
    await admin.revokeAgent(id, ACTOR);
    ctx.logger.info(`Agent '${id}' revoked by ${ACTOR}.`);
    ctx.refreshViews();
    // Config entries Connect Agent wrote for it: offered for removal (only those).
    await offerToRemoveConnections(ctx, id, argObject(arg));
    return true;
  };
}
