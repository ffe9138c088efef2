/**
 * {@link GrantStore} over `akr_approval_grants` (migration 3): an "Allow for 1 hour" answered on
 * one server lets the same agent/credential/scope/use through on every server of the store, and
 * after a restart. Each change sends `g:` on the store's channel in its own statement, and every
 * server (the sender too) loads the table again — grants are rare (a human answers each), so
 * `has()` stays a synchronous look-up in memory and the request path never waits for the database.
 * Expired rows are deleted when the table is loaded.
 */
import type { AgentId, CredentialName } from '../../model';
import type { Disposable } from '../../ports';
import type { GrantStore, StoredGrant } from '../../policy/approvalGrants';
import type { PostgresChanges } from './postgresChanges';
import type { PostgresDb } from './postgresDb';
import { NOTIFY_CHANNEL } from './schema';

interface Row {
  agent_id: string;
  credential: string;
  scope: string;
  use: string;
  until: Date;
}

export class PostgresGrantStore implements GrantStore {
  constructor(
    private readonly db: PostgresDb,
    private readonly changes: PostgresChanges,
  ) {}

  async load(): Promise<StoredGrant[]> {
    const rows = await this.db.query<Row>(
      `WITH gone AS (DELETE FROM akr_approval_grants WHERE until <= now())
       SELECT agent_id, credential, scope, use, until FROM akr_approval_grants WHERE until > now()`,
      [],
      'reading the approval grants',
    );
    return rows.map((r) => ({
      agentId: r.agent_id,
      credential: r.credential,
      scope: r.scope,
      use: r.use,
      untilMs: r.until.getTime(),
    }));
  }

  async save(g: StoredGrant): Promise<void> {
    await this.db.query(
      `WITH w AS (
         INSERT INTO akr_approval_grants (agent_id, credential, scope, use, until) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (agent_id, credential, scope, use)
         DO UPDATE SET until = GREATEST(akr_approval_grants.until, EXCLUDED.until) RETURNING 1)
       SELECT pg_notify($6, 'g:') FROM w`,
      [g.agentId, g.credential, g.scope, g.use, new Date(g.untilMs), NOTIFY_CHANNEL],
      `sharing an approval grant for '${g.agentId}' on '${g.credential}'`,
    );
  }

  async revokeAgent(agentId: AgentId): Promise<void> {
    await this.#delete('agent_id', agentId, `dropping the approval grants of '${agentId}'`);
  }

  async revokeCredential(credential: CredentialName): Promise<void> {
    await this.#delete('credential', credential, `dropping the approval grants on '${credential}'`);
  }

  onDidChange(listener: () => void): Disposable {
    return this.changes.onGrants(listener);
  }

  async #delete(column: 'agent_id' | 'credential', value: string, what: string): Promise<void> {
    // Notifies only when a row went: every server's metadata listener calls this for the same change.
    await this.db.query(
      `WITH d AS (DELETE FROM akr_approval_grants WHERE ${column} = $1 RETURNING 1)
       SELECT pg_notify($2, 'g:') WHERE EXISTS (SELECT 1 FROM d)`,
      [value, NOTIFY_CHANNEL],
      what,
    );
  }
}
