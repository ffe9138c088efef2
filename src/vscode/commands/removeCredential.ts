/**
 * `agentKeyring.revokeCredential`: after a modal confirmation, removes the credential and the
 * values of all its versions. Agents get `not_found` from then on.
 *
 * Args: `{ name, confirmed? }` — `confirmed: true` skips the confirmation in test mode only.
 * Resolves true when removed, undefined when cancelled.
 */
import * as vscode from 'vscode';
import { CredentialNotFoundError } from '../../core/errors';
import {
  ACTOR,
  argCredentialName,
  argObject,
  type CommandContext,
  type CommandHandler,
} from './commandContext';
import { pickCredential } from './prompts';

const REVOKE = 'Revoke';

export function revokeCredential(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const store = ctx.keyring.store;
    const name = argCredentialName(arg) ?? (await pickCredential(store, 'Revoke Credential', Date.now()));
    if (name === undefined) {
      return undefined;
    }
    const cred = await store.getCredential(name);
    if (!cred) {
      throw new CredentialNotFoundError(name);
    }
    const confirmed = ctx.testMode && argObject(arg)?.confirmed === true;
    if (!confirmed) {
      const choice = await vscode.window.showWarningMessage(
        `Revoke credential '${name}'?`,
        {
          modal: true,
          detail: revokeDetail(cred.versions.length, cred.allowed_agents),
        },
        REVOKE,
      );
      if (choice !== REVOKE) {
        ctx.logger.info(`Revoke of '${name}' cancelled.`);
        return undefined;
      }
    }
    await store.removeCredential(name);
    await ctx.keyring.service.recordAdmin('remove_credential', 'removed', { credential: name, actor: ACTOR });
    ctx.logger.info(`Credential '${name}' revoked by ${ACTOR}.`);
    ctx.refreshViews();
    return true;
  };
}

function revokeDetail(versions: number, agents: readonly string[]): string {
  const stored = versions === 1 ? 'Its value is' : `Its values (all ${versions} versions) are`;
  const who = agents.includes('*')
    ? 'Every agent'
    : agents.length > 0
      ? `Agents ${agents.join(', ')}`
      : undefined;
  return [
    `${stored} deleted from VS Code's secret storage.`,
    who ? `${who} will get "not_found" from now on.` : '',
    'This cannot be undone. Revoke the key with its provider too.',
  ]
    .filter(Boolean)
    .join(' ');
}
