/**
 * `agentKeyring.editScopes`: changes a credential's scopes, allowed agents and the request rules
 * (METHOD /path) each scope allows `http_request` (`scopeRules.ts`). The credential comes from the
 * tree (inline button), an args object or a picker. A scope that is removed takes its rules along.
 *
 * Args: `{ name, scopes?, agents?, rules? }` — `rules` is `{ scope: ["GET /v1/*", …] }` (a scope
 * left out or given `[]` has none); when any is given no prompt is shown and the others are left as
 * they are. Resolves the updated metadata.
 */
import * as vscode from 'vscode';
import { InvalidInputError } from '../../core/errors';
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
import { describeRules, ruleProblem, rulesForScopes } from './requestRulesText';
import { editRequestRules } from './scopeRules';

const TITLE = 'Edit Scopes';
const KEEP_RULES = 'Keep the request rules';
const EDIT_RULES = 'Edit request rules…';

/** Step 3: keep the rules (default) or edit them per scope. Undefined when cancelled. */
async function rulesStep(
  title: string,
  scopes: readonly string[],
  current: Readonly<Record<string, readonly string[]>> | undefined,
): Promise<Record<string, string[]> | undefined> {
  const now = rulesForScopes(current, scopes);
  const picked = await vscode.window.showQuickPick(
    [
      {
        label: KEEP_RULES,
        detail: scopes.map((s) => `${s}: ${describeRules(now[s])}`).join(' · '),
      },
      { label: EDIT_RULES, detail: 'Which METHOD /path each scope lets http_request send.' },
    ],
    { title, ignoreFocusOut: true },
  );
  if (!picked) {
    return undefined;
  }
  return picked.label === KEEP_RULES ? now : editRequestRules(title, scopes, now);
}

/** The `rules` argument: an object of scope → list of rule strings; anything else is an error. */
function rulesArg(value: unknown): Record<string, string[]> | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (
    value === null ||
    typeof value !== 'object' ||
    Array.isArray(value) ||
    !Object.values(value).every((v) => Array.isArray(v) && v.every((r) => typeof r === 'string'))
  ) {
    throw new InvalidInputError(
      'rules must be an object of scope → list of rules, e.g. {"read": ["GET /v1/*"]}.',
    );
  }
  const rules = value as Record<string, string[]>;
  for (const [scope, list] of Object.entries(rules)) {
    for (const [i, rule] of list.entries()) {
      const problem = ruleProblem(rule, list.slice(0, i));
      if (problem) {
        throw new InvalidInputError(`Scope '${scope}', rule ${i + 1}: ${problem}`);
      }
    }
  }
  return rules;
}

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
    let rules = rulesArg(args?.rules);
    if (scopes === undefined && agents === undefined && rules === undefined) {
      const title = `${TITLE}: ${name}`;
      const scopesText = await ask(
        { title, step: 1, totalSteps: 3 },
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
      agents = await pickAllowedAgents(admin, { title, step: 2, totalSteps: 3 }, current.allowed_agents);
      if (agents === undefined) {
        return undefined;
      }
      rules = await rulesStep(`${title} (3/3)`, scopes, current.scope_rules);
      if (rules === undefined) {
        return undefined;
      }
    }
    const finalScopes = scopes ?? current.allowed_scopes;
    const unknown = Object.keys(rules ?? {}).find((s) => !finalScopes.includes(s));
    if (unknown !== undefined) {
      throw new InvalidInputError(
        `Scope '${unknown}' is not one of the credential's scopes (${finalScopes.join(', ')}): add it to scopes first, or leave its rules out.`,
      );
    }
    // Rules follow the scopes: a removed scope's rules go (the store refuses rules for unknown scopes).
    const kept = rulesForScopes(rules ?? current.scope_rules, scopes ?? current.allowed_scopes);
    const updated = await admin.updateCredential(
      name,
      {
        ...(scopes !== undefined ? { allowed_scopes: scopes } : {}),
        ...(agents !== undefined ? { allowed_agents: agents } : {}),
        scope_rules: Object.keys(kept).length ? kept : null,
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
  const ruleText = Object.entries(c.scope_rules ?? {})
    .map(([s, r]) => `${s}: ${r.join(', ')}`)
    .join('; ');
  return `scopes ${c.allowed_scopes.join(', ')}; agents ${c.allowed_agents.join(', ') || 'none'}; request rules ${ruleText || 'none (safe methods only)'}`;
}
