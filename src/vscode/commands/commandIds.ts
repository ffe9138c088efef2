/**
 * Every command id of the extension, in one place. `package.json` `contributes.commands` lists the
 * same ids (an integration test checks that each one is registered).
 *
 * Implementations:
 * - {@link CommandId.showStatus}, {@link CommandId.startServer}, {@link CommandId.stopServer}:
 *   `src/extension.ts` (server lifecycle lives with the composition root for now).
 * - the others: not implemented yet; they show "not available yet" (see `src/extension.ts`).
 */
export const CommandId = {
  addCredential: 'agentKeyring.addCredential',
  editScopes: 'agentKeyring.editScopes',
  rotateCredential: 'agentKeyring.rotateCredential',
  revokeCredential: 'agentKeyring.revokeCredential',
  addAgent: 'agentKeyring.addAgent',
  revokeAgent: 'agentKeyring.revokeAgent',
  startServer: 'agentKeyring.startServer',
  stopServer: 'agentKeyring.stopServer',
  showStatus: 'agentKeyring.showStatus',
} as const;

export type CommandId = (typeof CommandId)[keyof typeof CommandId];

export const ALL_COMMAND_IDS: readonly CommandId[] = Object.values(CommandId);
