/**
 * `agent-keyring serve` proves which store it serves (issue #10, "The editor hands its token to any
 * server that says it is Agent Keyring"): the real CLI process on 127.0.0.1 creates `attach.key`
 * (0600) in its store folder and answers the attach challenge for that folder's key only. The
 * window's attach decision (the real SharedServer, the real probes) against it: a window of the
 * same folder attaches; a window of another store does not, and sends nothing but tokenless probes.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { ATTACH_KEY_FILE, loadAttachSecret } from '../../src/core/attach/attachKey';
import { deriveProofKey, proveSameStore } from '../../src/core/attach/attachProof';
import { identifyPort } from '../../src/vscode/server/portProbe';
import { SharedServer } from '../../src/vscode/server/sharedServer';
import { RecordingLogger } from '../fakes/recordingLogger';
import { startServe, tempStore } from './cliHarness';

function windowOf(proofKey: Buffer): SharedServer {
  return new SharedServer({
    // The port is taken by serve: a window never gets to serve in these tests.
    listen: () => Promise.reject(Object.assign(new Error('taken'), { code: 'EADDRINUSE' })),
    identify: (port) => identifyPort(port),
    prove: (port) => proveSameStore(port, proofKey),
    clock: {
      setTimeout: (fn, ms) => {
        const t = setTimeout(fn, ms);
        return { dispose: () => clearTimeout(t) };
      },
    },
    logger: new RecordingLogger(),
    urlOf: (port) => `http://127.0.0.1:${port}/mcp`,
  });
}

describe('serve answers the attach challenge for its own store only', () => {
  test('same store folder → attached; serve --store <other> → NOT attached (otherKeyring, no URL)', async () => {
    const mine = tempStore();
    const other = tempStore();
    const served = await startServe(other);
    const sameWindow = windowOf(deriveProofKey(await loadAttachSecret(other)));
    const strangerWindow = windowOf(deriveProofKey(await loadAttachSecret(mine)));
    try {
      const keyFile = path.join(other, ATTACH_KEY_FILE);
      assert.ok(fs.existsSync(keyFile), 'serve created attach.key in its store folder');
      if (process.platform !== 'win32') {
        assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
      }
      assert.deepEqual(await sameWindow.start(served.port), {
        kind: 'attached',
        port: served.port,
        url: served.url,
      });
      assert.deepEqual(await strangerWindow.start(served.port), { kind: 'otherKeyring', port: served.port });
      assert.equal(strangerWindow.url, undefined, 'no URL: VS Code gets no definition, so no token');
      const key = fs.readFileSync(keyFile, 'utf8').trim();
      assert.ok(!served.stdout().includes(key) && !served.stderr().includes(key), 'the key is never printed');
    } finally {
      await sameWindow.close();
      await strangerWindow.close();
      served.kill();
      await served.exited;
      fs.rmSync(mine, { recursive: true, force: true });
      fs.rmSync(other, { recursive: true, force: true });
    }
  });
});
