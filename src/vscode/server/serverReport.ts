/**
 * Tells the person what the MCP server is doing after a start: nothing when fine (at activation),
 * an offer of another port when the configured one is taken by a foreign program, the error when
 * it failed.
 */
import * as net from 'node:net';
import * as vscode from 'vscode';
import type { Logger } from '../../core/ports';
import { CONFIG_SECTION, Setting, fullName } from '../settings';
import type { ServerState } from './sharedServer';

/**
 * What {@link reportState} needs of the server: its state now, and a start on another port.
 * `ServerController` fits; naming only this keeps this module below it (no import cycle).
 */
export interface ReportedServer {
  readonly state: ServerState;
  start(port: number): Promise<ServerState>;
}

export function describeState(state: ServerState): string {
  switch (state.kind) {
    case 'running':
      return `serving ${state.url}.`;
    case 'attached':
      return `attached to the server of another window (port ${state.port}, ${state.url}); this window takes over if that window closes.`;
    case 'starting':
      return `starting on port ${state.port}.`;
    case 'stopped':
      return 'the server is stopped.';
    case 'portInUse':
      return `port ${state.port} is used by another program, so the server is not running.`;
    case 'failed':
      return `the server failed to start: ${state.message}`;
  }
}

export async function reportState(
  state: ServerState,
  server: ReportedServer,
  logger: Logger,
  opts: { quietWhenFine?: boolean } = {},
): Promise<void> {
  if (state.kind === 'portInUse') {
    const other = await freePort();
    const use = `Use Port ${other}`;
    const choice = await vscode.window.showWarningMessage(
      `Agent Keyring: port ${state.port} is used by another program, so agents cannot reach Agent Keyring. Choose another port (agents' configs must use it too).`,
      use,
      'Open Settings',
    );
    if (choice === use) {
      await vscode.workspace
        .getConfiguration(CONFIG_SECTION)
        .update(Setting.port, other, vscode.ConfigurationTarget.Global);
      logger.info(`Port changed to ${other} from the port-in-use prompt.`);
      if (server.state.kind === 'portInUse') {
        await server.start(other);
      }
    } else if (choice === 'Open Settings') {
      await vscode.commands.executeCommand('workbench.action.openSettings', fullName(Setting.port));
    }
    return;
  }
  if (state.kind === 'failed') {
    void vscode.window.showErrorMessage(`Agent Keyring: ${describeState(state)}`);
    return;
  }
  if (!opts.quietWhenFine) {
    void vscode.window.showInformationMessage(`Agent Keyring: ${describeState(state)}`);
  }
}

/** A port that is free right now on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
