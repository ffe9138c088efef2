/**
 * The `<audit file>.head` sidecar and the cross-process lock shared by the writer and the verifier.
 *
 * The sidecar records `{count, hash, size}` of the chain after each durable batch, written
 * atomically (temp file + fsync + rename) under the lock. It is what lets `verifyAuditFile` notice
 * that the LAST lines were deleted — something a hash chain alone cannot show.
 */
import { promises as fsp } from 'node:fs';
import * as lockfile from 'proper-lockfile';
import type { Logger } from '../ports';
import { isHash } from './chain';

export interface AuditHead {
  /** Lines in the audit file. */
  count: number;
  /** `hash` of the last line ({@link GENESIS_HASH} when empty). */
  hash: string;
  /** Size of the audit file in bytes. */
  size: number;
}

export function headPath(auditPath: string): string {
  return `${auditPath}.head`;
}

export function lockPath(auditPath: string): string {
  return `${auditPath}.lock`;
}

/** Reads the sidecar: `undefined` when missing, `'invalid'` when present but not a valid head. */
export async function readHeadFile(auditPath: string): Promise<AuditHead | undefined | 'invalid'> {
  let text: string;
  try {
    text = await fsp.readFile(headPath(auditPath), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw e;
  }
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (
      typeof v === 'object' &&
      v !== null &&
      Number.isSafeInteger(v.count) &&
      (v.count as number) >= 0 &&
      Number.isSafeInteger(v.size) &&
      (v.size as number) >= 0 &&
      isHash(v.hash)
    ) {
      return { count: v.count as number, hash: v.hash, size: v.size as number };
    }
  } catch {
    // fall through
  }
  return 'invalid';
}

/** Writes the sidecar atomically. Call only while holding the audit lock. */
export async function writeHeadFile(auditPath: string, head: AuditHead): Promise<void> {
  const target = headPath(auditPath);
  const tmp = `${target}.tmp-${process.pid}`;
  const fh = await fsp.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(
      JSON.stringify({ count: head.count, hash: head.hash, size: head.size }) + '\n',
      'utf8',
    );
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, target);
}

/**
 * Runs `fn` holding the cross-process audit lock (`<audit file>.lock`, a directory made by
 * `proper-lockfile`; a holder that died is considered stale after 10 s). Retries for a few
 * seconds when another process holds it, then throws the `ELOCKED` error.
 */
export async function withAuditLock<T>(auditPath: string, logger: Logger, fn: () => Promise<T>): Promise<T> {
  const release = await lockfile.lock(auditPath, {
    realpath: false,
    lockfilePath: lockPath(auditPath),
    retries: { retries: 300, factor: 1.2, minTimeout: 1, maxTimeout: 40, randomize: true },
    onCompromised: (err: Error) => {
      // Default would throw from a timer and crash the process; losing the lock only risks a
      // concurrent append, which verify would then report.
      logger.error(`Audit log: the lock on ${auditPath} was lost (${err.message}).`);
    },
  });
  try {
    return await fn();
  } finally {
    try {
      await release();
    } catch (e) {
      logger.warn(`Audit log: could not release the lock on ${auditPath}: ${(e as Error).message}`);
    }
  }
}
