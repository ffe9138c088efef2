/**
 * Shares one read among the callers that wait at the same time, without ever answering a caller
 * with a read sent before it called: while a read is in flight, every new caller joins the one
 * read that starts when it ends. So a burst of N concurrent callers costs two round trips, not N,
 * and each still sees every commit made before its call (the "current as of the call" guarantee
 * of the metadata store and secret backend).
 */
export class JoinNext<T> {
  #current: Promise<T> | undefined;
  #next: Promise<T> | undefined;

  run(read: () => Promise<T>): Promise<T> {
    if (!this.#current) {
      return this.#start(read);
    }
    this.#next ??= this.#current.then(noop, noop).then(() => {
      this.#next = undefined;
      return this.#start(read);
    });
    return this.#next;
  }

  /** Whether a read is in flight or queued (so a keyed map can drop idle entries). */
  get idle(): boolean {
    return !this.#current && !this.#next;
  }

  #start(read: () => Promise<T>): Promise<T> {
    const p = read();
    this.#current = p;
    const clear = (): void => {
      if (this.#current === p) {
        this.#current = undefined;
      }
    };
    p.then(clear, clear);
    return p;
  }
}

function noop(): void {}
