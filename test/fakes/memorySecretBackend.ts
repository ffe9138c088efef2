/**
 * In-memory {@link SecretBackend} for tests. Can be told to fail (`failOn`) to exercise error
 * paths, and records the keys it was asked about. Fires `onDidChange` for its own writes and for
 * {@link MemorySecretBackend.simulateExternalChange} (another window changed a key).
 */
import { StoreError } from '../../src/core/errors';
import type { Disposable, SecretBackend } from '../../src/core/ports';

export type SecretOp = 'get' | 'store' | 'delete';

export class MemorySecretBackend implements SecretBackend {
  readonly #values = new Map<string, string>();
  readonly #listeners = new Set<(key: string) => void>();
  #failures = new Map<SecretOp, { remaining: number; error: () => Error }>();
  /** Every operation in order, as `op key` (keys only, never values). */
  readonly calls: string[] = [];

  constructor(initial: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(initial)) {
      this.#values.set(k, v);
    }
  }

  async get(key: string): Promise<string | undefined> {
    this.#maybeFail('get', key);
    return this.#values.get(key);
  }

  async store(key: string, value: string): Promise<void> {
    this.#maybeFail('store', key);
    this.#values.set(key, value);
    this.#emit(key);
  }

  async delete(key: string): Promise<void> {
    this.#maybeFail('delete', key);
    if (this.#values.delete(key)) {
      this.#emit(key);
    }
  }

  onDidChange(listener: (key: string) => void): Disposable {
    this.#listeners.add(listener);
    return { dispose: () => this.#listeners.delete(listener) };
  }

  /**
   * Makes the next `times` calls of `op` throw (default: a {@link StoreError}; `times` defaults to
   * every call until {@link clearFailures}).
   */
  failOn(
    op: SecretOp,
    times = Infinity,
    error: () => Error = () => new StoreError(`Simulated ${op} failure in MemorySecretBackend.`),
  ): void {
    this.#failures.set(op, { remaining: times, error });
  }

  clearFailures(): void {
    this.#failures.clear();
  }

  /** Keys currently stored, sorted. */
  keys(): string[] {
    return [...this.#values.keys()].sort();
  }

  /** Raw value (tests only). */
  peek(key: string): string | undefined {
    return this.#values.get(key);
  }

  /** Changes a key as another window would, and fires `onDidChange`. */
  simulateExternalChange(key: string, value: string | undefined): void {
    if (value === undefined) {
      this.#values.delete(key);
    } else {
      this.#values.set(key, value);
    }
    this.#emit(key);
  }

  #maybeFail(op: SecretOp, key: string): void {
    this.calls.push(`${op} ${key}`);
    const f = this.#failures.get(op);
    if (f && f.remaining > 0) {
      f.remaining--;
      throw f.error();
    }
  }

  #emit(key: string): void {
    for (const l of [...this.#listeners]) {
      l(key);
    }
  }
}
