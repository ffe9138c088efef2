/**
 * The status bar item: where the MCP server is (`$(key) Agent Keyring :47017`, stopped, attached to
 * another window's server, port taken) and how many alerts wait for the person. The tooltip adds
 * the open agent sessions. A click runs Agent Keyring: Show Status.
 */
import * as vscode from 'vscode';
import type { Waiting } from './approvalPrompt';
import { CommandId } from './commands/commandIds';
import { Disposable } from './lifecycle';
import type { ServerController, ServerState } from './server/serverController';

/** Sessions open and close without an event; the tooltip is refreshed this often. */
const POLL_MS = 5_000;

export class StatusBar extends Disposable {
  readonly #item: vscode.StatusBarItem;
  readonly #server: ServerController;
  readonly #waiting: readonly Waiting[];

  constructor(server: ServerController, waiting: readonly Waiting[]) {
    super();
    this.#server = server;
    this.#waiting = waiting;
    this.#item = this._register(
      vscode.window.createStatusBarItem('agentKeyring.status', vscode.StatusBarAlignment.Left, 50),
    );
    this.#item.name = 'Agent Keyring';
    this.#item.command = CommandId.showStatus;
    this._register(server.onDidChange(() => this.update()));
    for (const w of waiting) {
      this._register(w.onDidChangeWaiting(() => this.update()));
    }
    const timer = setInterval(() => this.update(), POLL_MS);
    timer.unref?.();
    this._register({ dispose: () => clearInterval(timer) });
    this.update();
    this.#item.show();
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
    const [icon, text, problem] = describe(state);
    this.#item.text = `${icon} ${text}${alerts > 0 ? `  $(bell-dot) ${alerts}` : ''}`;
    this.#item.backgroundColor =
      problem || alerts > 0 ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    const sessions = this.#server.sessionCount;
    const lines = [`Agent Keyring — ${tooltipState(state)}`];
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

function describe(state: ServerState): [icon: string, text: string, problem: boolean] {
  switch (state.kind) {
    case 'running':
      return ['$(key)', `Agent Keyring :${state.port}`, false];
    case 'attached':
      return ['$(link)', `Agent Keyring :${state.port} (other window)`, false];
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
      return `serving ${state.url}`;
    case 'attached':
      return `attached to the server of another window (port ${state.port}); this window takes over if that window closes`;
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
