/** `agentKeyring.startServer`: (re)starts the MCP host on `agentKeyring.port` and says how it went. */
import { reportState } from '../server/serverReport';
import type { CommandContext, CommandHandler } from './commandContext';

export function startServer(ctx: CommandContext): CommandHandler {
  return async () => {
    const state = await ctx.server.start(ctx.settings().port);
    await reportState(state, ctx.server, ctx.logger);
    return state;
  };
}
