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
import { SecretValue } from './core/model';
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
import { SecretStorageBackend } from './vscode/secretStorageBackend';
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
import { ensureVscodeAgentToken } from './vscode/vscodeAgent';
import { AGENTS_VIEW_ID, AgentsTree } from './vscode/views/agentsTree';
import { exportAuditToFile, formatForPath, pickExportTarget } from './vscode/commands/exportAuditLog';
import { verifyAudit } from './vscode/commands/verifyAuditLog';
import { AUDIT_VIEW_ID, AuditViewProvider } from './vscode/webview/auditView';
import { CREDENTIALS_VIEW_ID, CredentialsTree } from './vscode/views/credentialsTree';

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
  const secrets = new SecretStorageBackend(context.secrets);
  try {
    const dir = context.globalStorageUri.fsPath;
    await fs.mkdir(dir, { recursive: true });
    const metadata = disposables.add(new FileMetadataStore(dir, { logger }));
    const store = new CredentialStore({ metadata, secrets, clock: SYSTEM_CLOCK, logger });
    const auditPath = path.join(dir, 'audit.jsonl');
    // Events stamped before this moment are replayed below; later ones the engine sees live.
    const liveFrom = SYSTEM_CLOCK.now();
    // The audit key and the `vscode` agent's token are independent SecretStorage round trips
    // (each a hop to the window): wait for both at once rather than one after the other.
    const [ring] = await Promise.all([
      createKeyring({
        metadata,
        secrets,
        store,
        auditPath,
        clock: SYSTEM_CLOCK,
        logger,
        anomalyConfig: settings.anomaly,
        approver,
        alerts,
        loadHistory: false,
      }),
      ensureVscodeAgentToken(store, secrets, logger),
    ]);
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
    const message = e instanceof Error ? e.message : String(e);
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
        store: keyring.store,
        clock: SYSTEM_CLOCK,
        changes: [(l) => secrets.onDidChange(() => l())],
      }),
    ),
    agents: disposables.add(new AgentsTree({ store: keyring.store, clock: SYSTEM_CLOCK })),
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
        agents: (await ring.store.listAgents()).map((a) => a.id).sort(),
        credentials: (await ring.store.listCredentials()).map((c) => c.name).sort(),
      }),
      verify: () => verifyAudit(ring.auditPath, logger),
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
      testMode,
    }),
  );

  // Start before publishing the definition, so VS Code's first query already gets the URL.
  const state = await server.start(settings.port);
  void reportState(state, server, logger, { quietWhenFine: true });
  const statusBar = disposables.add(new StatusBar(server, [approver, alerts]));

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
  return testMode
    ? {
        secrets,
        keyring,
        server,
        logger,
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
