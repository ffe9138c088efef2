/**
 * The Audit view (`agentKeyring.audit`), a webview view in the Agent Keyring sidebar: a live,
 * filterable, paged table of audit events with a per-agent timeline, Verify and Export.
 *
 * - One instance: VS Code creates at most one webview for the view id; when it resolves again
 *   (after the view was closed), the previous session and its listeners are disposed first.
 * - Strict CSP with a fresh nonce per render (`crypto.randomBytes`), scripts only with that nonce,
 *   `localResourceRoots` = `media/` only (the script bundle, CSS and codicon font live there).
 * - Messages go through {@link AuditViewSession} (validated with zod in `messages.ts`).
 * - Showing the view marks the alerts as seen (the status bar count resets).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Disposable, DisposableStore } from '../lifecycle';
import { AuditViewSession, type AuditSessionDeps, type RevealTarget } from './auditSession';
import type { ExtensionMessage } from './messages';

export const AUDIT_VIEW_ID = 'agentKeyring.audit';
/** The view type of the Audit log in an editor tab ("Open Audit Log in Editor"). */
export const AUDIT_PANEL_VIEW_TYPE = 'agentKeyring.auditPanel';

/** Most messages kept by the test-mode recorder (oldest dropped). */
const RECORD_LIMIT = 2_000;

export interface AuditViewDeps extends AuditSessionDeps {
  extensionUri: vscode.Uri;
  /** Fired each time the view becomes visible (alerts count as seen). */
  onShown?: () => void;
  /** Test mode: record every message posted to and received from the real webview. */
  record?: boolean;
}

export class AuditViewProvider extends Disposable implements vscode.WebviewViewProvider {
  readonly #deps: AuditViewDeps;
  #view: vscode.WebviewView | undefined;
  #session: AuditViewSession | undefined;
  #viewStore: DisposableStore | undefined;
  #pendingReveal: RevealTarget | undefined;
  /** The editor tab, when open: one instance, revealed when asked again. */
  #panel: vscode.WebviewPanel | undefined;
  #panelSession: AuditViewSession | undefined;
  /** Sessions opened by {@link openSession} (tests, and any other host of the page). */
  readonly #openSessions = new Set<AuditViewSession>();
  /** Test mode only: payloads posted to the webview (as sent) and received from it. */
  readonly sent: ExtensionMessage[] = [];
  readonly received: unknown[] = [];

  constructor(deps: AuditViewDeps) {
    super();
    this.#deps = deps;
    this._register({ dispose: () => this.#disposeView() });
    this._register({
      dispose: () => {
        this.#panel?.dispose();
      },
    });
    this.#watchFile();
  }

  /** Whether the webview is on screen now. */
  get visible(): boolean {
    return this.#view?.visible ?? false;
  }

  /** The session of the real webview, once it resolved. */
  get session(): AuditViewSession | undefined {
    return this.#session;
  }

  /** The session of the editor tab, while it is open. */
  get panelSession(): AuditViewSession | undefined {
    return this.#panelSession;
  }

  /**
   * The same Audit view in an editor tab (more room than the side bar): one instance, revealed
   * (not duplicated) when it is open already. Same page, same session code, same messages.
   */
  openInEditor(): vscode.WebviewPanel {
    if (this.#panel) {
      this.#panel.reveal();
      return this.#panel;
    }
    const media = vscode.Uri.joinPath(this.#deps.extensionUri, 'media');
    const panel = vscode.window.createWebviewPanel(
      AUDIT_PANEL_VIEW_TYPE,
      'Agent Keyring Audit',
      vscode.ViewColumn.Active,
      { enableScripts: true, localResourceRoots: [media] },
    );
    panel.iconPath = vscode.Uri.joinPath(media, 'activity.svg');
    panel.webview.html = renderHtml(panel.webview, media, { inEditor: true });
    const store = new DisposableStore();
    const session = new AuditViewSession(
      this.#deps,
      (m) => this.#post(panel.webview, m),
      () => panel.visible,
    );
    this.#panel = panel;
    this.#panelSession = session;
    store.add({ dispose: () => session.dispose() });
    store.add(
      panel.webview.onDidReceiveMessage(async (raw: unknown) => {
        if (this.#deps.record) {
          this.#record(this.received, raw);
        }
        await session.handle(raw);
      }),
    );
    store.add(
      panel.onDidChangeViewState(() => {
        if (panel.visible) {
          this.#deps.onShown?.();
          session.shown();
        }
      }),
    );
    const closed = panel.onDidDispose(() => {
      closed.dispose();
      store.dispose();
      if (this.#panel === panel) {
        this.#panel = undefined;
        this.#panelSession = undefined;
      }
    });
    this.#deps.onShown?.();
    return panel;
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.#disposeView();
    const store = new DisposableStore();
    this.#viewStore = store;
    this.#view = view;
    const media = vscode.Uri.joinPath(this.#deps.extensionUri, 'media');
    view.webview.options = { enableScripts: true, localResourceRoots: [media] };
    view.webview.html = renderHtml(view.webview, media);

    const session = new AuditViewSession(
      this.#deps,
      (m) => this.#postToView(view, m),
      () => view.visible,
    );
    this.#session = session;
    store.add({ dispose: () => session.dispose() });
    store.add(
      view.webview.onDidReceiveMessage(async (raw: unknown) => {
        if (this.#deps.record) {
          this.#record(this.received, raw);
        }
        const pending = isReady(raw) ? this.#takePendingReveal() : undefined;
        if (pending) {
          // The first page of a view opened by "Show in Audit" is the one with the event.
          await session
            .handle(raw)
            .then(() => session.reveal(pending))
            .catch((e: unknown) => this.#revealFailed(e));
          return;
        }
        await session.handle(raw);
      }),
    );
    store.add(
      view.onDidChangeVisibility(() => {
        if (view.visible) {
          this.#deps.onShown?.();
          session.shown();
        }
      }),
    );
    store.add(
      view.onDidDispose(() => {
        if (this.#view === view) {
          this.#disposeView();
        }
      }),
    );
    if (view.visible) {
      this.#deps.onShown?.();
    }
  }

  /**
   * Opens the view and shows (and highlights) the audit event of an alert. When the view is not
   * open yet, the event is shown as soon as its webview has started.
   */
  async reveal(target: RevealTarget): Promise<void> {
    const session = this.#session;
    if (session?.started) {
      await vscode.commands.executeCommand(`${AUDIT_VIEW_ID}.focus`);
      await session.reveal(target).catch((e: unknown) => this.#revealFailed(e));
      return;
    }
    this.#pendingReveal = target;
    await vscode.commands.executeCommand(`${AUDIT_VIEW_ID}.focus`);
  }

  /** A session over any sink (the integration suite drives the message handler through it). */
  openSession(
    post: (m: ExtensionMessage) => void,
    overrides: Partial<AuditSessionDeps> = {},
  ): AuditViewSession {
    const session = new AuditViewSession({ ...this.#deps, ...overrides }, post);
    this.#openSessions.add(session);
    this._register({ dispose: () => session.dispose() });
    return session;
  }

  #takePendingReveal(): RevealTarget | undefined {
    const p = this.#pendingReveal;
    this.#pendingReveal = undefined;
    return p;
  }

  #revealFailed(e: unknown): void {
    this.#deps.logger.warn(
      `Audit view: could not show the alert's event: ${(e as Error)?.message ?? String(e)}`,
    );
  }

  #postToView(view: vscode.WebviewView, m: ExtensionMessage): void {
    this.#post(view.webview, m);
  }

  #post(webview: vscode.Webview, m: ExtensionMessage): void {
    if (this.#deps.record) {
      this.#record(this.sent, m);
    }
    void webview.postMessage(m).then(undefined, () => undefined);
  }

  #record(list: unknown[], m: unknown): void {
    // A deep copy: what would be serialized, not a live reference.
    list.push(JSON.parse(JSON.stringify(m ?? null)) as unknown);
    if (list.length > RECORD_LIMIT) {
      list.splice(0, list.length - RECORD_LIMIT);
    }
  }

  #disposeView(): void {
    this.#viewStore?.dispose();
    this.#viewStore = undefined;
    this.#session = undefined;
    this.#view = undefined;
  }

  /** Every open session re-reads (throttled): the view's, the editor tab's, and sessions opened by `openSession`. */
  #trailChanged(): void {
    this.#session?.fileChanged();
    this.#panelSession?.fileChanged();
    for (const s of this.#openSessions) {
      if (s.disposed) {
        this.#openSessions.delete(s);
      } else {
        s.fileChanged();
      }
    }
  }

  /**
   * Appends by other windows or the CLI do not go through our AuditLog: watch the file's folder (a
   * team store: the database's notices of other servers' appends).
   */
  #watchFile(): void {
    const file = this.#deps.source.path;
    if (file === undefined) {
      // A team store's rows: the database tells when another server (or editor) appended.
      const changes = this.#deps.source.onDidChange?.(() => {
        this.#trailChanged();
      });
      if (changes) {
        this._register(changes);
      }
      return;
    }
    const base = path.basename(file);
    try {
      const watcher = fs.watch(path.dirname(file), { persistent: false }, (_event, filename) => {
        if (!filename || filename === base) {
          this.#trailChanged();
        }
      });
      watcher.on('error', (e) => this.#deps.logger.debug(`Stopped watching the audit log: ${e.message}`));
      this._register({ dispose: () => watcher.close() });
    } catch (e) {
      this.#deps.logger.debug(`Cannot watch the audit log folder: ${(e as Error).message}`);
    }
  }
}

function isReady(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && (raw as { type?: unknown }).type === 'ready';
}

/**
 * The page: static markup, filled by `media/dist/audit.js`. Exported for the CSP test.
 * `inEditor`: the editor-tab variant (editor background, more padding).
 */
export function renderHtml(
  webview: vscode.Webview,
  media: vscode.Uri,
  opts: { inEditor?: boolean } = {},
): string {
  const nonce = randomBytes(18).toString('base64');
  const uri = (...p: string[]): string => webview.asWebviewUri(vscode.Uri.joinPath(media, ...p)).toString();
  const csp = [
    "default-src 'none'",
    `style-src ${webview.cspSource}`,
    `font-src ${webview.cspSource}`,
    `img-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${uri('dist', 'codicon.css')}">
<link rel="stylesheet" href="${uri('audit', 'audit.css')}">
<title>Agent Keyring Audit</title>
</head>
<body${opts.inEditor ? ' class="in-editor"' : ''}>
<div class="toolbar" role="toolbar" aria-label="Audit actions">
  <button id="verify" class="button secondary" type="button" title="Check the hash chain of the whole audit log"><span class="codicon codicon-shield" aria-hidden="true"></span>Verify</button>
  <button id="export" class="button secondary" type="button" title="Save the events matching the filters as CSV or JSON Lines"><span class="codicon codicon-export" aria-hidden="true"></span>Export…</button>
  <span id="live" class="live" role="status" aria-live="polite"></span>
</div>
<div id="banner" class="banner" role="alert" hidden></div>
<form id="filters" class="filters" aria-label="Filters">
  <div class="field"><label for="f-agent">Agent</label><input id="f-agent" list="agents" type="text" placeholder="any" autocomplete="off" spellcheck="false"></div>
  <div class="field"><label for="f-credential">Credential</label><input id="f-credential" list="credentials" type="text" placeholder="any" autocomplete="off" spellcheck="false"></div>
  <div class="field"><label for="f-decision">Decision</label><select id="f-decision">
    <option value="all">any</option><option value="allow">allowed</option><option value="approved">approved</option><option value="deny">denied</option><option value="rotated">rotated</option><option value="changes">changes (add/remove…)</option><option value="listed">listed</option><option value="http">http requests</option>
  </select></div>
  <div class="field"><label for="f-range">Time</label><select id="f-range">
    <option value="all">all time</option><option value="1h">last hour</option><option value="24h">last 24 hours</option><option value="7d">last 7 days</option><option value="30d">last 30 days</option><option value="custom">custom…</option>
  </select></div>
  <div class="field custom" hidden><label for="f-since">From</label><input id="f-since" type="datetime-local"></div>
  <div class="field custom" hidden><label for="f-until">To</label><input id="f-until" type="datetime-local"></div>
  <div class="field actions"><button id="clear" class="button link" type="button">Clear filters</button></div>
  <datalist id="agents"></datalist><datalist id="credentials"></datalist>
</form>
<section id="timeline" class="timeline" aria-label="Requests per agent over time"></section>
<div class="table-wrap">
<table id="events" aria-label="Audit events, newest first" aria-describedby="pager-text">
  <thead><tr><th scope="col" class="c-time">Time</th><th scope="col" class="c-agent">Agent</th><th scope="col" class="c-cred">Credential</th><th scope="col" class="c-scope">Scope</th><th scope="col" class="c-decision-h" title="Decision"><span class="d-text">Decision</span><span class="d-short" aria-hidden="true">±</span></th><th scope="col" class="c-by" title="Who decided a request held for approval">Decided by</th><th scope="col" class="c-reason">Reason</th></tr></thead>
  <tbody id="rows"></tbody>
</table>
<p id="empty" class="empty" hidden></p>
</div>
<nav class="pager" aria-label="Pages">
  <button id="newer" class="button secondary icon" type="button" aria-label="Newer events"><span class="codicon codicon-chevron-left" aria-hidden="true"></span></button>
  <span id="pager-text" class="pager-text"></span>
  <button id="older" class="button secondary icon" type="button" aria-label="Older events"><span class="codicon codicon-chevron-right" aria-hidden="true"></span></button>
</nav>
<script nonce="${nonce}" src="${uri('dist', 'audit.js')}"></script>
</body>
</html>`;
}
