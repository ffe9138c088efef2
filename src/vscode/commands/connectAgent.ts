/**
 * `agentKeyring.connectAgent` ("Connect Agent…"): pick an agent (or create one), pick a client, and
 * Agent Keyring writes that client's MCP config (merged into the existing file, atomically) or
 * copies it. Configs name the token through the client's own reference (`${AGENT_KEYRING_TOKEN}`,
 * `${env:…}`, `bearer_token_env_var`, `${input:…}`), so no token is written to a file; a token is
 * shown once, in a modal with Copy, only when one is made here. What was written is remembered per
 * agent (`connections.json` in global storage), and Revoke Agent offers to remove exactly that.
 *
 * Args: `{ agent, create?, label?, activeHours?, newToken?, client, file?, folder? }` — no prompt.
 * `client`: claude | claude-command | codex | cursor | vscode | stdio. `file` overrides where the
 * config goes (default: the workspace's `.mcp.json` / `.cursor/mcp.json` / `.vscode/mcp.json`, or
 * `~/.codex/config.toml`). In test mode the result carries a token made here and no modal is shown.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  SERVER_ENTRY,
  TOKEN_ENV_VAR,
  claudeCommand,
  stdioSnippet,
  type ClientId,
  CLIENT_IDS,
} from '../../core/connect/clients';
import {
  ConnectionRecords,
  codexConfigPath,
  removeClientConfig,
  writeClientConfig,
  type ConnectionRecord,
  type FileClient,
} from '../../core/connect/configFile';
import { InvalidInputError, isKeyringError } from '../../core/errors';
import { VSCODE_AGENT_ID, type SecretValue } from '../../core/model';
import { AgentNotFoundError } from '../../core/store/credentialStore';
import { promptNewAgent } from './addAgent';
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
    label: 'Claude Code — project .mcp.json',
    detail: 'Writes .mcp.json in the workspace (other servers kept).',
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
    detail: 'Writes .cursor/mcp.json in the workspace with ${env:AGENT_KEYRING_TOKEN}.',
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
  return new ConnectionRecords(path.join(path.dirname(ctx.keyring.auditPath), 'connections.json'));
}

export interface ConnectResult {
  agent: string;
  client: ClientId;
  file?: string;
  outcome?: 'added' | 'updated' | 'unchanged';
  /** The command or snippet that was copied (claude-command, stdio). */
  snippet?: string;
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

    if (client === 'claude-command' || client === 'stdio') {
      result.snippet = client === 'claude-command' ? claudeCommand(url) : stdioSnippet(url, cliPath());
    } else {
      const file = optionalString(args, 'file') ?? (await targetFile(client, optionalString(args, 'folder')));
      if (!file) {
        if (agent.token) {
          await showOutcome(ctx, agent.id, agent.token, undefined);
        }
        return undefined;
      }
      let outcome;
      try {
        ({ outcome } = await writeClientConfig(client, file, url, agent.id));
      } catch (e) {
        // The token made here would be lost with the error: show it first.
        if (agent.token && !(args && ctx.testMode)) {
          await showOutcome(ctx, agent.id, agent.token, undefined);
        }
        throw e;
      }
      await recordsFor(ctx).add({
        agent: agent.id,
        client,
        file,
        entry: SERVER_ENTRY,
        written_at: new Date().toISOString(),
      });
      ctx.logger.info(
        `Connect Agent: ${outcome} the '${SERVER_ENTRY}' entry for agent '${agent.id}' in ${file}.`,
      );
      result.file = file;
      result.outcome = outcome;
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

const NEW_AGENT = '$(add) New agent…';
const KEEP = 'Keep Current Token';
const NEW_TOKEN = 'New Token';

async function pickOrCreateAgent(ctx: CommandContext): Promise<ChosenAgent | undefined> {
  const live = (await ctx.keyring.admin.listAgents()).filter(
    (a) => !a.revoked_at && a.id !== VSCODE_AGENT_ID,
  );
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
        `A token is shown only when it is made. If '${picked.label}' already has ${TOKEN_ENV_VAR} set, keep it: the config written here only refers to that variable.`,
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

const REL_PATH: Record<Exclude<FileClient, 'codex'>, string> = {
  claude: '.mcp.json',
  cursor: path.join('.cursor', 'mcp.json'),
  vscode: path.join('.vscode', 'mcp.json'),
};

async function targetFile(client: FileClient, folderArg: string | undefined): Promise<string | undefined> {
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
    token
      ? `Token (shown only this once): ${token.reveal()}`
      : `The config refers to ${TOKEN_ENV_VAR}; set it to the agent's token.`,
    '',
    'Before starting the client, set the variable in its environment:',
    `    export ${TOKEN_ENV_VAR}=<token>`,
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
    all.some(
      (o) =>
        o.agent !== agentId &&
        live.has(o.agent) &&
        path.resolve(o.file) === path.resolve(r.file) &&
        o.entry === r.entry,
    );
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
      await removeClientConfig(r.client, r.file);
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
