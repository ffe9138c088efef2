/**
 * Adds or removes one server entry in a JSON MCP config (Claude Code / Cursor `mcpServers`, VS Code
 * `servers` + `inputs`) as a text edit: jsonc-parser's `modify` touches only our entry, so every other
 * entry, comment, key order and indentation stays as it was. A file that does not parse is refused
 * and never rewritten. Error messages give line and column, never file content (it may hold keys).
 */
import { isDeepStrictEqual } from 'node:util';
import * as jsonc from 'jsonc-parser';
import { InvalidInputError } from '../errors';
import type { JsonObject, JsonValue } from './clients';

export interface JsonEditSpec {
  /** `mcpServers` or `servers`. */
  rootKey: 'mcpServers' | 'servers';
  /**
   * Objects that hold `rootKey`, outermost first (Claude Code's `~/.claude.json` keeps a project's
   * servers under `projects.<folder>.mcpServers`); created when missing. Default: the top level.
   */
  parent?: readonly string[];
  /** Entry name under rootKey. */
  name: string;
  entry: JsonObject;
  /** VS Code only: an `inputs` item (matched by `id`) that the entry references. */
  input?: JsonObject;
  /** Comments and trailing commas allowed (VS Code `mcp.json`); otherwise strict JSON. */
  jsonc: boolean;
}

export type EditOutcome = 'added' | 'updated' | 'unchanged';

/** Result of an edit: the new text (same as the input when nothing changed). */
export interface EditResult {
  text: string;
  outcome: EditOutcome | 'removed' | 'absent';
}

/**
 * Parses `text` as the config document (empty text = empty document).
 * @throws InvalidInputError naming `label` with line/column when it does not parse or is not an object.
 */
export function parseJsonConfig(text: string, label: string, allowComments: boolean): JsonObject {
  if (text.trim() === '') {
    return {};
  }
  const errors: jsonc.ParseError[] = [];
  const value = jsonc.parse(text, errors, {
    disallowComments: !allowComments,
    allowTrailingComma: allowComments,
    allowEmptyContent: true,
  }) as unknown;
  if (errors.length > 0) {
    const e = errors[0];
    const { line, column } = lineColumn(text, e.offset);
    throw new InvalidInputError(
      `${label} is not valid ${allowComments ? 'JSON with comments' : 'JSON'} (${jsonc.printParseErrorCode(e.error)} at line ${line}, column ${column}). Fix it by hand, then try again; the file was not changed.`,
      { file: label },
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError(
      `${label} must hold a JSON object at the top level. Fix it by hand, then try again; the file was not changed.`,
      { file: label },
    );
  }
  return value as JsonObject;
}

/**
 * Adds or replaces our entry (and input). Idempotent: an identical entry gives `unchanged` and the
 * same text. @throws InvalidInputError (file does not parse, or `rootKey`/`inputs` has a wrong type).
 */
export function upsertJsonEntry(text: string, spec: JsonEditSpec, label: string): EditResult {
  const doc = parseJsonConfig(text, label, spec.jsonc);
  const rootPath = [...(spec.parent ?? []), spec.rootKey];
  const root = valueAt(doc, rootPath, label);
  if (root !== undefined && !isObject(root)) {
    throw new InvalidInputError(
      `"${rootPath.join('.')}" in ${label} is not an object. Fix it by hand, then try again; the file was not changed.`,
      { file: label },
    );
  }
  const inputs = doc.inputs;
  if (spec.input && inputs !== undefined && !Array.isArray(inputs)) {
    throw new InvalidInputError(
      `"inputs" in ${label} is not an array. Fix it by hand, then try again; the file was not changed.`,
      { file: label },
    );
  }
  const existing = isObject(root) && hasOwn(root, spec.name) ? root[spec.name] : undefined;
  const inputIndex = spec.input && Array.isArray(inputs) ? findInput(inputs, spec.input.id) : -1;
  const inputSame =
    !spec.input || (inputIndex >= 0 && isDeepStrictEqual((inputs as JsonValue[])[inputIndex], spec.input));
  if (existing !== undefined && isDeepStrictEqual(existing, spec.entry) && inputSame) {
    return { text, outcome: 'unchanged' };
  }

  const fmt = formattingOf(text);
  let out = text.trim() === '' ? '{}' + fmt.eol : text;
  out = jsonc.applyEdits(
    out,
    jsonc.modify(out, [...rootPath, spec.name], spec.entry, { formattingOptions: fmt }),
  );
  if (spec.input) {
    const now = parseJsonConfig(out, label, true).inputs;
    if (!Array.isArray(now)) {
      out = jsonc.applyEdits(out, jsonc.modify(out, ['inputs'], [spec.input], { formattingOptions: fmt }));
    } else {
      const i = findInput(now, spec.input.id);
      const edits =
        i >= 0
          ? jsonc.modify(out, ['inputs', i], spec.input, { formattingOptions: fmt })
          : jsonc.modify(out, ['inputs', now.length], spec.input, {
              formattingOptions: fmt,
              isArrayInsertion: true,
            });
      out = jsonc.applyEdits(out, edits);
    }
  }
  if (!out.endsWith('\n')) {
    out += fmt.eol;
  }
  return { text: out, outcome: existing === undefined ? 'added' : 'updated' };
}

/**
 * Removes our entry, and our input when no other server still references it. Leaves everything
 * else as it was; `absent` when there is nothing to remove.
 * @throws InvalidInputError when the file does not parse.
 */
export function removeJsonEntry(
  text: string,
  spec: Pick<JsonEditSpec, 'rootKey' | 'name' | 'jsonc' | 'parent'> & { inputId?: string },
  label: string,
): EditResult {
  const doc = parseJsonConfig(text, label, spec.jsonc);
  const rootPath = [...(spec.parent ?? []), spec.rootKey];
  const root = valueAt(doc, rootPath, label);
  if (!isObject(root) || !hasOwn(root, spec.name)) {
    return { text, outcome: 'absent' };
  }
  const fmt = formattingOf(text);
  let out = jsonc.applyEdits(
    text,
    jsonc.modify(text, [...rootPath, spec.name], undefined, { formattingOptions: fmt }),
  );
  if (spec.inputId) {
    const after = parseJsonConfig(out, label, true);
    const stillUsed = JSON.stringify(after[spec.rootKey] ?? {}).includes(`\${input:${spec.inputId}}`);
    const inputs = after.inputs;
    if (!stillUsed && Array.isArray(inputs)) {
      const i = findInput(inputs, spec.inputId);
      if (i >= 0) {
        out = jsonc.applyEdits(out, jsonc.modify(out, ['inputs', i], undefined, { formattingOptions: fmt }));
      }
    }
  }
  return { text: out, outcome: 'removed' };
}

/**
 * The value at `keys` (undefined when a key is missing).
 * @throws InvalidInputError when a parent on the way is not an object.
 */
function valueAt(doc: JsonObject, keys: readonly string[], label: string): JsonValue | undefined {
  let here: JsonValue | undefined = doc;
  for (let i = 0; i < keys.length; i++) {
    if (here === undefined) {
      return undefined;
    }
    if (!isObject(here)) {
      throw new InvalidInputError(
        `"${keys.slice(0, i).join('.')}" in ${label} is not an object. Fix it by hand, then try again; the file was not changed.`,
        { file: label },
      );
    }
    here = hasOwn(here, keys[i]) ? here[keys[i]] : undefined;
  }
  return here;
}

function findInput(inputs: JsonValue[], id: JsonValue | undefined): number {
  return inputs.findIndex((x) => isObject(x) && x.id === id);
}

export function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function hasOwn(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

/** Indentation and line ending the file already uses (2 spaces and LF for a new file). */
export function formattingOf(text: string): jsonc.FormattingOptions & { eol: string } {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const m = /^([ \t]+)\S/m.exec(text);
  if (m && m[1].startsWith('\t')) {
    return { insertSpaces: false, tabSize: 1, eol };
  }
  return { insertSpaces: true, tabSize: m ? m[1].length : 2, eol };
}

export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}
