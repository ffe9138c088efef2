/**
 * The core's {@link SecretBackend} over VS Code SecretStorage (`context.secrets`): the OS keychain
 * on desktop. Keys are namespaced by the extension already; values never pass through a log here.
 */
import type * as vscode from 'vscode';
import type { Disposable, SecretBackend } from '../core/ports';

export class SecretStorageBackend implements SecretBackend {
  readonly #secrets: vscode.SecretStorage;

  constructor(secrets: vscode.SecretStorage) {
    this.#secrets = secrets;
  }

  async get(key: string): Promise<string | undefined> {
    return this.#secrets.get(key);
  }

  async store(key: string, value: string): Promise<void> {
    await this.#secrets.store(key, value);
  }

  async delete(key: string): Promise<void> {
    await this.#secrets.delete(key);
  }

  /** Fires for changes made by this window and by other windows of the same profile. */
  onDidChange(listener: (key: string) => void): Disposable {
    return this.#secrets.onDidChange((e) => listener(e.key));
  }
}

export interface StartupSecretsOptions {
  /** Keys activation will read: their reads start at once, side by side. */
  prefetch: readonly string[];
  /**
   * Keys written only on first run (a key created once, such as the audit HMAC key), whose write
   * need not hold activation up: `store` returns once the write has started.
   */
  writeBehind?: readonly string[];
}

/**
 * A {@link SecretBackend} for the moments of activation. Each SecretStorage call is a round trip
 * to the window (in a browser-hosted VS Code, through the page); this keeps them off activation's
 * critical path without changing what is stored:
 * - the reads of `prefetch` keys start when this is built; the first `get` of such a key answers
 *   from that read, later ones read again (so later changes are seen);
 * - a `store` of a `writeBehind` key returns once the write has started; until it lands, `get`
 *   answers the value being written. {@link settled} says when every such write has landed (or
 *   which failed): whoever releases anything that depends on them waits for it.
 * Every other call goes straight to the backend.
 */
export class StartupSecrets implements SecretBackend {
  readonly #inner: SecretBackend;
  readonly #prefetched = new Map<string, Promise<string | undefined>>();
  readonly #writeBehind: ReadonlySet<string>;
  readonly #pending = new Map<string, string>();
  readonly #writes: Promise<void>[] = [];

  constructor(inner: SecretBackend, opts: StartupSecretsOptions) {
    this.#inner = inner;
    this.#writeBehind = new Set(opts.writeBehind ?? []);
    for (const key of opts.prefetch) {
      const read = inner.get(key);
      // Not yet awaited by anyone: a failure is reported to the `get` that uses it, not as an
      // unhandled rejection.
      read.catch(() => undefined);
      this.#prefetched.set(key, read);
    }
  }

  get(key: string): Promise<string | undefined> {
    const pending = this.#pending.get(key);
    if (pending !== undefined) {
      return Promise.resolve(pending);
    }
    const read = this.#prefetched.get(key);
    if (read) {
      this.#prefetched.delete(key);
      return read;
    }
    return this.#inner.get(key);
  }

  async store(key: string, value: string): Promise<void> {
    this.#prefetched.delete(key);
    if (!this.#writeBehind.has(key)) {
      return this.#inner.store(key, value);
    }
    this.#pending.set(key, value);
    const write = this.#inner.store(key, value).finally(() => {
      if (this.#pending.get(key) === value) {
        this.#pending.delete(key);
      }
    });
    write.catch(() => undefined); // reported by settled()
    this.#writes.push(write);
  }

  async delete(key: string): Promise<void> {
    this.#prefetched.delete(key);
    this.#pending.delete(key);
    await this.#inner.delete(key);
  }

  onDidChange(listener: (key: string) => void): Disposable {
    return this.#inner.onDidChange(listener);
  }

  /** Resolves when every write-behind write has landed; rejects with the first that failed. */
  async settled(): Promise<void> {
    await Promise.all(this.#writes);
  }
}
