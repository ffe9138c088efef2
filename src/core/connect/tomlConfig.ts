/**
 * Adds or removes our `[mcp_servers.<name>]` table in a Codex `config.toml` as a text edit.
 *
 * Why text and not parse → stringify: no JS TOML library keeps comments and layout when it writes
 * (smol-toml and @iarna/toml both re-serialise the whole document), and `~/.codex/config.toml` is a
 * hand-edited file. So smol-toml (TOML 1.0, maintained, no dependencies, ships CommonJS; @iarna/toml
 * has not been released since 2020) is used to PARSE: to refuse a file that does not parse, to
 * find out whether our entry is there, and to check the edited text — it must parse to exactly the
 * old document with only our entry added, changed or removed. Otherwise the edit is refused and the
 * file stays untouched (e.g. when `mcp_servers` is an inline table, which cannot be extended).
 */
import { isDeepStrictEqual } from 'node:util';
import type * as SmolToml from 'smol-toml' with { 'resolution-mode': 'import' };
import { InvalidInputError } from '../errors';
import { joinLines, splitLines, type Line } from '../textLines';
import type { EditResult } from './jsonConfig';

// smol-toml's types are ESM-only; it ships CommonJS too (`require` → dist/index.cjs), which is what
// this CommonJS build (and the esbuild bundle) loads.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { parse, TomlError } = require('smol-toml') as typeof SmolToml;

/** First line of the block we write; removal drops it together with the table. */
export const TOML_MARKER = '# Added by Agent Keyring (Connect Agent…); Revoke Agent offers to remove it.';

type TomlDoc = Record<string, unknown>;

/**
 * Parses a TOML document. @throws InvalidInputError with line/column only (smol-toml's own message
 * quotes the offending line, which may hold a key).
 */
export function parseToml(text: string, label: string): TomlDoc {
  try {
    return plain(parse(text)) as TomlDoc;
  } catch (e) {
    const where = e instanceof TomlError ? ` at line ${e.line}, column ${e.column}` : '';
    throw new InvalidInputError(
      `${label} is not valid TOML${where}. Fix it by hand, then try again; the file was not changed.`,
      { file: label },
    );
  }
}

/**
 * Adds or replaces `[mcp_servers.<name>]` with `entry` (string values only). Idempotent.
 * @throws InvalidInputError when the file does not parse, or our entry exists in a form this edit
 * cannot replace safely (inline table, dotted keys) — the message says what to do.
 */
export function upsertTomlEntry(
  text: string,
  name: string,
  entry: Record<string, string>,
  label: string,
): EditResult {
  const before = parseToml(text, label);
  const existing = serversOf(before)?.[name];
  if (existing !== undefined && isDeepStrictEqual(existing, entry)) {
    return { text, outcome: 'unchanged' };
  }
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const block = [
    TOML_MARKER,
    `[mcp_servers.${tomlKey(name)}]`,
    ...Object.entries(entry).map(([k, v]) => `${tomlKey(k)} = ${JSON.stringify(v)}`),
  ];
  let out: string;
  if (existing !== undefined) {
    const lines = splitLines(text);
    const range = ownBlock(lines, name);
    if (!range) {
      throw cannotEdit(label, name);
    }
    const lastEol = lines[range.end - 1].eol || eol;
    out =
      joinLines(lines.slice(0, range.start)) + block.join(eol) + lastEol + joinLines(lines.slice(range.end));
  } else {
    let head = text;
    if (head.length > 0 && !head.endsWith('\n')) {
      head += eol;
    }
    out = head + (head.trim().length > 0 ? eol : '') + block.join(eol) + eol;
  }
  const after = parseTomlForCheck(out, label, name);
  const expected = withEntry(before, name, entry);
  if (!isDeepStrictEqual(normalise(after), normalise(expected))) {
    throw cannotEdit(label, name);
  }
  return { text: out, outcome: existing === undefined ? 'added' : 'updated' };
}

/**
 * Removes our table (and the marker line above it). `absent` when it is not there.
 * @throws InvalidInputError when the file does not parse or the entry is not a plain table.
 */
export function removeTomlEntry(text: string, name: string, label: string): EditResult {
  const before = parseToml(text, label);
  if (serversOf(before)?.[name] === undefined) {
    return { text, outcome: 'absent' };
  }
  const lines = splitLines(text);
  const range = ownBlock(lines, name);
  if (!range) {
    throw cannotEdit(label, name);
  }
  let { start } = range;
  const { end } = range;
  // At the end of the file, also drop the blank line that separated our block.
  if (end === lines.length && start > 0 && lines[start - 1].text.trim() === '') {
    start--;
  }
  let out = joinLines(lines.slice(0, start)) + joinLines(lines.slice(end));
  if (end === lines.length && start > 0 && !out.endsWith('\n') && lines[start - 1].eol) {
    out += lines[start - 1].eol;
  }
  const after = parseTomlForCheck(out, label, name);
  const expected = withEntry(before, name, undefined);
  if (!isDeepStrictEqual(normalise(after), normalise(expected))) {
    throw cannotEdit(label, name);
  }
  return { text: out, outcome: 'removed' };
}

/** smol-toml gives null-prototype objects and TomlDate values: make them comparable plain data. */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) {
    return v.map(plain);
  }
  if (v !== null && typeof v === 'object') {
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto === null || proto === Object.prototype) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
    }
    // TomlDate (the only other kind smol-toml returns): compare by its text.
    return `date:${(v as { toISOString(): string }).toISOString()}`;
  }
  return v;
}

function serversOf(doc: TomlDoc): Record<string, unknown> | undefined {
  const s = doc.mcp_servers;
  return s !== null && typeof s === 'object' && !Array.isArray(s)
    ? (s as Record<string, unknown>)
    : undefined;
}

function withEntry(doc: TomlDoc, name: string, entry: Record<string, string> | undefined): TomlDoc {
  const servers = { ...(serversOf(doc) ?? {}) };
  if (entry) {
    servers[name] = entry;
  } else {
    delete servers[name];
  }
  return { ...doc, mcp_servers: servers };
}

/** An empty `mcp_servers` equals a missing one (our header may have created it). */
function normalise(doc: TomlDoc): TomlDoc {
  const s = serversOf(doc);
  if (s && Object.keys(s).length === 0) {
    const { mcp_servers: _drop, ...rest } = doc;
    void _drop;
    return rest;
  }
  return doc;
}

function parseTomlForCheck(text: string, label: string, name: string): TomlDoc {
  try {
    return plain(parse(text)) as TomlDoc;
  } catch {
    throw cannotEdit(label, name);
  }
}

function cannotEdit(label: string, name: string): InvalidInputError {
  return new InvalidInputError(
    `Cannot edit the '${name}' entry in ${label} safely (it is not a plain [mcp_servers.${name}] table, or mcp_servers is an inline table). Edit the file by hand; it was not changed.`,
    { file: label },
  );
}

function isBlankOrComment(line: string): boolean {
  const t = line.trim();
  return t === '' || t.startsWith('#');
}

/**
 * The line range of `[mcp_servers.<name>]` and its sub-tables (`[mcp_servers.<name>.x]`): from the
 * header to the next table header that is not ours.
 */
function findTable(lines: Line[], name: string): { start: number; end: number } | undefined {
  const key = `(?:${escapeRe(name)}|"${escapeRe(name)}"|'${escapeRe(name)}')`;
  const own = new RegExp(`^\\s*\\[\\s*mcp_servers\\s*\\.\\s*${key}\\s*\\]\\s*(#.*)?$`);
  const sub = new RegExp(`^\\s*\\[\\s*mcp_servers\\s*\\.\\s*${key}\\s*\\.`);
  const header = /^\s*\[/;
  const start = lines.findIndex((l) => own.test(l.text));
  if (start < 0) {
    return undefined;
  }
  let end = start + 1;
  while (end < lines.length && !(header.test(lines[end].text) && !sub.test(lines[end].text))) {
    end++;
  }
  return { start, end };
}

/**
 * Our table plus the marker line above it; comments and blank lines at its end are left to
 * whatever follows them.
 */
function ownBlock(lines: Line[], name: string): { start: number; end: number } | undefined {
  const range = findTable(lines, name);
  if (!range) {
    return undefined;
  }
  let end = range.end;
  while (end > range.start + 1 && isBlankOrComment(lines[end - 1].text)) {
    end--;
  }
  const start =
    range.start > 0 && lines[range.start - 1].text.trim() === TOML_MARKER ? range.start - 1 : range.start;
  return { start, end };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A bare key when possible, else a quoted one. */
function tomlKey(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}
