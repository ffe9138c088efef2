/**
 * Terminal I/O for the command line: stdout for results (tables, JSON, a token), stderr for
 * everything a human reads about it, and reading a secret from stdin — never from argv, where it
 * would land in shell history and `ps`.
 *
 * Every secret this process reads, generates or prints is remembered, so the top-level error
 * handler and the logger can redact it from any text as a last line of defence.
 */
import { SecretValue } from '../core/model';
import { redact } from '../core/audit/redact';
import { MAX_VALUE_BYTES } from '../core/limits';
import { UsageError } from './args';

/** Largest value accepted on stdin (API keys, tokens, PEM keys fit easily). */
export const MAX_SECRET_BYTES = MAX_VALUE_BYTES;

const knownSecrets = new Set<string>();

/** Remembers a raw secret so {@link scrub} removes it from text printed by this process. */
export function rememberSecret(raw: string): void {
  if (raw.length > 0) {
    knownSecrets.add(raw);
  }
}

/** `text` with every secret this process has seen replaced by `[REDACTED]`. */
export function scrub(text: string): string {
  return knownSecrets.size === 0 ? text : redact(text, knownSecrets);
}

export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/**
 * A command's result: with `--json`, `data` as one JSON document on stdout (for scripts: parse
 * it, never scrape the text); else `text`. Exit codes are the same either way.
 */
export function printResult(json: boolean | undefined, data: unknown, text: string): void {
  out(json ? JSON.stringify(data, null, 2) : text);
}

export function err(line = ''): void {
  process.stderr.write(`${scrub(line)}\n`);
}

/** Reading was cancelled at the prompt (Ctrl+C). Exit code 130, like a shell. */
export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

/**
 * Reads a secret value. From a pipe or file: all of stdin, with one trailing newline (`\n` or
 * `\r\n`) removed. From a terminal: a prompt on stderr and input without echo.
 *
 * @param what names the value in the prompt and in errors ("the value of 'npm_token'").
 * @param hint what to do instead when stdin is empty (e.g. "or use --generate").
 * @throws UsageError when stdin is empty or larger than {@link MAX_SECRET_BYTES}.
 * @throws CancelledError when the user presses Ctrl+C at the prompt.
 */
export async function readSecret(what: string, hint: string): Promise<SecretValue> {
  const stdin = process.stdin;
  const raw = stdin.isTTY ? await promptHidden(`Enter ${what} (input hidden): `) : await readAllStdin(what);
  const value = raw.replace(/\r?\n$/, '');
  if (value.length === 0) {
    throw new UsageError(
      stdin.isTTY
        ? `no value entered for ${what}; type or paste it at the prompt${hint}`
        : `no value on stdin for ${what}: pipe it in (e.g. printf '%s' "$VALUE" | agent-keyring …)${hint}`,
    );
  }
  rememberSecret(value);
  return new SecretValue(value);
}

async function readAllStdin(what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > MAX_SECRET_BYTES) {
      process.stdin.destroy();
      throw new UsageError(
        `${what} on stdin is larger than ${MAX_SECRET_BYTES} bytes; is the right file piped in?`,
      );
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads one line from the terminal in raw mode, echoing nothing. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  // Echo off before the prompt shows: a fast typist (or a script) must never see the value echoed.
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error?: Error): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) {
        reject(error);
      } else {
        resolve(value);
      }
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish();
          return;
        }
        if (ch === '\u0003') {
          finish(new CancelledError());
          return;
        }
        if (ch === '\u007f' || ch === '\b') {
          value = Array.from(value).slice(0, -1).join('');
        } else if (value.length < MAX_SECRET_BYTES) {
          value += ch;
        }
      }
    };
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** Formats rows as left-aligned columns under upper-case headers. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...rows.map(line)].join('\n');
}

/** `2026-03-02T12:00:00.000Z` → `2026-03-02 12:00Z` (UTC, minutes), `undefined` → `-`. */
export function shortTime(iso: string | undefined | null): string {
  if (!iso) {
    return '-';
  }
  return `${iso.replace('T', ' ').slice(0, 16)}Z`;
}
