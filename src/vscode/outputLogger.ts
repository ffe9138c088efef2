/**
 * The core's {@link Logger} over a VS Code `LogOutputChannel` ("Agent Keyring" in the Output view).
 * The channel honours the user's log level (Developer: Set Log Level…).
 */
import type * as vscode from 'vscode';
import type { Logger } from '../core/ports';

export class OutputLogger implements Logger {
  readonly #channel: vscode.LogOutputChannel;

  constructor(channel: vscode.LogOutputChannel) {
    this.#channel = channel;
  }

  trace(message: string, ...args: unknown[]): void {
    this.#channel.trace(message, ...args);
  }

  debug(message: string, ...args: unknown[]): void {
    this.#channel.debug(message, ...args);
  }

  info(message: string, ...args: unknown[]): void {
    this.#channel.info(message, ...args);
  }

  warn(message: string, ...args: unknown[]): void {
    this.#channel.warn(message, ...args);
  }

  error(message: string | Error, ...args: unknown[]): void {
    this.#channel.error(message, ...args);
  }
}
