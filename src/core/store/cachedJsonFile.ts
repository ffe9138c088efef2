/**
 * A JSON document in one file, cached in memory and revalidated with a `stat` on every read, so a
 * change written by another process is seen on the very next read. The revalidating `stat` is
 * synchronous on purpose: it is a metadata lookup of a few microseconds that never waits for the
 * disk, while an asynchronous one costs a thread-pool round trip (two thread wake-ups, ~40 µs of
 * main-thread CPU on the bench machine) — and it is on the path of every request. Watches the directory (when
 * someone listens) to report other processes' changes without a read. Writes are atomic.
 * Shared by the metadata store and the encrypted secret backend; not exported from the store.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Disposable, Logger } from '../ports';
import {
  type FileSignature,
  fileSignature,
  readWithSignature,
  signatureOf,
  writeFileAtomic,
} from './atomicFile';

export type ChangeListener<T> = (prev: T, next: T) => void;

const WATCH_DEBOUNCE_MS = 25;

export class CachedJsonFile<T> implements Disposable {
  private cached: { value: T; signature: FileSignature } | undefined;
  private readonly listeners = new Set<ChangeListener<T>>();
  private watcher: fs.FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private disposed = false;
  private generation = 0;
  /** Reads waiting for the next shared `stat` (see {@link freshSignature}). */
  private statBatch:
    { waiters: { resolve: (s: FileSignature) => void; reject: (e: unknown) => void }[] } | undefined;

  /**
   * @param parse turns the file text into the value; throws a StoreError for bad content.
   * @param empty the value when the file does not exist.
   */
  constructor(
    readonly file: string,
    private readonly parse: (text: string) => T,
    private readonly empty: () => T,
    private readonly logger: Logger,
  ) {}

  /** The current document: cached while the file's signature is unchanged, else re-read. */
  async read(): Promise<T> {
    const sig = await this.freshSignature();
    if (this.cached && this.cached.signature === sig) {
      return this.cached.value;
    }
    return this.load();
  }

  /**
   * The file's signature from a `stat` taken AFTER this call — the same freshness as one `stat`
   * per read, which is what makes another process's change visible on the very next read. Reads
   * that arrive before the `stat` runs (many concurrent requests in one event-loop turn) share it:
   * it runs in a `setImmediate`, i.e. after every read queued in the current turn. The wait also
   * keeps a caller that polls read() in a loop cooperative (I/O events still run in between).
   */
  private freshSignature(): Promise<FileSignature> {
    let batch = this.statBatch;
    if (!batch) {
      const waiters: { resolve: (s: FileSignature) => void; reject: (e: unknown) => void }[] = [];
      batch = { waiters };
      this.statBatch = batch;
      setImmediate(() => {
        this.statBatch = undefined;
        let sig: FileSignature;
        try {
          sig = this.signatureNow();
        } catch (e) {
          for (const w of waiters) {
            w.reject(e);
          }
          return;
        }
        for (const w of waiters) {
          w.resolve(sig);
        }
      });
    }
    const { waiters } = batch;
    return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  }

  /** The file's signature right now (synchronous `stat`; see the class comment). */
  private signatureNow(): FileSignature {
    const st = fs.statSync(this.file, { throwIfNoEntry: false });
    return st ? signatureOf(st) : 'missing';
  }

  /** Re-reads the file regardless of the cache (used under the lock before a write). */
  async load(): Promise<T> {
    const generation = this.generation;
    const got = await readWithSignature(this.file);
    const signature = got?.signature ?? 'missing';
    if (this.cached && this.cached.signature === signature) {
      return this.cached.value;
    }
    const value = got ? this.parse(got.text) : this.empty();
    // A write that finished while we were reading is newer than what we read: keep its cache.
    if (generation === this.generation) {
      this.replace(value, signature);
    }
    return value;
  }

  /** Writes `value` atomically (temp + fsync + rename + dir fsync) and caches it. */
  async write(value: T, text: string, beforeRename?: () => Promise<void>): Promise<void> {
    await writeFileAtomic(this.file, text, { mode: 0o600, beforeRename });
    this.replace(value, await fileSignature(this.file));
    this.ensureWatching();
  }

  /** Fires with the previous and the new document after any change (ours or another process's). */
  onDidChange(listener: ChangeListener<T>): Disposable {
    this.listeners.add(listener);
    this.ensureWatching();
    return {
      dispose: () => {
        this.listeners.delete(listener);
        if (this.listeners.size === 0) {
          this.stopWatching();
        }
      },
    };
  }

  dispose(): void {
    this.disposed = true;
    this.listeners.clear();
    this.stopWatching();
  }

  private replace(value: T, signature: FileSignature): void {
    this.generation++;
    const prev = this.cached;
    this.cached = { value, signature };
    if (prev && prev.signature !== signature) {
      for (const l of [...this.listeners]) {
        try {
          l(prev.value, value);
        } catch (e) {
          this.logger.error(
            `A change listener of ${path.basename(this.file)} threw: ${(e as Error).message}`,
          );
        }
      }
    }
  }

  private ensureWatching(): void {
    if (this.watcher || this.disposed || this.listeners.size === 0) {
      return;
    }
    const base = path.basename(this.file);
    try {
      this.watcher = fs.watch(path.dirname(this.file), { persistent: false }, (_event, filename) => {
        if (filename === null || filename === base) {
          this.scheduleCheck();
        }
      });
      this.watcher.on('error', (e) => {
        this.logger.debug(`Stopped watching ${this.file}: ${e.message}`);
        this.stopWatching();
      });
    } catch (e) {
      // The directory may not exist yet; the next write or read still sees changes via stat.
      this.logger.debug(`Cannot watch ${this.file} yet: ${(e as Error).message}`);
      this.watcher = undefined;
    }
    if (!this.cached) {
      // Load a baseline so the first external change can be reported.
      this.scheduleCheck();
    }
  }

  private scheduleCheck(): void {
    if (this.debounce) {
      clearTimeout(this.debounce);
    }
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      if (this.disposed) {
        return;
      }
      this.read().catch((e: Error) => this.logger.warn(`Cannot reload ${this.file}: ${e.message}`));
    }, WATCH_DEBOUNCE_MS);
    this.debounce.unref();
  }

  private stopWatching(): void {
    if (this.debounce) {
      clearTimeout(this.debounce);
      this.debounce = undefined;
    }
    this.watcher?.close();
    this.watcher = undefined;
  }
}
