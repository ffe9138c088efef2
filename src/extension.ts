/**
 * Composition root of the VS Code extension: builds the keyring over SecretStorage (values) and a
 * metadata file in global storage, starts the MCP HTTP host on `agentKeyring.port`, publishes it
 * to in-editor agents as an MCP server definition and registers the commands. Nothing else lives
 * here; the adapters are in `src/vscode/`, the logic in `src/core/`.
 */
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { createKeyring, type Keyring } from './core/keyring';
import { SecretValue } from './core/model';
import type { Logger, SecretBackend } from './core/ports';
import { SYSTEM_CLOCK } from './core/ports';
import { FileMetadataStore } from './core/store/fileMetadataStore';
import { NotificationAlerts, ModalApprover } from './vscode/approvalPrompt';
import { ALL_COMMAND_IDS, CommandId } from './vscode/commands/commandIds';
import { DisposableStore } from './vscode/lifecycle';
import { registerMcpProvider } from './vscode/mcpProvider';
import { OutputLogger } from './vscode/outputLogger';
import { SecretStorageBackend } from './vscode/secretStorageBackend';
import { ServerController, type ServerState } from './vscode/serverController';
import { ensureVscodeAgentToken } from './vscode/vscodeAgent';

export const DEFAULT_PORT = 47017;
const CONFIG_SECTION = 'agentKeyring';
const PORT_SETTING = 'port';

/**
 * Returned by `activate` only when the extension runs under test (`ExtensionMode.Test`): the
 * integration suite seeds credentials and checks SecretStorage through it. In normal use
 * `activate` returns nothing, so no other extension can reach the keyring through `exports`.
 */
export interface AgentKeyringTestApi {
  readonly secrets: SecretBackend;
  readonly keyring: Keyring;
  readonly server: ServerController;
  readonly logger: Logger;
  /** The bundle's own class: the core checks `instanceof SecretValue`, so tests must use this one. */
  readonly SecretValue: typeof SecretValue;
}

/** Commands registered but not built yet: they say so instead of failing with "command not found". */
const NOT_YET: Partial<Record<CommandId, string>> = {
  [CommandId.addCredential]: 'Add Credential',
  [CommandId.editScopes]: 'Edit Scopes…',
  [CommandId.rotateCredential]: 'Rotate Credential',
  [CommandId.revokeCredential]: 'Revoke Credential',
  [CommandId.addAgent]: 'Add Agent',
  [CommandId.revokeAgent]: 'Revoke Agent',
};

/**
 * What `deactivate()` must close. The one module-level variable: VS Code calls `deactivate`
 * without arguments, and it must return the promise that closes the server and flushes the audit.
 */
let closeRunning: (() => Promise<void>) | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<AgentKeyringTestApi | undefined> {
  const disposables = new DisposableStore();
  context.subscriptions.push(disposables);
  const channel = disposables.add(vscode.window.createOutputChannel('Agent Keyring', { log: true }));
  const logger = new OutputLogger(channel);

  let keyring: Keyring;
  const secrets = new SecretStorageBackend(context.secrets);
  try {
    const dir = context.globalStorageUri.fsPath;
    await fs.mkdir(dir, { recursive: true });
    const metadata = disposables.add(new FileMetadataStore(dir, { logger }));
    keyring = await createKeyring({
      metadata,
      secrets,
      auditPath: path.join(dir, 'audit.jsonl'),
      clock: SYSTEM_CLOCK,
      logger,
      approver: new ModalApprover(logger),
      alerts: new NotificationAlerts(),
    });
    await ensureVscodeAgentToken(keyring.store, secrets, logger);
  } catch (e) {
    // Keep the commands answering (with the reason) rather than "command not found".
    const message = e instanceof Error ? e.message : String(e);
    logger.error(`Agent Keyring could not start: ${message}`);
    for (const id of ALL_COMMAND_IDS) {
      disposables.add(vscode.commands.registerCommand(id, () => showStartupError(message, channel)));
    }
    void showStartupError(message, channel);
    return undefined;
  }

  const server = disposables.add(new ServerController(keyring.service, logger));
  const runCommand = (id: CommandId, fn: () => Promise<unknown>): void => {
    disposables.add(
      vscode.commands.registerCommand(id, async () => {
        try {
          await fn();
        } catch (e) {
          const message = e instanceof Error ? e.message : String(e);
          logger.error(`Command ${id} failed: ${message}`);
          void vscode.window
            .showErrorMessage(`Agent Keyring: ${message}`, 'Show Log')
            .then((a) => a && channel.show());
        }
      }),
    );
  };

  runCommand(CommandId.startServer, async () => {
    const state = await server.start(configuredPort(logger));
    await reportState(state, server, logger);
  });
  runCommand(CommandId.stopServer, async () => {
    await server.stop();
    void vscode.window.showInformationMessage(
      'Agent Keyring: the MCP server is stopped. Agents cannot get credentials until you start it.',
    );
  });
  runCommand(CommandId.showStatus, async () => {
    const [credentials, agents] = await Promise.all([
      keyring.store.listCredentials(),
      keyring.store.listAgents(),
    ]);
    const live = agents.filter((a) => !a.revoked_at).length;
    void vscode.window.showInformationMessage(
      `Agent Keyring: ${describeState(server.state)} ${credentials.length} credential(s), ${live} agent(s).`,
    );
  });
  for (const [id, title] of Object.entries(NOT_YET) as [CommandId, string][]) {
    runCommand(id, async () => {
      void vscode.window.showInformationMessage(`Agent Keyring: "${title}" is not available yet.`);
    });
  }

  // Start before publishing the definition, so VS Code's first query already gets the URL.
  const state = await server.start(configuredPort(logger));
  void reportState(state, server, logger, { quietWhenFine: true });

  const pkgVersion = (context.extension.packageJSON as { version?: unknown }).version;
  const version = typeof pkgVersion === 'string' ? pkgVersion : '0.0.0';
  disposables.add(
    registerMcpProvider({
      server,
      version,
      token: async () => {
        const t = await ensureVscodeAgentToken(keyring.store, secrets, logger);
        return t.state === 'ok' ? t.token : undefined;
      },
      explain: (message) => void vscode.window.showWarningMessage(`Agent Keyring: ${message}`),
      logger,
    }),
  );

  disposables.add(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(`${CONFIG_SECTION}.${PORT_SETTING}`) && server.state.kind !== 'stopped') {
        void server.start(configuredPort(logger)).then((s) => reportState(s, server, logger));
      }
    }),
  );

  closeRunning = async () => {
    // Server first (no new requests), then flush the audit, then the store and the log channel.
    await server.close();
    await keyring.close();
    disposables.dispose();
  };

  return context.extensionMode === vscode.ExtensionMode.Test
    ? { secrets, keyring, server, logger, SecretValue }
    : undefined;
}

/** Closes the MCP server and flushes the audit log. */
export async function deactivate(): Promise<void> {
  const close = closeRunning;
  closeRunning = undefined;
  await close?.();
}

function configuredPort(logger: Logger): number {
  const value = vscode.workspace.getConfiguration(CONFIG_SECTION).get<unknown>(PORT_SETTING, DEFAULT_PORT);
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535) {
    return value;
  }
  logger.warn(
    `Setting ${CONFIG_SECTION}.${PORT_SETTING} must be a whole number from 1 to 65535; using ${DEFAULT_PORT}.`,
  );
  return DEFAULT_PORT;
}

function describeState(state: ServerState): string {
  switch (state.kind) {
    case 'running':
      return `serving ${state.url}.`;
    case 'attached':
      return `using the server of another window at ${state.url}.`;
    case 'starting':
      return `starting on port ${state.port}.`;
    case 'stopped':
      return 'the server is stopped.';
    case 'portInUse':
      return `port ${state.port} is used by another program, so the server is not running.`;
    case 'failed':
      return `the server failed to start: ${state.message}`;
  }
}

async function reportState(
  state: ServerState,
  server: ServerController,
  logger: Logger,
  opts: { quietWhenFine?: boolean } = {},
): Promise<void> {
  if (state.kind === 'portInUse') {
    const other = await freePort();
    const use = `Use Port ${other}`;
    const choice = await vscode.window.showWarningMessage(
      `Agent Keyring: port ${state.port} is used by another program, so agents cannot reach Agent Keyring. Choose another port (agents' configs must use it too).`,
      use,
      'Open Settings',
    );
    if (choice === use) {
      await vscode.workspace
        .getConfiguration(CONFIG_SECTION)
        .update(PORT_SETTING, other, vscode.ConfigurationTarget.Global);
      logger.info(`Port changed to ${other} from the port-in-use prompt.`);
      if (server.state.kind === 'portInUse') {
        await server.start(other);
      }
    } else if (choice === 'Open Settings') {
      await vscode.commands.executeCommand(
        'workbench.action.openSettings',
        `${CONFIG_SECTION}.${PORT_SETTING}`,
      );
    }
    return;
  }
  if (state.kind === 'failed') {
    void vscode.window.showErrorMessage(`Agent Keyring: ${describeState(state)}`);
    return;
  }
  if (!opts.quietWhenFine) {
    void vscode.window.showInformationMessage(`Agent Keyring: ${describeState(state)}`);
  }
}

async function showStartupError(message: string, channel: vscode.LogOutputChannel): Promise<void> {
  const choice = await vscode.window.showErrorMessage(
    `Agent Keyring could not start: ${message} Fix the cause, then run "Developer: Reload Window".`,
    'Show Log',
  );
  if (choice) {
    channel.show();
  }
}

/** A port that is free right now on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
