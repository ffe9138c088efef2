/**
 * The agent tokens Connect Agent saves for clients' start-up helpers (`agent-keyring token --agent
 * ID --store <global storage>`, Claude Code's `headersHelper`): in the OS keyring through its tool,
 * else a 0600 file in the extension's global storage (savedTokens.ts). Kept in step when a token
 * changes (Rotate Agent Token) or stops working (Revoke Agent).
 */
import { SavedTokens } from '../../core/connect/savedTokens';
import { toolKeyring } from '../../core/connect/toolKeyring';
import { isKeyringError } from '../../core/errors';
import type { SecretValue } from '../../core/model';
import type { CommandContext } from './commandContext';

/** The extension's store folder (global storage): connections.json, saved agent tokens. */
export function storeDirOf(ctx: CommandContext): string {
  return ctx.keyring.stateDir;
}

export function savedTokensFor(ctx: CommandContext): SavedTokens {
  return new SavedTokens(storeDirOf(ctx), { keyring: toolKeyring() });
}

/**
 * After a token changed or was revoked: a saved token for `agentId` is replaced by `next`, or
 * forgotten when there is none. Nothing happens when none was saved. Never throws (logged).
 */
export async function updateSavedToken(
  ctx: CommandContext,
  agentId: string,
  next: SecretValue | undefined,
): Promise<void> {
  const tokens = savedTokensFor(ctx);
  try {
    if (!(await tokens.load(agentId))) {
      return;
    }
    if (next) {
      await tokens.save(agentId, next);
      ctx.logger.info(`The saved token of '${agentId}' was replaced by the new one.`);
    } else {
      await tokens.remove(agentId);
      ctx.logger.info(`The saved token of '${agentId}' was removed.`);
    }
  } catch (e) {
    ctx.logger.warn(
      `Could not update the saved token of '${agentId}': ${isKeyringError(e) ? e.message : 'unexpected error'}`,
    );
  }
}
