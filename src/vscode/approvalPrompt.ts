/**
 * The human side of anomaly rules in the editor: a modal approval prompt ({@link Approver}) and
 * notifications for alerts ({@link AlertSink}). Neither ever shows a value: only ids and scopes.
 */
import * as vscode from 'vscode';
import type { AlertSink, ApprovalAnswer, ApprovalRequest, Approver, Logger } from '../core/ports';

/** An unanswered prompt counts as Deny after this long (the agent is waiting). */
export const APPROVAL_TIMEOUT_MS = 120_000;

const ALLOW_ONCE = 'Allow once';
const ALLOW_HOUR = 'Allow for 1 hour';
const DENY = 'Deny';

export class ModalApprover implements Approver {
  constructor(private readonly logger: Logger) {}

  async ask(request: ApprovalRequest): Promise<ApprovalAnswer> {
    const at = new Date(request.at);
    const time = `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`;
    const detail = [
      request.reason ? `Reason given: ${request.reason}` : 'No reason given.',
      `Rules: ${request.rules.join(', ')}. Tool: ${request.tool}.`,
    ].join('\n');
    const prompt = vscode.window.showWarningMessage(
      `${request.agent_label} asks for '${request.scope}' on '${request.credential}' at ${time}`,
      { modal: true, detail },
      ALLOW_ONCE,
      ALLOW_HOUR,
      DENY,
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), APPROVAL_TIMEOUT_MS);
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

export class NotificationAlerts implements AlertSink {
  alert(event: Parameters<AlertSink['alert']>[0]): void {
    const show =
      event.action === 'alert' ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
    void show(`Agent Keyring: ${event.message}`);
  }
}
