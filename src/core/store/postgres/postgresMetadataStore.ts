/**
 * {@link MetadataStore} over one JSONB document in `akr_metadata` (one row, with a revision).
 *
 * Guarantees, as for the file store: `read()` is current as of the call — it asks the database for
 * the revision (one round trip, shared by the reads waiting at the same time: joinNext.ts) and
 * fetches the document only when it changed, so a commit by any server is seen by every server's
 * next read; the document is deep-frozen and the
 * same object while unchanged. `update()` runs in a transaction that locks the row
 * (`SELECT … FOR UPDATE`), so updates from any number of processes serialise and none is lost; a
 * throwing mutator writes nothing; an update that changes something bumps the revision and
 * notifies every listening server in the same transaction.
 */
import type { KeyringMetadata } from '../../model';
import type { Disposable, Logger, MetadataStore } from '../../ports';
import { StoreError } from '../../errors';
import { deepFreeze, parseMetadata, serializeMetadata } from '../fileMetadataStore';
import type { PostgresChanges } from './postgresChanges';
import type { PostgresDb } from './postgresDb';
import { JoinNext } from './joinNext';
import { NOTIFY_CHANNEL } from './schema';

interface Row {
  revision: string;
  doc: unknown;
}

export class PostgresMetadataStore implements MetadataStore, Disposable {
  private cache: { revision: number; doc: KeyringMetadata } | undefined;
  /** Highest revision listeners were told about (our own commit and its notification both arrive). */
  private fired = 0;
  private readonly listeners = new Set<() => void>();
  private readonly subscription: Disposable;
  private queue: Promise<void> = Promise.resolve();
  private readonly reads = new JoinNext<KeyringMetadata>();

  constructor(
    private readonly db: PostgresDb,
    changes: PostgresChanges,
    private readonly logger: Logger,
  ) {
    this.subscription = changes.onMetadata((revision) => {
      if (revision === undefined || revision > this.fired) {
        if (revision !== undefined) {
          this.fired = revision;
        }
        this.fire();
      }
    });
  }

  /** @throws StoreError when the database cannot be read or the document is malformed. */
  read(): Promise<KeyringMetadata> {
    return this.reads.run(() => this.readNow());
  }

  private async readNow(): Promise<KeyringMetadata> {
    // The cache as it was when the query was sent: a commit of this process may replace
    // this.cache before the answer arrives, and an answer without the document (same revision)
    // must be matched with the document it was asked against (bench: 50 agents, a 500 per ~1000).
    const cached = this.cache;
    const rows = await this.db.query<Row>(
      'SELECT revision, CASE WHEN revision = $1 THEN NULL ELSE doc END AS doc FROM akr_metadata WHERE id = 1',
      [cached?.revision ?? -1],
      'reading the metadata',
    );
    const row = this.row(rows);
    const revision = Number(row.revision);
    if (cached && revision === cached.revision) {
      return cached.doc;
    }
    const doc = this.parse(row.doc);
    // A slower concurrent read must not replace a newer document.
    if (!this.cache || revision > this.cache.revision) {
      this.cache = { revision, doc };
    }
    return doc;
  }

  /**
   * Read-modify-write with the row locked until commit. The mutator gets a private mutable copy of
   * the current document; if it changes nothing, nothing is written.
   * @throws whatever the mutator throws (nothing written); StoreError for database failures.
   */
  update<T>(mutator: (draft: KeyringMetadata) => T | Promise<T>): Promise<T> {
    // Updates of one process take turns here, so a burst waits in this queue (no timeout) rather
    // than in the connection pool's (which gives up after its connect timeout); across processes
    // the row lock serialises them.
    const run = this.queue.then(() => this.updateNow(mutator));
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async updateNow<T>(mutator: (draft: KeyringMetadata) => T | Promise<T>): Promise<T> {
    const outcome = await this.db.transaction('updating the metadata', async (client) => {
      const r = await client.query<Row>('SELECT revision, doc FROM akr_metadata WHERE id = 1 FOR UPDATE');
      const row = this.row(r.rows);
      const fresh = this.parse(row.doc);
      const before = serializeMetadata(fresh);
      const draft = structuredClone<KeyringMetadata>(fresh);
      const result = await mutator(draft);
      const after = serializeMetadata(draft);
      if (after === before) {
        return { result, written: undefined };
      }
      const w = await client.query<{ revision: string }>(
        'UPDATE akr_metadata SET doc = $1::jsonb, revision = revision + 1, updated_at = now() WHERE id = 1 RETURNING revision',
        [after],
      );
      const revision = Number(w.rows[0].revision);
      await client.query('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, `m:${revision}`]);
      return { result, written: { revision, doc: deepFreeze(structuredClone(draft)) } };
    });
    const written = outcome.written;
    if (written) {
      if (!this.cache || written.revision > this.cache.revision) {
        this.cache = written;
      }
      if (written.revision > this.fired) {
        this.fired = written.revision;
        this.fire();
      }
    }
    return outcome.result;
  }

  /** Fires after this or another server committed a change (via LISTEN/NOTIFY). */
  onDidChange(listener: () => void): Disposable {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  dispose(): void {
    this.subscription.dispose();
    this.listeners.clear();
  }

  private row(rows: Row[]): Row {
    const row = rows[0];
    if (!row) {
      throw new StoreError(
        `The team store ${this.db.display} has no metadata row (table akr_metadata, id 1). Restore the database from a backup, or recreate it with 'agent-keyring store upgrade' in an empty database.`,
      );
    }
    return row;
  }

  private parse(doc: unknown): KeyringMetadata {
    return deepFreeze(parseMetadata(JSON.stringify(doc), `${this.db.display} (table akr_metadata)`));
  }

  private fire(): void {
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch (e) {
        this.logger.error(`A metadata listener failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
}
