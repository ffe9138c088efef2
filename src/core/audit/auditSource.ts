/**
 * One way to read the audit trail, whatever keeps it: the JSONL file of a file store
 * ({@link FileAuditSource}) or a team store's database (`PostgresAuditSource`). Everything that
 * reads the trail — `audit verify|export|list`, the anomaly rules' replay at start-up, "Used by",
 * the restart count, the Audit view — goes through `keyring.auditSource`.
 */
import type { AuditEvent } from '../model';
import { type Disposable, NULL_LOGGER, type Logger } from '../ports';
import {
  type AuditFilter,
  type AuditQueryOptions,
  type AuditQueryResult,
  type AuditRecord,
  queryAuditEvents,
  readAuditRecords,
} from './auditReader';
import { type AuditVerifyResult, type VerifyOptions, verifyAuditFile } from './verify';

export interface AuditSource {
  /** Where the trail is, for messages: the file's path or the team store's masked URL. */
  readonly where: string;
  /** The JSONL file of a file store; undefined for a team store (its trail is rows in the database). */
  readonly path: string | undefined;
  /** The matching records (line as written + parsed event), oldest first. An empty trail yields nothing. */
  records(filter?: AuditFilter): AsyncIterable<AuditRecord>;
  /** One page of matching events plus their total count. */
  query(filter?: AuditFilter, options?: AuditQueryOptions): Promise<AuditQueryResult>;
  /** Checks the hash chain and its end (`.head` sidecar, or the database's head row). */
  verify(opts?: VerifyOptions): Promise<AuditVerifyResult>;
  /**
   * Fires soon after another process appended (a team store: any server, through the database's
   * notifications). Absent for a file store, whose readers watch the file itself.
   */
  onDidChange?(listener: () => void): Disposable;
}

/** The matching events of a source, oldest first. */
export async function* auditEvents(source: AuditSource, filter?: AuditFilter): AsyncGenerator<AuditEvent> {
  for await (const r of source.records(filter)) {
    yield r.event;
  }
}

/** The audit trail of a file store: its JSONL file and `.head` sidecar. */
export class FileAuditSource implements AuditSource {
  readonly where: string;

  constructor(
    readonly path: string,
    private readonly logger: Logger = NULL_LOGGER,
  ) {
    this.where = path;
  }

  records(filter?: AuditFilter): AsyncIterable<AuditRecord> {
    return readAuditRecords(this.path, filter);
  }

  query(filter?: AuditFilter, options?: AuditQueryOptions): Promise<AuditQueryResult> {
    return queryAuditEvents(this.path, filter, options);
  }

  /** @throws InvalidInputError when neither the file nor its `.head` sidecar exists. */
  verify(opts?: VerifyOptions): Promise<AuditVerifyResult> {
    return verifyAuditFile(this.path, this.logger, opts);
  }
}
