/**
 * `agentKeyring.setRevealMode`: whether agents may read a credential's value with get_credential
 * — `allow`, `approve` (ask each time) or `never` (use, don't read) — for every agent, or for one
 * agent (its own mode replaces the credential's, either way; "Same as the credential" removes it).
 * The credential comes from the tree (context menu), an args object or a picker.
 *
 * Args: `{ name, mode, agent? }` — with `mode` no prompt is shown; `mode: 'default'` with an
 * `agent` removes that agent's own mode. Resolves the updated metadata.
 */
import * as vscode from 'vscode';
import { describeRevealModes } from '../../core/admin';
import { DEFAULT_REVEAL_MODE, type RevealMode } from '../../core/model';
import { effectiveRevealMode } from '../../core/policy/revealMode';
import { ACTOR, argObject, optionalString, type CommandContext, type CommandHandler } from './commandContext';
import { pickAgent, credentialFromArg, pickRevealMode } from './prompts';

const TITLE = 'Set Reveal Mode';
const ONE_AGENT = 'For one agent…';
const SAME_AS_CREDENTIAL = 'Same as the credential';

export function setRevealMode(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const admin = ctx.keyring.admin;
    const args = argObject(arg);
    const current = await credentialFromArg(admin, arg, TITLE);
    if (!current) {
      return undefined;
    }
    const name = current.name;
    let agent = optionalString(args, 'agent');
    let mode = optionalString(args, 'mode');
    if (mode === undefined) {
      const title = `${TITLE}: ${name}`;
      const picked = await pickRevealMode({ title }, current.reveal ?? DEFAULT_REVEAL_MODE, [
        { label: ONE_AGENT, detail: "Give one agent its own mode (it replaces the credential's)." },
      ]);
      if (picked === undefined) {
        return undefined;
      }
      if (picked === ONE_AGENT) {
        agent = await pickAgent(admin, title);
        if (agent === undefined) {
          return undefined;
        }
        const own = await pickRevealMode(
          { title: `${title} for ${agent}` },
          effectiveRevealMode(current, agent),
          [
            {
              label: SAME_AS_CREDENTIAL,
              detail: `Follow the credential's mode (${current.reveal ?? DEFAULT_REVEAL_MODE}).`,
            },
          ],
        );
        if (own === undefined) {
          return undefined;
        }
        mode = own === SAME_AS_CREDENTIAL ? 'default' : own;
      } else {
        mode = picked;
      }
    }
    const updated = await admin.setRevealMode(
      name,
      agent === undefined ? { mode: mode as RevealMode } : { agent, mode: mode as RevealMode | 'default' },
      ACTOR,
    );
    const summary = describeRevealModes(updated);
    ctx.logger.info(`Credential '${name}' reveal mode set by ${ACTOR}: ${summary}.`);
    ctx.refreshViews();
    if (!args || args.kind === 'credential') {
      void vscode.window.showInformationMessage(`Agent Keyring: '${name}' reveal mode is now ${summary}.`);
    }
    return updated;
  };
}
