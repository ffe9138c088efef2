/**
 * Composition root of the VS Code extension: `activate()` only wires the parts together — the
 * editor's keyring (`vscode/editorKeyring.ts`, which holds the startup-speed choreography), the
 * MCP server (`vscode/server/`), the views, the commands, the status bar, the settings
 * (`vscode/liveSettings.ts`) — and registers them for disposal. The adapters are in `src/vscode/`,
 * the logic in `src/core/`; ARCHITECTURE.md has the layers.
 */
import * as vscode from 'vscode';
import type { Keyring } from './core/keyring';
import { SecretValue } from './core/model';
import type { Logger, SecretBackend } from './core/ports';
import { NotificationAlerts, ModalApprover, type AlertTarget } from './vscode/approvalPrompt';
import { registerCommands } from './vscode/commands/index';
import { EditorKeyring, errorText } from './vscode/editorKeyring';
import { DisposableStore } from './vscode/lifecycle';
import { LiveSettings } from './vscode/liveSettings';
import { OutputLogger } from './vscode/outputLogger';
import { editorTokenRefusedNotifier } from './vscode/server/editorTokenRefused';
import { ServerController } from './vscode/server/serverController';
import { publishToEditor, startServerAfterActivation } from './vscode/server/editorServer';
import type { Settings } from './vscode/settings';
import { StatusBar } from './vscode/statusBar';
import type { AgentsTree } from './vscode/views/agentsTree';
import type { CredentialsTree } from './vscode/views/credentialsTree';
import { registerViews } from './vscode/views/registerViews';
import { answerCommandsWithStartupError } from './vscode/startupFailure';
import type { AuditViewProvider } from './vscode/webview/auditView';

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
  const editorKeyring = new EditorKeyring(context); // first: starts the SecretStorage reads
  const disposables = new DisposableStore();
  context.subscriptions.push(disposables);
  const channel = disposables.add(vscode.window.createOutputChannel('Agent Keyring', { log: true }));
  const logger = new OutputLogger(channel);
  const testMode = context.extensionMode === vscode.ExtensionMode.Test;
  const settings = new LiveSettings(logger);
  const approver = disposables.add(
    new ModalApprover(logger, () => settings.current.approvalTimeoutSeconds * 1000),
  );
  // "Show in Audit" on an alert reveals its event in the Audit view, once there is one.
  const showInAudit = disposables.add(new vscode.EventEmitter<AlertTarget>());
  const alerts = disposables.add(new NotificationAlerts({ reveal: (t) => showInAudit.fire(t) }));

  const opened = await editorKeyring
    .open({ logger, anomaly: settings.current.anomaly, approver, alerts, disposables })
    .catch((e: unknown) => answerCommandsWithStartupError(errorText(e), channel, logger, disposables));
  if (!opened) {
    return undefined;
  }
  const { keyring, vscodeAgent, attachProofKey } = opened;
  const { secrets } = editorKeyring;
  const server = disposables.add(
    new ServerController(keyring.service, logger, {
      proofKey: attachProofKey,
      onEditorRefused: editorTokenRefusedNotifier(logger),
    }),
  );
  const views = registerViews({
    keyring,
    secrets,
    logger,
    extensionUri: context.extensionUri,
    record: testMode,
    onAuditShown: () => alerts.markAllSeen(),
    disposables,
  });
  disposables.add(showInAudit.event((t) => void views.auditView.reveal(t)));
  disposables.add(
    registerCommands({
      keyring,
      logger,
      server,
      settings: () => settings.current,
      refreshViews: views.refresh,
      showLog: () => channel.show(),
      openAuditInEditor: () => views.auditView.openInEditor(),
      vscodeAgent,
      testMode,
    }),
  );
  const statusBar = disposables.add(new StatusBar(server, [approver, alerts]));
  disposables.add(publishToEditor(server, vscodeAgent, extensionVersion(context), logger));
  disposables.add(settings.applyChangesTo({ anomaly: keyring.anomaly, server }));
  closeRunning = async () => {
    // Server first (no new requests), then flush the audit, then the store and the log channel.
    await server.close();
    await keyring.close();
    disposables.dispose();
  };
  logger.info(`Activated in ${(performance.now() - startedAt).toFixed(1)} ms.`);

  const serverStarted = startServerAfterActivation({
    server,
    port: () => settings.current.port,
    auditKeyStored: opened.auditKeyStored,
    stopped: () => disposables.isDisposed,
    logger,
    startedAt,
  }).catch((e: unknown) => logger.error(`Could not start the MCP server: ${errorText(e)}`));
  if (!testMode) {
    return undefined;
  }
  // The suite drives a fully started extension: its activateExtension() resolves once the server
  // has started (the figures above are logged either way).
  await Promise.all([serverStarted, vscodeAgent.get().catch(() => undefined)]);
  return {
    secrets,
    keyring,
    server,
    logger,
    logUri: context.logUri,
    trees: views.trees,
    auditView: views.auditView,
    approvals: { approver, alerts },
    statusBar,
    settings: () => settings.current,
    SecretValue,
  };
}

/** Closes the MCP server and flushes the audit log. */
export async function deactivate(): Promise<void> {
  const close = closeRunning;
  closeRunning = undefined;
  await close?.();
}

function extensionVersion(context: vscode.ExtensionContext): string {
  const version = (context.extension.packageJSON as { version?: unknown }).version;
  return typeof version === 'string' ? version : '0.0.0';
}
