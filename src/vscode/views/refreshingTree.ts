/**
 * Base of the Agent Keyring tree views: a TreeDataProvider whose `refresh()` is coalesced (a
 * burst of store, SecretStorage and audit events repaints once) and which owns its listeners.
 */
import * as vscode from 'vscode';
import type { Disposable as CoreDisposable } from '../../core/ports';
import { DisposableStore } from '../lifecycle';

/** Events arriving within this window repaint the tree once. */
const COALESCE_MS = 100;

export abstract class RefreshingTree<T> implements vscode.TreeDataProvider<T>, vscode.Disposable {
  protected readonly _store = new DisposableStore();
  readonly #onDidChangeTreeData = new vscode.EventEmitter<T | undefined | void>();
  readonly onDidChangeTreeData = this.#onDidChangeTreeData.event;
  #timer: NodeJS.Timeout | undefined;

  constructor() {
    this._store.add(this.#onDidChangeTreeData);
    this._store.add({ dispose: () => clearTimeout(this.#timer) });
  }

  abstract getTreeItem(element: T): vscode.TreeItem | Thenable<vscode.TreeItem>;
  abstract getChildren(element?: T): vscode.ProviderResult<T[]>;

  /** Repaints the whole tree soon (coalesced). */
  refresh(): void {
    if (this._store.isDisposed || this.#timer) {
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#onDidChangeTreeData.fire();
    }, COALESCE_MS);
  }

  /** Repaints when `subscribe`'s event fires; the subscription is disposed with the tree. */
  protected refreshOn(subscribe: (listener: () => void) => vscode.Disposable | CoreDisposable): void {
    this._store.add(subscribe(() => this.refresh()));
  }

  /** Repaints every `ms` (relative times such as "5 min ago" must not go stale). */
  protected refreshEvery(ms: number): void {
    const t = setInterval(() => this.refresh(), ms);
    t.unref?.();
    this._store.add({ dispose: () => clearInterval(t) });
  }

  dispose(): void {
    this._store.dispose();
  }
}
