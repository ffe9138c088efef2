/**
 * `agentKeyring.setPlacement`: where `http_request` may put a credential's value (README.md, "Use,
 * don't read"): `header:Authorization`, `header:<Name>`, `header:*`, `query:<param>`, `path`, or
 * anywhere (an empty box). The credential comes from the tree (context menu), an args object or a
 * picker; the box says what to fix in an entry.
 *
 * Args: `{ name, placement }` — a list of entries, or `[]`/`null` for anywhere; no prompt is shown.
 * Resolves the updated metadata.
 */
import * as vscode from 'vscode';
import { InvalidInputError } from '../../core/errors';
import { ACTOR, argObject, type CommandContext, type CommandHandler } from './commandContext';
import { credentialFromArg } from './prompts';
import { describePlacement, parsePlacementText } from './requestRulesText';

const TITLE = 'Set Placement';

export function setPlacement(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const admin = ctx.keyring.admin;
    const args = argObject(arg);
    const current = await credentialFromArg(admin, arg, TITLE);
    if (!current) {
      return undefined;
    }
    const name = current.name;
    let placement: string[] | null;
    if (args && 'placement' in args) {
      const given = args.placement;
      if (given !== null && !(Array.isArray(given) && given.every((p) => typeof p === 'string'))) {
        throw new InvalidInputError(
          'placement must be a list such as ["header:Authorization"], or null for anywhere.',
        );
      }
      const parsed = parsePlacementText((given ?? []).join(','));
      if ('problem' in parsed) {
        throw new InvalidInputError(parsed.problem);
      }
      placement = parsed.placement;
    } else {
      const text = await vscode.window.showInputBox({
        title: `${TITLE}: ${name}`,
        prompt:
          'Where http_request may put the value, separated by commas: header:Authorization, header:<Name>, header:*, query:<param>, path. Empty = anywhere.',
        value: (current.placement ?? []).join(', '),
        placeHolder: 'header:Authorization',
        ignoreFocusOut: true,
        validateInput: (t) => {
          const parsed = parsePlacementText(t);
          return 'problem' in parsed ? parsed.problem : undefined;
        },
      });
      if (text === undefined) {
        return undefined;
      }
      const parsed = parsePlacementText(text);
      if ('problem' in parsed) {
        return undefined; // the box did not accept it
      }
      placement = parsed.placement;
    }
    const updated = await admin.updateCredential(name, { placement }, ACTOR, {
      reason: (u) => `placement ${describePlacement(u.placement)} (by ${ACTOR})`,
    });
    const summary = describePlacement(updated.placement);
    ctx.logger.info(`Credential '${name}' placement set by ${ACTOR}: ${summary}.`);
    ctx.refreshViews();
    if (!args || args.kind === 'credential') {
      void vscode.window.showInformationMessage(`Agent Keyring: '${name}' may now be placed ${summary}.`);
    }
    return updated;
  };
}
