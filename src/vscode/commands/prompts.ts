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
 * The items of a multi-select of the agents allowed to use a credential: the live agents plus `*`
 * (every agent), those in `current` picked. Ids in `current` that are not (or no longer) live
 * agents stay selectable.
 */
export async function allowedAgentItems(
  store: KeyringReader,
  current: readonly string[],
): Promise<vscode.QuickPickItem[]> {
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
  for (const id of current) {
    if (id !== EVERY_AGENT && !agents.some((a) => a.id === id)) {
      items.push({ label: id, description: 'not a live agent', picked: true });
    }
  }
  return items;
}

/** The ids of picked agent items; `*` picked together with others means `*` alone. */
export function idsFromAgentItems(picked: readonly vscode.QuickPickItem[]): string[] {
  const ids = picked.map((p) => p.label);
  return ids.includes(EVERY_AGENT) ? [EVERY_AGENT] : ids;
}

/**
 * Multi-select of the agents allowed to use a credential ({@link allowedAgentItems}). Resolves []
 * for "nobody yet", undefined on Esc.
 */
export async function pickAllowedAgents(
  store: KeyringReader,
  step: Step,
  current: readonly string[],
): Promise<string[] | undefined> {
  const items = await allowedAgentItems(store, current);
  const picked = await vscode.window.showQuickPick(items, {
    title: `${step.title} (${step.step}/${step.totalSteps})`,
    placeHolder: 'Agents that may use it (none picked: no agent yet)',
    canPickMany: true,
    ignoreFocusOut: true,
  });
  return picked ? idsFromAgentItems(picked) : undefined;
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

/** What a step of a {@link QuickFlow} resolves when the person pressed the Back button. */
export const BACK = Symbol('back');
export type Back = typeof BACK;

/**
 * A multi-step flow in one quick input: each step replaces the previous one while it is still on
 * screen, and an accepted step stays up (busy) until the next one shows, so the quick input never
 * closes between steps. (Closing it hands the focus back to the editor that had it — the
 * walkthrough, say — and the keys typed next, Enter included, then went there.) Steps after the
 * first have a Back button; callers keep what was typed and pass it back in as the step's value.
 * Esc (or any hide) resolves `undefined`. Dispose at the end.
 */
export class QuickFlow implements vscode.Disposable {
  #current: vscode.QuickInput | undefined;

  constructor(private readonly title: string) {}

  #title(step: number, total: number, suffix?: string): string {
    return `${this.title}${suffix ? `: ${suffix}` : ''} (${step}/${total})`;
  }

  #swap(next: vscode.QuickInput): void {
    next.show();
    const previous = this.#current;
    this.#current = next;
    previous?.dispose();
  }

  /** One input box. Validation runs as you type and again on Enter (the box stays up while it runs). */
  input(opts: {
    step: number;
    total: number;
    back: boolean;
    prompt: string;
    placeHolder?: string;
    value?: string;
    password?: boolean;
    validate?: Validator;
  }): Promise<string | Back | undefined> {
    const box = vscode.window.createInputBox();
    box.title = this.#title(opts.step, opts.total);
    box.prompt = opts.prompt;
    box.placeholder = opts.placeHolder;
    box.value = opts.value ?? '';
    box.password = opts.password ?? false;
    box.ignoreFocusOut = true;
    box.buttons = opts.back ? [vscode.QuickInputButtons.Back] : [];
    return new Promise((resolve) => {
      let done = false;
      let check = 0;
      const finish = (r: string | Back | undefined): void => {
        if (!done) {
          done = true;
          for (const d of subs) {
            d.dispose();
          }
          resolve(r);
        }
      };
      const validate = async (
        text: string,
      ): Promise<string | vscode.InputBoxValidationMessage | undefined> => {
        const mine = ++check;
        const problem = (await opts.validate?.(text)) ?? undefined;
        if (mine === check) {
          box.validationMessage = problem;
        }
        return problem;
      };
      const subs = [
        box.onDidChangeValue((t) => void validate(t)),
        box.onDidTriggerButton((b) => b === vscode.QuickInputButtons.Back && finish(BACK)),
        box.onDidAccept(async () => {
          box.busy = true;
          box.enabled = false;
          const text = box.value;
          const problem = await validate(text);
          box.busy = false;
          box.enabled = true;
          const blocking =
            typeof problem === 'string' || problem?.severity === vscode.InputBoxValidationSeverity.Error;
          if (!blocking) {
            box.busy = true;
            finish(text);
          }
        }),
        box.onDidHide(() => finish(undefined)),
      ];
      this.#swap(box);
      if (box.value !== '') {
        void validate(box.value);
      }
    });
  }

  /** One quick pick (single, or several with `canPickMany`). Resolves the picked items. */
  pick<T extends vscode.QuickPickItem>(opts: {
    step: number;
    total: number;
    back: boolean;
    titleSuffix?: string;
    placeHolder: string;
    items: readonly T[];
    canPickMany?: boolean;
    selected?: readonly T[];
    active?: T;
  }): Promise<readonly T[] | Back | undefined> {
    const qp = vscode.window.createQuickPick<T>();
    qp.title = this.#title(opts.step, opts.total, opts.titleSuffix);
    qp.placeholder = opts.placeHolder;
    qp.canSelectMany = opts.canPickMany ?? false;
    qp.matchOnDescription = true;
    qp.matchOnDetail = true;
    qp.ignoreFocusOut = true;
    qp.items = opts.items;
    if (opts.selected) {
      qp.selectedItems = opts.selected;
    }
    if (opts.active) {
      qp.activeItems = [opts.active];
    }
    qp.buttons = opts.back ? [vscode.QuickInputButtons.Back] : [];
    return new Promise((resolve) => {
      let done = false;
      const finish = (r: readonly T[] | Back | undefined): void => {
        if (!done) {
          done = true;
          for (const d of subs) {
            d.dispose();
          }
          resolve(r);
        }
      };
      const subs = [
        qp.onDidTriggerButton((b) => b === vscode.QuickInputButtons.Back && finish(BACK)),
        qp.onDidAccept(() => {
          const picked = qp.canSelectMany ? qp.selectedItems : qp.activeItems.slice(0, 1);
          if (!qp.canSelectMany && picked.length === 0) {
            return;
          }
          qp.busy = true;
          finish(picked);
        }),
        qp.onDidHide(() => finish(undefined)),
      ];
      this.#swap(qp);
    });
  }

  /** Closes the flow's quick input (the focus goes back to where it was before the flow). */
  dispose(): void {
    this.#current?.dispose();
    this.#current = undefined;
  }
}
