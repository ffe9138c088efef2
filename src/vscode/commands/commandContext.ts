/**
 * What every command implementation gets: the keyring, the logger, current settings and a way to
 * repaint the views. Commands take one optional argument — a tree node (from a view menu) or an
 * args object (from tests and other callers) — and fall back to prompts for whatever is missing.
 */
import type { Keyring } from '../../core/keyring';
import type { Logger } from '../../core/ports';
import type { ServerController } from '../server/serverController';
import type { Settings } from '../settings';

/** How the audit log names a change made by the person at the editor. */
export const ACTOR = 'vscode-user';

export interface CommandContext {
  readonly keyring: Keyring;
  readonly logger: Logger;
  readonly server: ServerController;
  settings(): Settings;
  /** Repaints every view now (own changes show at once, not after the file watcher). */
  refreshViews(): void;
  /** Opens the "Agent Keyring" output channel. */
  showLog(): void;
  /** Opens (or reveals) the Audit view in an editor tab; absent where there is no Audit view. */
  readonly openAuditInEditor?: () => void;
  /**
   * The agent of this editor's chat (`vscode`; on a team store `vscode.<user>.<host>`) and its token
   * (SecretStorage only): renew it without showing it.
   */
  readonly vscodeAgent: { readonly id: string; renew(): Promise<void> };
  /**
   * Which store the keyring is on (`local` or `team <db>@<host>`), the agent that stands for this
   * editor's chat there, and why a team store does not answer (undefined when it does).
   */
  readonly store?: { label: string; agentId: string; health(): string | undefined };
  /**
   * `ExtensionMode.Test`: args may skip confirmations (`confirmed: true`) and Add Agent returns
   * the token to the caller. In normal use neither is possible, so no other extension can revoke
   * silently or mint a token it can read.
   */
  readonly testMode: boolean;
}

export type CommandHandler = (arg?: unknown) => Promise<unknown>;

/** A plain object argument, or undefined. */
export function argObject(arg: unknown): Record<string, unknown> | undefined {
  return arg !== null && typeof arg === 'object' && !Array.isArray(arg)
    ? (arg as Record<string, unknown>)
    : undefined;
}

/** `arg.name` (an args object or a Credentials tree node), or a bare string. */
export function argCredentialName(arg: unknown): string | undefined {
  if (typeof arg === 'string') {
    return arg;
  }
  const o = argObject(arg);
  return typeof o?.name === 'string' && o.kind !== 'group' ? o.name : undefined;
}

/** `arg.id` (an args object or an Agents tree node), or a bare string. */
export function argAgentId(arg: unknown): string | undefined {
  if (typeof arg === 'string') {
    return arg;
  }
  const o = argObject(arg);
  return typeof o?.id === 'string' ? o.id : undefined;
}

export function optionalString(o: Record<string, unknown> | undefined, key: string): string | undefined {
  const v = o?.[key];
  return typeof v === 'string' ? v : undefined;
}

export function optionalStrings(o: Record<string, unknown> | undefined, key: string): string[] | undefined {
  const v = o?.[key];
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
}

export function optionalNumber(o: Record<string, unknown> | undefined, key: string): number | undefined {
  const v = o?.[key];
  return typeof v === 'number' ? v : undefined;
}
