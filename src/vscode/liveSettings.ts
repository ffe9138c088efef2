/**
 * The `agentKeyring.*` settings as last read, and what a change of them does while running: the
 * anomaly settings go to the anomaly engine at once, a new port restarts a running server on it, a
 * new store setting reopens the keyring on that store.
 * Each bad setting is named in a warning (and the log) and its default used.
 */
import * as vscode from 'vscode';
import type { AnomalyEngine } from '../core/policy/anomalyEngine';
import type { Logger } from '../core/ports';
import type { StoreChoice } from '../core/store/postgres/teamStoreSetting';
import type { ServerController } from './server/serverController';
import { reportState } from './server/serverReport';
import { ANOMALY_SETTINGS, CONFIG_SECTION, Setting, fullName, readSettings, type Settings } from './settings';

/** What a settings change reaches. */
export interface SettingsTargets {
  anomaly: Pick<AnomalyEngine, 'setConfig'>;
  /** The current store's server (none while not connected to a store). */
  server: () => ServerController | undefined;
  /** Opens the keyring on another store. */
  store: (choice: StoreChoice) => void;
}

export class LiveSettings {
  #current: Settings;

  constructor(private readonly logger: Logger) {
    this.#current = loadSettings(logger);
  }

  /** The settings as last read (after validation). */
  get current(): Settings {
    return this.#current;
  }

  /** Re-reads the settings on each change of `agentKeyring.*` and applies it to `targets`. */
  applyChangesTo(targets: SettingsTargets): vscode.Disposable {
    return vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration(CONFIG_SECTION)) {
        return;
      }
      this.#current = loadSettings(this.logger);
      if (ANOMALY_SETTINGS.some((s) => e.affectsConfiguration(fullName(s)))) {
        targets.anomaly.setConfig(this.#current.anomaly);
        this.logger.info('Anomaly settings applied.');
      }
      if (e.affectsConfiguration(fullName(Setting.store))) {
        targets.store(this.#current.store);
        return; // the new store's server starts on the current port
      }
      const server = targets.server();
      if (server && e.affectsConfiguration(fullName(Setting.port)) && server.state.kind !== 'stopped') {
        void server.start(this.#current.port).then((s) => reportState(s, server, this.logger));
      }
    });
  }
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
