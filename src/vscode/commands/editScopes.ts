/**
 * `agentKeyring.editScopes`: changes a credential's scopes and allowed agents. The credential
 * comes from the tree (inline button), an args object or a picker.
 *
 * Args: `{ name, scopes?, agents? }` — when `scopes` or `agents` is given no prompt is shown and
 * the other field is left as it is. Resolves the updated metadata.
 */
import * as vscode from 'vscode';
import type { CredentialMeta } from '../../core/model';
import { CredentialPatchSchema } from '../../core/store/schemas';
import {
  ACTOR,
  argObject,
  optionalStrings,
  type CommandContext,
  type CommandHandler,
} from './commandContext';
import { ask, parseList, pickAllowedAgents, credentialFromArg, schemaValidator } from './prompts';

const TITLE = 'Edit Scopes';

export function editScopes(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const admin = ctx.keyring.admin;
    const args = argObject(arg);
    const current = await credentialFromArg(admin, arg, TITLE);
    if (!current) {
      return undefined;
    }
    const name = current.name;
    let scopes = optionalStrings(args, 'scopes');
    let agents = optionalStrings(args, 'agents');
    if (scopes === undefined && agents === undefined) {
      const title = `${TITLE}: ${name}`;
      const scopesText = await ask(
        { title, step: 1, totalSteps: 2 },
        {
          prompt: 'Scopes agents may ask for, separated by commas',
          value: current.allowed_scopes.join(', '),
          validate: schemaValidator(CredentialPatchSchema, (t) => ({ allowed_scopes: parseList(t) })),
        },
      );
      if (scopesText === undefined) {
        return undefined;
      }
      scopes = parseList(scopesText);
      agents = await pickAllowedAgents(admin, { title, step: 2, totalSteps: 2 }, current.allowed_agents);
      if (agents === undefined) {
        return undefined;
      }
    }
    const updated = await admin.updateCredential(
      name,
      {
        ...(scopes !== undefined ? { allowed_scopes: scopes } : {}),
        ...(agents !== undefined ? { allowed_agents: agents } : {}),
      },
      ACTOR,
      { reason: (u) => `${summaryOf(u)} (by ${ACTOR})` },
    );
    const summary = summaryOf(updated);
    ctx.logger.info(`Credential '${name}' updated by ${ACTOR}: ${summary}.`);
    ctx.refreshViews();
    if (!args || args.kind === 'credential') {
      void vscode.window.showInformationMessage(`Agent Keyring: '${name}' now allows ${summary}.`);
    }
    return updated;
  };
}

function summaryOf(c: CredentialMeta): string {
  return `scopes ${c.allowed_scopes.join(', ')}; agents ${c.allowed_agents.join(', ') || 'none'}`;
}
