/**
 * The shared limits (src/core/limits.ts) are the ones every layer enforces: the MCP front door's
 * caps and the rotate_credential tool's grace bound (their own exported names, taken from limits.ts), the
 * manifest's port default, and the store's checks.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as limits from '../../src/core/limits';
import { DEFAULT_MAX_BODY_BYTES } from '../../src/core/mcp/gate';
import { DEFAULT_MAX_LISTEN_STREAMS_PER_AGENT } from '../../src/core/mcp/listen';
import { DEFAULT_MAX_SESSIONS, DEFAULT_MAX_SESSIONS_PER_AGENT } from '../../src/core/mcp/sessions';
import { MAX_GRACE_SECONDS as TOOL_MAX_GRACE } from '../../src/core/mcp/tools/rotateCredential';
import { SecretValue } from '../../src/core/model';
import { createTestKeyring } from '../helpers/testKeyring';

const ROOT = path.join(__dirname, '..', '..', '..');

describe('shared limits', () => {
  it('the MCP front door and tools use the same numbers', () => {
    assert.equal(DEFAULT_MAX_BODY_BYTES, limits.MAX_BODY_BYTES);
    assert.equal(DEFAULT_MAX_SESSIONS, limits.MAX_SESSIONS);
    assert.equal(DEFAULT_MAX_SESSIONS_PER_AGENT, limits.MAX_SESSIONS_PER_AGENT);
    assert.equal(DEFAULT_MAX_LISTEN_STREAMS_PER_AGENT, limits.MAX_LISTEN_STREAMS_PER_AGENT);
    assert.equal(TOOL_MAX_GRACE, limits.MAX_GRACE_SECONDS);
  });

  it("the manifest's port setting defaults to DEFAULT_PORT", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      contributes: { configuration: { properties: Record<string, { default?: unknown }> } };
    };
    assert.equal(pkg.contributes.configuration.properties['agentKeyring.port'].default, limits.DEFAULT_PORT);
  });

  it('the grace bound is enforced at exactly MAX_GRACE_SECONDS, by the admin and the store', async () => {
    const k = await createTestKeyring();
    try {
      const admin = k.keyring.admin;
      const ok = await admin.rotateCredential(
        'scavio_api_key',
        { graceSeconds: limits.MAX_GRACE_SECONDS },
        'test',
      );
      assert.ok(ok.previous_valid_until);
      await assert.rejects(
        admin.rotateCredential('scavio_api_key', { graceSeconds: limits.MAX_GRACE_SECONDS + 1 }, 'test'),
        new RegExp(`from 0 to ${limits.MAX_GRACE_SECONDS} \\(30 days\\)`),
      );
      await assert.rejects(
        k.keyring.store.rotate('scavio_api_key', {
          value: new SecretValue('x'.repeat(20)),
          graceSeconds: limits.MAX_GRACE_SECONDS + 1,
          actor: 'test',
        }),
        new RegExp(`from 0 to ${limits.MAX_GRACE_SECONDS}`),
      );
      await assert.rejects(
        admin.addCredential(
          { name: 'too_big', allowed_scopes: ['read'] },
          new SecretValue('x'.repeat(limits.MAX_VALUE_BYTES + 1)),
          'test',
        ),
        /64 KiB|larger/,
      );
      await assert.rejects(
        admin.updateCredential('scavio_api_key', { ttl_seconds: limits.MAX_TTL_SECONDS + 1 }, 'test'),
        new RegExp(`at most ${limits.MAX_TTL_SECONDS}`),
      );
    } finally {
      await k.dispose();
    }
  });
});
