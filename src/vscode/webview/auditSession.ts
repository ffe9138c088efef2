/**
 * The extension side of one Audit webview: answers its messages (validated by `messages.ts`),
 * pages through the audit file with `queryAuditEvents` (never more than one page crosses to the
 * webview), computes the per-agent timeline, and keeps the page live as events are appended.
 *
 * Independent of `vscode.WebviewView`: it talks through a `post` function, so the integration suite
 * drives {@link AuditViewSession.handle} directly and reads what would be posted.
 */
import type { AuditLog } from '../../core/audit/auditLog';
import type { AuditFilter } from '../../core/audit/auditReader';
import { type AuditSource, auditEvents } from '../../core/audit/auditSource';
import type { AuditVerifyResult } from '../../core/audit/verify';
import type { AuditDecision, AuditEvent } from '../../core/model';
import type { Logger } from '../../core/ports';
import {
  AUDIT_PAGE_SIZE,
  type AuditRow,
  type AuditViewFilter,
  type DecisionGroup,
  type ExtensionMessage,
  type Timeline,
  type WebviewMessage,
  parseWebviewMessage,
} from './messages';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Tools agents call over MCP: what the timeline counts as requests. */
const AGENT_TOOLS = new Set(['get_credential', 'list_credentials', 'rotate_credential', 'http_request']);
/** Lanes shown in the timeline (busiest agents first). */
const MAX_LANES = 6;
/** Longest text of one field sent to the webview. */
const MAX_FIELD = 500;

const DECISIONS: Record<Exclude<DecisionGroup, 'all'>, AuditDecision[]> = {
  allow: ['allow'],
  approved: ['approved'],
  deny: ['deny'],
  rotated: ['rotated'],
  changes: ['created', 'updated', 'removed', 'agent_added', 'agent_revoked'],
  listed: ['listed'],
  http: ['http'],
};

const RANGE_MS: Record<string, number> = { '1h': HOUR, '24h': DAY, '7d': 7 * DAY, '30d': 30 * DAY };

/** Where an alert points: the audit event of that request. */
export interface RevealTarget {
  agent_id: string;
  credential: string;
  scope: string;
  /** When the alert was raised (ms since the epoch). */
  at: number;
}

export interface AuditSessionDeps {
  audit: Pick<AuditLog, 'onDidAppend'>;
  /** The audit trail (the file store's file, or a team store's rows). */
  source: AuditSource;
  logger: Logger;
  now?: () => number;
  /** Known agent ids and credential names (filter suggestions). */
  options(): Promise<{ agents: string[]; credentials: string[] }>;
  verify(): Promise<AuditVerifyResult>;
  /** Runs the save dialog and the export; resolves with the message to show. */
  export(filter: AuditFilter, format: 'csv' | 'jsonl'): Promise<{ ok: boolean; message: string }>;
}

interface TimelineState {
  /** First bucket's start (aligned to the bucket size). */
  start: number;
  /** Events before this are not counted (the filter's start; the first bucket may be partial). */
  from: number;
  end: number;
  openEnded: boolean;
  bucketMs: number;
  agent?: string;
  credential?: string;
  lanes: Map<string, { counts: number[]; denials: number[]; total: number }>;
}

/** The audit filter (core) for a view filter at time `now`. */
export function toAuditFilter(f: AuditViewFilter, now: number): AuditFilter {
  const out: AuditFilter = {};
  if (f.agent) {
    out.agent_id = f.agent;
  }
  if (f.credential) {
    out.credential = f.credential;
  }
  if (f.decision && f.decision !== 'all') {
    const d = DECISIONS[f.decision];
    out.decision = d.length === 1 ? d[0] : d;
  }
  const range = f.range ?? 'all';
  if (range === 'custom') {
    if (f.since !== undefined) {
      out.since = f.since;
    }
    if (f.until !== undefined) {
      out.until = f.until;
    }
  } else if (range !== 'all') {
    out.since = now - RANGE_MS[range];
  }
  return out;
}

function matches(f: AuditFilter, e: AuditEvent): boolean {
  if (f.agent_id !== undefined && e.agent_id !== f.agent_id) {
    return false;
  }
  if (f.credential !== undefined && e.credential !== f.credential) {
    return false;
  }
  if (f.decision !== undefined) {
    const set: readonly string[] = typeof f.decision === 'string' ? [f.decision] : f.decision;
    if (!set.includes(e.decision)) {
      return false;
    }
  }
  if (f.since !== undefined || f.until !== undefined) {
    const t = Date.parse(e.ts);
    if (
      Number.isNaN(t) ||
      (f.since !== undefined && t < f.since) ||
      (f.until !== undefined && t >= f.until)
    ) {
      return false;
    }
  }
  return true;
}

const pad = (n: number): string => String(n).padStart(2, '0');

function str(v: unknown): string | null {
  return typeof v === 'string' ? v.slice(0, MAX_FIELD) : null;
}

/**
 * What the webview gets of an event: named fields only (never the raw object, never
 * `value_fingerprint` or the chain hashes beyond the row id). Tolerates hand-edited lines.
 */
export function toRow(e: AuditEvent): AuditRow {
  const d = new Date(e.ts);
  const valid = !Number.isNaN(d.getTime());
  const rules = Array.isArray(e.rules)
    ? e.rules.filter((r): r is string => typeof r === 'string').slice(0, 10)
    : [];
  const client =
    e.client && typeof e.client === 'object'
      ? [str(e.client.name), str(e.client.version)].filter(Boolean).join(' ') || null
      : null;
  return {
    id: String(e.hash),
    ts: String(e.ts),
    date: valid ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` : '',
    time: valid
      ? `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
      : String(e.ts).slice(0, 32),
    agent: str(e.agent_id),
    claimedAgent: e.claimed_agent_id !== e.agent_id ? str(e.claimed_agent_id) : null,
    credential: str(e.credential),
    scope: str(e.scope),
    tool: str(e.tool) ?? '',
    decision: str(e.decision) ?? '',
    code: str(e.code),
    reason: str(e.reason),
    refusal: str(e.refusal),
    approval: str(e.approval),
    version: typeof e.version === 'number' ? e.version : null,
    lease: str(e.lease_id),
    client,
    rules,
    anomaly: rules.length > 0 || e.decision === 'deny',
  };
}

/** "14:00", or "Nov 25 14:00" for an edge label on another day; day buckets: "Nov 25". */
function bucketLabel(ms: number, bucketMs: number, withDay: boolean): string {
  const d = new Date(ms);
  const day = d.toLocaleDateString('en', { month: 'short', day: 'numeric' });
  if (bucketMs >= DAY) {
    return day;
  }
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return withDay && d.toDateString() !== new Date().toDateString() ? `${day} ${time}` : time;
}

/** Aligns `ms` down to a local bucket boundary (5 min, hour or midnight). */
function alignDown(ms: number, bucketMs: number): number {
  const d = new Date(ms);
  d.setSeconds(0, 0);
  if (bucketMs >= DAY) {
    d.setHours(0, 0);
  } else if (bucketMs >= HOUR) {
    d.setMinutes(0);
  } else {
    d.setMinutes(d.getMinutes() - (d.getMinutes() % 5));
  }
  return d.getTime();
}

export class AuditViewSession {
  readonly #deps: AuditSessionDeps;
  readonly #post: (m: ExtensionMessage) => void;
  readonly #isVisible: () => boolean;
  readonly #now: () => number;
  readonly #subscription: { dispose(): void };

  #hasState = false;
  #filter: AuditViewFilter = {};
  #offset = 0;
  #total = 0;
  #rows: AuditRow[] = [];
  #timeline: TimelineState | undefined;
  #options: { agents: string[]; credentials: string[] } | undefined;
  /** Highlight of the last reveal, re-sent if the webview restarts soon after. */
  #highlight: { id: string; until: number } | undefined;

  #seq = 0;
  #querying = 0;
  #dirtyDuringQuery = false;
  #needsRefresh = false;
  #refreshTimer: NodeJS.Timeout | undefined;
  #postTimer: NodeJS.Timeout | undefined;
  #lastRefreshMs = 0;
  #disposed = false;

  constructor(
    deps: AuditSessionDeps,
    post: (m: ExtensionMessage) => void,
    isVisible: () => boolean = () => true,
  ) {
    this.#deps = deps;
    this.#post = post;
    this.#isVisible = isVisible;
    this.#now = deps.now ?? Date.now;
    this.#subscription = deps.audit.onDidAppend((events) => this.#onAppend(events));
  }

  /** True once the webview asked for its first page. */
  get started(): boolean {
    return this.#hasState;
  }

  /** The filter and offset shown now. */
  get state(): { filter: AuditViewFilter; offset: number; total: number } {
    return { filter: { ...this.#filter }, offset: this.#offset, total: this.#total };
  }

  /**
   * Handles one message from the webview. Never throws: a malformed message or a failed
   * operation is answered with an `error` message.
   */
  async handle(raw: unknown): Promise<void> {
    const parsed = parseWebviewMessage(raw);
    if (!parsed.ok) {
      this.#deps.logger.warn(parsed.error);
      this.#send({ type: 'error', message: parsed.error });
      return;
    }
    try {
      await this.#dispatch(parsed.message);
    } catch (e) {
      const detail = e instanceof Error ? e.message : String(e);
      this.#deps.logger.error(`Audit view: '${parsed.message.type}' failed: ${detail}`);
      this.#send({
        type: 'error',
        message: `Could not ${parsed.message.type === 'export' ? 'export' : 'read'} the audit log. See the Agent Keyring log for details.`,
      });
    }
  }

  async #dispatch(m: WebviewMessage): Promise<void> {
    switch (m.type) {
      case 'ready': {
        // A restarted webview (view hidden and shown again) gets this session's state; a new
        // session starts from the state the webview saved.
        const highlight =
          this.#highlight && this.#highlight.until > this.#now() ? this.#highlight.id : undefined;
        if (this.#hasState) {
          await this.#query(this.#filter, this.#offset, { timeline: true, options: true, highlight });
        } else {
          await this.#query(m.filter ?? {}, m.offset ?? 0, { timeline: true, options: true });
        }
        return;
      }
      case 'query': {
        const filterChanged = JSON.stringify(m.filter) !== JSON.stringify(this.#filter) || !this.#timeline;
        await this.#query(m.filter, m.offset, { timeline: filterChanged, options: !this.#options });
        return;
      }
      case 'verify': {
        this.#send({ type: 'busy', what: 'verify' });
        const r = await this.#deps.verify();
        this.#send({
          type: 'verifyResult',
          ok: r.ok,
          count: r.count,
          firstBad: r.firstBad,
          ...(r.warning ? { warning: r.warning.reason } : {}),
        });
        return;
      }
      case 'export': {
        this.#send({ type: 'busy', what: 'export' });
        const r = await this.#deps.export(toAuditFilter(m.filter, this.#now()), m.format);
        this.#send({ type: 'exportResult', ok: r.ok, message: r.message });
        return;
      }
    }
  }

  /**
   * Shows the event an alert is about: finds it (by agent, credential, scope, time), keeps the
   * current filters when they include it (else clears them), and posts the page holding it with
   * `highlight` set. Without a matching event, shows that agent's events on that credential.
   */
  async reveal(target: RevealTarget): Promise<string | undefined> {
    let hit: AuditEvent | undefined;
    for await (const e of auditEvents(this.#deps.source, {
      agent_id: target.agent_id,
      credential: target.credential,
      since: target.at - 10_000,
    })) {
      if (e.scope === target.scope && ((e.rules?.length ?? 0) > 0 || e.decision === 'deny')) {
        hit = e;
      }
    }
    if (!hit) {
      await this.#query({ agent: target.agent_id, credential: target.credential }, 0, {
        timeline: true,
        options: !this.#options,
      });
      return undefined;
    }
    let filter = this.#filter;
    if (!matches(toAuditFilter(filter, this.#now()), hit)) {
      filter = {};
    }
    // Its index, newest first, among the events the filter shows: the matching events after it.
    const af = toAuditFilter(filter, this.#now());
    let newer = 0;
    let seen = false;
    for await (const e of auditEvents(this.#deps.source, {
      ...af,
      since: Math.max(af.since ?? 0, Date.parse(hit.ts)),
    })) {
      if (seen) {
        newer++;
      } else if (e.hash === hit.hash) {
        seen = true;
      }
    }
    const offset = Math.floor(newer / AUDIT_PAGE_SIZE) * AUDIT_PAGE_SIZE;
    this.#highlight = { id: hit.hash, until: this.#now() + 15_000 };
    await this.#query(filter, offset, { timeline: true, options: !this.#options, highlight: hit.hash });
    return hit.hash;
  }

  /** The view became visible: post what changed while it was hidden. */
  shown(): void {
    if (!this.#hasState) {
      return;
    }
    if (this.#needsRefresh) {
      this.#scheduleRefresh(0);
    } else {
      this.#postPage(true);
    }
  }

  /**
   * The trail changed outside this window's AuditLog (another window, the CLI, another server of a
   * team store): re-read, throttled.
   */
  fileChanged(): void {
    this.#scheduleRefresh();
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  dispose(): void {
    this.#disposed = true;
    this.#subscription.dispose();
    clearTimeout(this.#refreshTimer);
    clearTimeout(this.#postTimer);
  }

  // ------------------------------------------------------------------ internals

  #send(m: ExtensionMessage): void {
    if (this.#disposed) {
      return;
    }
    try {
      this.#post(m);
    } catch (e) {
      this.#deps.logger.warn(`Audit view: could not post a message: ${(e as Error).message}`);
    }
  }

  async #query(
    filter: AuditViewFilter,
    offset: number,
    opts: { timeline: boolean; options: boolean; highlight?: string; live?: boolean },
  ): Promise<void> {
    const seq = ++this.#seq;
    this.#querying++;
    const started = Date.now();
    try {
      if (!opts.live) {
        this.#send({ type: 'busy', what: 'query' });
      }
      const now = this.#now();
      const af = toAuditFilter(filter, now);
      let result = await this.#deps.source.query(af, {
        offset,
        limit: AUDIT_PAGE_SIZE,
        newestFirst: true,
      });
      if (offset > 0 && offset >= result.total) {
        // Past the end (the file shrank, or a stale offset): show the last page.
        offset = Math.max(0, Math.floor((result.total - 1) / AUDIT_PAGE_SIZE) * AUDIT_PAGE_SIZE);
        result = await this.#deps.source.query(af, {
          offset,
          limit: AUDIT_PAGE_SIZE,
          newestFirst: true,
        });
      }
      const timeline = opts.timeline ? await this.#computeTimeline(filter, af, now) : undefined;
      const options = opts.options ? await this.#deps.options().catch(() => undefined) : undefined;
      if (seq !== this.#seq || this.#disposed) {
        return; // a newer query superseded this one
      }
      this.#hasState = true;
      this.#filter = filter;
      this.#offset = offset;
      this.#total = result.total;
      this.#rows = result.events.map(toRow);
      if (timeline) {
        this.#timeline = timeline;
      }
      if (options) {
        this.#options = options;
      }
      this.#needsRefresh = false;
      this.#lastRefreshMs = Date.now() - started;
      this.#send(this.#page(opts.live ?? false, opts.highlight, Date.now() - started, options));
    } finally {
      this.#querying--;
      if (this.#querying === 0 && this.#dirtyDuringQuery) {
        this.#dirtyDuringQuery = false;
        this.#scheduleRefresh(0);
      }
    }
  }

  #page(
    live: boolean,
    highlight: string | undefined,
    tookMs: number,
    options?: { agents: string[]; credentials: string[] },
  ): ExtensionMessage {
    return {
      type: 'page',
      filter: this.#filter,
      offset: this.#offset,
      pageSize: AUDIT_PAGE_SIZE,
      total: this.#total,
      rows: this.#rows,
      timeline: this.#timeline ? this.#renderTimeline(this.#timeline) : undefined,
      options,
      highlight,
      live,
      tookMs,
    };
  }

  #postPage(live: boolean): void {
    if (this.#isVisible()) {
      this.#send(this.#page(live, undefined, 0));
    }
  }

  /** Own appends: update the page and timeline in memory (no re-read), post at most every 100 ms. */
  #onAppend(events: AuditEvent[]): void {
    if (!this.#hasState || this.#disposed) {
      return;
    }
    if (this.#querying > 0) {
      this.#dirtyDuringQuery = true;
      return;
    }
    const af = toAuditFilter(this.#filter, this.#now());
    const fresh = events.filter((e) => matches(af, e)).reverse();
    let changed = fresh.length > 0;
    if (fresh.length > 0) {
      this.#total += fresh.length;
      if (this.#offset === 0) {
        this.#rows = [...fresh.map(toRow), ...this.#rows].slice(0, AUDIT_PAGE_SIZE);
      } else {
        // Keep the same events on screen: they moved down by the new ones.
        this.#offset += fresh.length;
      }
    }
    const t = this.#timeline;
    if (t) {
      for (const e of events) {
        if (!this.#countsInTimeline(t, e)) {
          continue;
        }
        const ms = Date.parse(e.ts);
        if (ms >= t.end && t.openEnded) {
          this.#scheduleRefresh(); // the window must move on: recompute
          continue;
        }
        if (ms < t.from || ms >= t.end) {
          continue;
        }
        this.#bump(t, e, ms);
        changed = true;
      }
    }
    if (!changed) {
      return;
    }
    if (!this.#isVisible()) {
      this.#needsRefresh = true;
      return;
    }
    this.#postTimer ??= setTimeout(() => {
      this.#postTimer = undefined;
      this.#send(this.#page(true, undefined, 0));
    }, 100);
  }

  #scheduleRefresh(delay?: number): void {
    if (!this.#hasState || this.#disposed) {
      return;
    }
    if (!this.#isVisible()) {
      this.#needsRefresh = true;
      return;
    }
    if (this.#refreshTimer) {
      return;
    }
    // Re-reading a big file costs; never spend more than ~20% of the time on it.
    const wait = delay ?? Math.max(1_000, this.#lastRefreshMs * 5);
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = undefined;
      if (this.#querying > 0) {
        // A query is running — maybe the user's, with a new filter that #filter does not hold
        // until it completes. Refreshing now with the old filter would supersede it (the newest
        // query wins) and put the old filter back; refresh once it is done, with its filter.
        this.#dirtyDuringQuery = true;
        return;
      }
      void this.#query(this.#filter, this.#offset, { timeline: true, options: false, live: true }).catch(
        (e: unknown) => this.#deps.logger.warn(`Audit view: refresh failed: ${(e as Error).message}`),
      );
    }, wait);
  }

  #countsInTimeline(t: TimelineState, e: AuditEvent): boolean {
    return (
      typeof e.agent_id === 'string' &&
      AGENT_TOOLS.has(e.tool) &&
      (t.agent === undefined || e.agent_id === t.agent) &&
      (t.credential === undefined || e.credential === t.credential)
    );
  }

  #bump(t: TimelineState, e: AuditEvent, ms: number): void {
    const n = Math.ceil((t.end - t.start) / t.bucketMs);
    const i = Math.min(n - 1, Math.floor((ms - t.start) / t.bucketMs));
    const agent = e.agent_id as string;
    let lane = t.lanes.get(agent);
    if (!lane) {
      lane = { counts: new Array<number>(n).fill(0), denials: new Array<number>(n).fill(0), total: 0 };
      t.lanes.set(agent, lane);
    }
    lane.counts[i]++;
    lane.total++;
    if (e.decision === 'deny') {
      lane.denials[i]++;
    }
  }

  /**
   * Requests per bucket per agent over the filter's time range (the last 24 h when it has none;
   * at most 90 days): 5-minute buckets up to 2 h, hours up to 3 days, else days. Follows the
   * agent and credential filters, not the decision one (denials are marked in the bars).
   */
  async #computeTimeline(filter: AuditViewFilter, af: AuditFilter, now: number): Promise<TimelineState> {
    const openEnded = af.until === undefined;
    const rawEnd = af.until ?? now;
    let rawStart = af.since ?? rawEnd - DAY;
    if (filter.range === 'all' || filter.range === undefined) {
      rawStart = rawEnd - DAY;
    }
    rawStart = Math.max(rawStart, rawEnd - 90 * DAY);
    const span = rawEnd - rawStart;
    const bucketMs = span <= 2 * HOUR ? 5 * MINUTE : span <= 3 * DAY ? HOUR : DAY;
    const start = alignDown(rawStart, bucketMs);
    // Open-ended: the last bucket holds "now".
    const end = openEnded ? alignDown(rawEnd, bucketMs) + bucketMs : rawEnd;
    const t: TimelineState = {
      start,
      from: rawStart,
      end,
      openEnded,
      bucketMs,
      agent: af.agent_id,
      credential: af.credential,
      lanes: new Map(),
    };
    for await (const e of auditEvents(this.#deps.source, {
      agent_id: af.agent_id,
      credential: af.credential,
      since: rawStart,
      until: end,
    })) {
      if (this.#countsInTimeline(t, e)) {
        this.#bump(t, e, Date.parse(e.ts));
      }
    }
    return t;
  }

  #renderTimeline(t: TimelineState): Timeline {
    const n = Math.ceil((t.end - t.start) / t.bucketMs);
    const buckets = Array.from({ length: n }, (_, i) => t.start + i * t.bucketMs);
    const sorted = [...t.lanes.entries()].sort((a, b) => b[1].total - a[1].total || a[0].localeCompare(b[0]));
    const lanes = sorted.slice(0, MAX_LANES).map(([agent, l]) => ({
      agent,
      counts: [...l.counts],
      denials: [...l.denials],
      total: l.total,
    }));
    const max = lanes.reduce((m, l) => Math.max(m, ...l.counts), 0);
    return {
      buckets,
      bucketMs: t.bucketMs,
      labels: [
        bucketLabel(buckets[0], t.bucketMs, true),
        bucketLabel(buckets[Math.floor(n / 2)], t.bucketMs, false),
        t.openEnded ? 'now' : bucketLabel(t.end, t.bucketMs, true),
      ],
      lanes,
      moreAgents: Math.max(0, sorted.length - MAX_LANES),
      max,
    };
  }
}
