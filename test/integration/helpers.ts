/** Shared helpers of the integration suite (runs inside the VS Code extension host). */
import * as vscode from 'vscode';
import type { AgentKeyringTestApi } from '../../src/extension';

export const EXTENSION_ID = 'agent-keyring.agent-keyring';

/** Activates the extension under test and returns its test-only API. */
export async function activateExtension(): Promise<{
  extension: vscode.Extension<AgentKeyringTestApi | undefined>;
  api: AgentKeyringTestApi;
}> {
  const extension = vscode.extensions.getExtension<AgentKeyringTestApi | undefined>(EXTENSION_ID);
  if (!extension) {
    throw new Error(`Extension ${EXTENSION_ID} is not loaded: is extensionDevelopmentPath the repo root?`);
  }
  const api = await extension.activate();
  if (!api) {
    throw new Error(
      'activate() returned no test API: the extension did not start (see the Agent Keyring log) or is not in ExtensionMode.Test.',
    );
  }
  return { extension, api };
}

/** Resolves when `predicate` holds, polling every 50 ms; rejects with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
