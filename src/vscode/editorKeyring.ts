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
import * as os from 'node:os';
import * as path from 'node:path';
import type * as vscode from 'vscode';
import { loadAttachSecret } from '../core/attach/attachKey';
import { deriveProofKey } from '../core/attach/attachProof';
import { createKeyring, replayAuditHistory, type Keyring } from '../core/keyring';
import { AUDIT_KEY_SECRET, type AnomalyConfig } from '../core/model';
import { StoreError } from '../core/errors';
import { SYSTEM_CLOCK, type AlertSink, type Approver, type Logger, type SecretBackend } from '../core/ports';
import { CredentialStore } from '../core/store/credentialStore';
import { FileMetadataStore } from '../core/store/fileMetadataStore';
import {
  MASTER_KEY_ENV,
  MASTER_KEY_FILE_ENV,
  openPostgresKeyring,
} from '../core/store/postgres/postgresStore';
import {
  teamEditorAgentId,
  teamSecretKey,
  withPassword,
  type StoreChoice,
} from '../core/store/postgres/teamStoreSetting';
import type { DisposableStore } from './lifecycle';
import { SecretStorageBackend, StartupSecrets } from './secretStorageBackend';
import { LOCAL_STORE } from './settings';
import { VSCODE_AGENT_TOKEN_KEY, VscodeAgentTokens, teamEditorAgent } from './vscodeAgent';

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
  /** Where a change of a value (another window, another server of a team store) is heard. */
  valueChanges: Pick<SecretBackend, 'onDidChange'>;
  /** `local`, or `team <db>@<host>` (never a password). */
  storeLabel: string;
  /** A team store: one round trip to the database (throws while it is unreachable). */
  storeProbe?: () => Promise<void>;
}

export class EditorKeyring {
  /** SecretStorage itself (values, and other windows' changes). */
  readonly secrets: SecretStorageBackend;
  #startupSecrets: StartupSecrets | undefined;

  /** Starts the SecretStorage reads activation needs; call it first. */
  constructor(private readonly context: vscode.ExtensionContext) {
    this.secrets = new SecretStorageBackend(context.secrets);
    this.#startupSecrets = startupSecrets(this.secrets);
  }

  /**
   * Opens the store and the audit log and builds the keyring.
   * @throws whatever stops that (global storage not writable, a broken metadata file); the caller
   *   keeps the commands answering with the reason.
   */
  async open(deps: KeyringOpenDeps, choice: StoreChoice = LOCAL_STORE): Promise<OpenedKeyring> {
    if (choice.kind === 'invalid') {
      throw new StoreError(choice.reason);
    }
    if (choice.kind === 'team') {
      return this.#openTeam(deps, choice);
    }
    const { logger } = deps;
    // The reads started by the constructor serve the first opening; a later one (switching back
    // from a team store) reads afresh.
    const secrets = this.#startupSecrets ?? startupSecrets(this.secrets);
    this.#startupSecrets = undefined;
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
    return {
      keyring,
      vscodeAgent,
      auditKeyStored: () => secrets.settled(),
      attachProofKey,
      valueChanges: this.secrets,
      storeLabel: LOCAL_STORE.label,
    };
  }

  /**
   * A team store (README "Team store in VS Code"): metadata and values in PostgreSQL, the password
   * and master key from this editor's SecretStorage (put there by Connect to Team Store), what
   * stays per machine (audit log, attach key) in a folder of the global storage named after the
   * database. This editor's chat is its own agent (`vscode.<user>.<host>`).
   */
  async #openTeam(deps: KeyringOpenDeps, choice: StoreChoice & { kind: 'team' }): Promise<OpenedKeyring> {
    const { logger } = deps;
    const [password, masterKey, masterKeyFile] = await Promise.all([
      this.secrets.get(teamSecretKey('password', choice.url)),
      this.secrets.get(teamSecretKey('masterKey', choice.url)),
      this.secrets.get(teamSecretKey('masterKeyFile', choice.url)),
    ]);
    if (!masterKey && !masterKeyFile) {
      throw new StoreError(
        `This editor has no master key for the ${choice.label} store. Run "Agent Keyring: Connect to Team Store…" and give the team's master key (or the path of its key file).`,
      );
    }
    const localDir = path.join(this.context.globalStorageUri.fsPath, 'team', choice.slug);
    await fs.mkdir(localDir, { recursive: true, mode: 0o700 });
    const attachProofKey = deriveProofKey(await loadAttachSecret(localDir));
    const keyring = await openPostgresKeyring({
      url: withPassword(choice.url, password),
      localDir,
      logger,
      // Only the key this editor was given: never a key file or OS keyring entry made up here.
      env: masterKey ? { [MASTER_KEY_ENV]: masterKey } : { [MASTER_KEY_FILE_ENV]: masterKeyFile },
      anomalyConfig: deps.anomaly,
      approver: deps.approver,
      alerts: deps.alerts,
      loadHistory: false,
    });
    const liveFrom = SYSTEM_CLOCK.now();
    const agentId = teamEditorAgentId(os.userInfo().username, os.hostname());
    const vscodeAgent = new VscodeAgentTokens(
      keyring.store,
      this.secrets,
      logger,
      teamEditorAgent(agentId, choice.url),
    );
    void vscodeAgent
      .get()
      .catch((e: unknown) =>
        logger.error(`Could not set up this editor's agent '${agentId}' for in-editor chat: ${errorText(e)}`),
      );
    void replayAuditHistory(keyring.auditSource, keyring.anomaly, { beforeMs: liveFrom }).catch(
      (e: unknown) =>
        logger.warn('Could not replay the audit history for the anomaly rules; they start from scratch.', e),
    );
    logger.info(
      `Opened the ${choice.label} store (${keyring.display}); this editor's agent is '${agentId}'.`,
    );
    return {
      keyring,
      vscodeAgent,
      // openPostgresKeyring stores the audit key (if absent) before it returns.
      auditKeyStored: () => Promise.resolve(),
      attachProofKey,
      // A value changes only with its credential's version, which the views hear from the metadata.
      valueChanges: { onDidChange: () => ({ dispose: () => undefined }) },
      storeLabel: choice.label,
      // The driver's reason, shown in the status bar: never with the password, whatever it says.
      storeProbe: () =>
        keyring.storeProbe().catch((e: unknown) => {
          const reason = errorText(e);
          throw new Error(password ? reason.split(password).join('***') : reason);
        }),
    };
  }
}

function startupSecrets(secrets: SecretStorageBackend): StartupSecrets {
  return new StartupSecrets(secrets, {
    prefetch: [AUDIT_KEY_SECRET, VSCODE_AGENT_TOKEN_KEY],
    writeBehind: [AUDIT_KEY_SECRET],
  });
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
