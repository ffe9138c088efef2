/**
 * Verify Audit Log: checks the hash chain of an audit file line by line, and its end against the
 * `.head` sidecar the writer keeps.
 */
import { promises as fsp } from 'node:fs';
import { InvalidInputError } from '../errors';
import type { Logger } from '../ports';
import { NULL_LOGGER } from '../ports';
import {
  type ChainKey,
  GENESIS_HASH,
  KEYED_CHAIN_PREFIX,
  computeEventHash,
  computeKeyedEventHash,
  isHash,
} from './chain';
import { type AuditHead, readHeadFile, withAuditLock } from './headFile';
import { forEachLine } from './lines';

export interface AuditVerifyResult {
  /** True when every line is intact and chained, and the end matches the `.head` sidecar (when present). */
  ok: boolean;
  /** Lines in the file (as of the start of the check). */
  count: number;
  /**
   * The first problem found. `line` is 1-based; for lines missing at the end it is the first
   * missing line; it is 0 when the problem is the `.head` sidecar itself.
   */
  firstBad?: { line: number; reason: string };
  /**
   * Set (with `ok` true) when the chain is intact but runs past the end the `.head` sidecar
   * records: the "crash tail" a writer killed between its durable line write and its sidecar update
   * leaves (the next append adopts those lines and the warning goes away). Without a keyed chain such
   * lines could also have been appended by anyone who can write the folder — `reason` says so.
   */
  warning?: { kind: 'crash_tail' | 'unknown_key'; line: number; lines: number; reason: string };
  /**
   * Lines by format: `keyed` ones authenticated with a key given to verify, `unauthenticated` keyed
   * ones under a key verify was not given (their chain links are checked, their content cannot be),
   * `legacy` plain SHA-256 lines (written before keyed chains, or by a log opened without one).
   */
  lines?: { keyed: number; unauthenticated: number; legacy: number };
}

export interface VerifyOptions {
  /** Keys to authenticate keyed lines with (the keyring's, from AuditLog.chainKey()). */
  chainKeys?: readonly ChainKey[];
}

/**
 * Verifies an audit file: each line must be a JSON audit event whose `hash` matches its content
 * (else: edited), whose `prev_hash` is the previous line's `hash` (or 64 zeros on line 1; else: a
 * line was deleted, inserted or reordered), and the line count and last hash must match the
 * `.head` sidecar when present (else: last lines deleted, or lines appended outside Agent
 * Keyring). Without a sidecar, deleting the last lines cannot be detected.
 *
 * Streams the file (constant memory). Takes the audit lock briefly to read a consistent snapshot
 * (file size + sidecar) while writers are active, then checks up to that size.
 * @throws InvalidInputError when neither the file nor its `.head` sidecar exists.
 * @throws the `fs` error when the file exists but cannot be read.
 */
export async function verifyAuditFile(
  path: string,
  logger: Logger = NULL_LOGGER,
  opts: VerifyOptions = {},
): Promise<AuditVerifyResult> {
  const snap = await snapshot(path, logger);
  if (snap.size === undefined) {
    if (snap.head === undefined) {
      throw new InvalidInputError(
        `There is no audit log at '${path}'. Check the path (the server prints it at start-up), or run the server once to create it.`,
      );
    }
    if (snap.head !== 'invalid' && snap.head.count > 0) {
      return bad(
        0,
        1,
        `line 1: missing — the audit file is gone, but its .head file records ${snap.head.count} line(s) (the file was deleted or moved).`,
      );
    }
    return { ok: true, count: 0 };
  }

  const head = snap.head;
  const recordedCount = head !== undefined && head !== 'invalid' ? head.count : -1;
  const walk = new ChainWalk(opts.chainKeys);
  let hashAtRecorded: string | undefined = recordedCount === 0 ? GENESIS_HASH : undefined;
  /** Lines past the .head end that were authenticated with our key (for the crash-tail wording). */
  let tailAuthenticated = 0;

  await forEachLine(
    path,
    (line) => {
      const checked = walk.add(line);
      if (!checked) {
        return; // bad (or after the first bad line): keep counting lines only
      }
      const n = walk.count;
      if (recordedCount >= 0 && n > recordedCount && checked.format === 'keyed') {
        tailAuthenticated++;
      }
      if (n === recordedCount) {
        hashAtRecorded = checked.hash;
      }
    },
    { endExclusive: snap.size },
  );
  const n = walk.count;

  if (walk.firstBad) {
    return walk.withLines({ ok: false, count: n, firstBad: walk.firstBad });
  }
  return walk.withUnknownKeyWarning(walk.withLines(finish()));

  function finish(): AuditVerifyResult {
    if (head === 'invalid') {
      return bad(
        n,
        0,
        `The .head file next to the audit log is unreadable, so deleted last lines cannot be ruled out. The chain of all ${n} line(s) is intact; delete '${path}.head' to let the next append rebuild it if you trust the file.`,
      );
    }
    if (head !== undefined) {
      return checkAgainstHead(n, hashAtRecorded, head, tailAuthenticated);
    }
    return { ok: true, count: n };
  }
}

/**
 * Walks a chain line by line (a file's lines, or a team store's rows in `seq` order): each line must
 * be an intact audit event chained to the one before. Shared by the file and the database verify.
 */
export class ChainWalk {
  /** Lines seen (bad ones and those after them included). */
  count = 0;
  /** The first problem; once set, later lines are only counted. */
  firstBad: { line: number; reason: string } | undefined;
  /** Hash of the last intact line ({@link GENESIS_HASH} before the first). */
  lastHash = GENESIS_HASH;
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #tally = { keyed: 0, unauthenticated: 0, legacy: 0 };
  #firstUnauthenticated = 0;
  /** Once a keyed line was seen, a plain one after it is a downgrade (written outside Agent Keyring). */
  #sawKeyed = false;

  constructor(chainKeys: readonly ChainKey[] = []) {
    this.#keys = new Map(chainKeys.map((k) => [k.id, k.key]));
  }

  /** Checks the next line: its hash and format, or undefined when it (or an earlier line) is bad. */
  add(line: string): { hash: string; format: 'keyed' | 'unauthenticated' | 'legacy' } | undefined {
    const n = ++this.count;
    if (this.firstBad) {
      return undefined;
    }
    const problem = checkLine(line, n, this.lastHash, this.#keys, this.#sawKeyed);
    if (typeof problem === 'string') {
      this.firstBad = { line: n, reason: problem };
      return undefined;
    }
    this.#tally[problem.format]++;
    if (problem.format !== 'legacy') {
      this.#sawKeyed = true;
    }
    if (problem.format === 'unauthenticated' && this.#firstUnauthenticated === 0) {
      this.#firstUnauthenticated = n;
    }
    this.lastHash = problem.hash;
    return problem;
  }

  /** `r` with the split of lines by format (only a log with keyed lines reports it). */
  withLines(r: AuditVerifyResult): AuditVerifyResult {
    const tally = this.#tally;
    return tally.keyed + tally.unauthenticated > 0 ? { ...r, lines: { ...tally } } : r;
  }

  /** `r` with the unknown-key warning when it is intact but has lines under a key this check lacks. */
  withUnknownKeyWarning(r: AuditVerifyResult): AuditVerifyResult {
    const unauthenticated = this.#tally.unauthenticated;
    if (r.ok && unauthenticated > 0 && !(r.warning?.kind === 'crash_tail')) {
      const first = this.#firstUnauthenticated;
      r.warning = {
        kind: 'unknown_key',
        line: first,
        lines: unauthenticated,
        reason: `${unauthenticated} keyed line(s), the first at line ${first}, are sealed with a key this check does not have: their chain links are intact, but their content cannot be authenticated. Verify with the keyring that wrote them (--store DIR), or treat them as forged if no other keyring writes this log.`,
      };
    }
    return r;
  }
}

function checkAgainstHead(
  n: number,
  hashAtRecorded: string | undefined,
  head: AuditHead,
  tailAuthenticated: number,
): AuditVerifyResult {
  if (n < head.count) {
    return bad(
      n,
      n + 1,
      `line ${n + 1}: missing — the file ends after line ${n}, but ${head.count} line(s) were recorded in the .head file (the last lines were deleted or the file was truncated).`,
    );
  }
  if (hashAtRecorded !== head.hash) {
    return bad(
      n,
      head.count,
      head.count === 0
        ? `line 1: the .head file records an empty log, but it records a chain hash that is not the start of a chain (the .head file was edited?).`
        : `line ${head.count}: its hash differs from the one recorded in the .head file (the line was replaced, or lines were removed and others written in their place).`,
    );
  }
  if (n > head.count) {
    const extra = n - head.count;
    return {
      ok: true,
      count: n,
      warning: {
        kind: 'crash_tail',
        line: head.count + 1,
        lines: extra,
        reason: `${extra === 1 ? `line ${head.count + 1} comes` : `lines ${head.count + 1}-${n} come`} after the last line recorded in the .head file (line ${head.count}), correctly chained: a crash tail, left by a writer that stopped before recording ${extra === 1 ? 'it' : 'them'} (the next append adopts ${extra === 1 ? 'it' : 'them'}). ${
          tailAuthenticated === extra
            ? `${extra === 1 ? 'It is' : 'They are'} sealed with this keyring's chain key, so Agent Keyring wrote ${extra === 1 ? 'it' : 'them'}.`
            : `${extra === 1 ? 'It is' : 'Some are'} not sealed with a key this check has, so someone who can write the folder could also have appended ${extra === 1 ? 'it' : 'them'}; check ${extra === 1 ? 'it' : 'them'} if the server did not crash.`
        }`,
      },
    };
  }
  return { ok: true, count: n };
}

function bad(count: number, line: number, reason: string): AuditVerifyResult {
  return { ok: false, count, firstBad: { line, reason } };
}

/** The line's hash when it is intact and chained, else the reason it is not. */
function checkLine(
  line: string,
  n: number,
  expectedPrev: string,
  keys: ReadonlyMap<string, Buffer>,
  sawKeyed: boolean,
): { hash: string; format: 'keyed' | 'unauthenticated' | 'legacy' } | string {
  if (line.trim() === '') {
    return `line ${n}: it is empty (a line was blanked or a stray newline was inserted).`;
  }
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return `line ${n}: it is not valid JSON (edited by hand, or cut off while being written).`;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return `line ${n}: it is not an audit event (expected a JSON object).`;
  }
  const obj = v as Record<string, unknown>;
  if (!isHash(obj.hash) || !isHash(obj.prev_hash)) {
    return `line ${n}: it has no valid 'hash' and 'prev_hash' (64 hex digits each), so it was not written by Agent Keyring.`;
  }
  if (typeof obj.ts !== 'string' || typeof obj.tool !== 'string' || typeof obj.decision !== 'string') {
    return `line ${n}: it is not an audit event (missing 'ts', 'tool' or 'decision').`;
  }
  let format: 'keyed' | 'unauthenticated' | 'legacy';
  if (obj.chain === undefined) {
    if (sawKeyed) {
      return `line ${n}: it is a plain SHA-256 line after keyed lines, which Agent Keyring never writes (appended or rewritten outside Agent Keyring?).`;
    }
    if (computeEventHash(obj) !== obj.hash) {
      return `line ${n}: its hash does not match its content (edited?).`;
    }
    format = 'legacy';
  } else {
    if (typeof obj.chain !== 'string' || !obj.chain.startsWith(KEYED_CHAIN_PREFIX)) {
      return `line ${n}: its 'chain' field is not one Agent Keyring writes (edited?).`;
    }
    const key = keys.get(obj.chain.slice(KEYED_CHAIN_PREFIX.length));
    if (key) {
      if (computeKeyedEventHash(obj, key) !== obj.hash) {
        return `line ${n}: its hash does not match its content under this keyring's chain key (edited, or forged without the key).`;
      }
      format = 'keyed';
    } else {
      format = 'unauthenticated';
    }
  }
  if (obj.prev_hash !== expectedPrev) {
    return n === 1
      ? `line 1: its prev_hash is not the start of a chain (lines were deleted from the start of the file, or it was replaced).`
      : `line ${n}: its prev_hash does not match the hash of line ${n - 1} (a line was deleted, inserted or reordered before it).`;
  }
  return { hash: obj.hash, format };
}

/** File size and sidecar read together under the audit lock (without it if it cannot be taken). */
async function snapshot(
  path: string,
  logger: Logger,
): Promise<{ size: number | undefined; head: AuditHead | undefined | 'invalid' }> {
  const read = async (): Promise<{ size: number | undefined; head: AuditHead | undefined | 'invalid' }> => {
    let size: number | undefined;
    try {
      const st = await fsp.stat(path);
      if (!st.isFile()) {
        throw new InvalidInputError(`'${path}' is not a file. Pass the path of the audit JSONL file.`);
      }
      size = st.size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw e;
      }
    }
    return { size, head: await readHeadFile(path) };
  };
  try {
    return await withAuditLock(path, logger, read);
  } catch (e) {
    if (e instanceof InvalidInputError) {
      throw e;
    }
    // Read-only folder, or a stuck lock: check without it (a live writer may then make the end look off).
    logger.debug(`Audit verify: reading ${path} without the lock (${(e as Error).message}).`);
    return read();
  }
}
