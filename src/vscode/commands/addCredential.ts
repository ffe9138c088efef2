/**
 * `agentKeyring.addCredential`: the short path is name → value (password box) → scopes → agents →
 * Add; everything else (description, lease lifetime, allowed hosts, reveal mode, rotation
 * reminder) is under "Customize…" on the last step, with sensible defaults. Every step after the
 * first has a Back button that keeps what was typed. Each answer is validated as you type with the
 * core's schemas. Esc at any step stops with nothing stored. The flow runs in one quick input
 * ({@link QuickFlow}), so the keyboard focus never leaves it between steps.
 *
 * Args (tests, other callers): `{ name, value, description?, scopes, agents?, ttlSeconds?, hosts?, reveal?, rotationDays? }`
 * — when `value` is given no prompt is shown. Resolves the new credential's metadata.
 */
import * as vscode from 'vscode';
import { SecretValue, type CredentialMeta, type RevealMode } from '../../core/model';
import type { KeyringReader } from '../../core/admin';
import { CredentialPatchSchema } from '../../core/store/schemas';
import {
  ACTOR,
  argObject,
  optionalNumber,
  optionalString,
  optionalStrings,
  type CommandContext,
  type CommandHandler,
} from './commandContext';
import {
  BACK,
  QuickFlow,
  REVEAL_MODE_ITEMS,
  allowedAgentItems,
  idsFromAgentItems,
  parseList,
  schemaValidator,
  validateSecretValue,
  type Back,
} from './prompts';

const TITLE = 'Add Credential';
/** name, value, scopes, agents, review (Add / Customize…). */
const STEPS = 5;

interface NewCredential {
  name: string;
  value: SecretValue;
  description: string;
  scopes: string[];
  agents: string[];
  ttlSeconds: number;
  hosts?: string[];
  reveal?: RevealMode;
  rotationDays?: number;
}

export function addCredential(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const args = argObject(arg);
    // The walkthrough's button passes `{ from: 'walkthrough' }` (package.nls.json): interactive.
    const fromWalkthrough = args?.from === 'walkthrough';
    const input = typeof args?.value === 'string' ? fromArgs(args, ctx) : await prompt(ctx, fromWalkthrough);
    if (!input) {
      ctx.logger.info('Add Credential cancelled; nothing stored.');
      return undefined;
    }
    // The one change of the command (everything above only asks).
    const meta: CredentialMeta = await ctx.keyring.admin.addCredential(
      {
        name: input.name,
        description: input.description,
        allowed_scopes: input.scopes,
        allowed_agents: input.agents,
        ttl_seconds: input.ttlSeconds,
        ...(input.hosts && input.hosts.length > 0 ? { allowed_hosts: input.hosts } : {}),
        ...(input.reveal ? { reveal: input.reveal } : {}),
        ...(input.rotationDays !== undefined ? { rotation: { max_age_days: input.rotationDays } } : {}),
      },
      input.value,
      ACTOR,
    );
    ctx.logger.info(
      `Credential '${meta.name}' added by ${ACTOR} (scopes ${meta.allowed_scopes.join(', ')}).`,
    );
    ctx.refreshViews();
    if (!args || fromWalkthrough) {
      void vscode.window.showInformationMessage(
        `Agent Keyring: credential '${meta.name}' added. ${
          meta.allowed_agents.length === 0
            ? 'No agent may use it yet: allow agents with Edit Scopes….'
            : `Agents ask for it by name: get_credential("${meta.name}", "${meta.allowed_scopes[0]}").`
        }`,
      );
    }
    return meta;
  };
}

function fromArgs(args: Record<string, unknown>, ctx: CommandContext): NewCredential {
  return {
    name: optionalString(args, 'name') ?? '',
    value: new SecretValue(args.value as string),
    description: optionalString(args, 'description') ?? '',
    scopes: optionalStrings(args, 'scopes') ?? [],
    agents: optionalStrings(args, 'agents') ?? [],
    ttlSeconds: optionalNumber(args, 'ttlSeconds') ?? ctx.settings().defaultTtlSeconds,
    hosts: optionalStrings(args, 'hosts'),
    // Checked by the store's schema (a bad value is a clear invalid_input).
    reveal: optionalString(args, 'reveal') as RevealMode | undefined,
    rotationDays: optionalNumber(args, 'rotationDays'),
  };
}

/** What has been typed so far; Back returns to a step with its answer filled in. */
interface Draft {
  name: string;
  /** The raw value: only ever put back into the password box it came from. */
  value: string;
  scopesText: string;
  agents: string[];
  description: string;
  ttlText: string;
  hostsText: string;
  reveal: RevealMode;
  rotationText: string;
}

type StepResult = 'next' | Back | undefined;

/**
 * The walkthrough selects its step on the keyup of the Enter that pressed its button and focuses
 * the step 250 ms later: a prompt shown before then loses the keyboard to it (typed text and Enter
 * go to the walkthrough). Started from there, the first prompt waits that moment out.
 */
const WALKTHROUGH_REFOCUS_MS = 500;

async function prompt(ctx: CommandContext, fromWalkthrough = false): Promise<NewCredential | undefined> {
  if (fromWalkthrough) {
    await new Promise((resolve) => setTimeout(resolve, WALKTHROUGH_REFOCUS_MS));
  }
  const store = ctx.keyring.admin;
  const draft: Draft = {
    name: '',
    value: '',
    scopesText: 'read',
    agents: [],
    description: '',
    ttlText: String(ctx.settings().defaultTtlSeconds),
    hostsText: '',
    reveal: 'allow',
    rotationText: '',
  };
  const flow = new QuickFlow(TITLE);
  try {
    const steps: Array<() => Promise<StepResult>> = [
      () => askName(flow, store, draft),
      () => askValue(flow, draft),
      () => askScopes(flow, draft),
      () => askAgents(flow, store, draft),
      () => review(flow, draft),
    ];
    for (let i = 0; i < steps.length;) {
      const r = await steps[i]();
      if (r === undefined) {
        return undefined;
      }
      i = r === BACK ? Math.max(0, i - 1) : i + 1;
    }
  } finally {
    flow.dispose();
  }
  const rotation = draft.rotationText.trim();
  return {
    name: draft.name,
    value: new SecretValue(draft.value),
    description: draft.description,
    scopes: parseList(draft.scopesText),
    agents: draft.agents,
    ttlSeconds: Number(draft.ttlText.trim()),
    hosts: parseList(draft.hostsText),
    reveal: draft.reveal,
    ...(rotation !== '' ? { rotationDays: Number(rotation) } : {}),
  };
}

async function answer(
  r: Promise<string | Back | undefined>,
  keep: (text: string) => void,
): Promise<StepResult> {
  const text = await r;
  if (text === undefined || text === BACK) {
    return text;
  }
  keep(text);
  return 'next';
}

function askName(flow: QuickFlow, store: KeyringReader, draft: Draft): Promise<StepResult> {
  const nameSchema = schemaValidator(CredentialPatchSchema, (t) => ({ name: t }));
  return answer(
    flow.input({
      step: 1,
      total: STEPS,
      back: false,
      prompt: 'Name agents will ask for, e.g. github_token or openai.prod',
      placeHolder: 'lower-case letters, digits, "_", "." or "-"',
      value: draft.name,
      validate: async (t) => {
        const problem = nameSchema(t);
        if (problem) {
          return problem;
        }
        return (await store.getCredential(t))
          ? `A credential named '${t}' already exists. Pick another name, or rotate the existing one.`
          : undefined;
      },
    }),
    (t) => (draft.name = t),
  );
}

function askValue(flow: QuickFlow, draft: Draft): Promise<StepResult> {
  return answer(
    flow.input({
      step: 2,
      total: STEPS,
      back: true,
      prompt: `The secret value of '${draft.name}' (API key, token…). It goes to SecretStorage only and is never shown again.`,
      password: true,
      value: draft.value,
      validate: validateSecretValue,
    }),
    (t) => (draft.value = t),
  );
}

function askScopes(flow: QuickFlow, draft: Draft): Promise<StepResult> {
  return answer(
    flow.input({
      step: 3,
      total: STEPS,
      back: true,
      prompt: 'Scopes agents may ask for, separated by commas, e.g. search_read, publish',
      placeHolder: 'read',
      value: draft.scopesText,
      validate: schemaValidator(CredentialPatchSchema, (t) => ({ allowed_scopes: parseList(t) })),
    }),
    (t) => (draft.scopesText = t),
  );
}

async function askAgents(flow: QuickFlow, store: KeyringReader, draft: Draft): Promise<StepResult> {
  const items = await allowedAgentItems(store, draft.agents);
  const picked = await flow.pick({
    step: 4,
    total: STEPS,
    back: true,
    placeHolder: 'Agents that may use it (none picked: no agent yet). Enter when done.',
    items,
    canPickMany: true,
    selected: items.filter((i) => i.picked),
  });
  if (picked === undefined || picked === BACK) {
    return picked;
  }
  draft.agents = idsFromAgentItems(picked);
  return 'next';
}

interface Choice extends vscode.QuickPickItem {
  id: 'add' | 'customize' | 'description' | 'ttl' | 'hosts' | 'reveal' | 'rotation';
}

function revealLabel(mode: RevealMode): string {
  return REVEAL_MODE_ITEMS.find((i) => i.mode === mode)?.label ?? mode;
}

function summary(draft: Draft): string {
  const agents = draft.agents.length === 0 ? 'no agent yet' : `agents ${draft.agents.join(', ')}`;
  return `scopes ${parseList(draft.scopesText).join(', ')} · ${agents}`;
}

function extras(draft: Draft): string {
  const rotation = draft.rotationText.trim();
  return [
    `lease ${draft.ttlText.trim()} s`,
    `reveal: ${revealLabel(draft.reveal)}`,
    parseList(draft.hostsText).length > 0 ? `hosts ${parseList(draft.hostsText).join(', ')}` : 'any host',
    rotation !== '' ? `rotate every ${rotation} days` : 'no rotation reminder',
  ].join(' · ');
}

/** The last step: Add (Enter) or Customize… the optional settings. */
async function review(flow: QuickFlow, draft: Draft): Promise<StepResult> {
  for (;;) {
    const add: Choice = {
      id: 'add',
      label: `$(check) Add '${draft.name}'`,
      description: summary(draft),
      detail: extras(draft),
    };
    const customize: Choice = {
      id: 'customize',
      label: '$(settings-gear) Customize…',
      detail: 'Description, lease lifetime, allowed hosts, reveal mode, rotation reminder',
    };
    const picked = await flow.pick({
      step: 5,
      total: STEPS,
      back: true,
      placeHolder: 'Enter adds it; Customize… changes the optional settings first',
      items: [add, customize],
    });
    if (picked === undefined || picked === BACK) {
      return picked;
    }
    if (picked[0].id === 'add') {
      return 'next';
    }
    const r = await customizeLoop(flow, draft);
    if (r === undefined) {
      return undefined;
    }
    if (r === 'next') {
      return 'next';
    }
    // Back from the settings list: the review again.
  }
}

/** "Customize…": a list of the optional settings with their values; pick one to change it. */
async function customizeLoop(flow: QuickFlow, draft: Draft): Promise<StepResult> {
  let last: Choice['id'] = 'add';
  for (;;) {
    const rotation = draft.rotationText.trim();
    const hosts = parseList(draft.hostsText);
    const items: Choice[] = [
      { id: 'add', label: `$(check) Add '${draft.name}'`, description: summary(draft) },
      {
        id: 'description',
        label: 'Description',
        description: draft.description || '(none)',
        detail: 'What it is for; agents see it in list_credentials.',
      },
      {
        id: 'ttl',
        label: 'Lease lifetime',
        description: `${draft.ttlText.trim()} s`,
        detail: 'How long an answer to get_credential is good for.',
      },
      {
        id: 'hosts',
        label: 'Allowed hosts',
        description: hosts.length > 0 ? hosts.join(', ') : '(any)',
        detail: 'Hosts http_request may send it to.',
      },
      {
        id: 'reveal',
        label: 'Reveal mode',
        description: revealLabel(draft.reveal),
        detail: 'May agents read the value with get_credential?',
      },
      {
        id: 'rotation',
        label: 'Rotation reminder',
        description: rotation !== '' ? `every ${rotation} days` : '(none)',
        detail: 'Rotation shows as due after this many days.',
      },
    ];
    const picked = await flow.pick({
      step: 5,
      total: STEPS,
      back: true,
      titleSuffix: `customize '${draft.name}'`,
      placeHolder: 'Pick a setting to change it, or Add',
      items,
      active: items.find((i) => i.id === last),
    });
    if (picked === undefined || picked === BACK) {
      return picked;
    }
    last = picked[0].id;
    const r = await editSetting(flow, draft, last);
    if (r === undefined) {
      return undefined;
    }
    if (last === 'add') {
      return 'next';
    }
  }
}

/** Changes one optional setting; Back (or Enter) returns to the settings list. */
async function editSetting(flow: QuickFlow, draft: Draft, id: Choice['id']): Promise<StepResult> {
  const at = { step: 5, total: STEPS, back: true };
  switch (id) {
    case 'add':
    case 'customize':
      return 'next';
    case 'description':
      return answer(
        flow.input({
          ...at,
          prompt: 'What is it for? (optional; agents see this in list_credentials)',
          value: draft.description,
          validate: schemaValidator(CredentialPatchSchema, (t) => ({ description: t })),
        }),
        (t) => (draft.description = t),
      );
    case 'ttl':
      return answer(
        flow.input({
          ...at,
          prompt: 'Lease lifetime in seconds (how long an answer to get_credential is good for)',
          value: draft.ttlText,
          validate: (t) =>
            /^\s*\d+\s*$/.test(t)
              ? schemaValidator(CredentialPatchSchema, (x) => ({ ttl_seconds: Number(x) }))(t)
              : 'Enter a whole number of seconds from 1 to 86400.',
        }),
        (t) => (draft.ttlText = t),
      );
    case 'hosts':
      return answer(
        flow.input({
          ...at,
          prompt: 'Hosts http_request may send it to, separated by commas (empty: any), e.g. api.github.com',
          value: draft.hostsText,
          validate: schemaValidator(CredentialPatchSchema, (t) => ({ allowed_hosts: parseList(t) })),
        }),
        (t) => (draft.hostsText = t),
      );
    case 'rotation':
      return answer(
        flow.input({
          ...at,
          prompt: 'Show rotation as due after this many days (empty: no reminder)',
          value: draft.rotationText,
          validate: (t) =>
            t.trim() === ''
              ? undefined
              : /^\s*\d+\s*$/.test(t)
                ? schemaValidator(CredentialPatchSchema, (x) => ({
                    rotation: { max_age_days: Number(x) },
                  }))(t)
                : 'Enter a whole number of days from 1 to 3650, or leave it empty.',
        }),
        (t) => (draft.rotationText = t),
      );
    case 'reveal': {
      const items = REVEAL_MODE_ITEMS.map((i) => ({
        label: i.label,
        description: i.mode === draft.reveal ? '(current)' : undefined,
        detail: i.detail,
        mode: i.mode,
      }));
      const picked = await flow.pick({
        ...at,
        titleSuffix: `reveal mode of '${draft.name}'`,
        placeHolder: 'May agents read the value with get_credential?',
        items,
        active: items.find((i) => i.mode === draft.reveal),
      });
      if (picked === undefined || picked === BACK) {
        return picked;
      }
      draft.reveal = picked[0].mode;
      return 'next';
    }
  }
}
