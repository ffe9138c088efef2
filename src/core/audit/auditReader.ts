/**
 * Reading the audit log for the Audit view, export and the CLI: streaming, filtered, paged.
 * Integrity is `verifyAuditFile`'s job; the reader skips lines that are not audit events.
 */
import { InvalidInputError } from '../errors';
import type { AuditDecision, AuditEvent } from '../model';
import { forEachLine, readLines } from './lines';

export interface AuditFilter {
  agent_id?: string;
  credential?: string;
  /** Only events of this tool (`get_credential`, `run`, `rotate`, …). */
  tool?: string;
  /** One decision, or any of several. */
  decision?: AuditDecision | readonly AuditDecision[];
  /** Only events at or after this time (ms since the epoch). */
  since?: number;
  /** Only events before this time (ms since the epoch, exclusive). */
  until?: number;
}

export interface AuditQueryOptions {
  /** Matching events to skip (default 0). */
  offset?: number;
  /** Most events to return (default 100, at most 10 000). */
  limit?: number;
  /** Page from the newest event backwards (default false: oldest first). */
  newestFirst?: boolean;
}

export interface AuditQueryResult {
  /** Matching events in the whole file. */
  total: number;
  events: AuditEvent[];
}

/** One line of the file with its parsed event (export keeps the line byte for byte). */
export interface AuditRecord {
  line: string;
  event: AuditEvent;
}

const MAX_LIMIT = 10_000;
const TS_PREFIX = '{"ts":"';

/**
 * Streams the matching records of an audit file in file order. A missing file yields nothing;
 * lines that are not audit events are skipped.
 * @throws the `fs` error when the file exists but cannot be read.
 */
export async function* readAuditRecords(path: string, filter: AuditFilter = {}): AsyncGenerator<AuditRecord> {
  const match = compileFilter(filter);
  try {
    for await (const line of readLines(path)) {
      if (!match.prefilter(line)) {
        continue;
      }
      const event = parseEvent(line);
      if (event && match.test(event)) {
        yield { line, event };
      }
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return;
    }
    throw e;
  }
}

/**
 * Streams the matching events of an audit file in file order (oldest first). A missing file
 * yields nothing; lines that are not audit events are skipped.
 * @throws the `fs` error when the file exists but cannot be read.
 */
export async function* readAuditEvents(path: string, filter: AuditFilter = {}): AsyncGenerator<AuditEvent> {
  for await (const r of readAuditRecords(path, filter)) {
    yield r.event;
  }
}

/**
 * One page of matching events plus the total count, in one pass over the file with memory
 * bounded by `offset + limit`. Backs the Audit view: only candidate lines are parsed (cheap
 * token checks first), so 100k events page in a fraction of a second.
 *
 * Without a filter, `total` counts the lines that look like events (a JSON object with a `hash`),
 * and only the page is parsed; a damaged line inside the page is left out of it.
 * @throws InvalidInputError when offset/limit are not non-negative integers (limit 1–10 000).
 * @throws the `fs` error when the file exists but cannot be read (a missing file is an empty log).
 */
export async function queryAuditEvents(
  path: string,
  filter: AuditFilter = {},
  options: AuditQueryOptions = {},
): Promise<AuditQueryResult> {
  const { offset, limit } = auditPage(options);
  const match = compileFilter(filter);
  const unfiltered = match.empty;
  // A candidate is kept as its raw line (unfiltered) or its parsed event (filtered).
  type Kept = string | AuditEvent;
  let total = 0;
  const page: Kept[] = [];
  // Newest first: a ring of the last offset+limit matches, grown lazily so a huge offset on a
  // small file costs nothing.
  const want = offset + limit;
  let ring: Kept[] = [];
  let ringCap = Math.min(want, 1024);

  const keep = (k: Kept): void => {
    if (!options.newestFirst) {
      if (total >= offset && total < want) {
        page.push(k);
      }
    } else {
      if (total >= ringCap && ringCap < want) {
        ringCap = Math.min(want, ringCap * 4);
      }
      if (ring.length < ringCap && total === ring.length) {
        ring.push(k);
      } else {
        ring[total % ringCap] = k;
      }
    }
    total++;
  };

  try {
    await forEachLine(path, (line) => {
      if (unfiltered) {
        if (looksLikeEvent(line)) {
          keep(line);
        }
        return;
      }
      if (!match.prefilter(line)) {
        return;
      }
      const event = parseEvent(line);
      if (event && match.test(event)) {
        keep(event);
      }
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw e;
    }
  }

  let selected: Kept[];
  if (!options.newestFirst) {
    selected = page;
  } else {
    selected = [];
    // i-th newest match has index total-1-i; the ring holds the last min(total, ringCap).
    for (let i = offset; i < want && i < total; i++) {
      const idx = total - 1 - i;
      if (idx < total - ringCap) {
        break;
      }
      selected.push(ring[idx % ringCap]);
    }
    ring = [];
  }
  const events: AuditEvent[] = [];
  for (const k of selected) {
    const e = typeof k === 'string' ? parseEvent(k) : k;
    if (e) {
      events.push(e);
    }
  }
  return { total, events };
}

/**
 * The page an {@link AuditQueryOptions} asks for, with its defaults (offset 0, limit 100).
 * @throws InvalidInputError when offset/limit are not non-negative integers (limit 1–10 000).
 */
export function auditPage(options: AuditQueryOptions): { offset: number; limit: number } {
  const offset = options.offset ?? 0;
  const limit = options.limit ?? 100;
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new InvalidInputError(`The audit page offset must be a whole number ≥ 0 (got ${String(offset)}).`);
  }
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new InvalidInputError(
      `The audit page size must be a whole number from 1 to ${MAX_LIMIT} (got ${String(limit)}).`,
    );
  }
  return { offset, limit };
}

/** Cheap shape check used when no filter forces a parse. */
function looksLikeEvent(line: string): boolean {
  return line.charCodeAt(0) === 0x7b && line.charCodeAt(line.length - 1) === 0x7d && line.includes('"hash"');
}

/** The audit event on `line`, or undefined when the line is not one. */
export function parseEvent(line: string): AuditEvent | undefined {
  if (line.length === 0) {
    return undefined;
  }
  try {
    const v = JSON.parse(line) as Record<string, unknown>;
    if (
      typeof v === 'object' &&
      v !== null &&
      !Array.isArray(v) &&
      typeof v.ts === 'string' &&
      typeof v.tool === 'string' &&
      typeof v.decision === 'string' &&
      typeof v.hash === 'string'
    ) {
      return v as unknown as AuditEvent;
    }
  } catch {
    // not an event
  }
  return undefined;
}

interface CompiledFilter {
  /** True when the filter has no conditions. */
  empty: boolean;
  /** Cheap rejection before parsing: false only when the line cannot match. */
  prefilter(line: string): boolean;
  test(e: AuditEvent): boolean;
}

/** Tools agents call: their rows name the agent in `agent_id`, and `client` is the client program. */
export const AGENT_TOOLS: ReadonlySet<string> = new Set([
  'get_credential',
  'list_credentials',
  'rotate_credential',
  'http_request',
  'run',
]);

/**
 * Whether `who` made the event: the agent of an agent's request, or — for a change made by a person
 * (`vscode-user`, `cli`), recorded with that actor as `client` — the person too. So the Agent filter
 * finds the user's own rows, as the Audit view shows them.
 */
function byWho(e: AuditEvent, who: string): boolean {
  return e.agent_id === who || (e.client?.name === who && !AGENT_TOOLS.has(e.tool));
}

function compileFilter(filter: AuditFilter): CompiledFilter {
  const needles: string[] = [];
  if (filter.agent_id !== undefined) {
    needles.push(JSON.stringify(filter.agent_id));
  }
  if (filter.credential !== undefined) {
    needles.push(JSON.stringify(filter.credential));
  }
  if (filter.tool !== undefined) {
    needles.push(JSON.stringify(filter.tool));
  }
  // A JSON string token such as "deny" can only appear whole (quotes inside strings are escaped),
  // so a line without it cannot match. With several decisions there is no single token.
  const decisions =
    filter.decision === undefined
      ? undefined
      : new Set<string>(typeof filter.decision === 'string' ? [filter.decision] : filter.decision);
  if (decisions && decisions.size === 1) {
    needles.push(JSON.stringify([...decisions][0]));
  }
  const since = filter.since;
  const until = filter.until;
  const timed = since !== undefined || until !== undefined;
  return {
    empty: needles.length === 0 && !decisions && !timed,
    prefilter: (line) => {
      for (const n of needles) {
        if (!line.includes(n)) {
          return false;
        }
      }
      if (timed && line.startsWith(TS_PREFIX)) {
        // Lines as written start with the ts: reject out-of-range ones without parsing.
        const t = Date.parse(line.slice(TS_PREFIX.length, line.indexOf('"', TS_PREFIX.length)));
        if (!Number.isNaN(t) && ((since !== undefined && t < since) || (until !== undefined && t >= until))) {
          return false;
        }
      }
      return true;
    },
    test: (e) => {
      if (filter.agent_id !== undefined && !byWho(e, filter.agent_id)) {
        return false;
      }
      if (filter.credential !== undefined && e.credential !== filter.credential) {
        return false;
      }
      if (filter.tool !== undefined && e.tool !== filter.tool) {
        return false;
      }
      if (decisions && !decisions.has(e.decision)) {
        return false;
      }
      if (since !== undefined || until !== undefined) {
        const t = Date.parse(e.ts);
        if (Number.isNaN(t) || (since !== undefined && t < since) || (until !== undefined && t >= until)) {
          return false;
        }
      }
      return true;
    },
  };
}
