/**
 * The Audit view (`agentKeyring.audit`), for now a tree: the newest audit events first (at most
 * {@link AUDIT_TREE_LIMIT}), one row each. Events never carry a value; the tooltip shows the
 * recorded fields, not the hash chain. Repaints when this window appends (`onDidAppend`) and when
 * another window or the CLI appends to the same file (a watch on its folder).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AuditLog } from '../../core/audit/auditLog';
import { queryAuditEvents } from '../../core/audit/auditReader';
import type { AuditDecision, AuditEvent } from '../../core/model';
import type { Logger } from '../../core/ports';
import { formatLocal } from './format';
import { RefreshingTree } from './refreshingTree';

export const AUDIT_VIEW_ID = 'agentKeyring.audit';
export const AUDIT_TREE_LIMIT = 200;

export type AuditNode =
  | { kind: 'event'; event: AuditEvent; index: number }
  | { kind: 'more'; shown: number; total: number }
  | { kind: 'error'; message: string };

const ICONS: Record<AuditDecision, [string, string?]> = {
  allow: ['pass', 'testing.iconPassed'],
  approved: ['verified', 'testing.iconPassed'],
  deny: ['error', 'errorForeground'],
  alert: ['warning', 'list.warningForeground'],
  rotated: ['sync'],
  created: ['add'],
  updated: ['edit'],
  removed: ['trash'],
  agent_added: ['person-add'],
  agent_revoked: ['circle-slash'],
  listed: ['list-flat'],
  http: ['globe'],
};

/** Tools agents call over MCP; every other `tool` is an administrative action by a person. */
const AGENT_TOOLS = new Set(['get_credential', 'list_credentials', 'rotate_credential', 'http_request']);

export class AuditTree extends RefreshingTree<AuditNode> {
  readonly #auditPath: string;
  readonly #logger: Logger;

  constructor(deps: { audit: AuditLog; auditPath: string; logger: Logger }) {
    super();
    this.#auditPath = deps.auditPath;
    this.#logger = deps.logger;
    this.refreshOn((l) => deps.audit.onDidAppend(l));
    this.#watchFile();
  }

  async getChildren(element?: AuditNode): Promise<AuditNode[]> {
    if (element) {
      return [];
    }
    try {
      const { total, events } = await queryAuditEvents(
        this.#auditPath,
        {},
        { limit: AUDIT_TREE_LIMIT, newestFirst: true },
      );
      const nodes: AuditNode[] = events.map((event, index) => ({ kind: 'event', event, index }));
      if (total > events.length) {
        nodes.push({ kind: 'more', shown: events.length, total });
      }
      return nodes;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.#logger.warn(`Could not read the audit log ${this.#auditPath}: ${message}`);
      return [{ kind: 'error', message: `Cannot read the audit log: ${message}` }];
    }
  }

  getTreeItem(node: AuditNode): vscode.TreeItem {
    if (node.kind === 'more') {
      const item = new vscode.TreeItem(`${node.total - node.shown} older events not shown`);
      item.description = `newest ${node.shown} of ${node.total}`;
      item.iconPath = new vscode.ThemeIcon('ellipsis');
      return item;
    }
    if (node.kind === 'error') {
      const item = new vscode.TreeItem(node.message);
      item.iconPath = new vscode.ThemeIcon('error');
      return item;
    }
    const e = node.event;
    const item = new vscode.TreeItem(eventLabel(e));
    item.id = `audit:${e.hash}`;
    // Agents' requests are by the agent; changes made in the editor or the CLI are by their actor.
    const who = AGENT_TOOLS.has(e.tool)
      ? (e.agent_id ?? 'unknown')
      : (e.client?.name ?? e.agent_id ?? 'unknown');
    item.description = [formatTime(e.ts), who, e.scope].filter(Boolean).join(' · ');
    const [icon, color] = ICONS[e.decision] ?? ['circle-outline'];
    item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
    item.contextValue = `audit.${e.decision}`;
    const md = new vscode.MarkdownString();
    md.appendMarkdown('**').appendText(eventLabel(e)).appendMarkdown('**\n\n');
    const rows: [string, string | number | null | undefined][] = [
      ['Time', formatLocal(e.ts) + ` (${e.ts})`],
      ['Tool', e.tool],
      ['Decision', e.decision],
      ['Code', e.code],
      ['Agent', e.agent_id],
      ['Claimed agent', e.claimed_agent_id !== e.agent_id ? e.claimed_agent_id : null],
      ['Credential', e.credential],
      ['Scope', e.scope],
      ['Version', e.version],
      ['Lease', e.lease_id],
      ['Rules', e.rules?.length ? e.rules.join(', ') : null],
      ['Client', e.client ? [e.client.name, e.client.version].filter(Boolean).join(' ') : null],
      ['Reason', e.reason],
    ];
    for (const [k, v] of rows) {
      if (v !== null && v !== undefined && v !== '') {
        md.appendMarkdown(`${k}: `).appendText(String(v)).appendMarkdown('  \n');
      }
    }
    item.tooltip = md;
    return item;
  }

  /** Appends by other windows or the CLI do not go through our AuditLog: watch the file's folder. */
  #watchFile(): void {
    const base = path.basename(this.#auditPath);
    try {
      const watcher = fs.watch(path.dirname(this.#auditPath), { persistent: false }, (_event, filename) => {
        if (!filename || filename === base) {
          this.refresh();
        }
      });
      watcher.on('error', (e) => this.#logger.debug(`Stopped watching the audit log: ${e.message}`));
      this._store.add({ dispose: () => watcher.close() });
    } catch (e) {
      this.#logger.debug(`Cannot watch the audit log folder: ${(e as Error).message}`);
    }
  }
}

function eventLabel(e: AuditEvent): string {
  const subject = e.credential ?? (e.decision.startsWith('agent_') ? e.agent_id : null) ?? e.tool;
  return `${e.decision.replace('_', ' ')} ${subject}`;
}

function formatTime(iso: string): string {
  const d = new Date(iso);
  const today = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  const time = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return d.toDateString() === today.toDateString() ? time : `${formatLocal(iso).slice(0, 10)} ${time}`;
}
