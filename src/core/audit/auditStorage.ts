/**
 * The storage port of the audit log: where one sealed batch is appended durably. {@link AuditLog}
 * keeps what every store shares (queue and group commit, input checks, the known-secret refusal,
 * fingerprints, onDidAppend); a storage finds the chain head, seals the batch from it with
 * {@link sealBatch} and makes it durable in one step:
 * - {@link FileAuditStorage}: the JSONL file (O_DSYNC write under the cross-process lock, `.head` sidecar);
 * - `PostgresAuditStorage` (store/postgres): one transaction per batch on a team store.
 */
import type { AuditEvent, AuditEventInput } from '../model';
import { type ChainKey, eventLine, sealEvent } from './chain';

/** An event that passed the log's checks, with its time stamp fixed. */
export type PreparedAuditEvent = AuditEventInput & { ts: string };

export interface AuditStorage {
  /** Where the events go, for log lines: a file path or a team store's masked URL. */
  readonly where: string;
  /**
   * Takes the batch with `take()` once it holds the chain head (lock or row lock: so everything
   * queued while waiting for it joins this batch), seals it in order from that head and makes it
   * durable, all or none. Resolves with the sealed events once they are durable.
   * @throws whatever failed (the log turns it into `audit_unavailable` for every caller of the batch);
   * nothing of the batch may then count as written.
   */
  appendBatch(
    take: () => readonly PreparedAuditEvent[],
    chainKey: ChainKey | undefined,
  ): Promise<AuditEvent[]>;
  /** Releases files or connections; called once the log's queue is empty. */
  close(): Promise<void>;
}

/**
 * Seals `inputs` one after the other from `prevHash` (keyed with `chainKey`): the events, their
 * lines as written (no newline) and the new head hash. One implementation for every storage, so a
 * database row's line is byte for byte what the file store would write.
 */
export function sealBatch(
  inputs: readonly PreparedAuditEvent[],
  prevHash: string,
  chainKey: ChainKey | undefined,
): { events: AuditEvent[]; lines: string[]; head: string } {
  let prev = prevHash;
  const events = new Array<AuditEvent>(inputs.length);
  const lines = new Array<string>(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    const event = sealEvent(inputs[i], prev, chainKey);
    events[i] = event;
    lines[i] = eventLine(event);
    prev = event.hash;
  }
  return { events, lines, head: prev };
}
