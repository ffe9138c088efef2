/**
 * The command line's {@link Logger}: one line per message on stderr (stdout is for results, and
 * for `bridge` it is the MCP protocol itself). The level comes from `AGENT_KEYRING_LOG`
 * (`error`, `warn`, `info`, `debug`, `trace`, `silent`). Errors print as name and message —
 * a stack only at `debug` — and every line passes through {@link scrub}.
 */
import { inspect } from 'node:util';
import type { Logger } from '../core/ports';
import { scrub } from './io';

export const LOG_LEVELS = ['silent', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The level named by `AGENT_KEYRING_LOG`, else `fallback`. An unknown name falls back too. */
export function logLevelFromEnv(fallback: LogLevel, env: NodeJS.ProcessEnv = process.env): LogLevel {
  const raw = env.AGENT_KEYRING_LOG?.trim().toLowerCase();
  return (LOG_LEVELS as readonly string[]).includes(raw ?? '') ? (raw as LogLevel) : fallback;
}

/** True when `AGENT_KEYRING_LOG` asks for debug output (stack traces are shown then). */
export function debugEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const level = logLevelFromEnv('info', env);
  return level === 'debug' || level === 'trace';
}

export class StderrLogger implements Logger {
  readonly #rank: number;

  constructor(
    readonly level: LogLevel,
    private readonly write: (line: string) => void = (line) => process.stderr.write(line),
  ) {
    this.#rank = LOG_LEVELS.indexOf(level);
  }

  trace(message: string, ...args: unknown[]): void {
    this.#log('trace', message, args);
  }
  debug(message: string, ...args: unknown[]): void {
    this.#log('debug', message, args);
  }
  info(message: string, ...args: unknown[]): void {
    this.#log('info', message, args);
  }
  warn(message: string, ...args: unknown[]): void {
    this.#log('warn', message, args);
  }
  error(message: string | Error, ...args: unknown[]): void {
    this.#log('error', message, args);
  }

  #log(level: Exclude<LogLevel, 'silent'>, message: string | Error, args: unknown[]): void {
    if (LOG_LEVELS.indexOf(level) > this.#rank) {
      return;
    }
    const withStack = this.#rank >= LOG_LEVELS.indexOf('debug');
    const parts = [format(message, withStack), ...args.map((a) => format(a, withStack))];
    // One line per message, except for the stack frames of a debug-level error.
    const text = scrub(parts.join(' ')).replace(/\n(?!\s*at )/g, ' ');
    this.write(`${new Date().toISOString()} ${level.padEnd(5)} ${text}\n`);
  }
}

function format(value: unknown, withStack: boolean): string {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    const head = `${value.name}${typeof code === 'string' ? ` [${code}]` : ''}: ${value.message}`;
    return withStack && value.stack ? `${head}\n${value.stack.split('\n').slice(1).join('\n')}` : head;
  }
  if (typeof value === 'string') {
    return value;
  }
  return inspect(value, { depth: 3, breakLength: Infinity, colors: false });
}
