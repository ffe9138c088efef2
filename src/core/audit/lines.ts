/**
 * Line-level file helpers for the audit log. Lines are split on `\n` only (a trailing `\r` is
 * kept), so line numbers here agree exactly with what the writer counted; a last line without
 * a trailing newline is still a line.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

export interface ReadLinesOptions {
  /** First byte to read (default 0). */
  start?: number;
  /** Read up to, but not including, this byte (default: to the end of the file). */
  endExclusive?: number;
}

/**
 * Streams the lines of a file. Throws the `fs` error (e.g. `ENOENT`) when the file cannot be
 * opened; callers decide whether a missing file is fine.
 */
export async function* readLines(path: string, options: ReadLinesOptions = {}): AsyncGenerator<string> {
  const start = options.start ?? 0;
  const end = options.endExclusive;
  if (end !== undefined && end <= start) {
    return;
  }
  const stream = createReadStream(path, {
    start,
    ...(end !== undefined ? { end: end - 1 } : {}),
    highWaterMark: 1 << 20,
  });
  const decoder = new StringDecoder('utf8');
  let rest = '';
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const text = rest + decoder.write(chunk);
      let from = 0;
      let nl = text.indexOf('\n', from);
      while (nl !== -1) {
        yield text.slice(from, nl);
        from = nl + 1;
        nl = text.indexOf('\n', from);
      }
      rest = text.slice(from);
    }
    rest += decoder.end();
    if (rest.length > 0) {
      yield rest;
    }
  } finally {
    stream.destroy();
  }
}

/** Number of `\n` bytes in `[start, endExclusive)` of an open file. */
export async function countNewlines(
  fd: fsp.FileHandle,
  start: number,
  endExclusive: number,
): Promise<number> {
  const buf = Buffer.allocUnsafe(1 << 20);
  let pos = start;
  let count = 0;
  while (pos < endExclusive) {
    const { bytesRead } = await fd.read(buf, 0, Math.min(buf.length, endExclusive - pos), pos);
    if (bytesRead === 0) {
      break;
    }
    for (let i = buf.indexOf(0x0a, 0); i !== -1 && i < bytesRead; i = buf.indexOf(0x0a, i + 1)) {
      count++;
    }
    pos += bytesRead;
  }
  return count;
}

/**
 * The last non-empty line of the first `size` bytes of an open file (without its newline), read
 * backwards in chunks, and whether the file ends with a newline. `line` is undefined for an
 * empty file.
 */
export async function readLastLine(
  fd: fsp.FileHandle,
  size: number,
): Promise<{ line: string | undefined; endsWithNewline: boolean }> {
  if (size === 0) {
    return { line: undefined, endsWithNewline: true };
  }
  const CHUNK = 64 * 1024;
  const parts: Buffer[] = [];
  let pos = size;
  let endsWithNewline = false;
  let first = true;
  for (;;) {
    const from = Math.max(0, pos - CHUNK);
    const buf = Buffer.allocUnsafe(pos - from);
    const { bytesRead } = await fd.read(buf, 0, buf.length, from);
    let chunk = buf.subarray(0, bytesRead);
    if (first) {
      first = false;
      endsWithNewline = chunk.length > 0 && chunk[chunk.length - 1] === 0x0a;
      // Strip trailing newlines so the search below finds the line before them.
      let end = chunk.length;
      while (end > 0 && chunk[end - 1] === 0x0a) {
        end--;
      }
      chunk = chunk.subarray(0, end);
    }
    const nl = chunk.lastIndexOf(0x0a);
    if (nl !== -1) {
      parts.unshift(chunk.subarray(nl + 1));
      break;
    }
    parts.unshift(chunk);
    pos = from;
    if (from === 0) {
      break;
    }
  }
  const line = Buffer.concat(parts).toString('utf8');
  return { line: line.length > 0 ? line : undefined, endsWithNewline };
}

/**
 * Calls `onLine` synchronously for each line of a file (same splitting as {@link readLines}),
 * without a promise per line — the fast path for scanning large audit files.
 * Throws the `fs` error (e.g. `ENOENT`) when the file cannot be opened.
 */
export async function forEachLine(
  path: string,
  onLine: (line: string) => void,
  options: ReadLinesOptions = {},
): Promise<void> {
  const fh = await fsp.open(path, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let pos = options.start ?? 0;
  const end = options.endExclusive ?? Infinity;
  try {
    while (pos < end) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
      if (bytesRead === 0) {
        break;
      }
      pos += bytesRead;
      const text = rest + decoder.write(buf.subarray(0, bytesRead));
      let from = 0;
      let nl = text.indexOf('\n', from);
      while (nl !== -1) {
        onLine(text.slice(from, nl));
        from = nl + 1;
        nl = text.indexOf('\n', from);
      }
      rest = text.slice(from);
    }
    rest += decoder.end();
    if (rest.length > 0) {
      onLine(rest);
    }
  } finally {
    await fh.close();
  }
}
