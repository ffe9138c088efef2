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
import { InvalidInputError } from '../../core/errors';
import { DEFAULT_REVEAL_MODE, REVEAL_MODES, type CredentialMeta, type RevealMode } from '../../core/model';
import { effectiveRevealMode } from '../../core/policy/revealMode';
import { ACTOR, argObject, optionalString, type CommandContext, type CommandHandler } from './commandContext';
import { pickAgent, credentialFromArg, pickRevealMode } from './prompts';

const TITLE = 'Set Reveal Mode';
const ONE_AGENT = 'For one agent…';
const SAME_AS_CREDENTIAL = 'Same as the credential';

export function setRevealMode(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const store = ctx.keyring.store;
    const args = argObject(arg);
    const current = await credentialFromArg(store, arg, TITLE);
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
        agent = await pickAgent(store, title);
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
    if (mode !== 'default' && !REVEAL_MODES.includes(mode as RevealMode)) {
      throw new InvalidInputError(
        `Reveal mode must be allow, approve or never${agent ? ', or default for an agent' : ''}.`,
      );
    }
    const updated = await store.updateCredential(name, patchFor(current, mode, agent));
    const summary = describeReveal(updated);
    await ctx.keyring.service.recordAdmin('update_credential', 'updated', {
      credential: name,
      reason: `reveal ${summary} (by ${ACTOR})`,
      actor: ACTOR,
    });
    ctx.logger.info(`Credential '${name}' reveal mode set by ${ACTOR}: ${summary}.`);
    ctx.refreshViews();
    if (!args || args.kind === 'credential') {
      void vscode.window.showInformationMessage(`Agent Keyring: '${name}' reveal mode is now ${summary}.`);
    }
    return updated;
  };
}

function patchFor(
  current: CredentialMeta,
  mode: string,
  agent: string | undefined,
): { reveal?: RevealMode; reveal_overrides?: Record<string, RevealMode> | null } {
  if (agent === undefined) {
    return { reveal: mode as RevealMode };
  }
  const overrides: Record<string, RevealMode> = { ...current.reveal_overrides };
  if (mode === 'default') {
    delete overrides[agent];
  } else {
    overrides[agent] = mode as RevealMode;
  }
  return { reveal_overrides: Object.keys(overrides).length ? overrides : null };
}

/** `never`, or `never (vscode: allow)` when agents have their own modes. */
export function describeReveal(c: CredentialMeta): string {
  const base = c.reveal ?? DEFAULT_REVEAL_MODE;
  const own = Object.entries(c.reveal_overrides ?? {}).map(([a, m]) => `${a}: ${m}`);
  return own.length ? `${base} (${own.join(', ')})` : base;
}
