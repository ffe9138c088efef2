/**
 * Helpers for driving the Audit view's message handler in the extension host: a session over a
 * recording sink (what the webview would receive), and renderings the other suites assert on.
 */
import type { AgentKeyringTestApi } from '../../src/extension';
import type { AuditSessionDeps, AuditViewSession } from '../../src/vscode/webview/auditSession';
import type { ExtensionMessage } from '../../src/vscode/webview/messages';
import type { RenderedItem } from './helpers';

export type PageMessage = Extract<ExtensionMessage, { type: 'page' }>;

/** A session of the Audit view's handler whose posts are recorded. */
export class RecordedSession {
  readonly messages: ExtensionMessage[] = [];
  readonly session: AuditViewSession;
  #waiters: { pred: (m: ExtensionMessage) => boolean; resolve: (m: ExtensionMessage) => void }[] = [];

  constructor(api: AgentKeyringTestApi, overrides: Partial<AuditSessionDeps> = {}) {
    this.session = api.auditView.openSession((m) => this.#push(m), overrides);
  }

  #push(m: ExtensionMessage): void {
    // What crosses to a webview is serialized: record exactly that.
    const copy = JSON.parse(JSON.stringify(m)) as ExtensionMessage;
    this.messages.push(copy);
    for (const w of [...this.#waiters]) {
      if (w.pred(copy)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(copy);
      }
    }
  }

  /** Sends a message as the webview would, and resolves with the first later post matching `pred`. */
  async request<T extends ExtensionMessage>(
    raw: unknown,
    pred: (m: ExtensionMessage) => m is T,
    timeoutMs = 10_000,
  ): Promise<T> {
    const next = this.next(pred, timeoutMs);
    await this.session.handle(raw);
    return next;
  }

  /** The next post matching `pred` (posts already recorded do not count). */
  next<T extends ExtensionMessage>(pred: (m: ExtensionMessage) => m is T, timeoutMs = 10_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(new Error(`No matching message from the Audit view within ${timeoutMs} ms.`));
      }, timeoutMs);
      const done = (m: ExtensionMessage): void => {
        clearTimeout(timer);
        resolve(m as T);
      };
      this.#waiters.push({ pred, resolve: done });
    });
  }

  dispose(): void {
    this.session.dispose();
  }
}

export const isPage = (m: ExtensionMessage): m is PageMessage => m.type === 'page';

/** The first page of the Audit view (no filter) as rendered items: label "<decision> <subject>". */
export async function renderAuditView(api: AgentKeyringTestApi): Promise<RenderedItem[]> {
  const rec = new RecordedSession(api);
  try {
    const page = await rec.request({ type: 'ready' }, isPage);
    return page.rows.map((r) => ({
      depth: 0,
      label: `${r.decision.replace('_', ' ')} ${r.credential ?? r.agent ?? r.tool}`,
      description: [r.time, r.agent ?? r.client, r.scope].filter(Boolean).join(' · '),
      tooltip: JSON.stringify(r),
      id: `audit:${r.id}`,
    }));
  } finally {
    rec.dispose();
  }
}

/** Opens a session on the Audit view; `changed` resolves on its next live page. */
export async function nextAuditViewChange(
  api: AgentKeyringTestApi,
  timeoutMs = 5_000,
): Promise<{ changed: Promise<void> }> {
  const rec = new RecordedSession(api);
  await rec.request({ type: 'ready' }, isPage);
  const changed = rec
    .next((m): m is PageMessage => m.type === 'page' && m.live, timeoutMs)
    .then(
      () => rec.dispose(),
      (e: unknown) => {
        rec.dispose();
        throw e;
      },
    );
  return { changed };
}
