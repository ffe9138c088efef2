/**
 * Prompts shared by the commands: input boxes validated as you type with the core's zod schemas,
 * and pickers for credentials and agents. Every prompt resolves `undefined` on Esc, and callers
 * then stop with nothing stored. Validation messages come from `formatZodError`, which never
 * repeats the input (a user may paste a secret into the wrong box).
 */
import * as vscode from 'vscode';
import { CredentialNotFoundError } from '../../core/errors';
import type { AgentMeta, CredentialMeta, RevealMode } from '../../core/model';
import type { z } from 'zod';
import { formatZodError } from '../../core/store/schemas';
import type { KeyringReader } from '../../core/admin';
import { MAX_VALUE_BYTES } from '../../core/limits';
import { AgentNotFoundError } from '../../core/store/credentialStore';
import { argAgentId, argCredentialName } from './commandContext';
import { credentialDescription } from '../views/format';

/** Largest value SecretStorage gets from us (the core refuses more). */

export interface Step {
  title: string;
  step: number;
  totalSteps: number;
}

export type Validator = (
  text: string,
) =>
  | string
  | vscode.InputBoxValidationMessage
  | undefined
  | Thenable<string | vscode.InputBoxValidationMessage | undefined>;

/** One input box of a multi-step flow. Resolves the text, or undefined on Esc. */
export async function ask(
  step: Step,
  opts: {
    prompt: string;
    placeHolder?: string;
    value?: string;
    password?: boolean;
    validate?: Validator;
  },
): Promise<string | undefined> {
  return vscode.window.showInputBox({
    title: `${step.title} (${step.step}/${step.totalSteps})`,
    prompt: opts.prompt,
    placeHolder: opts.placeHolder,
    value: opts.value,
    password: opts.password,
    ignoreFocusOut: true,
    validateInput: opts.validate,
  });
}

/** Validates the text by parsing `toInput(text)` with a core schema; the first problem is shown. */
export function schemaValidator(schema: z.ZodType, toInput: (text: string) => unknown): Validator {
  return (text) => {
    const r = schema.safeParse(toInput(text));
    return r.success ? undefined : forOneBox(formatZodError(r.error));
  };
}

/**
 * The core names the field ("name: must be …", "allowed_scopes[1]: a scope must be …"); in a box
 * that asks for one thing, say "Must be …" and "Entry 2: a scope must be …" instead.
 */
export function forOneBox(message: string): string {
  return message
    .replace(/(^|\. )[a-z_]+\[(\d+)\]: /g, (_m, lead: string, i: string) => `${lead}Entry ${Number(i) + 1}: `)
    .replace(/(^|\. )[a-z_]+: ([a-z])/g, (_m, lead: string, c: string) => `${lead}${c.toUpperCase()}`);
}

/** "a, b  c" → ["a", "b", "c"]. */
export function parseList(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Checks a secret value without ever echoing it: present, within size, no stray whitespace. */
export function validateSecretValue(text: string): string | vscode.InputBoxValidationMessage | undefined {
  if (text.length === 0) {
    return 'Paste the key itself (it cannot be empty).';
  }
  if (Buffer.byteLength(text, 'utf8') > MAX_VALUE_BYTES) {
    return 'The value is larger than 64 KiB. Store the key itself, not a file.';
  }
  if (text.trim() !== text) {
    return {
      message:
        'The value starts or ends with whitespace. That is kept as typed; remove it if it came from the paste.',
      severity: vscode.InputBoxValidationSeverity.Warning,
    };
  }
  return undefined;
}

/** Quick pick of the credentials; undefined on Esc or when there are none (after saying so). */
export async function pickCredential(
  store: KeyringReader,
  title: string,
  now: number,
): Promise<string | undefined> {
  const all = await store.listCredentials();
  if (all.length === 0) {
    void vscode.window.showInformationMessage(
      'Agent Keyring has no credentials yet. Run "Agent Keyring: Add Credential" first.',
    );
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    all.map((c) => ({
      label: c.name,
      description: credentialDescription(c, now),
      detail: c.description || undefined,
    })),
    { title, placeHolder: 'Pick a credential', matchOnDescription: true, matchOnDetail: true },
  );
  return picked?.label;
}

/** Quick pick of live agents; undefined on Esc or when there are none. */
export async function pickAgent(store: KeyringReader, title: string): Promise<string | undefined> {
  const live = (await store.listAgents()).filter((a) => !a.revoked_at);
  if (live.length === 0) {
    void vscode.window.showInformationMessage(
      'Agent Keyring has no agents. Run "Agent Keyring: Add Agent…" first.',
    );
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    live.map((a) => ({ label: a.id, description: a.label !== a.id ? a.label : undefined })),
    { title, placeHolder: 'Pick an agent' },
  );
  return picked?.label;
}

const EVERY_AGENT = '*';

/**
 * Multi-select of the agents allowed to use a credential: the live agents plus `*` (every agent).
 * `*` picked together with others means `*` alone. Resolves [] for "nobody yet", undefined on Esc.
 */
export async function pickAllowedAgents(
  store: KeyringReader,
  step: Step,
  current: readonly string[],
): Promise<string[] | undefined> {
  const agents = (await store.listAgents()).filter((a) => !a.revoked_at);
  const items: vscode.QuickPickItem[] = [
    {
      label: EVERY_AGENT,
      description: 'every agent, including ones added later',
      picked: current.includes(EVERY_AGENT),
    },
    ...agents.map((a) => ({
      label: a.id,
      description: a.label !== a.id ? a.label : undefined,
      picked: current.includes(a.id),
    })),
  ];
  // Ids the credential allows that are not (or no longer) live agents stay selectable.
  for (const id of current) {
    if (id !== EVERY_AGENT && !agents.some((a) => a.id === id)) {
      items.push({ label: id, description: 'not a live agent', picked: true });
    }
  }
  const picked = await vscode.window.showQuickPick(items, {
    title: `${step.title} (${step.step}/${step.totalSteps})`,
    placeHolder: 'Agents that may use it (none picked: no agent yet)',
    canPickMany: true,
    ignoreFocusOut: true,
  });
  if (!picked) {
    return undefined;
  }
  const ids = picked.map((p) => p.label);
  return ids.includes(EVERY_AGENT) ? [EVERY_AGENT] : ids;
}

/** How each reveal mode reads in a picker. */
export const REVEAL_MODE_ITEMS: ReadonlyArray<{ mode: RevealMode; label: string; detail: string }> = [
  {
    mode: 'allow',
    label: 'Allow',
    detail: 'get_credential hands the value to agents that may use it (the default).',
  },
  {
    mode: 'approve',
    label: 'Ask me each time',
    detail: 'Each get_credential waits for your approval here (headless servers refuse it).',
  },
  {
    mode: 'never',
    label: "Never — use, don't read",
    detail: 'Agents use it only through http_request (or agent-keyring run); get_credential refuses.',
  },
];

/** Quick pick of a reveal mode (or the label of an `extra` item); undefined on Esc. */
export async function pickRevealMode(
  step: Step | { title: string },
  current: RevealMode,
  extra: vscode.QuickPickItem[] = [],
): Promise<string | undefined> {
  const items: Array<vscode.QuickPickItem & { mode?: string }> = [
    ...REVEAL_MODE_ITEMS.map((i) => ({
      label: i.label,
      description: i.mode === current ? '(current)' : undefined,
      detail: i.detail,
      mode: i.mode,
    })),
    ...extra.map((e) => ({ ...e, mode: e.label })),
  ];
  const title = 'step' in step ? `${step.title} (${step.step}/${step.totalSteps})` : step.title;
  const picked = await vscode.window.showQuickPick(items, {
    title,
    placeHolder: 'May agents read the value with get_credential?',
    ignoreFocusOut: true,
  });
  return picked?.mode;
}

/**
 * The agent a command acts on: the id of its argument (an args object or an Agents tree node), else
 * picked from the live agents. Undefined when the pick was cancelled.
 * @throws AgentNotFoundError when the argument names no agent.
 */
export async function agentFromArg(
  store: KeyringReader,
  arg: unknown,
  title: string,
): Promise<AgentMeta | undefined> {
  const id = argAgentId(arg) ?? (await pickAgent(store, title));
  if (id === undefined) {
    return undefined;
  }
  const agent = await store.getAgent(id);
  if (!agent) {
    throw new AgentNotFoundError(id);
  }
  return agent;
}

/**
 * The credential a command acts on: the name of its argument (an args object or a Credentials tree
 * node), else picked from the list. Undefined when the pick was cancelled.
 * @throws CredentialNotFoundError when the argument names no credential.
 */
export async function credentialFromArg(
  store: KeyringReader,
  arg: unknown,
  title: string,
): Promise<CredentialMeta | undefined> {
  const name = argCredentialName(arg) ?? (await pickCredential(store, title, Date.now()));
  if (name === undefined) {
    return undefined;
  }
  const cred = await store.getCredential(name);
  if (!cred) {
    throw new CredentialNotFoundError(name);
  }
  return cred;
}
