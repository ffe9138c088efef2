/**
 * `run --url URL --store DIR --agent ID` with the token saved in DIR (what VS Code's Migrate MCP
 * Configs writes): the token goes only to a server that proves it serves DIR's keyring, through the
 * attach challenge the editor's windows use (src/core/attach/attachProof.ts; README.md, "Attach
 * proof"). So a rewritten server started while another keyring's server (`agent-keyring serve` of
 * another store) holds the port is refused with what to do, and that server never sees the token.
 * Checked only where it can be: a loopback `http:` URL and a store folder that has an attach key.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ATTACH_KEY_FILE, loadAttachSecret } from '../../core/attach/attachKey';
import { deriveProofKey, proveSameStore } from '../../core/attach/attachProof';
import { CliError } from '../args';
import { EXIT_DENIED } from './exitCodes';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * @throws CliError (77) when the server answers but does not prove `storeDir`'s keyring. No answer
 *   is left to the connection that follows (it says the server is not reachable).
 */
export async function checkServerOfStore(url: URL, storeDir: string): Promise<void> {
  if (url.protocol !== 'http:' || !LOOPBACK.has(url.hostname)) {
    return;
  }
  if (!fs.existsSync(path.join(storeDir, ATTACH_KEY_FILE))) {
    return;
  }
  const proofKey = deriveProofKey(await loadAttachSecret(storeDir));
  const host = url.hostname === '[::1]' ? '::1' : '127.0.0.1';
  const result = await proveSameStore(Number(url.port || 80), proofKey, { host });
  if (result === 'unproven') {
    throw new CliError(
      `the server at ${url.href} is not the keyring of ${storeDir} (another store's server, or another program), so the agent token saved there is not sent. Start that keyring's server on this port (its VS Code window, or 'agent-keyring serve --store ${storeDir}'), or set the agent's token variable for the server that is there`,
      EXIT_DENIED,
    );
  }
}
