/**
 * Composition root of the VS Code extension: `activate()` only wires the parts together — the
 * editor's keyring (`vscode/editorKeyring.ts`, which holds the startup-speed choreography), the
 * MCP server (`vscode/server/`), the views, the commands, the status bar, the settings
 * (`vscode/liveSettings.ts`) — and registers them for disposal. The adapters are in `src/vscode/`,
 * the logic in `src/core/`; ARCHITECTURE.md has the layers.
 */
import { createHash } from 'node:crypto';
import * as vscode from 'vscode';
import type { Keyring } from './core/keyring';
import type { StoreChoice } from './core/store/postgres/teamStoreSetting';
import { SecretValue } from './core/model';
import type { Logger, SecretBackend } from './core/ports';
import { NotificationAlerts, ModalApprover, type AlertTarget } from './vscode/approvalPrompt';
import { registerCommands } from './vscode/commands/index';
import { EditorKeyring, errorText, type OpenedKeyring } from './vscode/editorKeyring';
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
import { registerStoreCommands, type StoreStatus } from './vscode/teamStore';
import type { VscodeAgentTokens } from './vscode/vscodeAgent';
import type { EditorViews } from './vscode/views/registerViews';
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
  /** The current store's keyring (after a store switch, the new one); throws while not connected. */
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
  /** The status bar item's text and tooltip (also while not connected to a store). */
  readonly statusBar: { readonly text: string; readonly tooltip: string };
  /** Which store this window uses now, and why it is not connected (if it is not). */
  store(): StoreStatus;
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

/** What lives as long as the window: made once in `activate()`, used by every store session. */
interface WindowParts {
  context: vscode.ExtensionContext;
  editorKeyring: EditorKeyring;
  channel: vscode.LogOutputChannel;
  logger: OutputLogger;
  settings: LiveSettings;
  approver: ModalApprover;
  alerts: NotificationAlerts;
  showInAudit: vscode.EventEmitter<AlertTarget>;
  testMode: boolean;
}

/** Everything wired to one store: closed and rebuilt when the store setting changes. */
interface Session {
  choice: StoreChoice;
  /** Undefined while not connected (then `reason` says why and every command says so). */
  parts?: {
    keyring: Keyring;
    server: ServerController;
    views: EditorViews;
    statusBar: StatusBar;
    serverStarted: Promise<void>;
    vscodeAgent: VscodeAgentTokens;
  };
  reason?: string;
  statusText(): { text: string; tooltip: string };
  close(): Promise<void>;
}

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
  const window: WindowParts = {
    context,
    editorKeyring,
    channel,
    logger,
    settings,
    approver,
    alerts,
    showInAudit,
    testMode,
  };

  // One store at a time; a change of the store setting closes this session and opens the next one
  // without a window reload (one switch at a time, in order).
  let session = await openSession(window, settings.current.store, startedAt);
  let switching: Promise<void> = Promise.resolve();
  const switchTo = (choice: StoreChoice, force = false): Promise<StoreStatus> => {
    const next = switching.then(async () => {
      if (!force && sameStore(session.choice, choice) && session.parts) {
        return;
      }
      const from = session.choice.label;
      const t0 = performance.now();
      await session.close();
      session = await openSession(window, choice, t0);
      logger.info(
        `Switched the store from ${from} to ${choice.label} in ${(performance.now() - t0).toFixed(1)} ms${session.parts ? '' : ' (not connected)'}.`,
      );
    });
    switching = next.catch((e: unknown) => logger.error(`Could not switch the store: ${errorText(e)}`));
    return next.then(() => statusOf(session));
  };
  disposables.add(
    settings.applyChangesTo({
      anomaly: { setConfig: (c) => session.parts?.keyring.anomaly.setConfig(c) },
      server: () => session.parts?.server,
      store: (choice) => void switchTo(choice),
    }),
  );
  disposables.add(
    registerStoreCommands({
      secrets: editorKeyring.secrets,
      logger,
      testMode,
      current: () => statusOf(session),
      switchTo,
    }),
  );
  closeRunning = async () => {
    await switching;
    await session.close();
    disposables.dispose();
  };
  logger.info(`Activated in ${(performance.now() - startedAt).toFixed(1)} ms.`);

  if (!testMode) {
    return undefined;
  }
  // The suite drives a fully started extension: its activateExtension() resolves once the server
  // has started (the figures above are logged either way).
  await Promise.all([session.parts?.serverStarted, session.parts?.vscodeAgent.get().catch(() => undefined)]);
  const parts = (): NonNullable<Session['parts']> => {
    if (!session.parts) {
      throw new Error(`Agent Keyring is not connected to a store: ${session.reason ?? 'unknown reason'}`);
    }
    return session.parts;
  };
  return {
    secrets: editorKeyring.secrets,
    get keyring() {
      return parts().keyring;
    },
    get server() {
      return parts().server;
    },
    logger,
    logUri: context.logUri,
    get trees() {
      return parts().views.trees;
    },
    get auditView() {
      return parts().views.auditView;
    },
    approvals: { approver, alerts },
    statusBar: {
      get text() {
        return session.statusText().text;
      },
      get tooltip() {
        return session.statusText().tooltip;
      },
    },
    store: () => statusOf(session),
    settings: () => settings.current,
    SecretValue,
  };
}

/**
 * Opens `choice` and wires everything that works on it: server, views, commands, status bar, the
 * MCP definition. When the store cannot be opened, the session is "not connected": every command
 * and the status bar say why, and nothing runs on another store instead.
 */
async function openSession(window: WindowParts, choice: StoreChoice, startedAt: number): Promise<Session> {
  const { context, editorKeyring, channel, logger, settings, approver, alerts, testMode } = window;
  const disposables = new DisposableStore();
  let opened: OpenedKeyring;
  try {
    opened = await editorKeyring.open(
      { logger, anomaly: settings.current.anomaly, approver, alerts, disposables },
      choice,
    );
  } catch (e) {
    const reason = errorText(e);
    const status = answerCommandsWithStartupError(choice, reason, channel, logger, disposables);
    return {
      choice,
      reason,
      statusText: () => ({ text: status.text, tooltip: tooltipText(status.tooltip) }),
      close: () => Promise.resolve(disposables.dispose()),
    };
  }
  const { keyring, vscodeAgent, attachProofKey } = opened;
  const server = disposables.add(
    new ServerController(keyring.service, logger, {
      proofKey: attachProofKey,
      onEditorRefused: editorTokenRefusedNotifier(logger, vscodeAgent.id),
    }),
  );
  const views = registerViews({
    keyring,
    secrets: opened.valueChanges,
    logger,
    extensionUri: context.extensionUri,
    record: testMode,
    onAuditShown: () => alerts.markAllSeen(),
    disposables,
  });
  disposables.add(window.showInAudit.event((t) => void views.auditView.reveal(t)));
  const store = {
    label: opened.storeLabel,
    agentId: vscodeAgent.id,
    probe: opened.storeProbe,
  };
  const statusBar = disposables.add(new StatusBar(server, [approver, alerts], store));
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
      store: { label: store.label, agentId: store.agentId, health: () => statusBar.storeProblem },
      testMode,
    }),
  );
  // Another store is another server for VS Code's MCP client: a new definition version makes it
  // resolve the definition again (with this store's token) instead of going on with the old one.
  const storeTag =
    choice.kind === 'team'
      ? `+store.${createHash('sha256').update(choice.url).digest('hex').slice(0, 8)}`
      : '';
  disposables.add(publishToEditor(server, vscodeAgent, `${extensionVersion(context)}${storeTag}`, logger));
  const serverStarted = startServerAfterActivation({
    server,
    port: () => settings.current.port,
    auditKeyStored: opened.auditKeyStored,
    stopped: () => disposables.isDisposed,
    logger,
    startedAt,
  }).catch((e: unknown) => logger.error(`Could not start the MCP server: ${errorText(e)}`));
  let closing: Promise<void> | undefined;
  return {
    choice,
    parts: { keyring, server, views, statusBar, serverStarted, vscodeAgent },
    statusText: () => ({ text: statusBar.text, tooltip: statusBar.tooltip }),
    close: () =>
      (closing ??= (async () => {
        // Server first (no new requests), then flush the audit, then the store and the views. A
        // failure (a team store's database gone) is logged: the next store must still open.
        await serverStarted;
        await server.close().catch((e: unknown) => logger.warn(`Closing the MCP server: ${errorText(e)}`));
        await keyring.close().catch((e: unknown) => logger.warn(`Closing the keyring: ${errorText(e)}`));
        disposables.dispose();
      })()),
  };
}

function statusOf(session: Session): StoreStatus {
  return {
    store: session.choice.label,
    connected: session.parts !== undefined,
    ...(session.reason ? { reason: session.reason } : {}),
    ...(session.parts ? { agentId: session.parts.vscodeAgent.id } : {}),
  };
}

/** Same store (a bad setting is never the same: its reason may have changed). */
function sameStore(a: StoreChoice, b: StoreChoice): boolean {
  return (
    (a.kind === 'local' && b.kind === 'local') || (a.kind === 'team' && b.kind === 'team' && a.url === b.url)
  );
}

function tooltipText(t: string | vscode.MarkdownString | undefined): string {
  return typeof t === 'string' ? t : (t?.value ?? '');
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
