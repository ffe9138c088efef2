/**
 * Newline framing for stdio JSON-RPC, shared by `agent-keyring bridge` and `run --mcp` (the
 * forwarding path of both). A byte stream is cut into lines, each handed on with its exact bytes
 * (the `\n` included), so what is forwarded is byte for byte what was read.
 *
 * Hot path: a chunk that holds whole lines is cut with `subarray` (no copy); only a line split
 * across chunks is joined, once, when its end arrives.
 */
export class LineFramer {
  readonly #onLine: (line: Buffer) => void;
  /** Pieces of a line whose end has not arrived yet. */
  #parts: Buffer[] = [];

  constructor(onLine: (line: Buffer) => void) {
    this.#onLine = onLine;
  }

  push(chunk: Buffer): void {
    let start = 0;
    let nl = chunk.indexOf(0x0a);
    while (nl >= 0) {
      const piece = chunk.subarray(start, nl + 1);
      if (this.#parts.length > 0) {
        this.#parts.push(piece);
        const line = Buffer.concat(this.#parts);
        this.#parts = [];
        this.#onLine(line);
      } else {
        this.#onLine(piece);
      }
      start = nl + 1;
      nl = chunk.indexOf(0x0a, start);
    }
    if (start < chunk.length) {
      // Copied: the caller may reuse its buffer (a stream's chunk is not, but a test's may be).
      this.#parts.push(Buffer.from(chunk.subarray(start)));
    }
  }

  /** The stream ended: a last line without `\n` is handed on as it is. */
  end(): void {
    if (this.#parts.length > 0) {
      const line = Buffer.concat(this.#parts);
      this.#parts = [];
      this.#onLine(line);
    }
  }
}

/**
 * Coalesces writes made in one event-loop turn into one `write` (a `data` chunk with several lines
 * becomes one system call on a pipe instead of one per line). Order is kept; the flush runs as a
 * microtask, so a lone line is not delayed past the current turn.
 */
export class BatchedWriter {
  readonly #write: (chunk: Buffer) => void;
  #queued: Buffer[] = [];
  #scheduled = false;

  constructor(write: (chunk: Buffer) => void) {
    this.#write = write;
  }

  write(chunk: Buffer): void {
    this.#queued.push(chunk);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Writes what is queued now (also called before the stream is ended). */
  flush(): void {
    this.#scheduled = false;
    const q = this.#queued;
    if (q.length === 0) {
      return;
    }
    this.#queued = [];
    this.#write(q.length === 1 ? q[0] : Buffer.concat(q));
  }
}
