/**
 * Disposable bookkeeping for the VS Code side: everything that registers, listens or starts is
 * registered on a {@link DisposableStore}, and disposing the store undoes all of it in reverse order.
 */
import type * as vscode from 'vscode';
import type { Disposable as CoreDisposable } from '../core/ports';

/** Anything with a `dispose()`: VS Code's `Disposable` and the core's `Disposable` both fit. */
export type AnyDisposable = vscode.Disposable | CoreDisposable;

export class DisposableStore implements CoreDisposable {
  readonly #items: AnyDisposable[] = [];
  #disposed = false;

  get isDisposed(): boolean {
    return this.#disposed;
  }

  /**
   * Takes ownership of `item`. Registering on a store that was already disposed disposes the item
   * at once (a late registration must not leak).
   */
  add<T extends AnyDisposable>(item: T): T {
    if (this.#disposed) {
      item.dispose();
    } else {
      this.#items.push(item);
    }
    return item;
  }

  /** Disposes every item, last registered first. Errors are collected and rethrown together. */
  dispose(): void {
    if (this.#disposed) {
      return;
    }
    this.#disposed = true;
    const errors: unknown[] = [];
    for (const item of this.#items.splice(0).reverse()) {
      try {
        item.dispose();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length === 1) {
      throw errors[0];
    }
    if (errors.length > 1) {
      throw new AggregateError(errors, `${errors.length} disposables failed to dispose.`);
    }
  }
}

/** Base class for objects that own disposables (`this._register(x)`), as in VS Code's own code. */
export abstract class Disposable implements CoreDisposable {
  protected readonly _store = new DisposableStore();

  protected _register<T extends AnyDisposable>(item: T): T {
    return this._store.add(item);
  }

  dispose(): void {
    this._store.dispose();
  }
}
