/**
 * Opens the editor's keyring: values in SecretStorage, metadata and the audit log in the
 * extension's global storage. Holds the startup-speed choreography, so that activation waits only
 * for what it must:
 * - the two SecretStorage reads activation needs (the audit key, the `vscode` agent's token) start
 *   when this object is built — first thing in `activate()` — side by side;
 * - the audit key, written only on first run, is written in the background: the server starts
 *   only once it is stored ({@link OpenedKeyring.auditKeyStored});
 * - the `vscode` agent's token is checked (created on first run) in the background;
 * - the anomaly rules' history is replayed from the audit log in the background.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type * as vscode from 'vscode';
import { loadAttachSecret } from '../core/attach/attachKey';
import { deriveProofKey } from '../core/attach/attachProof';
import { createKeyring, replayAuditHistory, type Keyring } from '../core/keyring';
import { AUDIT_KEY_SECRET, type AnomalyConfig } from '../core/model';
import { SYSTEM_CLOCK, type AlertSink, type Approver, type Logger } from '../core/ports';
import { CredentialStore } from '../core/store/credentialStore';
import { FileMetadataStore } from '../core/store/fileMetadataStore';
import type { DisposableStore } from './lifecycle';
import { SecretStorageBackend, StartupSecrets } from './secretStorageBackend';
import { VSCODE_AGENT_TOKEN_KEY, VscodeAgentTokens } from './vscodeAgent';

export interface KeyringOpenDeps {
  logger: Logger;
  anomaly: AnomalyConfig;
  approver: Approver;
  alerts: AlertSink;
  /** Owns what is opened here (the metadata file's watcher). */
  disposables: DisposableStore;
}

export interface OpenedKeyring {
  keyring: Keyring;
  /** The built-in `vscode` agent's token, checked (or created) in the background. */
  vscodeAgent: VscodeAgentTokens;
  /** Resolves once the audit key is in SecretStorage; rejects when its first-run write failed. */
  auditKeyStored: () => Promise<void>;
  /** What proves to other windows (and `serve --store` on this folder) that a server is this store's. */
  attachProofKey: Buffer;
}

export class EditorKeyring {
  /** SecretStorage itself (values, and other windows' changes). */
  readonly secrets: SecretStorageBackend;
  readonly #startupSecrets: StartupSecrets;

  /** Starts the SecretStorage reads activation needs; call it first. */
  constructor(private readonly context: vscode.ExtensionContext) {
    this.secrets = new SecretStorageBackend(context.secrets);
    this.#startupSecrets = new StartupSecrets(this.secrets, {
      prefetch: [AUDIT_KEY_SECRET, VSCODE_AGENT_TOKEN_KEY],
      writeBehind: [AUDIT_KEY_SECRET],
    });
  }

  /**
   * Opens the store and the audit log and builds the keyring.
   * @throws whatever stops that (global storage not writable, a broken metadata file); the caller
   *   keeps the commands answering with the reason.
   */
  async open(deps: KeyringOpenDeps): Promise<OpenedKeyring> {
    const { logger } = deps;
    const secrets = this.#startupSecrets;
    const dir = this.context.globalStorageUri.fsPath;
    await fs.mkdir(dir, { recursive: true });
    const attachProofKey = deriveProofKey(await loadAttachSecret(dir));
    const metadata = deps.disposables.add(new FileMetadataStore(dir, { logger }));
    const store = new CredentialStore({ metadata, secrets, clock: SYSTEM_CLOCK, logger });
    const auditPath = path.join(dir, 'audit.jsonl');
    // Events stamped before this moment are replayed below; later ones the engine sees live.
    const liveFrom = SYSTEM_CLOCK.now();
    // The `vscode` agent's token is needed only when VS Code starts our MCP server: check it (and
    // create the agent on first run) in the background. The MCP provider asks the same object,
    // which hands it this check while it runs, so no second token can be minted.
    const vscodeAgent = new VscodeAgentTokens(store, secrets, logger);
    void vscodeAgent
      .get()
      .catch((e: unknown) =>
        logger.error(`Could not set up the built-in agent 'vscode' for in-editor chat: ${errorText(e)}`),
      );
    const keyring = await createKeyring({
      metadata,
      secrets,
      store,
      auditPath,
      clock: SYSTEM_CLOCK,
      logger,
      anomalyConfig: deps.anomaly,
      approver: deps.approver,
      alerts: deps.alerts,
      loadHistory: false,
      // The key's read is already under way and its first-run write happens in the background;
      // the server starts only once it is stored (auditKeyStored).
      deferAuditKey: true,
    });
    // The learned-hours history is replayed from the audit log in the background, so a long log
    // does not hold up activation. Until it is in, the rules see only this session's requests: a
    // probing lockout (or usual hours) learned from earlier sessions applies a moment later.
    void replayAuditHistory(keyring.auditSource, keyring.anomaly, { beforeMs: liveFrom }).catch(
      (e: unknown) =>
        logger.warn('Could not replay the audit history for the anomaly rules; they start from scratch.', e),
    );
    return { keyring, vscodeAgent, auditKeyStored: () => secrets.settled(), attachProofKey };
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
