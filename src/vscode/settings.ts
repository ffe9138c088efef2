/**
 * The `agentKeyring.*` settings, read and validated in one place. Anomaly settings go through the
 * core's `parseAnomalyConfig`, one setting at a time: a bad value costs only that setting (its
 * default is used) and a warning names it.
 */
import * as vscode from 'vscode';
import { DEFAULT_PORT, MAX_TTL_SECONDS } from '../core/limits';
import { DEFAULT_ANOMALY_CONFIG, DEFAULT_TTL_SECONDS, type AnomalyConfig } from '../core/model';
import { parseAnomalyConfig } from '../core/policy/anomalyEngine';
import { parseStoreSetting, type StoreChoice } from '../core/store/postgres/teamStoreSetting';

export const CONFIG_SECTION = 'agentKeyring';
export { DEFAULT_PORT } from '../core/limits';
export const DEFAULT_APPROVAL_TIMEOUT_SECONDS = 120;

export const Setting = {
  port: 'port',
  defaultTtlSeconds: 'defaultTtlSeconds',
  approvalTimeoutSeconds: 'approvalTimeoutSeconds',
  anomalyActions: 'anomaly.actions',
  anomalySensitiveScopes: 'anomaly.sensitiveScopes',
  anomalyBurstPerMinute: 'anomaly.burstPerMinute',
  store: 'store',
} as const;

/** The editor's own store (the default). */
export const LOCAL_STORE: StoreChoice = { kind: 'local', label: 'local' };

/** Settings whose change must reach the anomaly engine. */
export const ANOMALY_SETTINGS: readonly string[] = [
  Setting.anomalyActions,
  Setting.anomalySensitiveScopes,
  Setting.anomalyBurstPerMinute,
];

export interface Settings {
  port: number;
  defaultTtlSeconds: number;
  approvalTimeoutSeconds: number;
  anomaly: AnomalyConfig;
  /** Which store this editor uses: its own, a team store, or (a bad setting) none. */
  store: StoreChoice;
}

export interface ReadSettings {
  settings: Settings;
  /** One sentence per bad setting, naming it (`agentKeyring.anomaly.burstPerMinute …`). */
  problems: string[];
}

export function fullName(setting: string): string {
  return `${CONFIG_SECTION}.${setting}`;
}

/** Reads every setting; never throws. Bad values fall back to their defaults and are reported. */
export function readSettings(
  config: Pick<vscode.WorkspaceConfiguration, 'get'> = vscode.workspace.getConfiguration(CONFIG_SECTION),
): ReadSettings {
  const problems: string[] = [];
  const int = (setting: string, fallback: number, min: number, max: number): number => {
    const v = config.get<unknown>(setting);
    if (v === undefined || v === null) {
      return fallback;
    }
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) {
      return v;
    }
    problems.push(
      `Setting ${fullName(setting)} must be a whole number from ${min} to ${max}; using ${fallback}.`,
    );
    return fallback;
  };

  const anomaly: AnomalyConfig = {
    ...DEFAULT_ANOMALY_CONFIG,
    actions: { ...DEFAULT_ANOMALY_CONFIG.actions },
    sensitive_scopes: [...DEFAULT_ANOMALY_CONFIG.sensitive_scopes],
  };
  const parts: [string, keyof AnomalyConfig][] = [
    [Setting.anomalyActions, 'actions'],
    [Setting.anomalySensitiveScopes, 'sensitive_scopes'],
    [Setting.anomalyBurstPerMinute, 'burst_per_minute'],
  ];
  for (const [setting, field] of parts) {
    const raw = config.get<unknown>(setting);
    if (raw === undefined || raw === null) {
      continue;
    }
    try {
      const parsed = parseAnomalyConfig({ [field]: raw }, `setting ${fullName(setting)}`);
      (anomaly as unknown as Record<string, unknown>)[field] = parsed[field];
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      // The core's text ends with "Fix … and reload."; settings apply live, so say that instead.
      problems.push(
        `${message.replace(/ Fix .* and reload\.$/, '')} Using the default until ${fullName(setting)} is fixed (changes apply at once).`,
      );
    }
  }

  return {
    settings: {
      port: int(Setting.port, DEFAULT_PORT, 1, 65535),
      defaultTtlSeconds: int(Setting.defaultTtlSeconds, DEFAULT_TTL_SECONDS, 1, MAX_TTL_SECONDS),
      approvalTimeoutSeconds: int(Setting.approvalTimeoutSeconds, DEFAULT_APPROVAL_TIMEOUT_SECONDS, 5, 3_600),
      anomaly,
      store: readStore(config.get<unknown>(Setting.store)),
    },
    problems,
  };
}

/**
 * The store setting. Empty (the default) is decided here, so that activation on the editor's own
 * store does not load the team store's code (lazy.js) just to parse it.
 */
export function readStore(raw: unknown): StoreChoice {
  return raw === undefined || raw === null || raw === '' ? LOCAL_STORE : parseStoreSetting(raw);
}
