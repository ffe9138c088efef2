/**
 * `agentKeyring.connectAgent` ("Connect Agent…"): pick an agent (or create one), pick a client, and
 * Agent Keyring writes that client's MCP config (merged into the existing file, atomically) or
 * copies it. Configs name the token through the client's own reference to one variable per agent
 * (`${AGENT_KEYRING_TOKEN_<ID>}`, `${env:…}`, `bearer_token_env_var`, `${input:…}`), or — Claude
 * Code — a `headersHelper` that runs `agent-keyring token --agent ID --header-json`, so no config
 * holds a token. A token made here is saved for that helper (OS keyring, else a 0600 file in global
 * storage) and shown once, in a modal with Copy. Claude Code's entry goes into `~/.claude.json`
 * (this folder's section, Claude Code's "local" scope), never `.mcp.json`: VS Code reads a
 * workspace's `.mcp.json` itself and would list a second, token-less Agent Keyring server next to
 * its built-in one. What was written is remembered per agent (`connections.json` in global
 * storage), and Revoke Agent offers to remove exactly that.
 *
 * Args: `{ agent, create?, label?, activeHours?, newToken?, client, file?, folder? }` — no prompt.
 * `client`: claude | claude-command | codex | cursor | vscode | stdio. `file` overrides where the
 * config goes (default: `~/.claude.json` for the workspace folder / `.cursor/mcp.json` /
 * `.vscode/mcp.json`, or `~/.codex/config.toml`). In test mode the result carries a token made here
 * and no modal is shown.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  SERVER_ENTRY,
  claudeCommand,
  headersHelperCommand,
  stdioSnippet,
  tokenEnvVar,
  type ClientId,
  CLIENT_IDS,
} from '../../core/connect/clients';
import {
  ConnectionRecords,
  claudeUserConfigPath,
  codexConfigPath,
  removeClientConfig,
  sameEntry,
  writeClientConfig,
  type ConnectionRecord,
  type FileClient,
} from '../../core/connect/configFile';
import { describeLocation, type TokenLocation } from '../../core/connect/savedTokens';
import { findOnPath } from '../../core/connect/toolKeyring';
import { InvalidInputError, isKeyringError } from '../../core/errors';
import type { SecretValue } from '../../core/model';
import { isEditorAgentId } from '../vscodeAgent';
import { AgentNotFoundError } from '../../core/store/credentialStore';
import { promptNewAgent } from './addAgent';
import { savedTokensFor, storeDirOf, updateSavedToken } from './savedAgentTokens';
import { ACTOR, argObject, optionalString, type CommandContext, type CommandHandler } from './commandContext';

const TITLE = 'Connect Agent';
const EXTENSION_ID = 'agent-keyring.agent-keyring';

interface ClientChoice {
  id: ClientId;
  label: string;
  detail: string;
}

const CLIENTS: readonly ClientChoice[] = [
  {
    id: 'claude',
    label: 'Claude Code — this project (~/.claude.json)',
    detail:
      "Adds the server to this folder's section of ~/.claude.json, as 'claude mcp add' does (not .mcp.json, which VS Code would list as a second server).",
  },
  {
    id: 'claude-command',
    label: 'Claude Code — copy the "claude mcp add" command',
    detail: 'Copies the command; run it where you use claude.',
  },
  {
    id: 'codex',
    label: 'Codex — ~/.codex/config.toml',
    detail: 'Adds [mcp_servers.agent-keyring] with bearer_token_env_var (comments and other tables kept).',
  },
  {
    id: 'cursor',
    label: 'Cursor — project .cursor/mcp.json',
    detail:
      "Writes .cursor/mcp.json in the workspace with ${env:AGENT_KEYRING_TOKEN_<ID>} (the agent's own variable).",
  },
  {
    id: 'vscode',
    label: 'VS Code — mcp.json of another folder',
    detail: 'For another workspace or profile; this window already has Agent Keyring built in.',
  },
  {
    id: 'stdio',
    label: 'Any stdio client — copy a bridge entry',
    detail: 'Copies an mcpServers entry that runs "agent-keyring bridge" with node.',
  },
];

export function recordsFor(ctx: CommandContext): ConnectionRecords {
  return new ConnectionRecords(path.join(storeDirOf(ctx), 'connections.json'));
}

export interface ConnectResult {
  agent: string;
  client: ClientId;
  file?: string;
  outcome?: 'added' | 'updated' | 'unchanged';
  /** The command or snippet that was copied (claude-command, stdio). */
  snippet?: string;
  /** Claude Code: the `headersHelper` command in the entry (a token is saved for it). */
  helper?: string;
  /** Where the agent's token is saved (keyring or file), when it is. */
  saved?: TokenLocation;
  /** The workspace `.mcp.json` an older Connect Agent wrote this agent's entry into, now removed. */
  movedFrom?: string;
  /** Test mode only: the token made here. */
  token?: string;
}

export function connectAgent(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const args = argObject(arg);
    const agent = args ? await agentFromArgs(ctx, args) : await pickOrCreateAgent(ctx);
    if (!agent) {
      ctx.logger.info('Connect Agent cancelled.');
      return undefined;
    }
    // From here on a token may exist that was never shown: show it even if the rest is cancelled.
    const argClient = optionalString(args, 'client');
    if (argClient !== undefined && !CLIENT_IDS.includes(argClient as ClientId)) {
      throw new InvalidInputError(`Unknown client '${argClient}'. Use one of: ${CLIENT_IDS.join(', ')}.`);
    }
    const client = (argClient as ClientId | undefined) ?? (await pickClient(agent.id));
    if (!client) {
      if (agent.token) {
        await showOutcome(ctx, agent.id, agent.token, undefined);
      }
      return undefined;
    }
    const url = ctx.server.url ?? `http://127.0.0.1:${ctx.settings().port}/mcp`;
    const result: ConnectResult = { agent: agent.id, client };
    const saved = await saveOrFindToken(ctx, agent);
    if (saved) {
      result.saved = saved;
      if (client === 'claude' || client === 'claude-command') {
        result.helper = headersHelperCommand(cliWords(), agent.id, storeDirOf(ctx));
      }
    }

    if (client === 'claude-command' || client === 'stdio') {
      result.snippet =
        client === 'claude-command'
          ? claudeCommand(url, agent.id, result.helper)
          : stdioSnippet(url, cliPath(), agent.id, saved ? storeDirOf(ctx) : undefined);
    } else {
      const fileClient: FileClient = client === 'claude' ? 'claude-local' : client;
      const folderArg = optionalString(args, 'folder');
      const project = client === 'claude' ? (folderArg ?? (await pickWorkspaceFolder())) : undefined;
      const file =
        client === 'claude'
          ? project !== undefined
            ? (optionalString(args, 'file') ?? claudeUserConfigPath(process.env, os.homedir()))
            : undefined
          : (optionalString(args, 'file') ?? (await targetFile(client, folderArg)));
      if (!file) {
        if (agent.token) {
          await showOutcome(ctx, agent.id, agent.token, undefined);
        }
        return undefined;
      }
      let outcome;
      try {
        ({ outcome } = await writeClientConfig(fileClient, file, url, agent.id, {
          ...(project !== undefined ? { project } : {}),
          ...(result.helper !== undefined ? { helper: result.helper } : {}),
        }));
      } catch (e) {
        // The token made here would be lost with the error: show it first.
        if (agent.token && !(args && ctx.testMode)) {
          await showOutcome(ctx, agent.id, agent.token, undefined);
        }
        throw e;
      }
      await recordsFor(ctx).add({
        agent: agent.id,
        client: fileClient,
        file,
        entry: SERVER_ENTRY,
        ...(project !== undefined ? { project } : {}),
        written_at: new Date().toISOString(),
      });
      ctx.logger.info(
        `Connect Agent: ${outcome} the '${SERVER_ENTRY}' entry for agent '${agent.id}' in ${file}${project !== undefined ? ` (project ${project})` : ''}.`,
      );
      result.file = file;
      result.outcome = outcome;
      if (project !== undefined) {
        const moved = await moveOutOfDotMcpJson(ctx, agent.id, project);
        if (moved) {
          result.movedFrom = moved;
        }
      }
    }
    ctx.refreshViews();
    if (args && ctx.testMode) {
      return agent.token ? { ...result, token: agent.token.reveal() } : result;
    }
    await showOutcome(ctx, agent.id, agent.token, result);
    return result;
  };
}

// ---------------------------------------------------------------- agent

interface ChosenAgent {
  id: string;
  /** Set when a token was made in this run (it must be shown). */
  token?: SecretValue;
}

async function agentFromArgs(ctx: CommandContext, args: Record<string, unknown>): Promise<ChosenAgent> {
  const id = optionalString(args, 'agent');
  if (!id) {
    throw new InvalidInputError('Connect Agent needs "agent" (an agent id) in its arguments.');
  }
  if (args.create === true) {
    return createAgent(ctx, {
      id,
      label: optionalString(args, 'label'),
      active_hours: optionalString(args, 'activeHours'),
    });
  }
  const existing = await ctx.keyring.admin.getAgent(id);
  if (!existing || existing.revoked_at) {
    throw new AgentNotFoundError(id);
  }
  return args.newToken === true ? rotateToken(ctx, id) : { id };
}

async function createAgent(
  ctx: CommandContext,
  input: { id: string; label?: string; active_hours?: string },
): Promise<ChosenAgent> {
  const { agent, token } = await ctx.keyring.admin.addAgent(
    {
      id: input.id,
      ...(input.label ? { label: input.label } : {}),
      ...(input.active_hours ? { active_hours: input.active_hours } : {}),
    },
    ACTOR,
  );
  ctx.logger.info(`Agent '${agent.id}' added by ${ACTOR} (Connect Agent); its token is shown once.`);
  ctx.refreshViews();
  return { id: agent.id, token };
}

async function rotateToken(ctx: CommandContext, id: string): Promise<ChosenAgent> {
  const { agent, token } = await ctx.keyring.admin.rotateAgentToken(id, ACTOR);
  ctx.logger.info(`Agent '${agent.id}' got a new token (Connect Agent); the old one no longer works.`);
  return { id: agent.id, token };
}

/**
 * Saves a token made in this run for the client's start-up helper; otherwise finds one saved
 * earlier. Never throws: without a saved token the config names the agent's variable instead.
 */
async function saveOrFindToken(ctx: CommandContext, agent: ChosenAgent): Promise<TokenLocation | undefined> {
  const tokens = savedTokensFor(ctx);
  try {
    if (agent.token) {
      const location = await tokens.save(agent.id, agent.token);
      ctx.logger.info(`Connect Agent: saved the token of '${agent.id}' in ${describeLocation(location)}.`);
      return location;
    }
    return (await tokens.load(agent.id))?.location;
  } catch (e) {
    ctx.logger.warn(
      `Connect Agent: no saved token for '${agent.id}' (${isKeyringError(e) ? e.message : 'could not be read'}); the config names ${tokenEnvVar(agent.id)} instead.`,
    );
    return undefined;
  }
}

/**
 * An older Connect Agent wrote Claude Code's entry into the workspace's `.mcp.json`, which VS Code
 * also lists: once the entry is in `~/.claude.json`, that one is removed (only if it was recorded
 * as written for this agent). Resolves the file it was removed from.
 */
async function moveOutOfDotMcpJson(
  ctx: CommandContext,
  agentId: string,
  project: string,
): Promise<string | undefined> {
  const records = recordsFor(ctx);
  const dotMcp = path.join(project, '.mcp.json');
  const old = (await records.forAgent(agentId)).find(
    (r) => r.client === 'claude' && path.resolve(r.file) === path.resolve(dotMcp),
  );
  if (!old) {
    return undefined;
  }
  try {
    await removeClientConfig('claude', old.file);
    await records.remove(agentId, [old]);
    ctx.logger.info(
      `Connect Agent: removed the old '${SERVER_ENTRY}' entry of '${agentId}' from ${old.file} (VS Code lists servers there as its own).`,
    );
    return old.file;
  } catch (e) {
    ctx.logger.warn(`Connect Agent: ${isKeyringError(e) ? e.message : `could not update ${old.file}`}`);
    return undefined;
  }
}

const NEW_AGENT = '$(add) New agent…';
const KEEP = 'Keep Current Token';
const NEW_TOKEN = 'New Token';

async function pickOrCreateAgent(ctx: CommandContext): Promise<ChosenAgent | undefined> {
  const live = (await ctx.keyring.admin.listAgents()).filter((a) => !a.revoked_at && !isEditorAgentId(a.id));
  const picked = await vscode.window.showQuickPick(
    [
      { label: NEW_AGENT, description: 'creates it and its token' },
      ...live.map((a) => ({ label: a.id, description: a.label !== a.id ? a.label : undefined })),
    ],
    {
      title: `${TITLE} (1/2)`,
      placeHolder: 'Which agent connects? (each agent has its own token)',
      ignoreFocusOut: true,
    },
  );
  if (!picked) {
    return undefined;
  }
  if (picked.label === NEW_AGENT) {
    const input = await promptNewAgent(ctx);
    return input ? createAgent(ctx, input) : undefined;
  }
  const choice = await vscode.window.showWarningMessage(
    `Connect '${picked.label}': keep its token, or make a new one?`,
    {
      modal: true,
      detail: [
        `A token is shown only when it is made. If '${picked.label}' already has its token (${tokenEnvVar(picked.label)}, or saved by Connect Agent or 'agent-keyring agent rotate-token --save-token'), keep it: the config written here only refers to it.`,
        '',
        'A new token replaces the old one at once: whatever still uses the old token stops working.',
      ].join('\n'),
    },
    KEEP,
    NEW_TOKEN,
  );
  if (choice === KEEP) {
    return { id: picked.label };
  }
  return choice === NEW_TOKEN ? rotateToken(ctx, picked.label) : undefined;
}

// ---------------------------------------------------------------- client and file

async function pickClient(agentId: string): Promise<ClientId | undefined> {
  const picked = await vscode.window.showQuickPick(
    CLIENTS.map((c) => ({ label: c.label, detail: c.detail, id: c.id })),
    {
      title: `${TITLE} (2/2): ${agentId}`,
      placeHolder: 'Which client does the agent run in?',
      ignoreFocusOut: true,
    },
  );
  return picked?.id;
}

const REL_PATH: Record<Exclude<FileClient, 'codex' | 'claude' | 'claude-local'>, string> = {
  cursor: path.join('.cursor', 'mcp.json'),
  vscode: path.join('.vscode', 'mcp.json'),
};

async function targetFile(
  client: 'codex' | 'cursor' | 'vscode',
  folderArg: string | undefined,
): Promise<string | undefined> {
  if (client === 'codex') {
    return codexConfigPath(process.env, os.homedir());
  }
  const folder = folderArg ?? (client === 'vscode' ? await pickOtherFolder() : await pickWorkspaceFolder());
  return folder ? path.join(folder, REL_PATH[client]) : undefined;
}

async function pickWorkspaceFolder(): Promise<string | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 1) {
    return folders[0].uri.fsPath;
  }
  if (folders.length > 1) {
    const f = await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Project the config is for' });
    return f?.uri.fsPath;
  }
  return pickOtherFolder();
}

async function pickOtherFolder(): Promise<string | undefined> {
  const uris = await vscode.window.showOpenDialog({
    canSelectFiles: false,
    canSelectFolders: true,
    canSelectMany: false,
    openLabel: 'Use This Folder',
    title: 'Project folder whose MCP config gets Agent Keyring',
    defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
  });
  return uris?.[0]?.fsPath;
}

function cliPath(): string {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  return path.join(ext?.extensionPath ?? path.dirname(__dirname), 'dist', 'cli.js');
}

/**
 * How a client runs the CLI: `agent-keyring` when it is on PATH (it survives extension updates),
 * else `node <this extension's dist/cli.js>`.
 */
function cliWords(): string[] {
  return findOnPath('agent-keyring') ? ['agent-keyring'] : ['node', cliPath()];
}

// ---------------------------------------------------------------- outcome

const COPY_TOKEN = 'Copy Token';
const OPEN_FILE = 'Open File';

/** The modal: what was written, how to set the token; buttons re-offered until closed. */
async function showOutcome(
  ctx: CommandContext,
  agentId: string,
  token: SecretValue | undefined,
  result: ConnectResult | undefined,
): Promise<void> {
  const copyWhat =
    result?.client === 'claude-command' ? 'Copy Command' : result?.snippet ? 'Copy Config' : undefined;
  const left = new Set<string>([
    ...(token ? [COPY_TOKEN] : []),
    ...(copyWhat ? [copyWhat] : []),
    ...(result?.file ? [OPEN_FILE] : []),
  ]);
  const what = !result
    ? `Agent '${agentId}' has a new token; nothing was written.`
    : result.file
      ? `Agent '${agentId}': ${result.outcome === 'unchanged' ? 'already in' : result.outcome === 'added' ? 'added to' : 'updated in'} ${displayPath(result.file)} (entry '${SERVER_ENTRY}').`
      : `Agent '${agentId}': ${copyWhat === 'Copy Command' ? 'run the command below where you use claude.' : "paste the entry below into the client's MCP config."}`;
  const detail = [
    ...(result?.snippet ? [result.snippet, ''] : []),
    ...(result?.movedFrom
      ? [`Moved out of ${displayPath(result.movedFrom)} (VS Code lists servers there as its own).`, '']
      : []),
    token
      ? `Token (shown only this once): ${token.reveal()}`
      : result?.helper
        ? 'The token saved for this agent is used.'
        : `The config refers to ${tokenEnvVar(agentId)}; set it to the agent's token.`,
    '',
    ...(result?.helper
      ? [
          `Claude Code gets the token when it starts, from: ${result.helper}`,
          ...(result.saved ? [`(saved in ${describeLocation(result.saved)})`] : []),
        ]
      : [
          'Before starting the client, set the variable in its environment:',
          `    export ${tokenEnvVar(agentId)}=<token>`,
        ]),
    ...(result?.client === 'vscode'
      ? ['VS Code asks for the token when it starts the server and keeps it in its secret storage.']
      : []),
    ...(result?.client === 'codex'
      ? ['Codex sends it as Authorization: Bearer (bearer_token_env_var).']
      : []),
    'Then allow the agent on credentials with Edit Scopes….',
  ].join('\n');
  for (;;) {
    const choice = await vscode.window.showInformationMessage(what, { modal: true, detail }, ...left);
    if (!choice) {
      return;
    }
    left.delete(choice);
    if (choice === COPY_TOKEN && token) {
      await vscode.env.clipboard.writeText(token.reveal());
      vscode.window.setStatusBarMessage(`$(copy) Token of '${agentId}' copied`, 5_000);
    } else if (choice === OPEN_FILE && result?.file) {
      await vscode.window.showTextDocument(vscode.Uri.file(result.file), { preview: false });
      return;
    } else if (result?.snippet) {
      await vscode.env.clipboard.writeText(result.snippet);
      vscode.window.setStatusBarMessage('$(copy) Copied', 5_000);
    }
    if (left.size === 0) {
      return;
    }
    ctx.logger.debug(`Connect Agent: ${choice} done for '${agentId}'.`);
  }
}

function displayPath(file: string): string {
  for (const f of vscode.workspace.workspaceFolders ?? []) {
    const rel = path.relative(f.uri.fsPath, file);
    if (!rel.startsWith('..') && !path.isAbsolute(rel)) {
      return rel;
    }
  }
  const home = os.homedir();
  return file.startsWith(home + path.sep) ? `~${file.slice(home.length)}` : file;
}

// ---------------------------------------------------------------- revoke

const REMOVE = 'Remove Entries';

/**
 * After an agent is revoked: offers to remove the config entries Connect Agent wrote for it — only
 * those no other live agent also had written. `args.removeConfigs` (test mode) answers for the user.
 * Resolves what was removed; failures are reported, never thrown (the agent is revoked already).
 */
export async function offerToRemoveConnections(
  ctx: CommandContext,
  agentId: string,
  args: Record<string, unknown> | undefined,
): Promise<{ removed: string[]; kept: string[]; failed: string[] }> {
  const done = { removed: [] as string[], kept: [] as string[], failed: [] as string[] };
  // Its token no longer works: a saved copy for a client's helper goes too.
  await updateSavedToken(ctx, agentId, undefined);
  const records = recordsFor(ctx);
  let mine: ConnectionRecord[];
  let all: ConnectionRecord[];
  try {
    all = await records.list();
    mine = all.filter((r) => r.agent === agentId);
  } catch (e) {
    ctx.logger.warn(`Revoke Agent: ${e instanceof Error ? e.message : String(e)}`);
    return done;
  }
  if (mine.length === 0) {
    return done;
  }
  const live = new Set((await ctx.keyring.admin.listAgents()).filter((a) => !a.revoked_at).map((a) => a.id));
  const shared = (r: ConnectionRecord): boolean =>
    all.some((o) => o.agent !== agentId && live.has(o.agent) && sameEntry(o, r));
  const removable = mine.filter((r) => !shared(r));
  done.kept = mine.filter(shared).map((r) => r.file);
  if (removable.length === 0) {
    return done;
  }
  let yes: boolean;
  if (ctx.testMode && typeof args?.removeConfigs === 'boolean') {
    yes = args.removeConfigs;
  } else {
    const choice = await vscode.window.showWarningMessage(
      `Remove the '${SERVER_ENTRY}' entries Connect Agent wrote for '${agentId}'?`,
      {
        modal: true,
        detail: [
          ...removable.map((r) => `• ${displayPath(r.file)}`),
          '',
          'Only that entry goes; everything else in those files is kept.',
          ...(done.kept.length > 0
            ? [`Kept (another agent uses them): ${done.kept.map(displayPath).join(', ')}`]
            : []),
        ].join('\n'),
      },
      REMOVE,
    );
    yes = choice === REMOVE;
  }
  if (!yes) {
    return done;
  }
  for (const r of removable) {
    try {
      await removeClientConfig(r.client, r.file, r.project !== undefined ? { project: r.project } : {});
      done.removed.push(r.file);
    } catch (e) {
      done.failed.push(r.file);
      const message = isKeyringError(e) ? e.message : `could not update ${r.file}`;
      ctx.logger.warn(`Revoke Agent: ${message}`);
      void vscode.window.showWarningMessage(`Agent Keyring: ${message}`);
    }
  }
  await records.remove(
    agentId,
    removable.filter((r) => done.removed.includes(r.file)),
  );
  ctx.logger.info(
    `Revoke Agent: removed the '${SERVER_ENTRY}' entry for '${agentId}' from ${done.removed.length} file(s).`,
  );
  return done;
}
