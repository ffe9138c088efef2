/**
 * Opens a team store on PostgreSQL (README "Team keyring on PostgreSQL"): checks the schema
 * version and the master key, starts listening for changes, and builds the
 * {@link CredentialStore} over the PostgreSQL metadata store and secret backend. Also the keyring
 * composition over it, for `serve` and the CLI.
 *
 * The audit trail is in the database too (postgresAudit.ts: one chain for every server). What
 * stays per machine, in `localDir`: `policy.json`, saved agent tokens and, when no key is given in
 * the environment, the master key (OS keyring or a 0600 `master.key`, as for the file store).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StoreError } from '../../errors';
import { createKeyring, type Keyring } from '../../keyring';
import { AUDIT_KEY_SECRET, type AnomalyConfig } from '../../model';
import {
  type AlertSink,
  type Approver,
  type Clock,
  type Disposable,
  type Logger,
  NULL_LOGGER,
  SYSTEM_CLOCK,
} from '../../ports';
import { CredentialStore } from '../credentialStore';
import { decodeKey, loadMasterKey, readMasterKeyFile } from '../masterKey';
import { masterKeyId } from './envelope';
import { AuditAppendNotice, PostgresAuditSource, PostgresAuditStorage } from './postgresAudit';
import { PostgresChanges } from './postgresChanges';
import { PostgresDb } from './postgresDb';
import { PostgresGrantStore } from './postgresGrantStore';
import { PostgresLeaseStore } from './postgresLeaseStore';
import { PostgresMetadataStore } from './postgresMetadataStore';
import { PostgresRateShare } from './postgresRateShare';
import { PostgresSecretBackend } from './postgresSecretBackend';
import { checkSchema } from './schema';
import { randomBytes } from 'node:crypto';

export const MASTER_KEY_ENV = 'AGENT_KEYRING_MASTER_KEY';
export const MASTER_KEY_FILE_ENV = 'AGENT_KEYRING_MASTER_KEY_FILE';

export interface TeamMasterKeyOptions {
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

/**
 * The team store's master key: `AGENT_KEYRING_MASTER_KEY` (base64 of 32 bytes), else the file
 * named by `AGENT_KEYRING_MASTER_KEY_FILE` (mode 0600), else the OS keyring or `master.key` in
 * `localDir`, created on first use (as for a file store). Every server of one store needs the same
 * key; {@link openPostgresStore} refuses a different one.
 * @throws StoreError when the named source is missing or malformed (never containing key material).
 */
export async function loadTeamMasterKey(localDir: string, opts: TeamMasterKeyOptions = {}): Promise<Buffer> {
  const env = opts.env ?? process.env;
  const inline = env[MASTER_KEY_ENV]?.trim();
  if (inline) {
    return decodeKey(inline, `the ${MASTER_KEY_ENV} environment variable`);
  }
  const file = env[MASTER_KEY_FILE_ENV]?.trim();
  if (file) {
    const key = await readMasterKeyFile(path.resolve(file));
    if (!key) {
      throw new StoreError(
        `${MASTER_KEY_FILE_ENV} names ${path.resolve(file)}, which does not exist. Copy the team's master key file there (mode 0600), or unset ${MASTER_KEY_FILE_ENV}.`,
      );
    }
    return key;
  }
  return loadMasterKey(localDir, { logger: opts.logger, env });
}

export interface PostgresStoreOptions {
  masterKey: Buffer;
  clock?: Clock;
  logger?: Logger;
  /** Connections for single statements (default 4). */
  poolSize?: number;
}

export interface PostgresStore {
  readonly display: string;
  readonly db: PostgresDb;
  readonly credentials: CredentialStore;
  readonly metadata: PostgresMetadataStore;
  readonly secrets: PostgresSecretBackend;
  readonly changes: PostgresChanges;
  close(): Promise<void>;
}

/**
 * Connects to the team store at `url`.
 * @throws StoreError when the database cannot be reached, has no or another schema version (says
 * to run `agent-keyring store upgrade`), or holds values under another master key.
 */
export async function openPostgresStore(url: string, opts: PostgresStoreOptions): Promise<PostgresStore> {
  const logger = opts.logger ?? NULL_LOGGER;
  const db = new PostgresDb(url, { logger, poolSize: opts.poolSize });
  const changes = new PostgresChanges(db.config, db.display, logger);
  try {
    try {
      await checkSchema(db.statements, db.display);
    } catch (e) {
      throw db.error(e, 'connecting');
    }
    await checkMasterKey(db, opts.masterKey);
    try {
      await changes.start();
    } catch (e) {
      throw db.error(e, 'starting to listen for changes');
    }
  } catch (e) {
    await changes.close();
    await db.close();
    throw e;
  }
  const metadata = new PostgresMetadataStore(db, changes, logger);
  const secrets = new PostgresSecretBackend(db, changes, opts.masterKey);
  const credentials = new CredentialStore({ metadata, secrets, clock: opts.clock ?? SYSTEM_CLOCK, logger });
  let closed: Promise<void> | undefined;
  return {
    display: db.display,
    db,
    credentials,
    metadata,
    secrets,
    changes,
    close: () =>
      (closed ??= (async () => {
        metadata.dispose();
        secrets.dispose();
        await changes.close();
        await db.close();
      })()),
  };
}

/** Records the master key's id on first use; refuses a server holding another key. */
async function checkMasterKey(db: PostgresDb, masterKey: Buffer): Promise<void> {
  const id = masterKeyId(masterKey);
  const rows = await db.query<{ master_key_id: string }>(
    `WITH s AS (UPDATE akr_store_info SET master_key_id = $1 WHERE id = 1 AND master_key_id IS NULL RETURNING master_key_id)
     SELECT master_key_id FROM s UNION ALL SELECT master_key_id FROM akr_store_info WHERE id = 1`,
    [id],
    'checking the master key',
  );
  const recorded = rows.find((r) => r.master_key_id)?.master_key_id;
  if (recorded !== id) {
    throw new StoreError(
      `The team store ${db.display} is encrypted under another master key (id ${recorded ?? 'none'}) than this server holds (id ${id}). Give every server the team's key: ${MASTER_KEY_ENV} (base64) or ${MASTER_KEY_FILE_ENV} (a 0600 file) — copy it from the first server.`,
    );
  }
}

export interface PostgresKeyringOptions {
  url: string;
  /** Per-machine folder: policy, saved tokens, and the master key when the environment names none. */
  localDir: string;
  clock?: Clock;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  anomalyConfig?: AnomalyConfig;
  approver?: Approver;
  alerts?: AlertSink;
  loadHistory?: boolean;
}

/** The keyring over a team store, as `openFileKeyring` over a folder. */
export async function openPostgresKeyring(
  opts: PostgresKeyringOptions,
): Promise<Keyring & { display: string; storeProbe: () => Promise<void> }> {
  const localDir = path.resolve(opts.localDir);
  fs.mkdirSync(localDir, { recursive: true, mode: 0o700 });
  const key = await loadTeamMasterKey(localDir, { env: opts.env, logger: opts.logger });
  let store: PostgresStore;
  try {
    store = await openPostgresStore(opts.url, { masterKey: key, clock: opts.clock, logger: opts.logger });
  } finally {
    key.fill(0);
  }
  try {
    // Servers starting at once must agree on one fingerprint key: create it only if absent.
    await store.secrets.storeIfAbsent(AUDIT_KEY_SECRET, randomBytes(32).toString('base64'));
    const leases = new PostgresLeaseStore(store.db, opts.logger);
    const keyring = await createKeyring({
      leases,
      metadata: store.metadata,
      secrets: store.secrets,
      store: store.credentials,
      // One audit trail for every server of the store: rows in the database.
      auditTrail: {
        storage: (logger) => new PostgresAuditStorage(store.db, logger),
        source: new PostgresAuditSource(store.db, store.changes),
      },
      stateDir: localDir,
      clock: opts.clock ?? SYSTEM_CLOCK,
      logger: opts.logger,
      anomalyConfig: opts.anomalyConfig,
      approver: opts.approver,
      alerts: opts.alerts,
      loadHistory: opts.loadHistory,
    });
    // Burst windows and probing denials are counted across every server of the store.
    const rateShare = new PostgresRateShare(store.changes, keyring.anomaly, opts.logger);
    // "Allow for 1 hour" answered on any server holds on every server, and after a restart.
    let sharedGrants: Disposable;
    try {
      sharedGrants = await keyring.grants.attach(
        new PostgresGrantStore(store.db, store.changes),
        opts.logger,
      );
    } catch (e) {
      rateShare.dispose();
      await keyring.close();
      throw store.db.error(e, 'reading the approval grants');
    }
    // Other servers' and editors' Audit views reload when this one appends.
    const auditNotice = new AuditAppendNotice(store.changes);
    const appends = keyring.audit.onDidAppend(() => auditNotice.appended());
    const close = async (): Promise<void> => {
      rateShare.dispose();
      sharedGrants.dispose();
      try {
        await keyring.close();
        appends.dispose();
        await Promise.all([leases.flush(), keyring.grants.settled(), auditNotice.flush()]);
      } finally {
        auditNotice.dispose();
        await store.close();
      }
    };
    // Does the database answer (serve's /healthz and 503s)? On the listening connection, not the pool.
    const storeProbe = (): Promise<void> => store.changes.ping();
    return { ...keyring, display: store.display, storeProbe, close, dispose: () => void close() };
  } catch (e) {
    await store.close();
    throw e;
  }
}
