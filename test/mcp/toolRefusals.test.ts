/**
 * Refusal shapes that agents depend on (issue #10): a malformed `tools/call` (params not the
 * shape MCP defines) is a clear invalid_input refusal, never zod's raw JSON; a rate_limited
 * refusal carries retry_after_seconds in structuredContent. Real SDK client, real HTTP host.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startHttpHost } from '../../src/core/mcp/http';
import { FakeClock } from '../fakes/fakeClock';
import { createTestKeyring } from '../helpers/testKeyring';
import { INITIALIZE_BODY, call, connectInMemory, postHeaders, rawRequest } from './harness';

describe('tool refusals', () => {
  it('malformed tools/call params get a clear invalid_input refusal, and the server keeps answering', async () => {
    const k = await createTestKeyring({ anomaly: { actions: { first_use: 'off' } } });
    const host = await startHttpHost({ api: k.api, port: 0 });
    try {
      const token = k.tokens['research-agent'];
      const init = await rawRequest(host.port, {
        headers: postHeaders(host.port, token),
        body: INITIALIZE_BODY,
      });
      const session = init.headers['mcp-session-id'] as string;
      const headers = {
        ...postHeaders(host.port, token),
        'Mcp-Session-Id': session,
        'Mcp-Protocol-Version': '2025-06-18',
      };
      const shapes: unknown[] = [
        { name: 42 },
        {},
        { name: 'get_credential', arguments: 'name=github_token' },
        { name: 'get_credential', arguments: [1, 2] },
        { name: ['get_credential'] },
      ];
      let id = 10;
      for (const params of shapes) {
        const r = await rawRequest(host.port, {
          headers,
          body: JSON.stringify({ jsonrpc: '2.0', id: id++, method: 'tools/call', params }),
        });
        assert.equal(r.status, 200, r.body);
        const body = JSON.parse(r.body) as {
          result?: { isError?: boolean; structuredContent?: { code?: string; message?: string } };
          error?: unknown;
        };
        assert.equal(body.error, undefined, `no JSON-RPC error for ${JSON.stringify(params)}: ${r.body}`);
        assert.equal(body.result?.isError, true);
        assert.equal(body.result?.structuredContent?.code, 'invalid_input');
        assert.match(String(body.result?.structuredContent?.message), /params must be an object with 'name'/);
        assert.ok(!r.body.includes('"expected"'), 'not zod’s raw issue JSON');
      }
      const ok = await rawRequest(host.port, {
        headers,
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 99,
          method: 'tools/call',
          params: { name: 'get_credential', arguments: { name: 'github_token', scope: 'repo_read' } },
        }),
      });
      assert.equal(ok.status, 200);
      assert.ok(ok.body.includes(k.values.github_token), 'a good call still works');
    } finally {
      await host.close();
      await k.dispose();
    }
  });

  it('rate_limited carries retry_after_seconds in structuredContent', async () => {
    const clock = new FakeClock('2026-11-26T10:00:00Z');
    const k = await createTestKeyring({
      clock,
      anomaly: { burst_per_minute: 3, actions: { first_use: 'off', unusual_hours: 'off' } },
    });
    const c = await connectInMemory(k.api, 'research-agent');
    try {
      for (let i = 0; i < 3; i++) {
        const r = await call(c.client, 'get_credential', { name: 'github_token', scope: 'repo_read' });
        assert.equal(r.isError, undefined);
      }
      const limited = await call(c.client, 'get_credential', { name: 'github_token', scope: 'repo_read' });
      assert.equal(limited.isError, true);
      assert.equal(limited.structuredContent?.code, 'rate_limited');
      const wait = limited.structuredContent?.retry_after_seconds;
      assert.equal(typeof wait, 'number');
      assert.ok((wait as number) >= 1 && (wait as number) <= 60);
    } finally {
      await c.close();
      await k.dispose();
    }
  });
});
