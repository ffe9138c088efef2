/**
 * Argument parsing for the `agent-keyring` command line: a thin layer over `node:util` `parseArgs`
 * (strict mode) that turns its errors into one-line {@link UsageError}s (exit 2) and converts the
 * comma lists and numbers our commands take.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** An error the command line reports as its one-line message, with a given exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * Bad command line: unknown command or flag, missing or malformed argument. Exit code 2, and the
 * top level adds a pointer to `--help`.
 */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
  }
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  store: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionSpec;

/** `--json`: print the result as one JSON document (see printResult in io.ts). */
export const JSON_OPTION = { json: { type: 'boolean' } } as const satisfies OptionSpec;

export interface Parsed<O extends OptionSpec> {
  values: {
    [K in keyof O]?: O[K] extends { multiple: true }
      ? string[]
      : O[K]['type'] extends 'boolean'
        ? boolean
        : string;
  };
  positionals: string[];
}

/**
 * Parses `argv` against `options` (strict: unknown flags and missing option values are errors).
 * `maxPositionals` bounds the number of positional arguments.
 *
 * @throws UsageError with a one-line reason naming the offending flag.
 */
export function parseCommand<O extends OptionSpec>(
  argv: string[],
  options: O,
  maxPositionals: number,
): Parsed<O> {
  let result: { values: Record<string, unknown>; positionals: string[] };
  try {
    result = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError(describeParseError(e));
  }
  if (result.positionals.length > maxPositionals) {
    const extra = result.positionals[maxPositionals];
    throw new UsageError(`unexpected argument '${clip(extra)}'`);
  }
  return result as unknown as Parsed<O>;
}

/** Node's parseArgs messages are long and mention "parseArgs"; keep the gist in one line. */
function describeParseError(e: unknown): string {
  const code = (e as { code?: string }).code;
  const message = e instanceof Error ? e.message : String(e);
  // The first quoted part names the flag ('--port <value>', '-h, --help'): keep its long form.
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? '';
  const flag = quoted.match(/--?[A-Za-z0-9][\w-]*/g)?.pop();
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${clip(flag ?? message)}'`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/argument missing/.test(message)) {
        return `option '${clip(flag ?? '?')}' needs a value`;
      }
      if (/ambiguous/.test(message)) {
        return `option '${clip(flag ?? '?')}' needs a value (for a value starting with '-', write ${clip(flag ?? '--option')}=VALUE)`;
      }
      return `option '${clip(flag ?? '?')}' does not take a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return 'unexpected argument';
    default:
      return clip(message.split('\n')[0] ?? 'bad arguments', 200);
  }
}

/** Keeps user input echoed in an error short (and on one line). */
export function clip(s: string, max = 80): string {
  const one = s.replace(/[\r\n\t]/g, ' ');
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

/** The one required positional argument `what`. */
export function requirePositional(positionals: string[], index: number, what: string): string {
  const v = positionals[index];
  if (v === undefined || v === '') {
    throw new UsageError(`missing ${what}`);
  }
  return v;
}

/** `a,b , c` → `['a','b','c']`; an empty string gives `[]`. */
export function parseList(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * A whole number from a flag.
 * @throws UsageError when `raw` is not a whole number within `[min, max]`.
 */
export function parseInteger(raw: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw.trim())) {
    throw new UsageError(`${flag} must be a whole number (got '${clip(raw, 20)}')`);
  }
  const n = Number(raw.trim());
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be between ${min} and ${max} (got ${clip(raw, 20)})`);
  }
  return n;
}

/** Edit distance (insert, delete, substitute, swap of neighbours) between two short words. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * `; did you mean 'x'?` for the closest of `known` to a mistyped `word` (a prefix of it, or at most
 * two edits away), or '' when none is close.
 */
export function didYouMean(word: string, known: readonly string[]): string {
  const w = word.toLowerCase();
  if (w.length === 0 || w.length > 40) {
    return '';
  }
  let best: { name: string; d: number } | undefined;
  for (const name of known) {
    const d = name.startsWith(w) && w.length >= 2 ? 0 : distance(w, name);
    if (d <= Math.min(2, Math.max(1, Math.floor(name.length / 3))) && (!best || d < best.d)) {
      best = { name, d };
    }
  }
  return best ? `; did you mean '${best.name}'?` : '';
}
