/**
 * The status bar item: where the MCP server is (`$(key) Agent Keyring :47017`, stopped, attached to
 * another window's server, port taken), which store (a team store is named in the text, `· team
 * db@host`, and shown degraded while its database does not answer; the tooltip names the local
 * store) and how many alerts wait for the person. The tooltip adds the open agent sessions. A click
 * runs Agent Keyring: Show Status.
 */
import * as vscode from 'vscode';
import type { Waiting } from './approvalPrompt';
import { CommandId } from './commands/commandIds';
import { Disposable } from './lifecycle';
import type { ServerController, ServerState } from './server/serverController';

/** Sessions open and close without an event; the tooltip is refreshed (and a team store probed) this often. */
const POLL_MS = 5_000;

/** The store the keyring is on. */
export interface StoreDescription {
  /** `local` or `team <db>@<host>`. */
  label: string;
  /** The agent that stands for this editor's chat on it. */
  agentId: string;
  /** A team store: one round trip to its database; throws (with the reason) while it does not answer. */
  probe?: () => Promise<void>;
}

export class StatusBar extends Disposable {
  readonly #item: vscode.StatusBarItem;
  readonly #server: ServerController;
  readonly #waiting: readonly Waiting[];
  readonly #store: StoreDescription;
  #storeProblem: string | undefined;
  #probing = false;

  constructor(
    server: ServerController,
    waiting: readonly Waiting[],
    store: StoreDescription = { label: 'local', agentId: 'vscode' },
  ) {
    super();
    this.#server = server;
    this.#waiting = waiting;
    this.#store = store;
    this.#item = this._register(
      vscode.window.createStatusBarItem('agentKeyring.status', vscode.StatusBarAlignment.Left, 50),
    );
    this.#item.name = 'Agent Keyring';
    this.#item.command = CommandId.showStatus;
    this._register(server.onDidChange(() => this.update()));
    for (const w of waiting) {
      this._register(w.onDidChangeWaiting(() => this.update()));
    }
    const timer = setInterval(() => {
      this.update();
      void this.probeStore();
    }, POLL_MS);
    timer.unref?.();
    this._register({ dispose: () => clearInterval(timer) });
    this.update();
    this.#item.show();
  }

  /** Why the team store does not answer (as of the last probe), or undefined when it does. */
  get storeProblem(): string | undefined {
    return this.#storeProblem;
  }

  /** Probes a team store's database now and shows the result (also every 5 s). */
  async probeStore(): Promise<void> {
    const probe = this.#store.probe;
    if (!probe || this.#probing || this._store.isDisposed) {
      return;
    }
    this.#probing = true;
    try {
      await probe();
      this.#storeProblem = undefined;
    } catch (e) {
      this.#storeProblem = e instanceof Error ? e.message : String(e);
    } finally {
      this.#probing = false;
    }
    if (!this._store.isDisposed) {
      this.update();
    }
  }

  /** What the item shows now (tests read it). */
  get text(): string {
    return this.#item.text;
  }

  get tooltip(): string {
    const t = this.#item.tooltip;
    return typeof t === 'string' ? t : (t?.value ?? '');
  }

  update(): void {
    const state = this.#server.state;
    const alerts = this.#waiting.reduce((n, w) => n + w.waiting, 0);
    const [stateIcon, text, stateProblem] = describe(state);
    const degraded = this.#storeProblem !== undefined;
    const icon = degraded ? '$(warning)' : stateIcon;
    const problem = stateProblem || degraded;
    // The local store is the usual case: named in the tooltip only, so the text stays short.
    const store =
      this.#store.label === 'local' ? '' : ` · ${this.#store.label}${degraded ? ' unreachable' : ''}`;
    this.#item.text = `${icon} ${text}${store}${alerts > 0 ? `  $(bell-dot) ${alerts}` : ''}`;
    this.#item.backgroundColor =
      problem || alerts > 0 ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    const sessions = this.#server.sessionCount;
    const lines = [`Agent Keyring — ${tooltipState(state)}`, storeLine(this.#store)];
    if (this.#storeProblem !== undefined) {
      lines.push(`The team store does not answer (${this.#storeProblem}); it reconnects by itself.`);
    }
    if (state.kind === 'running') {
      lines.push(`${sessions} agent session${sessions === 1 ? '' : 's'} connected`);
    } else if (state.kind === 'attached') {
      // Agents' requests are decided in the serving window's extension host, so are its prompts.
      lines.push('Approval prompts for agents appear in the window that serves');
    }
    lines.push(
      alerts === 0 ? 'No alerts waiting' : `${alerts} alert${alerts === 1 ? '' : 's'} waiting for you`,
    );
    lines.push('', 'Click for status');
    this.#item.tooltip = lines.join('\n');
  }
}

function storeLine(store: StoreDescription): string {
  return store.label === 'local'
    ? "Store: local (this editor's SecretStorage)"
    : `Store: ${store.label} (PostgreSQL); in-editor chat is agent '${store.agentId}'`;
}

function describe(state: ServerState): [icon: string, text: string, problem: boolean] {
  switch (state.kind) {
    case 'running':
      return ['$(key)', `Agent Keyring :${state.port} (this window)`, false];
    case 'attached':
      return ['$(link)', `Agent Keyring :${state.port} (another window, same store)`, false];
    case 'otherKeyring':
      return ['$(warning)', `Agent Keyring: :${state.port} is NOT this keyring — not attached`, true];
    case 'starting':
      return ['$(loading~spin)', `Agent Keyring :${state.port}`, false];
    case 'stopped':
      return ['$(circle-slash)', 'Agent Keyring: stopped', false];
    case 'portInUse':
      return ['$(warning)', `Agent Keyring: port ${state.port} taken`, true];
    case 'failed':
      return ['$(error)', 'Agent Keyring: failed', true];
  }
}

function tooltipState(state: ServerState): string {
  switch (state.kind) {
    case 'running':
      return `serving ${state.url} (the server runs in this window)`;
    case 'attached':
      return `attached to the server of another window on this store (port ${state.port}; it proved it serves this store); this window takes over if that window closes`;
    case 'otherKeyring':
      return `a server on port ${state.port} that is NOT this keyring — not attached (it could not prove it serves this window's store; no token is sent to it)`;
    case 'starting':
      return `starting on port ${state.port}`;
    case 'stopped':
      return 'the server is stopped; agents cannot get credentials';
    case 'portInUse':
      return `port ${state.port} is used by another program`;
    case 'failed':
      return `the server failed to start: ${state.message}`;
  }
}
