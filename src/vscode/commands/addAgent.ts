/**
 * `agentKeyring.addAgent`: id → label → optional active hours, then the agent's bearer token is
 * shown ONCE in a modal with a "Copy Token" button (only its SHA-256 is stored). The token is
 * never logged.
 *
 * Args: `{ id, label?, activeHours? }` — no prompt. In test mode the result carries the token
 * (`{ id, token }`) and no modal is shown; otherwise the modal shows it and the result is `{ id }`.
 */
import * as vscode from 'vscode';
import { AlreadyExistsError } from '../../core/errors';
import { AgentInputSchema } from '../../core/store/schemas';
import { ACTOR, argObject, optionalString, type CommandContext, type CommandHandler } from './commandContext';
import { ask, schemaValidator, type Step } from './prompts';

const TITLE = 'Add Agent';
const COPY = 'Copy Token';

export function addAgent(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const args = argObject(arg);
    const input =
      typeof args?.id === 'string'
        ? {
            id: args.id,
            label: optionalString(args, 'label'),
            active_hours: optionalString(args, 'activeHours'),
          }
        : await prompt(ctx);
    if (!input) {
      ctx.logger.info('Add Agent cancelled; nothing stored.');
      return undefined;
    }
    if (input.id === ctx.vscodeAgent.id) {
      const existing = await ctx.keyring.admin.getAgent(ctx.vscodeAgent.id);
      if (existing && !existing.revoked_at) {
        throw new AlreadyExistsError('agent', ctx.vscodeAgent.id);
      }
      // The built-in agent's token lives in SecretStorage for VS Code alone: showing one here would
      // only show a token that is then replaced. Add it back with a token nobody sees.
      await ctx.vscodeAgent.renew();
      await ctx.keyring.admin.recordAgentReissued(ctx.vscodeAgent.id, ACTOR);
      ctx.refreshViews();
      void vscode.window.showInformationMessage(
        `Agent Keyring: the built-in agent '${ctx.vscodeAgent.id}' is back; in-editor chat gets its new token when VS Code next starts the server. Give it its credentials again with Edit Scopes.`,
      );
      return { id: ctx.vscodeAgent.id };
    }
    const { agent, token } = await ctx.keyring.admin.addAgent(
      {
        id: input.id,
        ...(input.label ? { label: input.label } : {}),
        ...(input.active_hours ? { active_hours: input.active_hours } : {}),
      },
      ACTOR,
    );
    ctx.logger.info(`Agent '${agent.id}' added by ${ACTOR}; its token was shown once.`);
    ctx.refreshViews();
    if (args && ctx.testMode) {
      return { id: agent.id, token: token.reveal() };
    }
    await showTokenOnce(ctx, agent.id, token.reveal(), 'added');
    return { id: agent.id };
  };
}

async function prompt(
  ctx: CommandContext,
): Promise<{ id: string; label?: string; active_hours?: string } | undefined> {
  const step = (n: number): Step => ({ title: TITLE, step: n, totalSteps: 3 });
  const idSchema = schemaValidator(AgentInputSchema, (t) => ({ id: t }));
  const id = await ask(step(1), {
    prompt: 'Agent id, e.g. claude-code or research-agent',
    placeHolder: 'lower-case letters, digits, "_", "." or "-"',
    validate: async (t) => {
      const problem = idSchema(t);
      if (problem) {
        return problem;
      }
      const existing = await ctx.keyring.admin.getAgent(t);
      return existing && !existing.revoked_at
        ? `An agent '${t}' already exists. Pick another id, or revoke it first to issue a new token.`
        : undefined;
    },
  });
  if (id === undefined) {
    return undefined;
  }
  const label = await ask(step(2), {
    prompt: 'Label shown in the editor (optional; default: the id)',
    placeHolder: id,
    validate: (t) =>
      t.trim() === '' ? undefined : schemaValidator(AgentInputSchema, (x) => ({ id, label: x }))(t),
  });
  if (label === undefined) {
    return undefined;
  }
  const hours = await ask(step(3), {
    prompt: 'Active hours, local time (optional), e.g. 08:00-20:00. Requests outside them are denied.',
    placeHolder: 'any time',
    validate: (t) =>
      t.trim() === ''
        ? undefined
        : schemaValidator(AgentInputSchema, (x) => ({ id, active_hours: x.trim() }))(t),
  });
  if (hours === undefined) {
    return undefined;
  }
  return { id, label: label.trim() || undefined, active_hours: hours.trim() || undefined };
}

/** The id → label → active hours prompts, reused by Connect Agent… to create an agent. */
export { prompt as promptNewAgent };

/**
 * The modal that shows an agent's token once, with Copy Token. Used when an agent is added and when
 * its token is rotated; only the SHA-256 is stored, so this is the one chance to copy it.
 */
export async function showTokenOnce(
  ctx: CommandContext,
  id: string,
  token: string,
  what: 'added' | 'rotated',
): Promise<void> {
  const url = ctx.server.url ?? `http://127.0.0.1:${ctx.settings().port}/mcp`;
  const choice = await vscode.window.showInformationMessage(
    what === 'added'
      ? `Agent '${id}' added. Copy its token now: it is shown only this once.`
      : `New token for agent '${id}'. Copy it now: it is shown only this once; the old one no longer works.`,
    {
      modal: true,
      detail: [
        `Token: ${token}`,
        '',
        `MCP endpoint: ${url}`,
        'Header: Authorization: Bearer <token>',
        '',
        what === 'added'
          ? 'Lost it? Run Rotate Agent Token for a new one. Then allow it on credentials with Edit Scopes.'
          : 'Lost it? Run Rotate Agent Token again.',
      ].join('\n'),
    },
    COPY,
  );
  if (choice === COPY) {
    await vscode.env.clipboard.writeText(token);
    vscode.window.setStatusBarMessage(`$(copy) Token of '${id}' copied`, 5_000);
  }
}
