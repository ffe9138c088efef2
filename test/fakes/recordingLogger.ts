/**
 * A {@link Logger} for tests that keeps every line, formatted with its arguments
 * (`util.format`), prefixed with its level: `[warn] Audit log: …`. Tests assert on `lines`
 * (and that no secret ever appears in them).
 */
import { format } from 'node:util';
import type { Logger } from '../../src/core/ports';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export class RecordingLogger implements Logger {
  /** Every line logged, oldest first, as `[level] message args…`. */
  readonly lines: string[] = [];

  trace(message: string, ...args: unknown[]): void {
    this.#record('trace', message, args);
  }
  debug(message: string, ...args: unknown[]): void {
    this.#record('debug', message, args);
  }
  info(message: string, ...args: unknown[]): void {
    this.#record('info', message, args);
  }
  warn(message: string, ...args: unknown[]): void {
    this.#record('warn', message, args);
  }
  error(message: string | Error, ...args: unknown[]): void {
    this.#record('error', message instanceof Error ? `${message.name}: ${message.message}` : message, args);
  }

  /** Lines of one level. */
  at(level: LogLevel): string[] {
    return this.lines.filter((l) => l.startsWith(`[${level}] `));
  }

  /** Everything logged, as one string (handy for "does not contain the canary" checks). */
  text(): string {
    return this.lines.join('\n');
  }

  clear(): void {
    this.lines.length = 0;
  }

  #record(level: LogLevel, message: string, args: unknown[]): void {
    this.lines.push(`[${level}] ${format(message, ...args)}`);
  }
}
