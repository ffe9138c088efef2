/**
 * The Credentials view (`agentKeyring.credentials`): one row per credential with its version, age
 * and "rotation due"; children for scopes, allowed agents, versions and (when wired) where it is
 * used: the MCP servers migrate rewrote and the commands `run` started with it. Built from metadata only:
 * no value, not even its length, ever reaches a label, description or tooltip.
 *
 * contextValues (menus depend on them): `credential`, `credential.due`.
 */
import * as vscode from 'vscode';
import { describePlacement, describeRules } from '../commands/requestRulesText';
import type { CredentialUse } from '../../core/migrate/credentialUsage';
import type { CredentialMeta } from '../../core/model';
import type { Clock, Disposable as CoreDisposable } from '../../core/ports';
import type { KeyringReader } from '../../core/admin';
import { credentialDescription, describeAgents, formatAgo, formatLocal, isRotationDue } from './format';
import { RefreshingTree } from './refreshingTree';

export const CREDENTIALS_VIEW_ID = 'agentKeyring.credentials';
export const CredentialContext = { credential: 'credential', due: 'credential.due' } as const;

export type CredentialNode =
  | { kind: 'credential'; name: string; meta: CredentialMeta }
  | { kind: 'group'; name: string; group: Group; meta: CredentialMeta }
  | { kind: 'detail'; id: string; label: string; description?: string; tooltip?: string; icon: string };

type Group = 'scopes' | 'agents' | 'versions' | 'usage';

export interface CredentialsTreeDeps {
  reader: KeyringReader;
  clock: Clock;
  /** Where a credential is used (MCP servers migrate rewrote, `run` commands): a "Used by" group. */
  usage?: (name: string) => Promise<CredentialUse[]>;
  /** Extra change sources (SecretStorage changes from other windows, …). */
  changes: ((listener: () => void) => vscode.Disposable | CoreDisposable)[];
}

const MINUTE = 60_000;

export class CredentialsTree extends RefreshingTree<CredentialNode> {
  readonly #store: KeyringReader;
  readonly #clock: Clock;
  readonly #usage: CredentialsTreeDeps['usage'];

  constructor(deps: CredentialsTreeDeps) {
    super();
    this.#store = deps.reader;
    this.#clock = deps.clock;
    this.#usage = deps.usage;
    this.refreshOn((l) => deps.reader.onDidChange(l));
    for (const c of deps.changes) {
      this.refreshOn(c);
    }
    this.refreshEvery(MINUTE);
  }

  async getChildren(element?: CredentialNode): Promise<CredentialNode[]> {
    if (!element) {
      const all = await this.#store.listCredentials();
      return all.map((meta) => ({ kind: 'credential', name: meta.name, meta }));
    }
    if (element.kind === 'credential') {
      const groups: Group[] = ['scopes', 'agents', 'versions', ...(this.#usage ? (['usage'] as const) : [])];
      return groups.map((group) => ({
        kind: 'group',
        name: element.name,
        group,
        meta: element.meta,
      }));
    }
    if (element.kind === 'group') {
      return element.group === 'usage'
        ? usageChildren(element.name, (await this.#usage?.(element.name)) ?? [])
        : groupChildren(element.meta, element.group, this.#clock.now());
    }
    return [];
  }

  getTreeItem(node: CredentialNode): vscode.TreeItem {
    switch (node.kind) {
      case 'credential':
        return this.#credentialItem(node.meta);
      case 'group':
        return groupItem(node.meta, node.group);
      case 'detail': {
        const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.None);
        item.id = node.id;
        item.description = node.description;
        item.tooltip = node.tooltip;
        item.iconPath = new vscode.ThemeIcon(node.icon);
        return item;
      }
    }
  }

  /** The node of a credential, for `TreeView.reveal` and tests. */
  async findCredential(name: string): Promise<CredentialNode | undefined> {
    return (await this.getChildren()).find((n) => n.kind === 'credential' && n.name === name);
  }

  #credentialItem(c: CredentialMeta): vscode.TreeItem {
    const now = this.#clock.now();
    const due = isRotationDue(c, now);
    const item = new vscode.TreeItem(c.name, vscode.TreeItemCollapsibleState.Collapsed);
    item.id = `credential:${c.name}`;
    item.description = credentialDescription(c, now);
    item.contextValue = due ? CredentialContext.due : CredentialContext.credential;
    item.iconPath = due
      ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground'))
      : new vscode.ThemeIcon('key');
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown('**').appendText(c.name).appendMarkdown('**');
    md.appendMarkdown(` — version ${c.version}\n\n`);
    if (c.description) {
      md.appendText(c.description).appendMarkdown('\n\n');
    }
    md.appendMarkdown('Scopes: ').appendText(c.allowed_scopes.join(', ')).appendMarkdown('  \n');
    md.appendMarkdown('Agents: ').appendText(describeAgents(c.allowed_agents)).appendMarkdown('  \n');
    md.appendMarkdown(`Lease lifetime: ${c.ttl_seconds} s  \n`);
    if (c.allowed_hosts?.length) {
      md.appendMarkdown('Hosts for http_request: ')
        .appendText(c.allowed_hosts.join(', '))
        .appendMarkdown('  \n');
    }
    md.appendMarkdown(`Reveal (get_credential): ${REVEAL_WORDS[c.reveal ?? 'allow']}  \n`);
    for (const [agent, mode] of Object.entries(c.reveal_overrides ?? {})) {
      md.appendMarkdown('\u00a0\u00a0for ').appendText(agent).appendMarkdown(`: ${REVEAL_WORDS[mode]}  \n`);
    }
    for (const [scope, rules] of Object.entries(c.scope_rules ?? {})) {
      md.appendMarkdown('Scope ').appendText(scope).appendMarkdown(' may: ').appendText(rules.join(', '));
      md.appendMarkdown('  \n');
    }
    if (c.placement?.length) {
      md.appendMarkdown('Placement: ').appendText(c.placement.join(', ')).appendMarkdown('  \n');
    }
    if (c.rotation?.max_age_days !== undefined) {
      md.appendMarkdown(`Rotate every ${c.rotation.max_age_days} d${due ? ' — **rotation due**' : ''}  \n`);
    }
    if (c.rotation?.generator) {
      md.appendMarkdown(`Generator: ${c.rotation.generator.length} characters  \n`);
    }
    if (c.previous_valid_until && Date.parse(c.previous_valid_until) > now) {
      md.appendMarkdown(`Previous version valid until ${formatLocal(c.previous_valid_until)}  \n`);
    }
    item.tooltip = md;
    return item;
  }
}

const REVEAL_WORDS: Record<string, string> = {
  allow: 'allowed',
  approve: 'asks you each time',
  never: 'never — used, not read (http_request / run only)',
};

function groupItem(c: CredentialMeta, group: Group): vscode.TreeItem {
  const [label, count, icon] =
    group === 'usage'
      ? ['Used by', '', 'plug']
      : group === 'scopes'
        ? ['Scopes', String(c.allowed_scopes.length), 'shield']
        : group === 'agents'
          ? [
              'Allowed agents',
              c.allowed_agents.includes('*') ? 'all' : String(c.allowed_agents.length),
              'person',
            ]
          : ['Versions', String(c.versions.length), 'history'];
  const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.Collapsed);
  item.id = `credential:${c.name}/${group}`;
  item.description = count;
  item.iconPath = new vscode.ThemeIcon(icon);
  return item;
}

function usageChildren(name: string, uses: CredentialUse[]): CredentialNode[] {
  const base = `credential:${name}/usage`;
  if (uses.length === 0) {
    return [
      {
        kind: 'detail',
        id: `${base}/none`,
        label: 'no MCP server or run command recorded',
        tooltip: 'Migrate MCP Configs… and agent-keyring run record where a credential is used.',
        icon: 'info',
      },
    ];
  }
  return uses.map((u, i) => ({
    kind: 'detail',
    id: `${base}/${u.kind}/${i}`,
    label: u.label,
    description: u.description,
    tooltip: u.tooltip,
    icon: u.kind === 'server' ? 'server-process' : 'terminal',
  }));
}

function groupChildren(c: CredentialMeta, group: Exclude<Group, 'usage'>, now: number): CredentialNode[] {
  const base = `credential:${c.name}/${group}`;
  if (group === 'scopes') {
    // Each scope says what http_request may do under it (README.md, "Use, don't read").
    return c.allowed_scopes.map((s) => ({
      kind: 'detail',
      id: `${base}/${s}`,
      label: s,
      description: describeRules(c.scope_rules?.[s]),
      tooltip: `Scope ${s}: ${describeRules(c.scope_rules?.[s])}. Placement: ${describePlacement(c.placement)}. Edit Scopes… changes the rules, Set Placement… the placement.`,
      icon: 'tag',
    }));
  }
  if (group === 'agents') {
    if (c.allowed_agents.length === 0) {
      return [
        {
          kind: 'detail',
          id: `${base}/none`,
          label: 'no agent yet',
          tooltip: 'Use Edit Scopes… to allow agents.',
          icon: 'info',
        },
      ];
    }
    return c.allowed_agents.map((a) => ({
      kind: 'detail',
      id: `${base}/${a}`,
      label: a === '*' ? '* (every agent)' : a,
      icon: a === '*' ? 'globe' : 'person',
    }));
  }
  return [...c.versions].reverse().map((v) => {
    const current = v.version === c.version;
    const graceUntil =
      !current &&
      v.version === c.version - 1 &&
      c.previous_valid_until &&
      Date.parse(c.previous_valid_until) > now
        ? c.previous_valid_until
        : undefined;
    // State first, then age and author: a narrow sidebar cuts the end off (the tooltip has it all).
    const state = current
      ? 'current · '
      : graceUntil
        ? `valid until ${formatLocal(graceUntil).slice(11)} · `
        : '';
    return {
      kind: 'detail',
      id: `${base}/v${v.version}`,
      label: `v${v.version}`,
      description: `${state}${formatAgo(v.created_at, now)} · ${v.rotated_by}`,
      tooltip: `Version ${v.version}, made ${formatLocal(v.created_at)} (${formatAgo(v.created_at, now)}) by ${v.rotated_by}.${
        current
          ? ' Current: agents get this one.'
          : graceUntil
            ? ` Previous: still valid upstream until ${formatLocal(graceUntil)}.`
            : ' Retired.'
      }`,
      icon: current ? 'circle-filled' : 'circle-outline',
    };
  });
}
