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
