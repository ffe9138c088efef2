/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The Audit webview's script (bundled for the browser by esbuild into `media/dist/audit.js`).
 * Talks to the extension only through the message types of `src/vscode/webview/messages.ts`
 * (imported as types: nothing of zod or the extension lands in this bundle). Renders with
 * `textContent` only — never HTML from data. Holds one page of rows at a time.
 */
import type {
  AuditRow,
  AuditViewFilter,
  ExtensionMessage,
  Timeline,
  WebviewMessage,
} from '../../vscode/webview/messages';

interface VsCodeApi {
  postMessage(message: WebviewMessage): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

interface SavedState {
  filter: AuditViewFilter;
  offset: number;
}

type PageMessage = Extract<ExtensionMessage, { type: 'page' }>;

const vscode = acquireVsCodeApi();

const DECISION_ICONS: Record<string, string> = {
  allow: 'pass',
  approved: 'verified',
  deny: 'error',
  alert: 'warning',
  rotated: 'sync',
  created: 'add',
  updated: 'edit',
  removed: 'trash',
  agent_added: 'person-add',
  agent_revoked: 'circle-slash',
  listed: 'list-flat',
  http: 'globe',
};

const DECISION_TEXT: Record<string, string> = {
  allow: 'allowed',
  approved: 'approved',
  deny: 'denied',
  alert: 'alert',
  rotated: 'rotated',
  created: 'created',
  updated: 'updated',
  removed: 'removed',
  agent_added: 'agent added',
  agent_revoked: 'agent revoked',
  listed: 'listed',
  http: 'http',
};

/** Who decided a request held for approval (the event's `approval`), as the person reads it. */
const APPROVAL_TEXT: Record<string, string> = {
  once: 'you: Allow once',
  hour: 'you: Allow 1 hour',
  session: 'you: Allow session',
  grant: 'earlier Allow',
  deny: 'you: Deny',
  timeout: 'no answer (timeout)',
  no_approver: 'no one to ask',
};

/** The longer form for tooltips and the row details. */
const APPROVAL_DETAIL: Record<string, string> = {
  once: 'You allowed it once ("Allow once").',
  hour: 'You allowed it for an hour ("Allow for 1 hour").',
  session: 'You allowed it for this session ("Allow for this session").',
  grant: 'Allowed by your earlier "Allow for 1 hour" or "Allow for this session" (not asked again).',
  deny: 'You denied it (Deny, Esc or closing the dialog).',
  timeout: 'Nobody answered the approval prompt in time, so it was denied.',
  no_approver: 'Needed approval, and this server had no one to ask (headless), so it was denied.',
};

const RULE_TEXT: Record<string, string> = {
  outside_active_hours: "outside the agent's active hours",
  agent_id_mismatch: "agent_id differs from the token's agent",
  sensitive_scope: 'sensitive scope',
  burst: 'burst of requests',
  probing: 'probing (many denials)',
  first_use: 'first use of this credential by this agent',
  unusual_hours: "outside the agent's usual hours",
};

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) {
    throw new Error(`missing #${id}`);
  }
  return el as T;
}

const els = {
  verify: byId<HTMLButtonElement>('verify'),
  export: byId<HTMLButtonElement>('export'),
  live: byId<HTMLSpanElement>('live'),
  banner: byId<HTMLDivElement>('banner'),
  filters: byId<HTMLFormElement>('filters'),
  agent: byId<HTMLInputElement>('f-agent'),
  credential: byId<HTMLInputElement>('f-credential'),
  decision: byId<HTMLSelectElement>('f-decision'),
  range: byId<HTMLSelectElement>('f-range'),
  since: byId<HTMLInputElement>('f-since'),
  until: byId<HTMLInputElement>('f-until'),
  clear: byId<HTMLButtonElement>('clear'),
  agents: byId<HTMLDataListElement>('agents'),
  credentials: byId<HTMLDataListElement>('credentials'),
  timeline: byId<HTMLElement>('timeline'),
  rows: byId<HTMLTableSectionElement>('rows'),
  empty: byId<HTMLParagraphElement>('empty'),
  newer: byId<HTMLButtonElement>('newer'),
  older: byId<HTMLButtonElement>('older'),
  pagerText: byId<HTMLSpanElement>('pager-text'),
};

const saved = vscode.getState() as Partial<SavedState> | undefined;
let filter: AuditViewFilter = saved?.filter ?? {};
let offset = typeof saved?.offset === 'number' ? saved.offset : 0;
let page: PageMessage | undefined;
const expanded = new Set<string>();
let focusedId: string | undefined;

function send(m: WebviewMessage): void {
  vscode.postMessage(m);
}

function save(): void {
  vscode.setState({ filter, offset } satisfies SavedState);
}

function icon(name: string, extra = ''): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = `codicon codicon-${name}${extra ? ` ${extra}` : ''}`;
  s.setAttribute('aria-hidden', 'true');
  return s;
}

function text(tag: string, content: string, className?: string): HTMLElement {
  const el = document.createElement(tag);
  el.textContent = content;
  if (className) {
    el.className = className;
  }
  return el;
}

const fmt = new Intl.NumberFormat('en');

// ------------------------------------------------------------------ filters

function toLocalInput(ms: number | undefined): string {
  if (ms === undefined) {
    return '';
  }
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function fromLocalInput(v: string): number | undefined {
  if (!v) {
    return undefined;
  }
  const ms = new Date(v).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

function showFilter(f: AuditViewFilter): void {
  if (document.activeElement !== els.agent) {
    els.agent.value = f.agent ?? '';
  }
  if (document.activeElement !== els.credential) {
    els.credential.value = f.credential ?? '';
  }
  els.decision.value = f.decision ?? 'all';
  els.range.value = f.range ?? 'all';
  els.since.value = toLocalInput(f.since);
  els.until.value = toLocalInput(f.until);
  for (const c of document.querySelectorAll<HTMLElement>('.field.custom')) {
    c.hidden = els.range.value !== 'custom';
  }
  els.clear.disabled = !isFiltered(f);
}

function isFiltered(f: AuditViewFilter): boolean {
  return Boolean(
    f.agent || f.credential || (f.decision && f.decision !== 'all') || (f.range && f.range !== 'all'),
  );
}

function readFilter(): AuditViewFilter {
  const f: AuditViewFilter = {};
  const agent = els.agent.value.trim();
  const credential = els.credential.value.trim();
  if (agent) {
    f.agent = agent;
  }
  if (credential) {
    f.credential = credential;
  }
  if (els.decision.value !== 'all') {
    f.decision = els.decision.value as AuditViewFilter['decision'];
  }
  if (els.range.value !== 'all') {
    f.range = els.range.value as AuditViewFilter['range'];
  }
  if (f.range === 'custom') {
    const since = fromLocalInput(els.since.value);
    const until = fromLocalInput(els.until.value);
    if (since !== undefined) {
      f.since = since;
    }
    if (until !== undefined && (since === undefined || until > since)) {
      f.until = until;
    }
  }
  return f;
}

function query(newOffset: number): void {
  offset = newOffset;
  save();
  send({ type: 'query', filter, offset });
}

function applyFilter(): void {
  filter = readFilter();
  for (const c of document.querySelectorAll<HTMLElement>('.field.custom')) {
    c.hidden = els.range.value !== 'custom';
  }
  els.clear.disabled = !isFiltered(filter);
  query(0);
}

let typing: number | undefined;
for (const input of [els.agent, els.credential]) {
  input.addEventListener('input', () => {
    window.clearTimeout(typing);
    typing = window.setTimeout(applyFilter, 250);
  });
}
for (const el of [els.decision, els.range, els.since, els.until]) {
  el.addEventListener('change', applyFilter);
}
els.filters.addEventListener('submit', (e) => {
  e.preventDefault();
  window.clearTimeout(typing);
  applyFilter();
});
els.clear.addEventListener('click', () => {
  filter = {};
  showFilter(filter);
  query(0);
  els.agent.focus();
});

// ------------------------------------------------------------------ actions

els.verify.addEventListener('click', () => send({ type: 'verify' }));
els.export.addEventListener('click', () => {
  // Export what the filter boxes say: a live page for an older filter may have arrived since they
  // were last applied (or the user is still within the typing delay). Apply them too, so the
  // table shows what is exported.
  window.clearTimeout(typing);
  const shown = readFilter();
  if (JSON.stringify(shown) !== JSON.stringify(filter)) {
    applyFilter();
  }
  send({ type: 'export', filter: shown, format: 'csv' });
});
els.newer.addEventListener('click', () => page && query(Math.max(0, page.offset - page.pageSize)));
els.older.addEventListener('click', () => page && query(page.offset + page.pageSize));

/** The Verify result on show, until events newer than it arrive (then it says it is out of date). */
let verified: { count: number; at: string } | undefined;

function banner(kind: 'ok' | 'bad' | 'info', message: string): void {
  verified = undefined;
  els.banner.replaceChildren();
  els.banner.className = `banner ${kind}`;
  els.banner.append(icon(kind === 'ok' ? 'pass' : kind === 'bad' ? 'error' : 'info'));
  els.banner.append(text('span', message, 'banner-text'));
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'button icon bare';
  close.setAttribute('aria-label', 'Dismiss');
  close.append(icon('close'));
  close.addEventListener('click', () => {
    els.banner.hidden = true;
    verified = undefined;
  });
  els.banner.append(close);
  els.banner.hidden = false;
}

// ------------------------------------------------------------------ table

function rowLabel(r: AuditRow): string {
  return [
    `${r.date} ${r.time}`,
    r.agent ?? r.client ?? 'unknown',
    r.decision,
    r.credential ?? '',
    r.scope ? `scope ${r.scope}` : '',
    r.approval ? `decided by ${APPROVAL_TEXT[r.approval] ?? r.approval}` : '',
    r.anomaly ? 'anomaly' : '',
  ]
    .filter(Boolean)
    .join(', ');
}

function isToday(date: string): boolean {
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  return date === `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

function renderRow(r: AuditRow): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.className = 'event';
  tr.dataset.id = r.id;
  tr.dataset.decision = r.decision;
  tr.tabIndex = -1;
  tr.setAttribute('aria-label', rowLabel(r));
  tr.setAttribute('aria-expanded', String(expanded.has(r.id)));
  if (r.anomaly) {
    tr.classList.add('anomaly');
  }
  if (r.decision === 'deny') {
    tr.classList.add('denied');
  }

  const time = document.createElement('td');
  const t = document.createElement('time');
  t.dateTime = r.ts;
  t.title = `${r.date} ${r.time}`;
  t.textContent = isToday(r.date) ? r.time.slice(0, 5) : r.date.slice(5);
  time.append(t);

  const agent = document.createElement('td');
  if (r.agent) {
    agent.textContent = r.agent;
    agent.title = r.agent;
  } else {
    agent.append(text('span', r.client ?? '—', 'muted'));
    agent.title = r.client ? `by ${r.client}` : '';
  }
  if (r.claimedAgent) {
    agent.append(text('span', ` (claims ${r.claimedAgent})`, 'warn-text'));
  }

  const cred = text('td', r.credential ?? '—');
  cred.title = r.credential ?? '';
  const scope = text('td', r.scope ?? '', 'c-scope');

  const decision = document.createElement('td');
  const badge = document.createElement('span');
  badge.className = `decision d-${r.decision}`;
  const decider = r.approval ? (APPROVAL_DETAIL[r.approval] ?? r.approval) : '';
  badge.title = [DECISION_TEXT[r.decision] ?? r.decision, decider].filter(Boolean).join(' — ');
  badge.append(
    icon(DECISION_ICONS[r.decision] ?? 'circle-outline'),
    text('span', DECISION_TEXT[r.decision] ?? r.decision, 'd-text'),
  );
  decision.append(badge);
  if (r.rules.length > 0) {
    const warn = icon('warning', 'rule-mark');
    warn.removeAttribute('aria-hidden');
    warn.setAttribute('role', 'img');
    const rules = r.rules.map((x) => RULE_TEXT[x] ?? x).join('; ');
    warn.setAttribute('aria-label', `rules fired: ${rules}`);
    warn.title = `Rules fired: ${rules}`;
    decision.append(warn);
  }

  // Who decided: its own column when the view is wide; the badge's tooltip says it always.
  const by = document.createElement('td');
  by.className = 'c-by';
  if (r.approval) {
    by.textContent = APPROVAL_TEXT[r.approval] ?? r.approval;
    by.title = decider;
  }

  const reason = document.createElement('td');
  reason.className = 'c-reason';
  const why = [r.code, r.reason].filter(Boolean).join(' — ');
  reason.textContent = why;
  reason.title = [why, r.refusal].filter(Boolean).join('\n');

  tr.append(time, agent, cred, scope, decision, by, reason);
  return tr;
}

/** Columns shown now (narrow views hide some): a details row must span exactly these, or the
 * table grows phantom columns. */
function visibleColumns(): number {
  return [...document.querySelectorAll<HTMLElement>('#events thead th')].filter(
    (th) => getComputedStyle(th).display !== 'none',
  ).length;
}

window.addEventListener('resize', () => {
  const n = visibleColumns();
  for (const td of document.querySelectorAll<HTMLTableCellElement>('tr.details > td')) {
    td.colSpan = n;
  }
});

function renderDetails(r: AuditRow): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.className = 'details';
  tr.dataset.for = r.id;
  const td = document.createElement('td');
  td.colSpan = visibleColumns();
  const dl = document.createElement('dl');
  const add = (k: string, v: string | number | null | undefined): void => {
    if (v === null || v === undefined || v === '') {
      return;
    }
    dl.append(text('dt', k), text('dd', String(v)));
  };
  add('Time', `${r.date} ${r.time} (${r.ts})`);
  add('Tool', r.tool);
  add('Decision', r.decision);
  add('Decided by', r.approval ? (APPROVAL_DETAIL[r.approval] ?? r.approval) : null);
  add('Code', r.code);
  add('Agent', r.agent);
  add('Claimed agent', r.claimedAgent);
  add('Credential', r.credential);
  add('Scope', r.scope);
  add('Version', r.version);
  add('Lease', r.lease);
  add('Rules', r.rules.map((x) => `${x} (${RULE_TEXT[x] ?? 'rule'})`).join(', '));
  add('Client', r.client);
  add('Reason', r.reason);
  add('Refusal', r.refusal);
  add('Event hash', r.id);
  td.append(dl);
  tr.append(td);
  return tr;
}

function renderRows(p: PageMessage): void {
  const fragment = document.createDocumentFragment();
  for (const r of p.rows) {
    fragment.append(renderRow(r));
    if (expanded.has(r.id)) {
      fragment.append(renderDetails(r));
    }
  }
  const hadFocus = els.rows.contains(document.activeElement);
  els.rows.replaceChildren(fragment);
  const ids = new Set(p.rows.map((r) => r.id));
  for (const id of [...expanded]) {
    if (!ids.has(id)) {
      expanded.delete(id);
    }
  }
  if (p.highlight && ids.has(p.highlight)) {
    focusedId = p.highlight;
  } else if (!focusedId || !ids.has(focusedId)) {
    focusedId = p.rows[0]?.id;
  }
  const target = focusedId ? rowById(focusedId) : undefined;
  if (target) {
    target.tabIndex = 0;
    if (p.highlight === focusedId) {
      target.classList.add('highlight');
      target.scrollIntoView({ block: 'center' });
      target.focus({ preventScroll: true });
    } else if (hadFocus) {
      target.focus({ preventScroll: true });
    }
  }

  els.empty.hidden = p.rows.length > 0;
  if (p.rows.length === 0) {
    els.empty.textContent = isFiltered(p.filter)
      ? 'No events match these filters.'
      : 'Nothing recorded yet. Every credential request, rotation and change will show here, newest first.';
  }
  const first = p.total === 0 ? 0 : p.offset + 1;
  const last = p.offset + p.rows.length;
  els.pagerText.textContent =
    p.total === 0 ? 'No events' : `${fmt.format(first)}–${fmt.format(last)} of ${fmt.format(p.total)}`;
  els.newer.disabled = p.offset === 0;
  els.older.disabled = last >= p.total;
}

function rowById(id: string): HTMLTableRowElement | undefined {
  return els.rows.querySelector<HTMLTableRowElement>(`tr.event[data-id="${CSS.escape(id)}"]`) ?? undefined;
}

function eventRows(): HTMLTableRowElement[] {
  return [...els.rows.querySelectorAll<HTMLTableRowElement>('tr.event')];
}

function focusRow(tr: HTMLTableRowElement | undefined): void {
  if (!tr) {
    return;
  }
  for (const r of eventRows()) {
    r.tabIndex = -1;
  }
  tr.tabIndex = 0;
  tr.focus();
  focusedId = tr.dataset.id;
}

function toggle(tr: HTMLTableRowElement): void {
  const id = tr.dataset.id;
  const row = page?.rows.find((r) => r.id === id);
  if (!id || !row) {
    return;
  }
  if (expanded.has(id)) {
    expanded.delete(id);
    const next = tr.nextElementSibling;
    if (next?.classList.contains('details')) {
      next.remove();
    }
    tr.setAttribute('aria-expanded', 'false');
  } else {
    expanded.add(id);
    tr.after(renderDetails(row));
    tr.setAttribute('aria-expanded', 'true');
  }
}

els.rows.addEventListener('keydown', (e) => {
  const tr = (e.target as HTMLElement).closest<HTMLTableRowElement>('tr.event');
  if (!tr) {
    return;
  }
  const rows = eventRows();
  const i = rows.indexOf(tr);
  switch (e.key) {
    case 'ArrowDown':
      focusRow(rows[Math.min(rows.length - 1, i + 1)]);
      break;
    case 'ArrowUp':
      focusRow(rows[Math.max(0, i - 1)]);
      break;
    case 'Home':
      focusRow(rows[0]);
      break;
    case 'End':
      focusRow(rows[rows.length - 1]);
      break;
    case 'PageDown':
      if (!els.older.disabled) {
        els.older.click();
      }
      break;
    case 'PageUp':
      if (!els.newer.disabled) {
        els.newer.click();
      }
      break;
    case 'Enter':
    case ' ':
      toggle(tr);
      break;
    default:
      return;
  }
  e.preventDefault();
});
els.rows.addEventListener('click', (e) => {
  const tr = (e.target as HTMLElement).closest<HTMLTableRowElement>('tr.event');
  if (tr) {
    focusRow(tr);
    toggle(tr);
  }
});

// ------------------------------------------------------------------ timeline

const SVG = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    el.setAttribute(k, String(v));
  }
  return el;
}

function bucketName(ms: number): string {
  const d = new Date(ms);
  return `${d.toLocaleDateString('en', { month: 'short', day: 'numeric' })} ${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

function renderTimeline(t: Timeline): void {
  const per = t.bucketMs >= 86_400_000 ? 'day' : t.bucketMs >= 3_600_000 ? 'hour' : '5 minutes';
  const heading = document.createElement('div');
  heading.className = 'timeline-head';
  heading.append(text('h2', `Requests per ${per}`));
  const legend = document.createElement('span');
  legend.className = 'legend';
  legend.append(
    text('span', '', 'swatch ok'),
    text('span', 'requests'),
    text('span', '', 'swatch bad'),
    text('span', 'denied'),
  );
  heading.append(legend);

  const children: Node[] = [heading];
  if (t.lanes.length === 0) {
    children.push(text('p', 'No agent requests in this time range.', 'muted small'));
    els.timeline.replaceChildren(...children);
    return;
  }
  const n = t.buckets.length;
  const W = 10;
  const H = 28;
  const max = Math.max(1, t.max);
  for (const lane of t.lanes) {
    const row = document.createElement('div');
    row.className = 'lane';
    const name = document.createElement('button');
    name.type = 'button';
    name.className = 'lane-name button link';
    name.textContent = lane.agent;
    name.title = `Show only ${lane.agent}`;
    name.setAttribute(
      'aria-label',
      `${lane.agent}: ${lane.total} requests, ${lane.denials.reduce((a, b) => a + b, 0)} denied. Filter by this agent.`,
    );
    name.addEventListener('click', () => {
      els.agent.value = lane.agent;
      applyFilter();
    });
    const chart = svg('svg', {
      viewBox: `0 0 ${n * W} ${H}`,
      preserveAspectRatio: 'none',
      class: 'bars',
      role: 'img',
    });
    chart.setAttribute('aria-hidden', 'true');
    for (let i = 0; i < n; i++) {
      const c = lane.counts[i];
      if (c === 0) {
        continue;
      }
      const g = svg('g', {});
      const h = Math.max(2, (c / max) * (H - 2));
      g.append(svg('rect', { x: i * W + 1, y: H - h, width: W - 2, height: h, class: 'bar' }));
      const d = lane.denials[i];
      if (d > 0) {
        const dh = Math.max(2, (d / max) * (H - 2));
        g.append(svg('rect', { x: i * W + 1, y: H - dh, width: W - 2, height: dh, class: 'bar denied' }));
      }
      const title = svg('title', {});
      title.textContent = `${bucketName(t.buckets[i])}: ${c} request${c === 1 ? '' : 's'}${d ? `, ${d} denied` : ''}`;
      g.append(title);
      chart.append(g);
    }
    const denied = lane.denials.reduce((a, b) => a + b, 0);
    const total = text('span', fmt.format(lane.total), 'lane-total');
    total.title = `${lane.total} request${lane.total === 1 ? '' : 's'}${denied ? `, ${denied} denied` : ''}`;
    if (denied > 0) {
      total.append(text('span', ` (${fmt.format(denied)} denied)`, 'denied-count'));
    }
    row.append(name, chart, total);
    children.push(row);
  }
  const axis = document.createElement('div');
  axis.className = 'axis';
  axis.append(text('span', t.labels[0]), text('span', t.labels[1]), text('span', t.labels[2]));
  axis.setAttribute('aria-hidden', 'true');
  children.push(axis);
  if (t.moreAgents > 0) {
    children.push(
      text(
        'p',
        `+ ${t.moreAgents} more agent${t.moreAgents === 1 ? '' : 's'} (filter by agent to see one)`,
        'muted small',
      ),
    );
  }
  els.timeline.replaceChildren(...children);
}

// ------------------------------------------------------------------ messages

function fillList(list: HTMLDataListElement, values: string[]): void {
  list.replaceChildren(
    ...values.map((v) => {
      const o = document.createElement('option');
      o.value = v;
      return o;
    }),
  );
}

window.addEventListener('message', (event: MessageEvent<ExtensionMessage>) => {
  const m = event.data;
  switch (m?.type) {
    case 'page': {
      page = m;
      filter = m.filter;
      offset = m.offset;
      save();
      showFilter(filter);
      if (m.options) {
        fillList(els.agents, m.options.agents);
        fillList(els.credentials, m.options.credentials);
      }
      if (m.timeline) {
        renderTimeline(m.timeline);
      }
      renderRows(m);
      if (m.live && verified) {
        // A live page means events were recorded after the check: "intact" no longer covers them.
        const { count, at } = verified;
        banner(
          'info',
          `Verified ${fmt.format(count)} events at ${at}; newer events have been recorded since. Verify again to check them too.`,
        );
      }
      document.body.classList.remove('busy');
      els.live.textContent = m.live
        ? `Live · ${new Date().toLocaleTimeString('en-GB')}`
        : `${fmt.format(m.total)} event${m.total === 1 ? '' : 's'} · ${m.tookMs} ms`;
      els.live.title = m.live
        ? 'Updated as events are recorded'
        : 'Events matching the filters, and how long the query took';
      break;
    }
    case 'busy':
      if (m.what === 'query') {
        document.body.classList.add('busy');
        els.live.textContent = 'Loading…';
      } else if (m.what === 'verify') {
        els.verify.disabled = true;
        els.live.textContent = 'Verifying the hash chain…';
      } else {
        els.export.disabled = true;
        els.live.textContent = 'Exporting…';
      }
      break;
    case 'verifyResult':
      els.verify.disabled = false;
      els.live.textContent = '';
      if (m.ok && m.warning) {
        banner('info', `Hash chain intact (${fmt.format(m.count)} events), with a warning: ${m.warning}`);
      } else if (m.ok) {
        banner(
          'ok',
          m.count === 0
            ? 'The audit log is empty.'
            : `Audit log intact: ${fmt.format(m.count)} events, hash chain verified.`,
        );
        verified = { count: m.count, at: new Date().toLocaleTimeString('en-GB') };
      } else {
        banner('bad', `Tampered or damaged: ${m.firstBad?.reason ?? 'unknown problem'}`);
      }
      break;
    case 'exportResult':
      els.export.disabled = false;
      els.live.textContent = '';
      if (m.message) {
        banner(m.ok ? 'info' : 'bad', m.message);
      }
      break;
    case 'error':
      document.body.classList.remove('busy');
      els.verify.disabled = false;
      els.export.disabled = false;
      banner('bad', m.message);
      break;
    default:
      break;
  }
});

showFilter(filter);
send({ type: 'ready', filter, offset });
