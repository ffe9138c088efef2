/**
 * VS Code's MCP client starts an OAuth sign-in on any 401 or 403 (microsoft/vscode,
 * src/vs/workbench/api/common/extHostMcp.ts: isAuthStatusCode, _fetchWithAuthRetry). Its requests
 * carry our header `x-agent-keyring-client: vscode`; a refused token is then answered 410 with the
 * way back (Rotate Agent Token), no WWW-Authenticate, and the window is told. Every other client
 * still gets 401. Real HTTP on 127.0.0.1 and the real service.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EDITOR_CLIENT_HEADER, EDITOR_REFUSED_STATUS, startHttpHost } from '../../src/core/mcp/http';
import { createTestKeyring } from '../helpers/testKeyring';
import { INITIALIZE_BODY, postHeaders, rawRequest } from './harness';

describe("HTTP host: the editor's refused token never starts VS Code's OAuth flow", () => {
  it('revoked or unknown token from VS Code → 410 naming Rotate Agent Token; other clients → 401', async () => {
    const k = await createTestKeyring();
    let told = 0;
    const host = await startHttpHost({ api: k.api, port: 0, onEditorRefused: () => told++ });
    const editor = { [EDITOR_CLIENT_HEADER]: 'vscode' };
    try {
      const token = k.tokens['research-agent'];
      const fine = await rawRequest(host.port, {
        headers: postHeaders(host.port, token, editor),
        body: INITIALIZE_BODY,
      });
      assert.equal(fine.status, 200, 'a good token from the editor is served as usual');
      await k.service.revokeAgent('research-agent', 'cli');

      for (const t of [token, 'akr_unknownunknownunknownunknownunknownunknown1', undefined]) {
        const r = await rawRequest(host.port, {
          headers: postHeaders(host.port, t, editor),
          body: INITIALIZE_BODY,
        });
        assert.equal(r.status, EDITOR_REFUSED_STATUS);
        assert.notEqual(r.status, 401);
        assert.notEqual(r.status, 403);
        assert.equal(r.headers['www-authenticate'], undefined, 'no challenge to act on');
        const body = JSON.parse(r.body) as { error: { code: number; message: string } };
        assert.equal(body.error.code, -32001);
        assert.match(body.error.message, /Rotate Agent Token/);
        assert.ok(!t || !r.body.includes(t), 'the token is never echoed');
      }
      const get = await rawRequest(host.port, {
        method: 'GET',
        headers: { ...postHeaders(host.port, token, editor), Accept: 'text/event-stream' },
      });
      assert.equal(get.status, EDITOR_REFUSED_STATUS, "VS Code's GET (SSE fallback) is answered the same");
      assert.equal(told, 4, 'the window is told each time (it throttles its notification itself)');

      const sdk = await rawRequest(host.port, {
        headers: postHeaders(host.port, token),
        body: INITIALIZE_BODY,
      });
      assert.equal(sdk.status, 401, 'any other client still gets the 401 the MCP spec asks for');
      assert.match(
        String(sdk.headers['www-authenticate']),
        /^Bearer realm="agent-keyring", error="invalid_token"$/,
      );
      const other = await rawRequest(host.port, {
        headers: postHeaders(host.port, token, { [EDITOR_CLIENT_HEADER]: 'something-else' }),
        body: INITIALIZE_BODY,
      });
      assert.equal(other.status, 401);
      assert.equal(told, 4);
    } finally {
      await host.close();
      await k.dispose();
    }
  });
});
