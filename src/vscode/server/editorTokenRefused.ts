/**
 * When this window serves and VS Code's own MCP client (in-editor chat) is refused for its token —
 * the built-in `vscode` agent was revoked, or its token replaced by another process — the host
 * answers it 410 rather than 401 (VS Code starts an OAuth sign-in on any 401/403; see
 * `core/mcp/gate.ts`) and calls this: the person gets one notification, at most once a minute, with
 * the one-step way back.
 */
import * as vscode from 'vscode';
import { VSCODE_AGENT_ID } from '../../core/model';
import type { Logger } from '../../core/ports';
import { CommandId } from '../commands/commandIds';

const ROTATE = 'Rotate Agent Token';
/** Repeated refusals (VS Code retries, several requests) make one notification a minute. */
export const EDITOR_REFUSED_NOTICE_MS = 60_000;

export function editorTokenRefusedNotifier(logger: Logger, now: () => number = Date.now): () => void {
  let last = -Infinity;
  return () => {
    if (now() - last < EDITOR_REFUSED_NOTICE_MS) {
      return;
    }
    last = now();
    logger.warn(
      `In-editor chat's token for Agent Keyring was refused (the '${VSCODE_AGENT_ID}' agent is revoked or its token was replaced). Rotate Agent Token on '${VSCODE_AGENT_ID}' gives it a new one.`,
    );
    void vscode.window
      .showWarningMessage(
        `Agent Keyring: in-editor chat's token was refused (the built-in agent '${VSCODE_AGENT_ID}' is revoked or its token was replaced elsewhere). Rotate its token to reconnect; this also brings a revoked '${VSCODE_AGENT_ID}' back (with no grants).`,
        ROTATE,
      )
      .then((choice) => {
        if (choice === ROTATE) {
          void vscode.commands.executeCommand(CommandId.rotateAgentToken, { id: VSCODE_AGENT_ID });
        }
      });
  };
}
