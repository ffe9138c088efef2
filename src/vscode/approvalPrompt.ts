/**
 * The human side of anomaly rules in the editor: a modal approval prompt ({@link ModalApprover},
 * rule action `approve`) and notifications for `alert`/`deny` outcomes ({@link NotificationAlerts},
 * with "Show in Audit"). Neither ever shows a value: only ids, scopes and the agent's reason.
 * Both count what waits for the person (open prompts, unread alerts) for the status bar.
 *
 * VS Code has no API to close a modal: when a prompt times out, the agent is answered (Deny) at
 * once, the prompt's text says so up front ("answer within N s"), and a late click is reported as
 * too late instead of granting anything.
 */
import * as vscode from 'vscode';
import type { AlertSink, ApprovalAnswer, ApprovalRequest, Approver, Logger } from '../core/ports';
import { DEFAULT_APPROVAL_TIMEOUT_SECONDS } from './settings';

/** An unanswered prompt counts as Deny after this long by default (the agent is waiting). */
export const APPROVAL_TIMEOUT_MS = DEFAULT_APPROVAL_TIMEOUT_SECONDS * 1000;

export const ALLOW_ONCE = 'Allow once';
export const ALLOW_HOUR = 'Allow for 1 hour';
export const ALLOW_SESSION = 'Allow for this session';
export const DENY = 'Deny';
export const SHOW_IN_AUDIT = 'Show in Audit';

/** `vscode.window.showWarningMessage` with a modal; swappable under test. */
export type ShowModal = (
  message: string,
  options: vscode.MessageOptions,
  ...items: string[]
) => Thenable<string | undefined>;
/** A non-modal notification with buttons; swappable under test. */
export type ShowNotification = (message: string, ...items: string[]) => Thenable<string | undefined>;

/** Where "Show in Audit" points: the audit event of that request. */
export interface AlertTarget {
  agent_id: string;
  credential: string;
  scope: string;
  at: number;
}

/** Something waiting for the person; the status bar shows the count. */
export interface Waiting {
  readonly waiting: number;
  readonly onDidChangeWaiting: vscode.Event<number>;
}

/** How a person reads a rule id. */
export function describeRule(rule: string, scope: string): string {
  switch (rule) {
    case 'sensitive_scope':
      return `'${scope}' is a sensitive scope`;
    case 'outside_active_hours':
      return "outside the agent's active hours";
    case 'agent_id_mismatch':
      return "the agent_id it sent does not match its token's agent";
    case 'burst':
      return 'a burst of requests';
    case 'probing':
      return 'many refused requests (probing)';
    case 'first_use':
      return 'first use of this credential by this agent';
    case 'unusual_hours':
      return "outside the agent's usual hours";
    default:
      return rule;
  }
}

function hhmm(ms: number): string {
  const at = new Date(ms);
  return `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`;
}

const TIMED_OUT = Symbol('timed out');

/** An Allow sooner than this after the dialog opened is taken as a stray key (asked again). */
export const MIN_ANSWER_MS = 800;

function isAllow(choice: unknown): choice is string {
  return choice === ALLOW_ONCE || choice === ALLOW_HOUR || choice === ALLOW_SESSION;
}

/**
 * The real modal. Deny is its close affordance, so the dialog has one way to say no: VS Code adds
 * no separate Cancel button, and Esc (or closing the dialog) answers Deny.
 */
const showModal: ShowModal = async (message, options, ...items) => {
  const picked = await vscode.window.showWarningMessage(
    message,
    options,
    ...items.map((title): vscode.MessageItem => ({ title, isCloseAffordance: title === DENY })),
  );
  return picked?.title;
};

export class ModalApprover implements Approver, Waiting, vscode.Disposable {
  readonly #emitter = new vscode.EventEmitter<number>();
  readonly onDidChangeWaiting = this.#emitter.event;
  #open = 0;
  #show: ShowModal;
  #notify: ShowNotification;
  #timeoutOverrideMs: number | undefined;
  #minAnswerMs = MIN_ANSWER_MS;

  constructor(
    private readonly logger: Logger,
    /** Read at each prompt, so a settings change applies to the next one. */
    private readonly timeoutMs: () => number = () => APPROVAL_TIMEOUT_MS,
    ui: { show?: ShowModal; notify?: ShowNotification } = {},
  ) {
    this.#show = ui.show ?? showModal;
    this.#notify = ui.notify ?? ((m, ...items) => vscode.window.showInformationMessage(m, ...items));
  }

  /** Prompts waiting for an answer now. */
  get waiting(): number {
    return this.#open;
  }

  /**
   * Test mode only (reached through the test API): answer prompts with `show` instead of the real
   * modal, and/or use a shorter timeout. `undefined` restores the default.
   */
  setTestOverrides(o: { show?: ShowModal; timeoutMs?: number; minAnswerMs?: number } | undefined): void {
    this.#show = o?.show ?? showModal;
    this.#timeoutOverrideMs = o?.timeoutMs;
    // A scripted answer comes at once: the stray-key guard is for people (unless a test sets it).
    this.#minAnswerMs = o?.minAnswerMs ?? (o?.show ? 0 : MIN_ANSWER_MS);
  }

  /** The modal's text for a request (what the person reads). */
  static texts(request: ApprovalRequest, timeoutMs: number): { message: string; detail: string } {
    const seconds = Math.round(timeoutMs / 1000);
    const who =
      request.agent_label && request.agent_label !== request.agent_id
        ? `${request.agent_label} (${request.agent_id})`
        : request.agent_id;
    const message = `${who} asks for '${request.scope}' on '${request.credential}' at ${hhmm(request.at)} (answer within ${seconds} s)`;
    const rules = [
      ...request.rules.map((r) => `${describeRule(r, request.scope)} [${r}]`),
      ...(request.because ? [request.because] : []),
    ].join('; ');
    const detail = [
      `If allowed: ${request.action ?? `${request.tool} with '${request.credential}'`}.`,
      request.reason ? `Reason given: "${request.reason}"` : 'The agent gave no reason.',
      `Rule: ${rules || 'approval required'}. Tool: ${request.tool}.`,
      '',
      `"${ALLOW_HOUR}" / "${ALLOW_SESSION}" let this agent do the same (${request.tool}, '${request.scope}' on '${request.credential}') without asking again for an hour / until this editor session ends.`,
      `Deny (or Esc) refuses. No answer within ${seconds} s also refuses: the agent is refused at ${seconds} s even if this dialog is still open. An Allow within a second of this dialog opening is taken as a stray key, and the dialog asks again.`,
    ].join('\n');
    return { message, detail };
  }

  async ask(request: ApprovalRequest): Promise<ApprovalAnswer> {
    const timeoutMs = this.#timeoutOverrideMs ?? this.timeoutMs();
    const { message, detail } = ModalApprover.texts(request, timeoutMs);
    const what = `${request.agent_id} → ${request.credential}/${request.scope}`;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs);
    });
    const deadline = Date.now() + timeoutMs;
    // Counts as waiting until answered or timed out (not until the modal closes: it may never).
    this.#change(+1);
    let prompt: Promise<string | undefined>;
    let choice: string | undefined | typeof TIMED_OUT;
    try {
      for (;;) {
        const shownAt = Date.now();
        prompt = Promise.resolve(
          this.#show(message, { modal: true, detail }, DENY, ALLOW_ONCE, ALLOW_HOUR, ALLOW_SESSION),
        );
        choice = await Promise.race([prompt.catch(() => undefined), timeout]);
        // Deny is the close affordance, so an Allow is the dialog's default button: an Enter meant
        // for the editor (the modal takes the focus while the person types) would allow. An Allow
        // faster than anyone reads the dialog is taken as such a stray key: the dialog asks again.
        const ms = Date.now() - shownAt;
        if (isAllow(choice) && ms < this.#minAnswerMs && Date.now() < deadline) {
          this.logger.info(
            `Approval for ${what}: '${choice}' ${ms} ms after the dialog opened, taken as a stray key; asking again.`,
          );
          continue;
        }
        break;
      }
    } finally {
      clearTimeout(timer);
      this.#change(-1);
    }
    if (choice === TIMED_OUT) {
      this.logger.info(
        `Approval for ${what}: timeout, denied (no answer within ${Math.round(timeoutMs / 1000)} s)`,
      );
      void prompt.then(
        (late) => {
          if (late === ALLOW_ONCE || late === ALLOW_HOUR || late === ALLOW_SESSION) {
            this.logger.info(`Approval for ${what}: '${late}' came after the timeout; nothing was granted.`);
            void this.#notify(
              `Agent Keyring: too late — the request of ${request.agent_id} for '${request.scope}' on '${request.credential}' (${hhmm(request.at)}) had already been denied after ${Math.round(timeoutMs / 1000)} s. The agent can ask again.`,
            );
          }
        },
        () => undefined,
      );
      return 'timeout';
    }
    const answer: ApprovalAnswer =
      choice === ALLOW_ONCE
        ? 'once'
        : choice === ALLOW_HOUR
          ? 'hour'
          : choice === ALLOW_SESSION
            ? 'session'
            : 'deny';
    this.logger.info(`Approval for ${what}: ${answer}${choice ? '' : ' (dialog closed)'}`);
    return answer;
  }

  #change(delta: number): void {
    this.#open += delta;
    this.#emitter.fire(this.#open);
  }

  dispose(): void {
    this.#emitter.dispose();
  }
}

/**
 * Notifications for `alert` and `deny` outcomes, each with "Show in Audit". `approve` outcomes
 * are not notified: the modal asks. An alert counts as unread until its notification is closed
 * or the Audit view is shown ({@link markAllSeen}).
 */
export class NotificationAlerts implements AlertSink, Waiting, vscode.Disposable {
  readonly #emitter = new vscode.EventEmitter<number>();
  readonly onDidChangeWaiting = this.#emitter.event;
  readonly #unread = new Set<number>();
  #next = 0;
  #show: ShowNotification;
  readonly #reveal: (target: AlertTarget) => void;

  constructor(options: { reveal: (target: AlertTarget) => void; show?: ShowNotification }) {
    this.#reveal = options.reveal;
    this.#show = options.show ?? ((m, ...items) => vscode.window.showWarningMessage(m, ...items));
  }

  get waiting(): number {
    return this.#unread.size;
  }

  /** Test mode only: answer notifications with `show` instead of the real UI; `undefined` restores it. */
  setTestOverrides(o: { show?: ShowNotification } | undefined): void {
    this.#show = o?.show ?? ((m, ...items) => vscode.window.showWarningMessage(m, ...items));
  }

  alert(event: Parameters<AlertSink['alert']>[0]): void {
    if (event.action === 'approve') {
      return;
    }
    const id = ++this.#next;
    this.#unread.add(id);
    this.#emitter.fire(this.#unread.size);
    const target: AlertTarget = {
      agent_id: event.agent_id,
      credential: event.credential,
      scope: event.scope,
      at: Date.now(),
    };
    const why = event.rules.map((r) => describeRule(r, event.scope)).join('; ') || 'an anomaly rule fired';
    const text =
      event.action === 'deny'
        ? `Agent Keyring: refused '${event.scope}' on '${event.credential}' to agent '${event.agent_id}': ${why}.`
        : `Agent Keyring: agent '${event.agent_id}' got '${event.credential}' (scope '${event.scope}'): ${why}.`;
    Promise.resolve(this.#show(text, SHOW_IN_AUDIT)).then(
      (choice) => {
        this.#seen(id);
        if (choice === SHOW_IN_AUDIT) {
          this.#reveal(target);
        }
      },
      () => this.#seen(id),
    );
  }

  /** The person looked at the Audit view: every alert counts as read. */
  markAllSeen(): void {
    if (this.#unread.size > 0) {
      this.#unread.clear();
      this.#emitter.fire(0);
    }
  }

  #seen(id: number): void {
    if (this.#unread.delete(id)) {
      this.#emitter.fire(this.#unread.size);
    }
  }

  dispose(): void {
    this.#emitter.dispose();
  }
}
