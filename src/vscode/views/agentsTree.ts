/**
 * The Agents view (`agentKeyring.agents`): one row per agent with when it was last seen (or that
 * it is revoked); children are its grants — the credentials that allow it, with their scopes.
 * Tokens are never shown (only their hash is stored anyway).
 *
 * contextValues: `agent`, `agent.revoked`.
 */
import * as vscode from 'vscode';
import type { AgentMeta, CredentialMeta } from '../../core/model';
import type { Clock } from '../../core/ports';
import type { KeyringReader } from '../../core/admin';
import { formatAgo, formatLocal } from './format';
import { RefreshingTree } from './refreshingTree';

export const AGENTS_VIEW_ID = 'agentKeyring.agents';
export const AgentContext = { agent: 'agent', revoked: 'agent.revoked' } as const;

export type AgentNode =
  | { kind: 'agent'; id: string; meta: AgentMeta }
  | { kind: 'grant'; agentId: string; credential: string; scopes: string[]; viaWildcard: boolean }
  | { kind: 'none'; agentId: string };

const MINUTE = 60_000;

export class AgentsTree extends RefreshingTree<AgentNode> {
  readonly #store: KeyringReader;
  readonly #clock: Clock;

  constructor(deps: { reader: KeyringReader; clock: Clock }) {
    super();
    this.#store = deps.reader;
    this.#clock = deps.clock;
    this.refreshOn((l) => deps.reader.onDidChange(l));
    this.refreshEvery(MINUTE);
  }

  async getChildren(element?: AgentNode): Promise<AgentNode[]> {
    if (!element) {
      const agents = await this.#store.listAgents();
      // Live agents first, revoked ones at the end.
      return agents
        .sort((a, b) => Number(Boolean(a.revoked_at)) - Number(Boolean(b.revoked_at)))
        .map((meta) => ({ kind: 'agent', id: meta.id, meta }));
    }
    if (element.kind !== 'agent') {
      return [];
    }
    const grants = grantsOf(element.id, await this.#store.listCredentials());
    return grants.length > 0 ? grants : [{ kind: 'none', agentId: element.id }];
  }

  getTreeItem(node: AgentNode): vscode.TreeItem {
    if (node.kind === 'agent') {
      return this.#agentItem(node.meta);
    }
    if (node.kind === 'none') {
      const item = new vscode.TreeItem('no credentials allow this agent');
      item.id = `agent:${node.agentId}/none`;
      item.tooltip = 'Allow it on a credential with Edit Scopes… in the Credentials view.';
      item.iconPath = new vscode.ThemeIcon('info');
      return item;
    }
    const item = new vscode.TreeItem(node.credential);
    item.id = `agent:${node.agentId}/grant/${node.credential}`;
    item.description = node.scopes.join(', ') + (node.viaWildcard ? ' · every agent' : '');
    item.tooltip = `${node.agentId} may ask for '${node.credential}' with scope${node.scopes.length > 1 ? 's' : ''} ${node.scopes.join(', ')}${node.viaWildcard ? ' (the credential allows every agent)' : ''}.`;
    item.iconPath = new vscode.ThemeIcon('key');
    return item;
  }

  #agentItem(a: AgentMeta): vscode.TreeItem {
    const now = this.#clock.now();
    const revoked = Boolean(a.revoked_at);
    const item = new vscode.TreeItem(
      a.id,
      revoked ? vscode.TreeItemCollapsibleState.None : vscode.TreeItemCollapsibleState.Collapsed,
    );
    item.id = `agent:${a.id}`;
    const seen = a.last_seen_at ? `seen ${formatAgo(a.last_seen_at, now)}` : 'never seen';
    // What changes (last seen, revoked) first: a narrow sidebar cuts the end off.
    item.description = revoked ? `revoked · ${seen}` : a.label !== a.id ? `${seen} · ${a.label}` : seen;
    item.contextValue = revoked ? AgentContext.revoked : AgentContext.agent;
    item.iconPath = revoked
      ? new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('disabledForeground'))
      : new vscode.ThemeIcon(a.id === 'vscode' ? 'vscode' : 'robot');
    const md = new vscode.MarkdownString();
    md.appendMarkdown('**')
      .appendText(a.label)
      .appendMarkdown('** (')
      .appendText(a.id)
      .appendMarkdown(')\n\n');
    md.appendMarkdown(`Added ${formatLocal(a.created_at)}  \n`);
    md.appendMarkdown(
      `Last seen: ${a.last_seen_at ? `${formatLocal(a.last_seen_at)} (${formatAgo(a.last_seen_at, now)})` : 'never'}  \n`,
    );
    if (a.active_hours) {
      md.appendMarkdown('Active hours: ').appendText(a.active_hours).appendMarkdown('  \n');
    }
    if (a.revoked_at) {
      md.appendMarkdown(`**Revoked** ${formatLocal(a.revoked_at)}: its token no longer works.  \n`);
    }
    item.tooltip = md;
    return item;
  }
}

/** The credentials that allow `agentId` (by id or `*`), sorted by name. */
export function grantsOf(agentId: string, credentials: readonly CredentialMeta[]): AgentNode[] {
  return credentials
    .filter((c) => c.allowed_agents.includes(agentId) || c.allowed_agents.includes('*'))
    .map((c) => ({
      kind: 'grant' as const,
      agentId,
      credential: c.name,
      scopes: [...c.allowed_scopes],
      viaWildcard: !c.allowed_agents.includes(agentId),
    }));
}
