/**
 * `agentKeyring.rotateAgentToken`: a new bearer token for an agent after a modal confirmation; the
 * old one stops working at once (the CLI's `agent rotate-token`). An external agent's token is shown
 * once with Copy Token; the built-in `vscode` agent's goes straight to SecretStorage, unseen, and
 * in-editor chat picks it up the next time VS Code starts the server — the one-step way back when
 * its token was lost or leaked.
 *
 * Args: `{ id, confirmed? }` or an Agents tree node — `confirmed: true` skips the confirmation in test
 * mode, where the result carries the new token of an external agent (`{ id, token }`).
 */
import * as vscode from 'vscode';
import { showTokenOnce } from './addAgent';
import { ACTOR, argObject, type CommandContext, type CommandHandler } from './commandContext';
import { agentFromArg } from './prompts';
import { updateSavedToken } from './savedAgentTokens';

const ROTATE = 'Rotate Token';

export function rotateAgentToken(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const admin = ctx.keyring.admin;
    const agent = await agentFromArg(admin, arg, 'Rotate Agent Token');
    if (!agent) {
      return undefined;
    }
    const id = agent.id;
    // A revoked 'vscode' is brought back by its renewal below: the one-step way back for in-editor chat.
    if (agent.revoked_at && id !== ctx.vscodeAgent.id) {
      void vscode.window.showInformationMessage(
        `Agent Keyring: agent '${id}' is revoked. Add it again (Add Agent…) to give it a token.`,
      );
      return undefined;
    }
    const confirmed = ctx.testMode && argObject(arg)?.confirmed === true;
    if (!confirmed) {
      const choice = await vscode.window.showWarningMessage(
        `Rotate the token of agent '${id}'?`,
        {
          modal: true,
          detail:
            id === ctx.vscodeAgent.id
              ? 'In-editor chat gets a new token, kept in SecretStorage and never shown; the old one stops working at once.'
              : `The old token stops working at once: '${id}' needs the new one, shown once next.`,
        },
        ROTATE,
      );
      if (choice !== ROTATE) {
        ctx.logger.info(`Rotate token of agent '${id}' cancelled.`);
        return undefined;
      }
    }
    let rotated: Awaited<ReturnType<typeof admin.rotateAgentToken>> | undefined;
    if (id === ctx.vscodeAgent.id) {
      // Its token goes straight to SecretStorage, unseen; the admin records the renewal.
      await ctx.vscodeAgent.renew();
      await admin.recordAgentTokenRenewed(id, ACTOR);
    } else {
      rotated = await admin.rotateAgentToken(id, ACTOR);
    }
    if (rotated) {
      // A client's start-up helper reads the saved token: it gets the new one.
      await updateSavedToken(ctx, id, rotated.token);
    }
    ctx.logger.info(`Token of agent '${id}' rotated by ${ACTOR}.`);
    ctx.refreshViews();
    if (!rotated) {
      void vscode.window.showInformationMessage(
        `Agent Keyring: in-editor chat has a new token; VS Code uses it the next time it starts the server.`,
      );
      return { id };
    }
    if (ctx.testMode && confirmed) {
      return { id, token: rotated.token.reveal() };
    }
    await showTokenOnce(ctx, id, rotated.token.reveal(), 'rotated');
    return { id };
  };
}
