/**
 * Every command id of the extension, in one place. `package.json` `contributes.commands` lists the
 * same ids (an integration test checks that each one is registered). One implementation file per
 * command in this folder, wired in {@link ./index.ts}:
 *
 * - addCredential → addCredential.ts, editScopes → editScopes.ts (+ scopeRules.ts), setRevealMode →
 *   setRevealMode.ts, setPlacement → setPlacement.ts,
 *   rotateCredential → rotateCredential.ts, removeCredential → removeCredential.ts,
 *   copyCredentialName → copyCredentialName.ts
 * - addAgent → addAgent.ts, revokeAgent → revokeAgent.ts, rotateAgentToken → rotateAgentToken.ts
 * - startServer → startServer.ts, stopServer → stopServer.ts, showStatus → showStatus.ts
 * - connectAgent → connectAgent.ts, importEnv → importEnv.ts, scanConfigs → scanConfigs.ts,
 *   migrateConfigs → migrateConfigs.ts
 * - showAuditLog → showAuditLog.ts, openAuditLogInEditor → openAuditLogInEditor.ts,
 *   verifyAuditLog → verifyAuditLog.ts, exportAuditLog → exportAuditLog.ts
 */
export const CommandId = {
  addCredential: 'agentKeyring.addCredential',
  editScopes: 'agentKeyring.editScopes',
  setRevealMode: 'agentKeyring.setRevealMode',
  setPlacement: 'agentKeyring.setPlacement',
  rotateCredential: 'agentKeyring.rotateCredential',
  removeCredential: 'agentKeyring.removeCredential',
  copyCredentialName: 'agentKeyring.copyCredentialName',
  addAgent: 'agentKeyring.addAgent',
  revokeAgent: 'agentKeyring.revokeAgent',
  rotateAgentToken: 'agentKeyring.rotateAgentToken',
  startServer: 'agentKeyring.startServer',
  stopServer: 'agentKeyring.stopServer',
  showStatus: 'agentKeyring.showStatus',
  connectAgent: 'agentKeyring.connectAgent',
  importEnv: 'agentKeyring.importEnv',
  scanConfigs: 'agentKeyring.scanConfigs',
  migrateConfigs: 'agentKeyring.migrateConfigs',
  showAuditLog: 'agentKeyring.showAuditLog',
  openAuditLogInEditor: 'agentKeyring.openAuditLogInEditor',
  verifyAuditLog: 'agentKeyring.verifyAuditLog',
  exportAuditLog: 'agentKeyring.exportAuditLog',
} as const;

export type CommandId = (typeof CommandId)[keyof typeof CommandId];

/**
 * The commands that choose the store (../teamStore.ts): registered once per window, outside the
 * keyring's commands, so they work while no store is connected.
 */
export const StoreCommandId = {
  connectTeamStore: 'agentKeyring.connectTeamStore',
  useLocalStore: 'agentKeyring.useLocalStore',
} as const;

/** The commands that need an open keyring (answered with the reason while none is). */
export const KEYRING_COMMAND_IDS: readonly CommandId[] = Object.values(CommandId);

export const ALL_COMMAND_IDS: readonly string[] = [...KEYRING_COMMAND_IDS, ...Object.values(StoreCommandId)];

/**
 * Old ids still registered (not contributed, so not in the palette) for keybindings and scripts
 * that name them: old id → the command it runs. Remove Credential deletes, so it is no longer
 * called Revoke.
 */
export const COMMAND_ALIASES: Readonly<Record<string, CommandId>> = {
  'agentKeyring.revokeCredential': CommandId.removeCredential,
};
