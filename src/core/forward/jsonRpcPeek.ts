/**
 * Reads the `id` and `method` of a JSON-RPC message without parsing it: the forwarders (`bridge`,
 * `run --mcp`) only route by them, and a full `JSON.parse` of every answer (a tool result can be
 * large) would build an object graph that is thrown away at once.
 *
 * The scan walks the top-level object's keys; nested values are skipped by matching brackets, and
 * strings are jumped over with `indexOf('"')`. It checks structure (balanced brackets, closed
 * strings, `key: value` pairs), not every detail of JSON syntax: the peer that receives the line
 * validates it. What it reports agrees with `JSON.parse` for every well-formed message (tested
 * against it on generated messages in `jsonRpcPeek.test.ts`).
 */

/** What a forwarder needs to know about one message. */
export interface JsonRpcPeek {
  /** The id as canonical JSON text (`JSON.stringify` of the parsed id: `7`, `"abc"`, `null`); undefined when absent. */
  id: string | undefined;
  /** True when the message has a `method` key (a request or a notification). */
  hasMethod: boolean;
  /** The method when it is a string. */
  method: string | undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipSpace(b: Buffer, i: number): number {
  while (i < b.length && isSpace(b[i])) {
    i++;
  }
  return i;
}

/** `i` is at an opening quote; returns the index after the closing one, or -1. */
function stringEnd(b: Buffer, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = b.indexOf(QUOTE, from);
    if (q < 0) {
      return -1;
    }
    let k = q - 1;
    while (b[k] === BACKSLASH) {
      k--;
    }
    if ((q - 1 - k) % 2 === 0) {
      return q + 1;
    }
    from = q + 1;
  }
}

/** Returns the index after the value that starts at `i`, or -1 when it is not one. */
function valueEnd(b: Buffer, i: number): number {
  const c = b[i];
  if (c === QUOTE) {
    return stringEnd(b, i);
  }
  if (c === LBRACE || c === LBRACKET) {
    let depth = 0;
    let j = i;
    while (j < b.length) {
      const d = b[j];
      if (d === QUOTE) {
        j = stringEnd(b, j);
        if (j < 0) {
          return -1;
        }
        continue;
      }
      if (d === LBRACE || d === LBRACKET) {
        depth++;
      } else if (d === RBRACE || d === RBRACKET) {
        depth--;
        if (depth === 0) {
          return j + 1;
        }
      }
      j++;
    }
    return -1;
  }
  let j = i;
  while (j < b.length) {
    const d = b[j];
    if (d === COMMA || d === RBRACE || d === RBRACKET || isSpace(d)) {
      break;
    }
    j++;
  }
  return j === i ? -1 : j;
}

function hasBackslash(b: Buffer, from: number, to: number): boolean {
  const k = b.indexOf(BACKSLASH, from);
  return k >= 0 && k < to;
}

/** The id's canonical text; undefined when the value is not JSON. */
function canonicalId(b: Buffer, from: number, to: number): string | undefined {
  const raw = b.toString('utf8', from, to);
  if (b[from] === QUOTE ? !hasBackslash(b, from, to) : /^(?:0|-?[1-9]\d{0,14}|null)$/.test(raw)) {
    return raw;
  }
  try {
    return JSON.stringify(JSON.parse(raw));
  } catch {
    return undefined;
  }
}

function keyIs(b: Buffer, from: number, to: number, name: string): boolean {
  // from/to: the key's bytes between the quotes.
  if (!hasBackslash(b, from, to)) {
    return to - from === name.length && b.toString('latin1', from, to) === name;
  }
  try {
    return JSON.parse(b.toString('utf8', from - 1, to + 1)) === name;
  } catch {
    return false;
  }
}

/**
 * The `id` and `method` of a JSON-RPC message on one line; undefined when the line is not a JSON
 * object (a batch, or not JSON).
 */
export function peekJsonRpc(line: Buffer): JsonRpcPeek | undefined {
  let i = skipSpace(line, 0);
  if (line[i] !== LBRACE) {
    return undefined;
  }
  const out: JsonRpcPeek = { id: undefined, hasMethod: false, method: undefined };
  i = skipSpace(line, i + 1);
  if (line[i] === RBRACE) {
    return skipSpace(line, i + 1) === line.length ? out : undefined;
  }
  for (;;) {
    if (line[i] !== QUOTE) {
      return undefined;
    }
    const keyEnd = stringEnd(line, i);
    if (keyEnd < 0) {
      return undefined;
    }
    const keyFrom = i + 1;
    const keyTo = keyEnd - 1;
    i = skipSpace(line, keyEnd);
    if (line[i] !== COLON) {
      return undefined;
    }
    i = skipSpace(line, i + 1);
    const end = valueEnd(line, i);
    if (end < 0) {
      return undefined;
    }
    if (keyIs(line, keyFrom, keyTo, 'id')) {
      out.id = canonicalId(line, i, end);
      if (out.id === undefined) {
        return undefined;
      }
    } else if (keyIs(line, keyFrom, keyTo, 'method')) {
      out.hasMethod = true;
      out.method = undefined;
      if (line[i] === QUOTE) {
        if (hasBackslash(line, i, end)) {
          try {
            out.method = JSON.parse(line.toString('utf8', i, end)) as string;
          } catch {
            return undefined;
          }
        } else {
          out.method = line.toString('utf8', i + 1, end - 1);
        }
      }
    }
    i = skipSpace(line, end);
    if (line[i] === COMMA) {
      i = skipSpace(line, i + 1);
      continue;
    }
    if (line[i] === RBRACE) {
      return skipSpace(line, i + 1) === line.length ? out : undefined;
    }
    return undefined;
  }
}
