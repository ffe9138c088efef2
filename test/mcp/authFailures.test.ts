/**
 * Requests refused for their bearer token leave an aggregated, bounded trace in the audit log —
 * never the token (issue #10: a revoked agent still knocking was invisible). Real HTTP on
 * 127.0.0.1, the real service and audit file.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import { startHttpHost } from '../../src/core/mcp/http';
import { createTestKeyring } from '../helpers/testKeyring';
import { INITIALIZE_BODY, postHeaders, rawRequest } from './harness';

const QUIET = { actions: { first_use: 'off', unusual_hours: 'off' } } as const;

describe('HTTP host: refused tokens are audited', () => {
  it('a revoked agent knocking 20 times and an unknown token show up (aggregated, without the tokens)', async () => {
    const k = await createTestKeyring({ anomaly: QUIET });
    const host = await startHttpHost({ api: k.api, port: 0 });
    const unknown = `akr_${randomBytes(32).toString('base64url')}`;
    try {
      await k.service.revokeAgent('research-agent', 'cli');
      const revoked = k.tokens['research-agent'];
      for (let i = 0; i < 20; i++) {
        const r = await rawRequest(host.port, {
          headers: postHeaders(host.port, revoked),
          body: INITIALIZE_BODY,
        });
        assert.equal(r.status, 401);
      }
      for (let i = 0; i < 3; i++) {
        const r = await rawRequest(host.port, {
          headers: postHeaders(host.port, unknown),
          body: INITIALIZE_BODY,
        });
        assert.equal(r.status, 401);
      }
      // A request without any token (e.g. the editor's takeover probe) is not recorded.
      const none = await rawRequest(host.port, {
        headers: postHeaders(host.port, undefined),
        body: INITIALIZE_BODY,
      });
      assert.equal(none.status, 401);
    } finally {
      await host.close();
    }
    // Give the fire-and-forget records a moment, then write the pending summaries.
    await new Promise((r) => setTimeout(r, 50));
    await k.service.flushAggregated();
    await k.keyring.audit.flush();
    const text = fs.readFileSync(k.auditPath, 'utf8');
    try {
      assert.ok(!text.includes(k.tokens['research-agent']), 'the revoked token is not in the audit log');
      assert.ok(!text.includes(unknown), 'the unknown token is not in the audit log');
      const auth = text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((e) => e.tool === 'auth');
      const ofRevoked = auth.filter((e) => e.agent_id === 'research-agent');
      assert.ok(
        ofRevoked.length >= 1 && ofRevoked.length <= 2,
        `one line + one summary, got ${ofRevoked.length}`,
      );
      assert.match(String(ofRevoked[0].reason), /revoked token of agent 'research-agent'/);
      const repeats = ofRevoked
        .map((e) => Number(/^(\d+) more identical/.exec(String(e.reason))?.[1] ?? 0))
        .reduce((a, b) => a + b, 0);
      assert.equal(repeats + 1, 20, 'the count of the 20 attempts is kept');
      const ofUnknown = auth.filter((e) => e.agent_id === null);
      assert.ok(ofUnknown.length >= 1 && ofUnknown.length <= 2);
      assert.match(String(ofUnknown[0].reason), /SHA-256 prefix [0-9a-f]{12}/);
      assert.ok(auth.every((e) => e.decision === 'deny' && e.code === 'unauthorized'));
    } finally {
      await k.dispose();
    }
  });
});
