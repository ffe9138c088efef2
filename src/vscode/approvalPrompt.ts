/**
 * The human side of anomaly rules in the editor: a modal approval prompt ({@link Approver}) and
 * notifications for alerts ({@link AlertSink}). Neither ever shows a value: only ids and scopes.
 * Both count what is still waiting for the person (open prompts, unanswered notifications) for
 * the status bar.
 */
import * as vscode from 'vscode';
import type { AlertSink, ApprovalAnswer, ApprovalRequest, Approver, Logger } from '../core/ports';
import { DEFAULT_APPROVAL_TIMEOUT_SECONDS } from './settings';

/** An unanswered prompt counts as Deny after this long by default (the agent is waiting). */
export const APPROVAL_TIMEOUT_MS = DEFAULT_APPROVAL_TIMEOUT_SECONDS * 1000;

const ALLOW_ONCE = 'Allow once';
const ALLOW_HOUR = 'Allow for 1 hour';
const DENY = 'Deny';

/** Something waiting for the person; the status bar shows the count. */
export interface Waiting {
  readonly waiting: number;
  readonly onDidChangeWaiting: vscode.Event<number>;
}

class WaitingCounter implements Waiting, vscode.Disposable {
  readonly #emitter = new vscode.EventEmitter<number>();
  readonly onDidChangeWaiting = this.#emitter.event;
  #count = 0;

  get waiting(): number {
    return this.#count;
  }

  /** Counts `p` as waiting until it settles. */
  track<T>(p: Thenable<T>): Thenable<T> {
    this.#count++;
    this.#emitter.fire(this.#count);
    const done = (): void => {
      this.#count--;
      this.#emitter.fire(this.#count);
    };
    p.then(done, done);
    return p;
  }

  dispose(): void {
    this.#emitter.dispose();
  }
}

export class ModalApprover extends WaitingCounter implements Approver {
  constructor(
    private readonly logger: Logger,
    /** Read at each prompt, so a settings change applies to the next one. */
    private readonly timeoutMs: () => number = () => APPROVAL_TIMEOUT_MS,
  ) {
    super();
  }

  async ask(request: ApprovalRequest): Promise<ApprovalAnswer> {
    const at = new Date(request.at);
    const time = `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`;
    const timeoutMs = this.timeoutMs();
    const detail = [
      request.reason ? `Reason given: ${request.reason}` : 'No reason given.',
      `Rules: ${request.rules.join(', ')}. Tool: ${request.tool}.`,
      `No answer within ${Math.round(timeoutMs / 1000)} s counts as Deny.`,
    ].join('\n');
    const prompt = this.track(
      vscode.window.showWarningMessage(
        `${request.agent_label} asks for '${request.scope}' on '${request.credential}' at ${time}`,
        { modal: true, detail },
        ALLOW_ONCE,
        ALLOW_HOUR,
        DENY,
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    const choice = await Promise.race([prompt, timeout]);
    clearTimeout(timer);
    const answer: ApprovalAnswer = choice === ALLOW_ONCE ? 'once' : choice === ALLOW_HOUR ? 'hour' : 'deny';
    this.logger.info(
      `Approval for ${request.agent_id} → ${request.credential}/${request.scope}: ${answer}${choice ? '' : ' (no answer)'}`,
    );
    return answer;
  }
}

export class NotificationAlerts extends WaitingCounter implements AlertSink {
  alert(event: Parameters<AlertSink['alert']>[0]): void {
    const show =
      event.action === 'alert' ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
    // A notification counts as waiting until the person closes it (or clears the notification center).
    void this.track(show(`Agent Keyring: ${event.message}`));
  }
}
