/**
 * The Agent Keyring views: the Credentials and Agents trees, the walkthrough's context keys, and
 * the Audit webview view with what it needs from the rest of the extension (filter suggestions,
 * Verify, Export). Each view repaints on its own sources; {@link EditorViews.refresh} repaints the
 * trees at once after the person's own change.
 */
import * as vscode from 'vscode';
import type { Keyring } from '../../core/keyring';
import { SYSTEM_CLOCK, type Logger, type SecretBackend } from '../../core/ports';
import { exportAuditToFile, formatForPath, pickExportTarget } from '../commands/exportAuditLog';
import { verifyAudit } from '../commands/verifyAuditLog';
import { trackContextKeys } from '../contextKeys';
import type { DisposableStore } from '../lifecycle';
import { AUDIT_VIEW_ID, AuditViewProvider } from '../webview/auditView';
import { AGENTS_VIEW_ID, AgentsTree } from './agentsTree';
import { CREDENTIALS_VIEW_ID, CredentialsTree } from './credentialsTree';

export interface ViewDeps {
  keyring: Keyring;
  /** SecretStorage: another window's change to a value repaints the Credentials tree. */
  secrets: Pick<SecretBackend, 'onDidChange'>;
  logger: Logger;
  extensionUri: vscode.Uri;
  /** Test mode: the Audit view records what crosses to and from its webview. */
  record: boolean;
  /** Called each time the Audit view becomes visible. */
  onAuditShown: () => void;
  /** Owns every view and registration made here. */
  disposables: DisposableStore;
}

export interface EditorViews {
  trees: { credentials: CredentialsTree; agents: AgentsTree };
  auditView: AuditViewProvider;
  /** Repaints both trees now. */
  refresh: () => void;
}

export function registerViews(deps: ViewDeps): EditorViews {
  const { keyring, logger, disposables } = deps;
  const trees = {
    credentials: disposables.add(
      new CredentialsTree({
        reader: keyring.admin,
        clock: SYSTEM_CLOCK,
        // Loaded when a "Used by" group is first opened, not at activation (it is in lazy.js).
        usage: async (name) =>
          (await import('../../core/migrate/credentialUsage.js')).credentialUsage(
            keyring.stateDir,
            keyring.auditSource,
            name,
          ),
        changes: [(l) => deps.secrets.onDidChange(() => l())],
      }),
    ),
    agents: disposables.add(new AgentsTree({ reader: keyring.admin, clock: SYSTEM_CLOCK })),
  };
  disposables.add(
    vscode.window.createTreeView(CREDENTIALS_VIEW_ID, {
      treeDataProvider: trees.credentials,
      showCollapseAll: true,
    }),
  );
  disposables.add(
    vscode.window.createTreeView(AGENTS_VIEW_ID, { treeDataProvider: trees.agents, showCollapseAll: true }),
  );
  // The walkthrough ticks "Add a credential" / "Connect a CLI agent" on these (package.json).
  disposables.add(trackContextKeys(keyring.admin, logger));

  const auditView = disposables.add(
    new AuditViewProvider({
      audit: keyring.audit,
      source: keyring.auditSource,
      logger,
      extensionUri: deps.extensionUri,
      record: deps.record,
      onShown: deps.onAuditShown,
      options: async () => ({
        agents: (await keyring.admin.listAgents()).map((a) => a.id).sort(),
        credentials: (await keyring.admin.listCredentials()).map((c) => c.name).sort(),
      }),
      verify: () => verifyAudit(keyring.auditSource, keyring.audit),
      export: async (filter, format) => {
        const target = await pickExportTarget(format);
        if (!target) {
          return { ok: true, message: '' };
        }
        const count = await exportAuditToFile(
          keyring.auditSource,
          target,
          formatForPath(target.path),
          filter,
        );
        return { ok: true, message: `Exported ${count} event(s) to ${target.fsPath}.` };
      },
    }),
  );
  disposables.add(vscode.window.registerWebviewViewProvider(AUDIT_VIEW_ID, auditView));

  return {
    trees,
    auditView,
    refresh: () => {
      trees.credentials.refresh();
      trees.agents.refresh();
    },
  };
}
