/**
 * The commands that choose this window's store (README "Team store in VS Code"):
 * - **Connect to Team Store…** asks for the URL (written to the machine-scoped setting
 *   `agentKeyring.store`, without a password), the database password and the team's master key (or
 *   the path of a 0600 key file) — both kept in SecretStorage under the URL, never in settings,
 *   logs or messages — then reopens the keyring on the team store without a window reload;
 * - **Use Local Store** clears the setting: back to the editor's own store.
 */
import * as vscode from 'vscode';
import { readMasterKeyFile, decodeKey } from '../core/store/masterKey';
import {
  parseStoreSetting,
  splitPassword,
  teamSecretKey,
  type StoreChoice,
} from '../core/store/postgres/teamStoreSetting';
import type { Logger, SecretBackend } from '../core/ports';
import { StoreCommandId } from './commands/commandIds';
import { argObject, optionalString } from './commands/commandContext';
import { errorText } from './editorKeyring';
import { DisposableStore } from './lifecycle';
import { CONFIG_SECTION, LOCAL_STORE, Setting } from './settings';

/** Which store the window uses now. */
export interface StoreStatus {
  /** `local`, `team <db>@<host>` or `not connected`. */
  store: string;
  connected: boolean;
  /** Why it is not connected. */
  reason?: string;
  /** The agent that stands for this editor's chat. */
  agentId?: string;
}

export interface StoreCommandDeps {
  /** The editor's SecretStorage. */
  secrets: SecretBackend;
  logger: Logger;
  /** Args objects are taken only under test, so no other extension can point the window elsewhere. */
  testMode: boolean;
  current(): StoreStatus;
  /** Reopens the keyring on `choice` (`force`: even if it is the current one, e.g. a new password). */
  switchTo(choice: StoreChoice, force?: boolean): Promise<StoreStatus>;
}

interface TeamAnswers {
  url: string;
  password?: string;
  masterKey?: string;
  masterKeyFile?: string;
}

export function registerStoreCommands(deps: StoreCommandDeps): vscode.Disposable {
  const store = new DisposableStore();
  store.add(
    vscode.commands.registerCommand(StoreCommandId.connectTeamStore, (arg?: unknown) =>
      reportFailure(deps, connectTeamStore(deps, arg)),
    ),
  );
  store.add(
    vscode.commands.registerCommand(StoreCommandId.useLocalStore, () =>
      reportFailure(deps, useLocalStore(deps)),
    ),
  );
  return store;
}

async function reportFailure(deps: StoreCommandDeps, run: Promise<unknown>): Promise<unknown> {
  try {
    return await run;
  } catch (e) {
    // Our own messages name no secret; the driver's were scrubbed by the store (never the password).
    deps.logger.error(`Agent Keyring: ${errorText(e)}`);
    void vscode.window.showErrorMessage(`Agent Keyring: ${errorText(e)}`);
    if (deps.testMode) {
      throw e;
    }
    return undefined;
  }
}

async function connectTeamStore(deps: StoreCommandDeps, arg: unknown): Promise<StoreStatus | undefined> {
  const o = deps.testMode ? argObject(arg) : undefined;
  const argUrl = optionalString(o, 'url');
  const answers: TeamAnswers | undefined = argUrl
    ? {
        url: argUrl,
        password: optionalString(o, 'password'),
        masterKey: optionalString(o, 'masterKey'),
        masterKeyFile: optionalString(o, 'masterKeyFile'),
      }
    : await ask();
  if (!answers) {
    return undefined; // Esc: nothing changed
  }
  const { url, password: inUrl } = splitPassword(answers.url);
  const choice = parseStoreSetting(url);
  if (choice.kind !== 'team') {
    throw new Error(choice.kind === 'invalid' ? choice.reason : 'Give a postgres:// URL.');
  }
  const password = answers.password ?? inUrl;
  const key = await checkedKey(answers);
  const s = deps.secrets;
  if (password) {
    await s.store(teamSecretKey('password', choice.url), password);
  } else {
    await s.delete(teamSecretKey('password', choice.url));
  }
  if (key.masterKey) {
    await s.store(teamSecretKey('masterKey', choice.url), key.masterKey);
    await s.delete(teamSecretKey('masterKeyFile', choice.url));
  } else if (key.masterKeyFile) {
    await s.store(teamSecretKey('masterKeyFile', choice.url), key.masterKeyFile);
    await s.delete(teamSecretKey('masterKey', choice.url));
  }
  // The setting: machine-scoped (package.json), so never synced and never set by a workspace.
  const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
  const unchanged = config.get<string>(Setting.store)?.trim() === choice.url;
  await config.update(Setting.store, choice.url, vscode.ConfigurationTarget.Global);
  // A new URL reopens through the setting's change event (this waits for that switch); the same
  // URL raises no event, so reopen here (the password or key may be new).
  const status = await deps.switchTo(choice, unchanged);
  if (status.connected) {
    deps.logger.info(`Connected to the ${status.store} store.`);
    void vscode.window.showInformationMessage(
      `Agent Keyring now uses the ${status.store} store; in-editor chat is agent '${status.agentId ?? '?'}'. Give it credentials with Edit Scopes.`,
    );
  }
  return status;
}

async function useLocalStore(deps: StoreCommandDeps): Promise<StoreStatus> {
  await vscode.workspace
    .getConfiguration(CONFIG_SECTION)
    .update(Setting.store, undefined, vscode.ConfigurationTarget.Global);
  const status = await deps.switchTo(LOCAL_STORE);
  void vscode.window.showInformationMessage("Agent Keyring now uses this editor's own (local) store.");
  return status;
}

/** The master key the person gave, checked (a 32-byte base64 key, or a readable 0600 key file). */
async function checkedKey(a: TeamAnswers): Promise<{ masterKey?: string; masterKeyFile?: string }> {
  if (a.masterKey) {
    decodeKey(a.masterKey.trim(), 'the master key you gave').fill(0);
    return { masterKey: a.masterKey.trim() };
  }
  if (a.masterKeyFile) {
    const key = await readMasterKeyFile(a.masterKeyFile);
    if (!key) {
      throw new Error(`The key file ${a.masterKeyFile} does not exist. Choose the team's master key file.`);
    }
    key.fill(0);
    return { masterKeyFile: a.masterKeyFile };
  }
  throw new Error("A team store needs the team's master key (base64) or the path of its key file.");
}

/** The three questions; undefined when the person pressed Esc. */
async function ask(): Promise<TeamAnswers | undefined> {
  const current = vscode.workspace.getConfiguration(CONFIG_SECTION).get<string>(Setting.store);
  const url = await vscode.window.showInputBox({
    title: 'Connect to Team Store (1/3): where',
    prompt:
      'The team store: postgres://user@host:port/db (the password is asked next, and kept in secret storage)',
    placeHolder: 'postgres://akr@db.example:5432/agent_keyring',
    value: current ?? '',
    ignoreFocusOut: true,
    validateInput: (v) => {
      const choice = parseStoreSetting(splitPassword(v).url);
      return choice.kind === 'team'
        ? undefined
        : choice.kind === 'invalid'
          ? choice.reason
          : 'Give a postgres:// URL.';
    },
  });
  if (url === undefined) {
    return undefined;
  }
  const inUrl = splitPassword(url).password;
  const password = inUrl
    ? inUrl
    : await vscode.window.showInputBox({
        title: 'Connect to Team Store (2/3): password',
        prompt: 'The database password (leave empty if the server needs none, or ~/.pgpass has it)',
        password: true,
        ignoreFocusOut: true,
      });
  if (password === undefined) {
    return undefined;
  }
  const how = await vscode.window.showQuickPick(
    [
      {
        label: "Paste the team's master key…",
        detail: 'base64 of 32 bytes; kept in secret storage',
        file: false,
      },
      {
        label: 'Use a key file…',
        detail: 'a file with mode 0600 holding the key; its path is kept',
        file: true,
      },
    ],
    { title: "Connect to Team Store (3/3): the team's master key", ignoreFocusOut: true },
  );
  if (!how) {
    return undefined;
  }
  if (how.file) {
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: false,
      title: 'The team master key file',
    });
    return picked?.[0] ? { url, password, masterKeyFile: picked[0].fsPath } : undefined;
  }
  const masterKey = await vscode.window.showInputBox({
    title: "Connect to Team Store (3/3): the team's master key",
    prompt: 'Base64 of 32 bytes (the same key every server of the store holds); never shown or logged',
    password: true,
    ignoreFocusOut: true,
    validateInput: (v) => {
      try {
        decodeKey(v.trim(), 'the master key').fill(0);
        return undefined;
      } catch (e) {
        return errorText(e);
      }
    },
  });
  return masterKey === undefined ? undefined : { url, password, masterKey };
}
