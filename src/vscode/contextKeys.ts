/**
 * Context keys that follow the store: `agentKeyring.hasCredentials` (at least one credential) and
 * `agentKeyring.hasExternalAgents` (at least one active agent besides the built-in `vscode`).
 * The walkthrough ticks its steps on them (`onContext:`), so "Add a credential" is done when there
 * is a credential — however it got there (palette, import, another window, the CLI) — not when a
 * command was merely opened.
 */
import * as vscode from 'vscode';
import type { KeyringReader } from '../core/admin';
import type { Logger } from '../core/ports';
import { isEditorAgentId } from './vscodeAgent';

export const HAS_CREDENTIALS = 'agentKeyring.hasCredentials';
export const HAS_EXTERNAL_AGENTS = 'agentKeyring.hasExternalAgents';

/** Sets both keys now and after every store change; dispose to stop. */
export function trackContextKeys(store: KeyringReader, logger: Logger): vscode.Disposable {
  let last: { creds: boolean; agents: boolean } | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  const update = async (): Promise<void> => {
    const [credentials, agents] = await Promise.all([store.listCredentials(), store.listAgents()]);
    const next = {
      creds: credentials.length > 0,
      agents: agents.some((a) => !isEditorAgentId(a.id) && !a.revoked_at),
    };
    if (last?.creds !== next.creds) {
      await vscode.commands.executeCommand('setContext', HAS_CREDENTIALS, next.creds);
    }
    if (last?.agents !== next.agents) {
      await vscode.commands.executeCommand('setContext', HAS_EXTERNAL_AGENTS, next.agents);
    }
    last = next;
  };
  // One update at a time; changes during an update cause exactly one more.
  const schedule = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = update()
      .catch((e: unknown) => logger.warn('Could not update the Agent Keyring context keys', e))
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          schedule();
        }
      });
  };
  const sub = store.onDidChange(schedule);
  schedule();
  return { dispose: () => sub.dispose() };
}
