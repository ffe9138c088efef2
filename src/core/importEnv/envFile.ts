/**
 * `.env` files: the values as dotenv reads them (`dotenv.parse`, so what we import is what the app
 * got), where each key is defined (dotenv's own line grammar, run with match indices), and the
 * rewrite that replaces the imported definitions by a comment naming the credential — every other
 * byte of the file kept as it was (line endings, quotes, `export`, comments, blank lines).
 */
import * as fs from 'node:fs';
import { parse as dotenvParse } from 'dotenv';
import { InvalidInputError, StoreError } from '../errors';
import { ID_PATTERN, SecretValue } from '../model';
import { splitLines } from '../textLines';

/**
 * dotenv's LINE grammar (dotenv 16–18 `parse`), plus the `d` flag for match indices. dotenv runs
 * it over the text with every `\r\n` / `\r` turned into `\n`; so do we.
 */
const LINE =
  /(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)/dgm;

/** Largest `.env` file the import reads (a real one is a few KiB). */
export const MAX_ENV_BYTES = 1024 * 1024;

export interface EnvKey {
  key: string;
  /** 1-based line of the (last, effective) definition. */
  line: number;
  /** 1-based first line of every definition, in file order (more than one: defined twice). */
  lines: number[];
  /** True when the value is empty (nothing to import). */
  empty: boolean;
}

export interface ParsedEnv {
  /** Keys in file order, each once. */
  keys: EnvKey[];
  /**
   * 1-based lines that are neither blank, a comment nor part of a definition: dotenv skips them
   * silently (`MY KEY=…`, `KEY value`), so the import names them instead.
   */
  invalidLines: number[];
  /** The value of `key` as dotenv reads it. */
  value(key: string): SecretValue | undefined;
}

/**
 * The text of a `.env` file's bytes.
 * @throws InvalidInputError when the file is larger than {@link MAX_ENV_BYTES}, holds a NUL byte
 *   or is not UTF-8 — the message names the file, never its content.
 */
export function decodeEnvFile(bytes: Uint8Array, label: string): string {
  if (bytes.byteLength > MAX_ENV_BYTES) {
    throw new InvalidInputError(tooLarge(label, bytes.byteLength));
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = '\0';
  }
  if (text.includes('\0')) {
    throw new InvalidInputError(
      `${label} is not a text file (it holds binary data). Pick a .env file with KEY=value lines.`,
    );
  }
  return text;
}

/**
 * Reads a `.env` file for import: its text and mode.
 * @throws InvalidInputError when it is missing, a folder, too large, or not text (see
 *   {@link decodeEnvFile}); StoreError on another I/O failure. Messages never hold content.
 */
export async function readEnvFile(file: string, label: string): Promise<{ text: string; mode: number }> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new InvalidInputError(`${label} does not exist. Pick an existing .env file.`);
    }
    throw new StoreError(`Cannot read ${label} (${code ?? 'error'}). Check that it is a readable file.`);
  }
  if (!st.isFile()) {
    throw new InvalidInputError(`${label} is not a file. Pick a .env file with KEY=value lines.`);
  }
  if (st.size > MAX_ENV_BYTES) {
    throw new InvalidInputError(tooLarge(label, st.size));
  }
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (e) {
    throw new StoreError(
      `Cannot read ${label} (${(e as NodeJS.ErrnoException).code ?? 'error'}). Check that it is a readable file.`,
    );
  }
  return { text: decodeEnvFile(bytes, label), mode: st.mode & 0o777 };
}

function tooLarge(label: string, bytes: number): string {
  return `${label} is ${formatSize(bytes)}; a .env file for import must be at most 1 MiB. Pick the .env file itself (KEY=value lines).`;
}

function formatSize(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
    : `${Math.ceil(bytes / 1024)} KiB`;
}

/** Every definition of every key: 0-based [first, last] line ranges, in file order. */
function locate(text: string): Map<string, [number, number][]> {
  const normal = text.replace(/\r\n?/g, '\n');
  const lineStarts = [0];
  for (let i = 0; i < normal.length; i++) {
    if (normal[i] === '\n') {
      lineStarts.push(i + 1);
    }
  }
  const lineOf = (offset: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return lo;
  };
  const found = new Map<string, [number, number][]>();
  LINE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = LINE.exec(normal)) !== null) {
    const indices = m.indices;
    if (!indices?.[1]) {
      continue;
    }
    const first = lineOf(indices[1][0]);
    // The value may span lines (quoted); the end offset is exclusive.
    const valueEnd = indices[2] ? Math.max(indices[2][1] - 1, indices[2][0]) : indices[1][1];
    const last = Math.max(first, lineOf(valueEnd));
    const list = found.get(m[1]) ?? [];
    list.push([first, last]);
    found.set(m[1], list);
    if (m[0].length === 0) {
      LINE.lastIndex++;
    }
  }
  return found;
}

/** Reads a `.env` text the way dotenv does. Values stay wrapped; keys carry no value. */
export function parseEnv(text: string): ParsedEnv {
  const values = dotenvParse(text);
  const where = locate(text);
  const keys: EnvKey[] = [];
  const covered = new Set<number>();
  for (const [key, ranges] of where) {
    for (const [first, last] of ranges) {
      for (let i = first; i <= last; i++) {
        covered.add(i);
      }
    }
    if (!Object.prototype.hasOwnProperty.call(values, key)) {
      continue;
    }
    keys.push({
      key,
      line: ranges[ranges.length - 1][0] + 1,
      lines: ranges.map(([first]) => first + 1),
      empty: values[key] === '',
    });
  }
  // dotenv may read a key our locator did not place (it never should): still offer it.
  for (const key of Object.keys(values)) {
    if (!where.has(key)) {
      keys.push({ key, line: 0, lines: [], empty: values[key] === '' });
    }
  }
  const invalidLines: number[] = [];
  text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .forEach((l, i) => {
      const t = l.trim();
      if (t !== '' && !t.startsWith('#') && !covered.has(i)) {
        invalidLines.push(i + 1);
      }
    });
  return {
    keys,
    invalidLines,
    value: (key) =>
      Object.prototype.hasOwnProperty.call(values, key) ? new SecretValue(values[key]) : undefined,
  };
}

/** `SCAVIO_API_KEY` → `scavio_api_key`: lower case, only `[a-z0-9_.-]`, starting alphanumeric, ≤ 64. */
export function defaultCredentialName(key: string): string {
  const name = key
    .toLowerCase()
    .replace(/[^a-z0-9_.-]/g, '_')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 64);
  return ID_PATTERN.test(name) ? name : 'imported_key';
}

/** The comment that replaces a moved definition. */
export function movedComment(key: string, credential: string): string {
  return `# ${key} moved to Agent Keyring as '${credential}'`;
}

/**
 * Replaces every definition of each moved key (all its lines, for a multi-line value) by one
 * comment line naming the credential, keeping that definition's line ending. Every other line is
 * kept byte for byte.
 * @throws InvalidInputError when a key is not defined in `text` (the message names the key only).
 */
export function removeKeys(text: string, moves: readonly { key: string; credential: string }[]): string {
  const where = locate(text);
  const lines = splitLines(text);
  const replace = new Map<number, { end: number; comment: string }>();
  for (const { key, credential } of moves) {
    const ranges = where.get(key);
    if (!ranges) {
      throw new InvalidInputError(
        `'${key}' is not defined in the file any more, so it was not removed. Check the file, then import again.`,
      );
    }
    for (const [first, last] of ranges) {
      replace.set(first, { end: last, comment: movedComment(key, credential) });
    }
  }
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const r = replace.get(i);
    if (r) {
      out.push(r.comment + lines[r.end].eol);
      i = r.end;
    } else {
      out.push(lines[i].text + lines[i].eol);
    }
  }
  return out.join('');
}
