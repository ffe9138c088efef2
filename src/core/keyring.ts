/**
 * Composition of the core for a given pair of backends: the CLI's headless file store, the VS Code
 * adapter (SecretStorage + global-storage metadata) and tests all build a keyring through here, so
 * there is one way to wire store, audit, anomaly rules and service together.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KeyringAdmin } from './admin';
import { AuditLog } from './audit/auditLog';
import { AGENT_TOOLS } from './audit/auditReader';
import { type AuditSource, FileAuditSource, auditEvents } from './audit/auditSource';
import type { AuditStorage } from './audit/auditStorage';
import { type ChainKey, deriveChainKey } from './audit/chain';
import { AUDIT_KEY_SECRET, DEFAULT_ANOMALY_CONFIG, type AnomalyConfig } from './model';
import type { AlertSink, Approver, Clock, Disposable, Logger, MetadataStore, SecretBackend } from './ports';
import { AnomalyEngine, BURST_WINDOW_MS } from './policy/anomalyEngine';
import { ApprovalGrants } from './policy/approvalGrants';
import { KeyringService } from './service';
import { CredentialStore } from './store/credentialStore';
import type { LeaseStore } from './store/leaseStore';
import { EncryptedFileSecretBackend } from './store/encryptedFileSecretBackend';
import { FileMetadataStore } from './store/fileMetadataStore';
import { STORE_INFO_FILE, loadMasterKey } from './store/masterKey';
import { checkStorePermissions } from './store/storePermissions';

export interface KeyringParts {
  metadata: MetadataStore;
  secrets: SecretBackend;
  /** The audit log's JSONL file (file store); ignored when `auditTrail` is given. */
  auditPath?: string;
  /**
   * The per-machine folder (saved agent tokens, migrate records): default the audit file's folder.
   * A team store passes its local folder.
   */
  stateDir?: string;
  /** A team store's audit trail instead of a file: where batches go and how to read them back. */
  auditTrail?: { storage: (logger: Logger) => AuditStorage; source: AuditSource };
  clock: Clock;
  logger: Logger;
  anomalyConfig?: AnomalyConfig;
  approver?: Approver;
  alerts?: AlertSink;
  fetch?: typeof fetch;
  /** How long http_request waits for an upstream answer, body included (default 30 s). */
  upstreamTimeoutMs?: number;
  /** Rebuild the learned-hours history from the audit log (skipped by short-lived CLI commands). */
  loadHistory?: boolean;
  /**
   * Do not wait for the audit key (read, or created and stored on first run) before returning:
   * fingerprints wait for it instead. For a caller that must not block on a slow secret store
   * (VS Code activation) and that itself waits for the key to be stored before serving; others
   * keep the default, so a short-lived command never exits with the key write in flight.
   */
  deferAuditKey?: boolean;
  /**
   * A store already built over `metadata` and `secrets`, so the caller can start work on it (e.g.
   * ensuring an agent) while the rest is wired. Default: a new one over `metadata` and `secrets`.
   */
  store?: CredentialStore;
  /** Where leases are kept (default: in memory; a team store passes its PostgreSQL table). */
  leases?: LeaseStore;
}

export interface Keyring extends Disposable {
  service: KeyringService;
  /** The one entry for a human's changes (CLI, editor, imports) and their metadata reads. */
  admin: KeyringAdmin;
  /** The store itself: for the core and the composition root only (front ends use `admin`). */
  store: CredentialStore;
  audit: AuditLog;
  anomaly: AnomalyEngine;
  grants: ApprovalGrants;
  /**
   * The audit log's JSONL file on a file store (Open Audit Log in Editor needs a path); undefined
   * on a team store, whose trail is rows in the database: read it through {@link auditSource}.
   */
  auditPath: string | undefined;
  /** The one way to read the audit trail (verify, export, pages, replay), file or database. */
  auditSource: AuditSource;
  /** The per-machine folder: the file store's folder, or a team store's local folder. */
  stateDir: string;
  /** Flushes the audit log and releases watchers. */
  close(): Promise<void>;
}

/** Gets (or creates, once) the HMAC key for audit fingerprints from the secret backend. */
export async function auditKey(secrets: SecretBackend): Promise<Buffer> {
  const existing = await secrets.get(AUDIT_KEY_SECRET);
  if (existing) {
    return Buffer.from(existing, 'base64');
  }
  const key = randomBytes(32);
  await secrets.store(AUDIT_KEY_SECRET, key.toString('base64'));
  return key;
}

/**
 * Rebuilds the anomaly engine's learned state (usual hours, probing lockouts, burst windows) from
 * the audit trail (a file store's file, or a team store's rows, so a restarted server of either keeps
 * a lockout). With `beforeMs`, only events stamped earlier are replayed: a caller replaying
 * in the background after the keyring went live passes the time it went live, so events the
 * engine already saw live are not counted twice. Returns how many events were replayed.
 * @throws the `fs` error when the log exists but cannot be read (a missing log replays nothing),
 * or a StoreError when a team store's trail cannot be read.
 */
export async function replayAuditHistory(
  source: AuditSource,
  anomaly: AnomalyEngine,
  opts: { beforeMs?: number } = {},
): Promise<number> {
  const history: { agent_id: string | null; ts: string; decision: string; code: string | null }[] = [];
  /** Agents' requests of the last minute of the trail (for the burst windows). */
  const recent: { agent: string; at: number }[] = [];
  let latest = -Infinity;
  const filter = opts.beforeMs !== undefined ? { until: opts.beforeMs } : {};
  for await (const e of auditEvents(source, filter)) {
    if (opts.beforeMs !== undefined && !(Date.parse(e.ts) < opts.beforeMs)) {
      continue;
    }
    history.push({ agent_id: e.agent_id, ts: e.ts, decision: e.decision, code: e.code });
    const at = Date.parse(e.ts);
    if (e.agent_id && AGENT_TOOLS.has(e.tool) && Number.isFinite(at)) {
      latest = Math.max(latest, at);
      recent.push({ agent: e.agent_id, at });
      if (recent.length > 4096 && recent[0].at < latest - BURST_WINDOW_MS) {
        recent.splice(
          0,
          recent.findIndex((r) => r.at >= latest - BURST_WINDOW_MS),
        );
      }
    }
  }
  anomaly.loadHistory(history);
  // The burst windows: requests of the last minute count again (the engine drops those its clock
  // puts outside the window), so a restarted server does not hand a bursting agent a fresh minute.
  for (const r of recent) {
    if (r.at >= latest - BURST_WINDOW_MS) {
      anomaly.applyRemote({ agent: r.agent, kind: 'request', at: r.at });
    }
  }
  return history.length;
}

/** Wires a keyring over the given backends. */
export async function createKeyring(parts: KeyringParts): Promise<Keyring> {
  const { clock, logger } = parts;
  const store =
    parts.store ?? new CredentialStore({ metadata: parts.metadata, secrets: parts.secrets, clock, logger });
  const auditSource = parts.auditTrail?.source ?? new FileAuditSource(requiredAuditPath(parts), logger);
  const audit = await AuditLog.open({
    path: parts.auditTrail ? undefined : auditSource.path,
    storage: parts.auditTrail?.storage,
    hmacKey: parts.deferAuditKey ? auditKey(parts.secrets) : await auditKey(parts.secrets),
    clock,
    logger,
    // Lines sealed with a key kept in the secret backend, beside the values' key.
    keyedChain: true,
  });
  const anomaly = new AnomalyEngine({ config: parts.anomalyConfig ?? DEFAULT_ANOMALY_CONFIG, clock });
  if (parts.loadHistory !== false) {
    await replayAuditHistory(auditSource, anomaly);
  }
  const grants = new ApprovalGrants(clock);
  const service = new KeyringService({
    store,
    audit,
    anomaly,
    grants,
    leases: parts.leases,
    clock,
    logger,
    approver: parts.approver,
    alerts: parts.alerts,
    fetch: parts.fetch,
    upstreamTimeoutMs: parts.upstreamTimeoutMs,
  });
  await service.init();
  // Last line of defence: an event holding a current value (in any encoded form) is refused.
  audit.setKnownSecrets(() => service.knownValues());
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) {
      return;
    }
    closed = true;
    await service.flushAggregated();
    service.dispose();
    // Writes what is queued, then closes the file (or the team store's audit connection).
    await audit.close();
  };
  return {
    service,
    admin: new KeyringAdmin({ store, service, logger }),
    store,
    audit,
    anomaly,
    grants,
    auditPath: auditSource.path,
    auditSource,
    stateDir: parts.stateDir ?? path.dirname(requiredAuditPath(parts)),
    close,
    dispose: () => void close(),
  };
}

function requiredAuditPath(parts: KeyringParts): string {
  if (parts.auditPath === undefined) {
    throw new TypeError('createKeyring needs auditPath (a file store) or auditTrail (a team store).');
  }
  return parts.auditPath;
}

export interface FileKeyringOptions {
  dir: string;
  clock: Clock;
  logger: Logger;
  anomalyConfig?: AnomalyConfig;
  approver?: Approver;
  alerts?: AlertSink;
  loadHistory?: boolean;
}

/**
 * The audit chain key of the file store in `dir` (for `audit verify`), read without creating
 * anything: undefined when `dir` holds no store or no audit key yet.
 * @throws StoreError when the store's master key cannot be read.
 */
export async function readFileStoreChainKey(dir: string, logger: Logger): Promise<ChainKey | undefined> {
  if (!fs.existsSync(path.join(dir, STORE_INFO_FILE))) {
    return undefined;
  }
  const key = await loadMasterKey(dir, { logger });
  const secrets = new EncryptedFileSecretBackend(dir, key, { logger });
  try {
    const stored = await secrets.get(AUDIT_KEY_SECRET);
    return stored ? deriveChainKey(Buffer.from(stored, 'base64')) : undefined;
  } finally {
    secrets.dispose();
  }
}

/** The headless keyring: encrypted file store + metadata file + audit log, all under `dir`. */
export async function openFileKeyring(opts: FileKeyringOptions): Promise<Keyring> {
  const dir = path.resolve(opts.dir);
  // StrictModes: refuse a folder or file someone else owns; fix group/other-writable ones of ours.
  checkStorePermissions(dir, { logger: opts.logger });
  const key = await loadMasterKey(dir, { logger: opts.logger });
  const metadata = new FileMetadataStore(dir, { logger: opts.logger });
  const secrets = new EncryptedFileSecretBackend(dir, key, { logger: opts.logger });
  const keyring = await createKeyring({
    ...opts,
    metadata,
    secrets,
    auditPath: path.join(dir, 'audit.jsonl'),
  });
  const close = async (): Promise<void> => {
    await keyring.close();
    metadata.dispose();
    secrets.dispose();
  };
  return { ...keyring, close, dispose: () => void close() };
}
