/**
 * Rewrites server entries in a config's text and nothing else. JSON (and JSON with comments):
 * jsonc-parser's `modify`/`applyEdits` per key, so comments, spacing, key order and line endings
 * of everything else stay byte for byte. TOML (Codex): line edits of the affected keys only (no
 * TOML library keeps layout when it writes). Both are checked by parsing the result: it must equal
 * the old document with exactly the planned changes, else the file is refused, never written.
 */
import { isDeepStrictEqual } from 'node:util';
import * as jsonc from 'jsonc-parser';
import type { JsonValue } from '../connect/clients';
import { formattingOf, isObject, parseJsonConfig } from '../connect/jsonConfig';
import { parseToml } from '../connect/tomlConfig';
import { InvalidInputError } from '../errors';
import { joinLines, splitLines, type Line } from '../textLines';
import type { ConfigLayout } from './clientFiles';

export interface ServerRewrite {
  /** The server's path in the document (`['mcpServers', 'github']`). */
  path: string[];
  /** Keys set on the server entry (`command`, `args`, `type`). */
  set: Record<string, JsonValue>;
  /** Keys removed from it: `['env', 'GITHUB_TOKEN']`, `['url']`; an emptied `env`/header map goes too. */
  remove: string[][];
}

type Doc = Record<string, unknown>;

function clone<T>(v: T): T {
  return structuredClone(v);
}

function objectAt(doc: Doc, keys: readonly string[]): Doc | undefined {
  let node: unknown = doc;
  for (const k of keys) {
    node = isObject(node) ? node[k] : undefined;
  }
  return isObject(node) ? node : undefined;
}

/** The document the rewrite must produce, computed on parsed data. */
function expectedDoc(before: Doc, rewrites: readonly ServerRewrite[]): Doc {
  const doc = clone(before);
  for (const r of rewrites) {
    const entry = objectAt(doc, r.path);
    if (!entry) {
      continue;
    }
    for (const rm of r.remove) {
      const parent = objectAt(entry, rm.slice(0, -1));
      if (parent) {
        delete parent[rm[rm.length - 1]];
      }
      if (rm.length > 1) {
        const group = objectAt(entry, rm.slice(0, 1));
        if (group && Object.keys(group).length === 0) {
          delete entry[rm[0]];
        }
      }
    }
    Object.assign(entry, r.set);
  }
  return doc;
}

function refused(file: string, why: string): InvalidInputError {
  return new InvalidInputError(
    `${file}: cannot rewrite it safely (${why}). Move its keys by hand; the file was not changed.`,
    { file },
  );
}

/**
 * Applies `rewrites` to `text`.
 * @throws InvalidInputError when the text does not parse or the result would not be exactly the
 * planned change (the file must then be left alone).
 */
export function rewriteConfig(
  text: string,
  layout: ConfigLayout,
  rewrites: readonly ServerRewrite[],
  file: string,
): string {
  return layout === 'toml' ? rewriteToml(text, rewrites, file) : rewriteJson(text, rewrites, file);
}

function rewriteJson(text: string, rewrites: readonly ServerRewrite[], file: string): string {
  const before = parseJsonConfig(text, file, true) as Doc;
  const fmt = formattingOf(text);
  let out = text;
  const edit = (p: (string | number)[], value: unknown): void => {
    out = jsonc.applyEdits(out, jsonc.modify(out, p, value, { formattingOptions: fmt }));
  };
  for (const r of rewrites) {
    for (const rm of r.remove) {
      edit([...r.path, ...rm], undefined);
      if (rm.length > 1) {
        const now = parseJsonConfig(out, file, true) as Doc;
        const group = objectAt(now, [...r.path, rm[0]]);
        if (group && Object.keys(group).length === 0) {
          edit([...r.path, rm[0]], undefined);
        }
      }
    }
    for (const [k, v] of Object.entries(r.set)) {
      edit([...r.path, k], v);
    }
  }
  const after = parseJsonConfig(out, file, true);
  if (!isDeepStrictEqual(after, expectedDoc(before, rewrites))) {
    throw refused(file, 'the edited text does not parse to the planned change');
  }
  return out;
}

// ---------------------------------------------------------------- TOML

function tomlString(s: string): string {
  return JSON.stringify(s);
}

function tomlValue(v: JsonValue): string {
  if (typeof v === 'string') {
    return tomlString(v);
  }
  if (Array.isArray(v)) {
    return `[${v.map(tomlValue).join(', ')}]`;
  }
  if (isObject(v)) {
    const items = Object.entries(v).map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x)}`);
    return items.length === 0 ? '{}' : `{ ${items.join(', ')} }`;
  }
  return String(v);
}

function tomlKey(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function keyPattern(k: string): string {
  return `(?:${escapeRe(k)}|"${escapeRe(k)}"|'${escapeRe(k)}')`;
}

const HEADER = /^\s*\[/;

/** The lines of table `[a.b.c]` (header excluded): [start, end). */
function tableRange(lines: Line[], keys: readonly string[]): { header: number; end: number } | undefined {
  const re = new RegExp(`^\\s*\\[\\s*${keys.map(keyPattern).join('\\s*\\.\\s*')}\\s*\\]\\s*(#.*)?$`);
  const header = lines.findIndex((l) => re.test(l.text));
  if (header < 0) {
    return undefined;
  }
  let end = header + 1;
  while (end < lines.length && !HEADER.test(lines[end].text)) {
    end++;
  }
  return { header, end };
}

/** Bracket depth change of one line, ignoring strings and comments. */
function depthChange(line: string): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"') {
        i++;
      } else if (c === quote) {
        quote = undefined;
      }
      continue;
    }
    if (c === '#') {
      break;
    }
    if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '[' || c === '{') {
      depth++;
    } else if (c === ']' || c === '}') {
      depth--;
    }
  }
  return depth;
}

/** The line range [start, end) of `key = …` inside [from, to), multi-line arrays included. */
function assignment(lines: Line[], from: number, to: number, key: string): [number, number] | undefined {
  const re = new RegExp(`^\\s*${keyPattern(key)}\\s*=`);
  for (let i = from; i < to; i++) {
    if (re.test(lines[i].text)) {
      let depth = depthChange(lines[i].text);
      let end = i + 1;
      while (depth > 0 && end < to) {
        depth += depthChange(lines[end].text);
        end++;
      }
      return [i, end];
    }
  }
  return undefined;
}

function rewriteToml(text: string, rewrites: readonly ServerRewrite[], file: string): string {
  const before = parseToml(text, file);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  let lines = splitLines(text);
  const replace = (start: number, end: number, repl: string[]): void => {
    const lastEol = lines[end - 1]?.eol || eol;
    const added = repl.map((t, i) => ({ text: t, eol: i === repl.length - 1 ? lastEol : eol }));
    lines = [...lines.slice(0, start), ...added, ...lines.slice(end)];
  };
  for (const r of rewrites) {
    const entry = objectAt(before, r.path) ?? {};
    const groupsTouched = new Set(r.remove.filter((rm) => rm.length > 1).map((rm) => rm[0]));
    // Sub-tables ([mcp_servers.x.env]) first: their lines come after the server's own keys.
    for (const group of groupsTouched) {
      const sub = tableRange(lines, [...r.path, group]);
      if (!sub) {
        continue;
      }
      const gone = r.remove.filter((rm) => rm.length > 1 && rm[0] === group).map((rm) => rm[1]);
      for (const name of gone) {
        const range = tableRange(lines, [...r.path, group]);
        const a = range && assignment(lines, range.header + 1, range.end, name);
        if (a) {
          replace(a[0], a[1], []);
        }
      }
      const left = Object.keys(objectAt(entry, [group]) ?? {}).filter((k) => !gone.includes(k));
      if (left.length === 0) {
        const range = tableRange(lines, [...r.path, group]);
        if (range) {
          replace(range.header, range.header + 1, []);
        }
      }
    }
    const own = tableRange(lines, r.path);
    if (!own) {
      throw refused(file, `[${r.path.join('.')}] is not a table of its own`);
    }
    const ownEnd = (): number => tableRange(lines, r.path)?.end ?? own.end;
    // Inline groups (env = { … }) are written again without the removed keys.
    for (const group of groupsTouched) {
      const a = assignment(lines, own.header + 1, ownEnd(), group);
      if (!a) {
        continue;
      }
      const gone = new Set(r.remove.filter((rm) => rm.length > 1 && rm[0] === group).map((rm) => rm[1]));
      const left = Object.fromEntries(
        Object.entries(objectAt(entry, [group]) ?? {}).filter(([k]) => !gone.has(k)),
      ) as Record<string, JsonValue>;
      const indent = /^\s*/.exec(lines[a[0]].text)?.[0] ?? '';
      replace(
        a[0],
        a[1],
        Object.keys(left).length === 0 ? [] : [`${indent}${tomlKey(group)} = ${tomlValue(left)}`],
      );
    }
    for (const rm of r.remove.filter((x) => x.length === 1)) {
      const a = assignment(lines, own.header + 1, ownEnd(), rm[0]);
      if (a) {
        replace(a[0], a[1], []);
      } else {
        const sub = tableRange(lines, [...r.path, rm[0]]);
        if (sub) {
          replace(sub.header, sub.end, []);
        }
      }
    }
    for (const [k, v] of Object.entries(r.set)) {
      const a = assignment(lines, own.header + 1, ownEnd(), k);
      if (a) {
        const indent = /^\s*/.exec(lines[a[0]].text)?.[0] ?? '';
        replace(a[0], a[1], [`${indent}${tomlKey(k)} = ${tomlValue(v)}`]);
      } else {
        const header = tableRange(lines, r.path)?.header ?? own.header;
        // A header on the file's last line without an ending: the new line takes over its (none).
        const last = lines[header].eol === '';
        lines = [
          ...lines.slice(0, header),
          { text: lines[header].text, eol: last ? eol : lines[header].eol },
          { text: `${tomlKey(k)} = ${tomlValue(v)}`, eol: last ? '' : eol },
          ...lines.slice(header + 1),
        ];
      }
    }
  }
  const out = joinLines(lines);
  let after: Doc;
  try {
    after = parseToml(out, file);
  } catch {
    throw refused(file, 'the edited text is not valid TOML');
  }
  if (!isDeepStrictEqual(after, expectedDoc(before, rewrites))) {
    throw refused(file, 'the edited text does not parse to the planned change');
  }
  return out;
}
