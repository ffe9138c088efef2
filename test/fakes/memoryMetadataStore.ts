/**
 * In-memory {@link MetadataStore} for tests, with the same guarantees as the file store:
 * updates are serialised, a throwing mutator changes nothing, and `read()` returns a deep-frozen
 * copy that stays the same object until the next change (callers cannot mutate the cache).
 */
import { type KeyringMetadata, emptyMetadata } from '../../src/core/model';
import type { Disposable, MetadataStore } from '../../src/core/ports';
import { StoreError } from '../../src/core/errors';
import { deepFreeze } from '../../src/core/store/fileMetadataStore';

export class MemoryMetadataStore implements MetadataStore {
  #doc: KeyringMetadata;
  #tail: Promise<unknown> = Promise.resolve();
  readonly #listeners = new Set<() => void>();
  #failNextUpdates = 0;
  /** Number of committed writes (no-op updates do not count). */
  writes = 0;

  constructor(initial: KeyringMetadata = emptyMetadata()) {
    this.#doc = deepFreeze(structuredClone(initial));
  }

  async read(): Promise<KeyringMetadata> {
    return this.#doc;
  }

  update<T>(mutator: (draft: KeyringMetadata) => T | Promise<T>): Promise<T> {
    const run = this.#tail.then(
      () => this.#apply(mutator),
      () => this.#apply(mutator),
    );
    this.#tail = run.catch(() => undefined);
    return run;
  }

  onDidChange(listener: () => void): Disposable {
    this.#listeners.add(listener);
    return { dispose: () => this.#listeners.delete(listener) };
  }

  /** The next `n` updates fail (after the mutator ran, before the commit) with a StoreError. */
  failNextUpdates(n = 1): void {
    this.#failNextUpdates = n;
  }

  /** Replaces the document as another process would, and fires `onDidChange`. */
  simulateExternalChange(mutator: (draft: KeyringMetadata) => void): void {
    const draft = structuredClone<KeyringMetadata>(this.#doc);
    mutator(draft);
    this.#commit(draft);
  }

  async #apply<T>(mutator: (draft: KeyringMetadata) => T | Promise<T>): Promise<T> {
    const before = JSON.stringify(this.#doc);
    const draft = structuredClone<KeyringMetadata>(this.#doc);
    const result = await mutator(draft);
    if (this.#failNextUpdates > 0) {
      this.#failNextUpdates--;
      throw new StoreError('Simulated metadata write failure in MemoryMetadataStore.');
    }
    if (JSON.stringify(draft) !== before) {
      this.#commit(draft);
    }
    return result;
  }

  #commit(draft: KeyringMetadata): void {
    // Copy again so a result object the mutator returned cannot alias the cache.
    this.#doc = deepFreeze(structuredClone(draft));
    this.writes++;
    for (const l of [...this.#listeners]) {
      l();
    }
  }
}
