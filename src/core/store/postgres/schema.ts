/**
 * The team store's schema, as numbered migrations applied by `agent-keyring store upgrade`
 * (never implicitly by `serve` or another command, so an operator decides when the schema moves).
 *
 * Each migration runs in one transaction together with its row in `akr_schema_migrations`, under a
 * transaction-scoped advisory lock, so two upgrades started at once apply each step exactly once.
 * Nothing here needs superuser rights: the role only needs to own the database (or have CREATE on
 * its schema).
 */
import type { Pool, PoolClient } from 'pg';
import { StoreError } from '../../errors';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Channel of the change notifications (see postgresChanges.ts). */
export const NOTIFY_CHANNEL = 'agent_keyring';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'metadata document, enveloped secrets, store info',
    sql: `
CREATE TABLE akr_store_info (
  id smallint PRIMARY KEY CHECK (id = 1),
  master_key_id text,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO akr_store_info (id) VALUES (1);

CREATE TABLE akr_metadata (
  id smallint PRIMARY KEY CHECK (id = 1),
  doc jsonb NOT NULL,
  revision bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO akr_metadata (id, doc, revision) VALUES (1, '{"schema":1,"credentials":{},"agents":{}}', 1);

CREATE TABLE akr_secrets (
  key text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 512),
  master_key_id text NOT NULL,
  wrapped_key bytea NOT NULL,
  ciphertext bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
`,
  },
  {
    version: 2,
    name: 'audit trail: events in chain order and the chain head',
    // One row per event: 'line' is the event's JSONL line exactly as the file store writes it (what
    // verify and export read); the other columns repeat the fields the readers filter on. The head
    // row is what a writer locks (SELECT … FOR UPDATE) to extend the chain, and what verify checks
    // the end against (deleted last rows).
    sql: `
CREATE TABLE akr_audit (
  seq bigint PRIMARY KEY CHECK (seq > 0),
  ts timestamptz NOT NULL,
  agent_id text,
  client_name text,
  credential text,
  tool text NOT NULL,
  decision text NOT NULL,
  line text NOT NULL
);
CREATE INDEX akr_audit_ts ON akr_audit (ts);
CREATE INDEX akr_audit_agent ON akr_audit (agent_id, seq);
CREATE INDEX akr_audit_credential ON akr_audit (credential, seq);
CREATE INDEX akr_audit_tool ON akr_audit (tool, seq);
CREATE INDEX akr_audit_decision ON akr_audit (decision, seq);

CREATE TABLE akr_audit_head (
  id smallint PRIMARY KEY CHECK (id = 1),
  seq bigint NOT NULL CHECK (seq >= 0),
  hash text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO akr_audit_head (id, seq, hash) VALUES (1, 0, repeat('0', 64));
`,
  },
  {
    version: 3,
    name: 'leases and approval grants',
    sql: `
CREATE TABLE akr_leases (
  lease_id text PRIMARY KEY,
  agent_id text NOT NULL,
  credential text NOT NULL,
  version integer NOT NULL,
  scope text NOT NULL,
  issued_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX akr_leases_agent ON akr_leases (agent_id, issued_at);
CREATE INDEX akr_leases_expires ON akr_leases (expires_at);

CREATE TABLE akr_approval_grants (
  agent_id text NOT NULL,
  credential text NOT NULL,
  scope text NOT NULL,
  use text NOT NULL,
  until timestamptz NOT NULL,
  PRIMARY KEY (agent_id, credential, scope, use)
);
`,
  },
];

/** The schema version this code reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS akr_schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;
/** Arbitrary constant: the advisory lock that serialises concurrent upgrades. */
const UPGRADE_LOCK = 0x616b7231;

export interface UpgradeResult {
  from: number;
  to: number;
  applied: Migration[];
}

/**
 * Brings the schema to {@link SCHEMA_VERSION}. Idempotent: an up-to-date database is left as is.
 * @throws StoreError when the database is newer than this code, or a migration fails (that step
 * is rolled back; earlier steps stay applied).
 */
export async function upgradeSchema(pool: Pool, display: string): Promise<UpgradeResult> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [UPGRADE_LOCK]);
    await client.query(MIGRATIONS_TABLE);
    const from = await appliedVersion(client);
    if (from > SCHEMA_VERSION) {
      throw newerSchemaError(display, from);
    }
    const applied: Migration[] = [];
    for (const m of MIGRATIONS) {
      if (m.version <= from) {
        continue;
      }
      await client.query(m.sql);
      await client.query('INSERT INTO akr_schema_migrations (version, name) VALUES ($1, $2)', [
        m.version,
        m.name,
      ]);
      applied.push(m);
    }
    await client.query('COMMIT');
    return { from, to: SCHEMA_VERSION, applied };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

/**
 * The applied schema version (0 = none), or throws a {@link StoreError} saying what to run when it
 * is not the one this code uses.
 */
export async function checkSchema(pool: Pool, display: string): Promise<number> {
  let version: number;
  try {
    const r = await pool.query<{ v: number | null }>('SELECT max(version) AS v FROM akr_schema_migrations');
    version = r.rows[0]?.v ?? 0;
  } catch (e) {
    if ((e as { code?: string }).code === '42P01') {
      version = 0;
    } else {
      throw e;
    }
  }
  if (version === 0) {
    throw new StoreError(
      `The database ${display} has no Agent Keyring schema yet. Create it with: agent-keyring store upgrade --store '${display}'`,
    );
  }
  if (version < SCHEMA_VERSION) {
    throw new StoreError(
      `The database ${display} has schema version ${version}, older than this agent-keyring needs (${SCHEMA_VERSION}). Upgrade it with: agent-keyring store upgrade --store '${display}'`,
    );
  }
  if (version > SCHEMA_VERSION) {
    throw newerSchemaError(display, version);
  }
  return version;
}

async function appliedVersion(client: PoolClient): Promise<number> {
  const r = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM akr_schema_migrations');
  return r.rows[0]?.v ?? 0;
}

function newerSchemaError(display: string, version: number): StoreError {
  return new StoreError(
    `The database ${display} has schema version ${version}, newer than this agent-keyring knows (${SCHEMA_VERSION}). Install the agent-keyring version the other servers run; do not downgrade the database.`,
  );
}
