/**
 * Composition root of the VS Code extension: builds the keyring over SecretStorage (values) and a
 * metadata file in global storage, starts the MCP HTTP host on `agentKeyring.port`, publishes it
 * to in-editor agents as an MCP server definition and registers the commands. Nothing else lives
 * here; the adapters are in `src/vscode/`, the logic in `src/core/`.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { createKeyring, replayAuditHistory, type Keyring } from './core/keyring';
import { AUDIT_KEY_SECRET, SecretValue } from './core/model';
import type { Logger, SecretBackend } from './core/ports';
import { SYSTEM_CLOCK } from './core/ports';
import { CredentialStore } from './core/store/credentialStore';
import { FileMetadataStore } from './core/store/fileMetadataStore';
import { NotificationAlerts, ModalApprover } from './vscode/approvalPrompt';
import { ALL_COMMAND_IDS } from './vscode/commands/commandIds';
import { registerCommands } from './vscode/commands/index';
import { DisposableStore } from './vscode/lifecycle';
import { registerMcpProvider } from './vscode/mcpProvider';
import { OutputLogger } from './vscode/outputLogger';
import { hostLoadMs } from './vscode/mcpHost';
import { SecretStorageBackend, StartupSecrets } from './vscode/secretStorageBackend';
import { ServerController } from './vscode/serverController';
import { reportState } from './vscode/serverReport';
import {
  ANOMALY_SETTINGS,
  CONFIG_SECTION,
  Setting,
  fullName,
  readSettings,
  type Settings,
} from './vscode/settings';
import { StatusBar } from './vscode/statusBar';
import { VSCODE_AGENT_TOKEN_KEY, VscodeAgentTokens } from './vscode/vscodeAgent';
import { AGENTS_VIEW_ID, AgentsTree } from './vscode/views/agentsTree';
import { exportAuditToFile, formatForPath, pickExportTarget } from './vscode/commands/exportAuditLog';
import { verifyAudit } from './vscode/commands/verifyAuditLog';
import { AUDIT_VIEW_ID, AuditViewProvider } from './vscode/webview/auditView';
import { CREDENTIALS_VIEW_ID, CredentialsTree } from './vscode/views/credentialsTree';
import { trackContextKeys } from './vscode/contextKeys';

export { DEFAULT_PORT } from './vscode/settings';

/**
 * Returned by `activate` only when the extension runs under test (`ExtensionMode.Test`): the
 * integration suite seeds credentials, checks SecretStorage and reads the views through it. In
 * normal use `activate` returns nothing, so no other extension can reach the keyring through
 * `exports`.
 */
export interface AgentKeyringTestApi {
  readonly secrets: SecretBackend;
  readonly keyring: Keyring;
  readonly server: ServerController;
  readonly logger: Logger;
  /** The extension's log folder: the log channel's file (`Agent Keyring.log`) is in it. */
  readonly logUri: vscode.Uri;
  readonly trees: { credentials: CredentialsTree; agents: AgentsTree };
  /** The Audit webview view: its message handler (`openSession`) and, under test, what crossed. */
  readonly auditView: AuditViewProvider;
  /** The approval modal and alert notifications, with test overrides for their UI. */
  readonly approvals: { approver: ModalApprover; alerts: NotificationAlerts };
  readonly statusBar: StatusBar;
  /** The settings as last read (after validation). */
  settings(): Settings;
  /** The bundle's own class: the core checks `instanceof SecretValue`, so tests must use this one. */
  readonly SecretValue: typeof SecretValue;
}

/**
 * What `deactivate()` must close. The one module-level variable: VS Code calls `deactivate`
 * without arguments, and it must return the promise that closes the server and flushes the audit.
 */
let closeRunning: (() => Promise<void>) | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<AgentKeyringTestApi | undefined> {
  const startedAt = performance.now();
  // Each SecretStorage call is a round trip to the window. The two reads activation needs start
  // now, side by side; the audit key, written only on first run, is written in the background.
  const secrets = new SecretStorageBackend(context.secrets);
  const startupSecrets = new StartupSecrets(secrets, {
    prefetch: [AUDIT_KEY_SECRET, VSCODE_AGENT_TOKEN_KEY],
    writeBehind: [AUDIT_KEY_SECRET],
  });
  const disposables = new DisposableStore();
  context.subscriptions.push(disposables);
  const channel = disposables.add(vscode.window.createOutputChannel('Agent Keyring', { log: true }));
  const logger = new OutputLogger(channel);
  const testMode = context.extensionMode === vscode.ExtensionMode.Test;

  let settings = loadSettings(logger);
  const approver = disposables.add(new ModalApprover(logger, () => settings.approvalTimeoutSeconds * 1000));
  // "Show in Audit" on an alert reveals its event in the Audit view (built once the keyring is).
  const auditViewRef: { current?: AuditViewProvider } = {};
  const alerts = disposables.add(
    new NotificationAlerts({ reveal: (t) => void auditViewRef.current?.reveal(t) }),
  );

  let keyring: Keyring;
  let vscodeAgent: VscodeAgentTokens;
  try {
    const dir = context.globalStorageUri.fsPath;
    await fs.mkdir(dir, { recursive: true });
    const metadata = disposables.add(new FileMetadataStore(dir, { logger }));
    const store = new CredentialStore({ metadata, secrets, clock: SYSTEM_CLOCK, logger });
    const auditPath = path.join(dir, 'audit.jsonl');
    // Events stamped before this moment are replayed below; later ones the engine sees live.
    const liveFrom = SYSTEM_CLOCK.now();
    // The `vscode` agent's token is needed only when VS Code starts our MCP server: check it (and
    // create the agent on first run) in the background. The MCP provider asks the same object,
    // which hands it this check while it runs, so no second token can be minted.
    vscodeAgent = new VscodeAgentTokens(store, startupSecrets, logger);
    void vscodeAgent
      .get()
      .catch((e: unknown) =>
        logger.error(`Could not set up the built-in agent 'vscode' for in-editor chat: ${errorText(e)}`),
      );
    const ring = await createKeyring({
      metadata,
      secrets: startupSecrets,
      store,
      auditPath,
      clock: SYSTEM_CLOCK,
      logger,
      anomalyConfig: settings.anomaly,
      approver,
      alerts,
      loadHistory: false,
      // The key's read is already under way and its first-run write happens in the background;
      // the server starts only once it is stored (see auditKeyStored below).
      deferAuditKey: true,
    });
    keyring = ring;
    // The learned-hours history is replayed from the audit log in the background, so a long log
    // does not hold up activation. Until it is in, the rules see only this session's requests: a
    // probing lockout (or usual hours) learned from earlier sessions applies a moment later.
    const anomaly = ring.anomaly;
    void replayAuditHistory(auditPath, anomaly, { beforeMs: liveFrom }).catch((e: unknown) =>
      logger.warn('Could not replay the audit history for the anomaly rules; they start from scratch.', e),
    );
  } catch (e) {
    // Keep the commands answering (with the reason) rather than "command not found".
    const message = errorText(e);
    logger.error(`Agent Keyring could not start: ${message}`);
    for (const id of ALL_COMMAND_IDS) {
      disposables.add(vscode.commands.registerCommand(id, () => showStartupError(message, channel)));
    }
    void showStartupError(message, channel);
    return undefined;
  }

  const server = disposables.add(new ServerController(keyring.service, logger));

  // Views: each repaints on its own sources; own commands repaint all of them at once.
  const trees = {
    credentials: disposables.add(
      new CredentialsTree({
        reader: keyring.admin,
        clock: SYSTEM_CLOCK,
        changes: [(l) => secrets.onDidChange(() => l())],
      }),
    ),
    agents: disposables.add(new AgentsTree({ reader: keyring.admin, clock: SYSTEM_CLOCK })),
  };
  disposables.add(
    vscode.window.createTreeView(CREDENTIALS_VIEW_ID, {
      treeDataProvider: trees.credentials,
      showCollapseAll: true,
    }),
  );
  disposables.add(
    vscode.window.createTreeView(AGENTS_VIEW_ID, { treeDataProvider: trees.agents, showCollapseAll: true }),
  );
  // The walkthrough ticks "Add a credential" / "Connect a CLI agent" on these (package.json).
  disposables.add(trackContextKeys(keyring.admin, logger));
  const ring = keyring;
  const auditView = disposables.add(
    new AuditViewProvider({
      audit: ring.audit,
      auditPath: ring.auditPath,
      logger,
      extensionUri: context.extensionUri,
      record: testMode,
      onShown: () => alerts.markAllSeen(),
      options: async () => ({
        agents: (await ring.admin.listAgents()).map((a) => a.id).sort(),
        credentials: (await ring.admin.listCredentials()).map((c) => c.name).sort(),
      }),
      verify: () => verifyAudit(ring.auditPath, logger, ring.audit),
      export: async (filter, format) => {
        const target = await pickExportTarget(format);
        if (!target) {
          return { ok: true, message: '' };
        }
        const count = await exportAuditToFile(ring.auditPath, target, formatForPath(target.path), filter);
        return { ok: true, message: `Exported ${count} event(s) to ${target.fsPath}.` };
      },
    }),
  );
  auditViewRef.current = auditView;
  disposables.add(vscode.window.registerWebviewViewProvider(AUDIT_VIEW_ID, auditView));
  const refreshViews = (): void => {
    trees.credentials.refresh();
    trees.agents.refresh();
  };

  disposables.add(
    registerCommands({
      keyring,
      logger,
      server,
      settings: () => settings,
      refreshViews,
      showLog: () => channel.show(),
      vscodeAgent,
      testMode,
    }),
  );

  const statusBar = disposables.add(new StatusBar(server, [approver, alerts]));

  const pkgVersion = (context.extension.packageJSON as { version?: unknown }).version;
  const version = typeof pkgVersion === 'string' ? pkgVersion : '0.0.0';
  // Published before the server listens: VS Code's first query gets no definition, and the
  // provider offers it as soon as the server's state changes to running (or attached).
  disposables.add(
    registerMcpProvider({
      server,
      version,
      token: async () => {
        const t = await vscodeAgent.get();
        return t.state === 'ok' ? t.token : undefined;
      },
      tokenGeneration: () => vscodeAgent.generation,
      onDidRenewToken: (listener) => vscodeAgent.onDidRenew(listener),
      explain: (message) => void vscode.window.showWarningMessage(`Agent Keyring: ${message}`),
      logger,
    }),
  );

  disposables.add(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration(CONFIG_SECTION)) {
        return;
      }
      settings = loadSettings(logger);
      if (ANOMALY_SETTINGS.some((s) => e.affectsConfiguration(fullName(s)))) {
        keyring.anomaly.setConfig(settings.anomaly);
        logger.info('Anomaly settings applied.');
      }
      if (e.affectsConfiguration(fullName(Setting.port)) && server.state.kind !== 'stopped') {
        void server.start(settings.port).then((s) => reportState(s, server, logger));
      }
    }),
  );

  closeRunning = async () => {
    // Server first (no new requests), then flush the audit, then the store and the log channel.
    await server.close();
    await keyring.close();
    disposables.dispose();
  };

  logger.info(`Activated in ${(performance.now() - startedAt).toFixed(1)} ms.`);

  // The server starts right after activation: loading its code (dist/server.js) and binding the
  // port happen once activate() has returned, and the log says when it was ready.
  const serverStarted = startServerAfterActivation({
    server,
    port: () => settings.port,
    auditKeyStored: () => startupSecrets.settled(),
    stopped: () => disposables.isDisposed,
    logger,
    startedAt,
  }).catch((e: unknown) => logger.error(`Could not start the MCP server: ${errorText(e)}`));
  if (testMode) {
    // The suite drives a fully started extension: its activateExtension() resolves once the
    // server has started (the figures above are logged either way).
    await Promise.all([serverStarted, vscodeAgent.get().catch(() => undefined)]);
  }
  return testMode
    ? {
        secrets,
        keyring,
        server,
        logger,
        logUri: context.logUri,
        trees,
        auditView,
        approvals: { approver, alerts },
        statusBar,
        settings: () => settings,
        SecretValue,
      }
    : undefined;
}

/** Closes the MCP server and flushes the audit log. */
export async function deactivate(): Promise<void> {
  const close = closeRunning;
  closeRunning = undefined;
  await close?.();
}

interface ServerStartDeps {
  server: ServerController;
  /** The configured port, read when the server starts (a change made meanwhile counts). */
  port(): number;
  /** Resolves once the audit key is in SecretStorage (first run writes it in the background). */
  auditKeyStored(): Promise<void>;
  /** True once the extension is being deactivated. */
  stopped(): boolean;
  logger: Logger;
  /** `performance.now()` when activate() was entered. */
  startedAt: number;
}

/**
 * Starts the MCP server on the turn after activation, and logs how long after the start of
 * activation it was ready. No credential is released before the audit key is stored: if that
 * write failed, the server is not started and the person is told.
 */
async function startServerAfterActivation(deps: ServerStartDeps): Promise<void> {
  const { server, logger } = deps;
  await new Promise<void>((resolve) => setImmediate(resolve));
  try {
    await deps.auditKeyStored();
  } catch (e) {
    const message = `Could not store the audit key in SecretStorage (${errorText(e)}), so the MCP server was not started.`;
    logger.error(message);
    void vscode.window.showErrorMessage(
      `Agent Keyring: ${message} Fix the cause, then run "Developer: Reload Window".`,
    );
    return;
  }
  if (deps.stopped()) {
    return;
  }
  const state = await server.start(deps.port());
  const since = `${(performance.now() - deps.startedAt).toFixed(1)} ms since activation start`;
  const loaded = hostLoadMs();
  const code = loaded === undefined ? '' : ` (server code loaded in ${loaded.toFixed(1)} ms)`;
  logger.info(
    state.kind === 'running'
      ? `MCP server listening in ${since}${code}.`
      : `MCP server not listening (${state.kind}), ${since}${code}.`,
  );
  void reportState(state, server, logger, { quietWhenFine: true });
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Reads the settings; each bad one is named in a warning (and the log) and its default used. */
function loadSettings(logger: Logger): Settings {
  const { settings, problems } = readSettings();
  for (const p of problems) {
    logger.warn(p);
    void vscode.window.showWarningMessage(`Agent Keyring: ${p}`, 'Open Settings').then((a) => {
      if (a) {
        void vscode.commands.executeCommand('workbench.action.openSettings', CONFIG_SECTION);
      }
    });
  }
  return settings;
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
