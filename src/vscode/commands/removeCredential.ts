/**
 * `agentKeyring.removeCredential` (formerly `agentKeyring.revokeCredential`, still registered as an
 * alias): after a modal confirmation, removes the credential and the values of all its versions
 * (KeyringAdmin.removeCredential, audited). Agents get `not_found` from then on.
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

const REMOVE = 'Remove';

export function removeCredential(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const admin = ctx.keyring.admin;
    const name = argCredentialName(arg) ?? (await pickCredential(admin, 'Remove Credential', Date.now()));
    if (name === undefined) {
      return undefined;
    }
    const cred = await admin.getCredential(name);
    if (!cred) {
      throw new CredentialNotFoundError(name);
    }
    const confirmed = ctx.testMode && argObject(arg)?.confirmed === true;
    if (!confirmed) {
      const choice = await vscode.window.showWarningMessage(
        `Remove credential '${name}'?`,
        {
          modal: true,
          detail: removeDetail(cred.versions.length, cred.allowed_agents),
        },
        REMOVE,
      );
      if (choice !== REMOVE) {
        ctx.logger.info(`Remove of '${name}' cancelled.`);
        return undefined;
      }
    }
    await admin.removeCredential(name, ACTOR);
    ctx.logger.info(`Credential '${name}' removed by ${ACTOR}.`);
    ctx.refreshViews();
    return true;
  };
}

function removeDetail(versions: number, agents: readonly string[]): string {
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
