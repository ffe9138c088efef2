/**
 * When this window serves and VS Code's own MCP client (in-editor chat) is refused for its token —
 * this editor's chat agent (`vscode`, or its own agent on a team store) was revoked, or its token replaced by another process — the host
 * answers it 410 rather than 401 (VS Code starts an OAuth sign-in on any 401/403; see
 * `core/mcp/gate.ts`) and calls this: the person gets one notification, at most once a minute, with
 * the one-step way back.
 */
import * as vscode from 'vscode';
import type { Logger } from '../../core/ports';
import { CommandId } from '../commands/commandIds';

const ROTATE = 'Rotate Agent Token';
/** Repeated refusals (VS Code retries, several requests) make one notification a minute. */
export const EDITOR_REFUSED_NOTICE_MS = 60_000;

/**
 * @param agentId this editor's chat agent: `vscode`, or `vscode.<user>.<host>` on a team store
 *   (README "Team store in VS Code").
 */
export function editorTokenRefusedNotifier(
  logger: Logger,
  agentId: string,
  now: () => number = Date.now,
): () => void {
  let last = -Infinity;
  return () => {
    if (now() - last < EDITOR_REFUSED_NOTICE_MS) {
      return;
    }
    last = now();
    logger.warn(
      `In-editor chat's token for Agent Keyring was refused (the '${agentId}' agent is revoked or its token was replaced). Rotate Agent Token on '${agentId}' gives it a new one.`,
    );
    void vscode.window
      .showWarningMessage(
        `Agent Keyring: in-editor chat's token was refused (the built-in agent '${agentId}' is revoked or its token was replaced elsewhere). Rotate its token to reconnect; this also brings a revoked '${agentId}' back (with no grants).`,
        ROTATE,
      )
      .then((choice) => {
        if (choice === ROTATE) {
          void vscode.commands.executeCommand(CommandId.rotateAgentToken, { id: agentId });
        }
      });
  };
}
