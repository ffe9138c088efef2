/**
 * The only contract between the Audit webview (browser script in `src/webview-ui/audit/`) and the
 * extension. Messages FROM the webview are untrusted input: every one is parsed with
 * {@link parseWebviewMessage} (zod) before use, and a bad one gets an `error` reply, never a crash.
 * Messages TO the webview carry audit metadata only — audit events never hold a value, and rows are
 * built field by field (no `value_fingerprint`, no spread of the raw event).
 *
 * The webview imports this file with `import type` only, so zod stays out of its bundle.
 */
import { z } from 'zod';

/** Rows per page; the webview never holds more than one page. */
export const AUDIT_PAGE_SIZE = 100;

/** Decision groups offered by the filter (`changes` = created/updated/removed/agent_*). */
export const DECISION_GROUPS = [
  'all',
  'allow',
  'approved',
  'deny',
  'rotated',
  'changes',
  'listed',
  'http',
] as const;
export type DecisionGroup = (typeof DECISION_GROUPS)[number];

/** Time-range presets of the filter; `custom` uses `since`/`until`. */
export const RANGE_PRESETS = ['all', '1h', '24h', '7d', '30d', 'custom'] as const;

/** Longest free-text filter value accepted (ids are at most 64 characters). */
const MAX_FILTER_TEXT = 128;
/** Earliest/latest times accepted in a filter (ms since the epoch): years 2000–2200. */
const MIN_TIME = 946_684_800_000;
const MAX_TIME = 7_258_118_400_000;

const filterText = z
  .string()
  .max(MAX_FILTER_TEXT, `at most ${MAX_FILTER_TEXT} characters`)
  .transform((s) => s.trim())
  .optional();
const time = z.number().int().min(MIN_TIME).max(MAX_TIME).optional();

export const AuditViewFilterSchema = z
  .object({
    agent: filterText,
    credential: filterText,
    decision: z.enum(DECISION_GROUPS).optional(),
    range: z.enum(RANGE_PRESETS).optional(),
    /** For `range: custom`: start (inclusive), ms since the epoch. */
    since: time,
    /** For `range: custom`: end (exclusive), ms since the epoch. */
    until: time,
  })
  .strict()
  .refine((f) => f.since === undefined || f.until === undefined || f.since < f.until, {
    message: "'since' must be before 'until'",
  });
export type AuditViewFilter = z.infer<typeof AuditViewFilterSchema>;

const offset = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const WebviewMessageSchema = z.discriminatedUnion('type', [
  /** The script started (or restarted after the view was hidden), with its saved state. */
  z
    .object({ type: z.literal('ready'), filter: AuditViewFilterSchema.optional(), offset: offset.optional() })
    .strict(),
  /** Show the page at `offset` (newest first) of the events matching `filter`. */
  z.object({ type: z.literal('query'), filter: AuditViewFilterSchema, offset }).strict(),
  /** Verify the hash chain of the whole audit file. */
  z.object({ type: z.literal('verify') }).strict(),
  /** Export the events matching `filter` through a save dialog. */
  z
    .object({ type: z.literal('export'), filter: AuditViewFilterSchema, format: z.enum(['csv', 'jsonl']) })
    .strict(),
]);
export type WebviewMessage = z.infer<typeof WebviewMessageSchema>;

/**
 * Parses a message from the webview. Never throws: a bad message yields a short description of
 * what was wrong (field paths and rules only, never the received values).
 */
export function parseWebviewMessage(
  raw: unknown,
): { ok: true; message: WebviewMessage } | { ok: false; error: string } {
  const r = WebviewMessageSchema.safeParse(raw);
  if (r.success) {
    return { ok: true, message: r.data };
  }
  const issues = r.error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : 'message'}: ${i.code.replace(/_/g, ' ')}`)
    .join('; ');
  return { ok: false, error: `The Audit view sent a message the extension does not understand (${issues}).` };
}

/** One table row: what the person sees of an audit event. */
export interface AuditRow {
  /** The event's `hash`: a stable id for focus and highlight. */
  id: string;
  ts: string;
  /** Local date and time in the extension host's zone: "2026-11-26", "14:03:07". */
  date: string;
  time: string;
  agent: string | null;
  claimedAgent: string | null;
  credential: string | null;
  scope: string | null;
  tool: string;
  decision: string;
  code: string | null;
  /** The agent's stated reason, or (on other lines) what the line says happened. */
  reason: string | null;
  /** The refusal text, on a denial whose `reason` is the agent's own. */
  refusal: string | null;
  /**
   * Who decided a request held for approval (`once`, `hour`, `session`, `grant`, `deny`, `timeout`,
   * `no_approver`); null on other lines and on lines written before it was recorded.
   */
  approval: string | null;
  version: number | null;
  lease: string | null;
  client: string | null;
  rules: string[];
  /** Rules fired or refused: highlighted. */
  anomaly: boolean;
}

/** Requests per time bucket for one agent. */
export interface TimelineLane {
  agent: string;
  /** Requests per bucket (same length as `Timeline.buckets`). */
  counts: number[];
  /** Denials per bucket. */
  denials: number[];
  total: number;
}

export interface Timeline {
  /** Start of each bucket, ms since the epoch. */
  buckets: number[];
  bucketMs: number;
  /** Labels for the first/middle/last bucket ("14:00", "Nov 26"). */
  labels: [string, string, string];
  lanes: TimelineLane[];
  /** Agents beyond the lanes shown. */
  moreAgents: number;
  max: number;
}

export type ExtensionMessage =
  | {
      type: 'page';
      filter: AuditViewFilter;
      offset: number;
      pageSize: number;
      total: number;
      rows: AuditRow[];
      /** Present when the timeline was recomputed. */
      timeline?: Timeline;
      /** Known agent ids and credential names, for the filter suggestions. */
      options?: { agents: string[]; credentials: string[] };
      /** Row to scroll to and mark (Show in Audit, Verify). */
      highlight?: string;
      /** True when sent because events were appended, not because the webview asked. */
      live: boolean;
      /** Milliseconds the query took (shown in the footer). */
      tookMs: number;
    }
  | { type: 'busy'; what: 'query' | 'verify' | 'export' }
  | {
      type: 'verifyResult';
      ok: boolean;
      count: number;
      firstBad?: { line: number; reason: string };
      /** An intact chain with a crash tail (see AuditVerifyResult.warning). */
      warning?: string;
    }
  | { type: 'exportResult'; ok: boolean; message: string }
  | { type: 'error'; message: string };
