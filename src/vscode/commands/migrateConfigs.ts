/**
 * `agentKeyring.migrateConfigs` ("Migrate MCP Configs…"): the same core as `agent-keyring migrate`
 * (src/core/migrate/) on the workspace's and the user's MCP configs. A pick of the servers with
 * literal keys (file, server, field — never a value), a confirmation, then the keys go into this
 * window's keyring and each picked server is rewritten to start through `agent-keyring run --mcp
 * --url <this window's server> --store <this extension's storage> --agent <id>` (the keys live in
 * VS Code's SecretStorage, so the rewritten servers get them through the running server). New
 * agents' tokens are saved where `run --agent` looks with that `--store` (the OS keyring, else a
 * 0600 file in the extension's storage), so a client outside VS Code starts the servers without a
 * token in its environment. A per-server report follows; Undo puts the files back.
 *
 * Args: `{ list: true }` → the plan; `{ all: true }` (test mode) → migrate every server without
 * prompts, result with tokens; `{ undo: true }` → undo the last migration; `{ files: [...] }` →
 * only these config files.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { describeLocation, type TokenLocation } from '../../core/connect/savedTokens';
import { findOnPath } from '../../core/connect/toolKeyring';
import { isKeyringError } from '../../core/errors';
import type { ServerCheck } from '../../core/migrate/check';
import { checkMigratedServers } from '../../core/migrate/check';
import { classifyConfigFile, defaultConfigFiles, type ClientFile } from '../../core/migrate/clientFiles';
import {
  applyMigration,
  keyringAdapter,
  planMigration,
  undoMigration,
  type MigrationReport,
} from '../../core/migrate/migrate';
import { mcpUrl } from '../server/serverController';
import {
  ACTOR,
  argObject,
  optionalStrings,
  type CommandContext,
  type CommandHandler,
} from './commandContext';
import { savedTokensFor } from './savedAgentTokens';

const EXTENSION_ID = 'agent-keyring.agent-keyring';
const COPY = 'Copy Token';
const UNDO = 'Undo';
const SHOW_LOG = 'Show Details';

/**
 * How a rewritten entry starts the CLI: `agent-keyring` from PATH when it is installed (it survives
 * extension updates), else `node` with the extension's own dist/cli.js. Both by absolute path, as
 * found on this window's PATH: a client started outside a shell (Claude Desktop, an editor launched
 * from the dock) may have a PATH without them.
 */
function launcher(): { command: string; args: string[] } {
  const windows = process.platform === 'win32';
  const installed = findOnPath(windows ? 'agent-keyring.cmd' : 'agent-keyring');
  if (installed) {
    return { command: installed, args: [] };
  }
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  return {
    command: findOnPath(windows ? 'node.exe' : 'node') ?? 'node',
    args: [path.join(ext?.extensionPath ?? path.dirname(__dirname), 'dist', 'cli.js')],
  };
}

function configFiles(args: Record<string, unknown> | undefined): ClientFile[] {
  const named = optionalStrings(args, 'files');
  if (named) {
    return named.map((f) => classifyConfigFile(path.resolve(f)));
  }
  const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
  const seen = new Set<string>();
  return (folders.length > 0 ? folders : [os.homedir()])
    .flatMap((folder) => defaultConfigFiles(folder, os.homedir()))
    .filter((f) => (seen.has(f.file) ? false : (seen.add(f.file), true)));
}

export function migrateConfigs(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const args = argObject(arg);
    const keyring = keyringAdapter(ctx.keyring, ACTOR);
    const stateDir = ctx.keyring.stateDir;
    if (args?.undo === true) {
      return undo(ctx, stateDir);
    }
    const plan = await planMigration(keyring, configFiles(args));
    for (const f of plan.files.filter((x) => x.status === 'error')) {
      ctx.logger.warn(`Migrate MCP configs: ${f.problem ?? f.file}`);
    }
    if (args?.list === true) {
      return plan;
    }
    const candidates = plan.servers.filter((s) => !s.skipped);
    for (const s of plan.servers.filter((x) => x.skipped)) {
      ctx.logger.warn(`Migrate MCP configs: ${s.file}: ${s.server} is left as it is (${s.skipped}).`);
    }
    if (candidates.length === 0) {
      void vscode.window.showInformationMessage(
        `Agent Keyring: no literal keys to migrate in the MCP configs of this workspace and your user folder${plan.servers.length > 0 ? ` (${plan.servers.length} server(s) left as they are: see the log)` : ''}.`,
      );
      return { plan };
    }
    const all = args?.all === true && ctx.testMode;
    if (!all) {
      const picked = await vscode.window.showQuickPick(
        candidates.map((s) => ({
          label: `$(key) ${s.server} — ${s.keys.map((k) => k.field).join(', ')}`,
          description: vscode.workspace.asRelativePath(s.file),
          detail: `${s.client} · ${s.keys.map((k) => `${k.field} → ${k.credential}`).join(', ')}`,
          picked: true,
          server: s,
        })),
        {
          title: `Migrate MCP Configs: ${candidates.length} server(s) with literal keys`,
          placeHolder: 'Servers to move to Agent Keyring (values are never shown)',
          canPickMany: true,
          ignoreFocusOut: true,
        },
      );
      if (!picked || picked.length === 0) {
        return undefined;
      }
      const chosen = new Set(picked.map((p) => p.server));
      for (const s of candidates.filter((x) => !chosen.has(x))) {
        s.skipped = 'not picked';
      }
      const files = new Set(picked.map((p) => p.server.file));
      const ok = await vscode.window.showWarningMessage(
        `Migrate ${picked.length} server(s) in ${files.size} file(s)?`,
        {
          modal: true,
          detail:
            "Each key becomes a credential (one per distinct value), each client gets an agent, and each server is rewritten to start through agent-keyring run --mcp, which gets its key from this window's Agent Keyring server. New agents' tokens are saved for the rewritten servers (OS keyring, else a private file in the extension's storage), never in the files. The files are backed up without their values; Undo puts them back exactly.",
        },
        'Migrate',
      );
      if (ok !== 'Migrate') {
        return undefined;
      }
    }
    const url = ctx.server.url ?? mcpUrl(ctx.settings().port);
    const report = await applyMigration(keyring, plan, {
      launcher: launcher(),
      // --store names where `run --agent` finds the saved token (this extension's storage), so a
      // client outside VS Code (no token variable, its own AGENT_KEYRING_STORE) still presents the
      // token of this keyring to this keyring's server.
      runArgs: ['--url', url, '--store', stateDir],
      stateDir,
      ttlSeconds: ctx.settings().defaultTtlSeconds,
      now: () => new Date(),
    });
    ctx.refreshViews();
    const tokens = await saveTokens(ctx, report);
    const checks = await check(ctx, report, new Set(tokens.saved.keys()));
    logReport(ctx, report, checks);
    if (all) {
      return {
        plan,
        files: report.files,
        servers: report.servers,
        checks,
        backup: report.backup,
        tokens: Object.fromEntries(report.tokens.map((t) => [t.variable, t.token.reveal()])),
        saved: Object.fromEntries(tokens.saved),
        unsaved: tokens.unsaved,
      };
    }
    // Only a token that could not be saved is shown (once), for the person to put it in place.
    for (const t of report.tokens.filter((x) => !tokens.saved.has(x.agent))) {
      await showClientToken(t.agent, t.variable, t.token.reveal());
    }
    const ok = checks.filter((c) => c.status === 'ok').length;
    const failed =
      report.files.filter((f) => f.status === 'failed').length +
      checks.filter((c) => c.status === 'failed').length;
    void vscode.window
      .showInformationMessage(
        `Agent Keyring: migrated ${report.servers.filter((s) => s.status === 'rewritten').length} server(s) in ${report.files.filter((f) => f.status === 'written').length} file(s); ${ok} started and listed their tools${failed > 0 ? `, ${failed} failed` : ''}.${tokens.unsaved.length > 0 ? ` No saved token for ${tokens.unsaved.map((a) => `'${a}'`).join(', ')}: see the log.` : ''}`,
        SHOW_LOG,
        UNDO,
      )
      .then(async (a) => {
        if (a === SHOW_LOG) {
          ctx.showLog();
        } else if (a === UNDO) {
          await undo(ctx, stateDir);
        }
      });
    return { plan, files: report.files, servers: report.servers, checks, backup: report.backup };
  };
}

/**
 * New agents' tokens are saved where the rewritten entries' `run --agent … --store <storage>` looks;
 * an agent that existed already is looked up there. `saved`: agent → where; `unsaved`: the agents
 * whose servers need the token variable in the client's environment (said in the log). Never throws;
 * never logs a token.
 */
async function saveTokens(
  ctx: CommandContext,
  report: MigrationReport,
): Promise<{ saved: Map<string, TokenLocation>; unsaved: string[] }> {
  const store = savedTokensFor(ctx);
  const saved = new Map<string, TokenLocation>();
  const unsaved: string[] = [];
  const agents = [...new Set(report.servers.filter((s) => s.status === 'rewritten').map((s) => s.agent))];
  for (const agent of agents) {
    const made = report.tokens.find((t) => t.agent === agent);
    try {
      const location = made ? await store.save(agent, made.token) : (await store.load(agent))?.location;
      if (location) {
        saved.set(agent, location);
        ctx.logger.info(
          `Migrate MCP configs: ${made ? 'saved the new token' : 'found the saved token'} of '${agent}' in ${describeLocation(location)}.`,
        );
        continue;
      }
    } catch (e) {
      ctx.logger.warn(
        `Migrate MCP configs: the token of '${agent}' could not be ${made ? 'saved' : 'read'} (${isKeyringError(e) ? e.message : 'unexpected error'}).`,
      );
    }
    unsaved.push(agent);
    const variable = report.servers.find((s) => s.agent === agent)?.token_variable ?? agent;
    ctx.logger.warn(
      `Migrate MCP configs: no saved token for '${agent}': its rewritten servers start only where ${variable} is set to its token (or give it a new token with Connect Agent…, which saves it).`,
    );
  }
  return { saved, unsaved };
}

/**
 * Starts each rewritten server through this window's server (it must be running); those of an
 * agent with a saved token start with no token variable, as a client outside VS Code starts them.
 */
async function check(
  ctx: CommandContext,
  report: MigrationReport,
  savedTokens: ReadonlySet<string>,
): Promise<ServerCheck[]> {
  const rewritten = report.servers.filter((s) => s.status === 'rewritten');
  if (!ctx.server.url) {
    return rewritten.map((s) => ({
      file: s.file,
      server: s.server,
      status: 'not checked' as const,
      reason:
        'the Agent Keyring server is not running in this window: Start Server, then the servers get their keys',
    }));
  }
  // The SDK client lives in server.js, loaded here on demand like the server itself.
  const { probeStdioServer } = await import('../../core/mcp/http.js');
  return checkMigratedServers(report, {
    env: process.env,
    timeoutMs: 20_000,
    probe: probeStdioServer,
    savedTokens,
  });
}

function logReport(ctx: CommandContext, report: MigrationReport, checks: ServerCheck[]): void {
  for (const f of report.files) {
    ctx.logger.info(`Migrate MCP configs: ${f.file}: ${f.status}${f.reason ? ` (${f.reason})` : ''}.`);
  }
  for (const c of checks) {
    ctx.logger.info(
      `Migrate MCP configs: ${c.server} (${c.file}): ${c.status}${c.tools !== undefined ? `, ${c.tools} tools` : ''}${c.reason ? ` — ${c.reason}` : ''}.`,
    );
  }
  if (report.backup) {
    ctx.logger.info(`Migrate MCP configs: backup without values in ${report.backup}.`);
  }
}

async function showClientToken(agent: string, variable: string, token: string): Promise<void> {
  const choice = await vscode.window.showInformationMessage(
    `Agent '${agent}' added for its MCP servers. Copy its token now: it is shown only this once.`,
    {
      modal: true,
      detail: [
        `Token: ${token}`,
        '',
        `It could not be saved for the rewritten servers (see the log): set ${variable} to it in the environment that starts ${agent} (e.g. your shell profile); they read it from there.`,
      ].join('\n'),
    },
    COPY,
  );
  if (choice === COPY) {
    await vscode.env.clipboard.writeText(token);
    vscode.window.setStatusBarMessage(`$(copy) Token of '${agent}' copied`, 5_000);
  }
}

async function undo(ctx: CommandContext, stateDir: string): Promise<unknown> {
  const r = await undoMigration(keyringAdapter(ctx.keyring, ACTOR), stateDir);
  for (const f of r.files) {
    ctx.logger.info(`Undo MCP config migration: ${f.file}: ${f.status}${f.reason ? ` (${f.reason})` : ''}.`);
  }
  ctx.refreshViews();
  if (!ctx.testMode) {
    const failed = r.files.filter((f) => f.status === 'failed');
    void vscode.window.showInformationMessage(
      !r.backup
        ? 'Agent Keyring: no MCP config migration to undo.'
        : `Agent Keyring: ${r.files.filter((f) => f.status === 'restored').length} file(s) restored${failed.length > 0 ? `, ${failed.length} not (see the log)` : ''}. The credentials and agents stay.`,
    );
  }
  return r;
}
