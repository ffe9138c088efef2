/**
 * Reveal modes and request policy in the service (issue #10): headless approval, grants per kind of
 * use, "this session" grants, store validation and old metadata files.
 */
import { strict as assert } from 'node:assert';
import { afterEach, describe, it } from 'node:test';
import type { CallContext } from '../../src/core/api';
import { KeyringError } from '../../src/core/errors';
import { SESSION_GRANT, ApprovalGrants } from '../../src/core/policy/approvalGrants';
import { effectiveRevealMode } from '../../src/core/policy/revealMode';
import { parseMetadata } from '../../src/core/store/fileMetadataStore';
import type { ApprovalAnswer, ApprovalRequest } from '../../src/core/ports';
import { FakeClock } from '../fakes/fakeClock';
import { createTestKeyring, type TestKeyring } from '../helpers/testKeyring';

const research: CallContext = { agentId: 'research-agent' };
const quiet = { actions: { first_use: 'off', unusual_hours: 'off' } } as const;

async function refusal(p: Promise<unknown>): Promise<KeyringError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof KeyringError, `expected a KeyringError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a refusal');
}

describe('reveal modes in the service', () => {
  let k: TestKeyring | undefined;
  afterEach(async () => {
    await k?.dispose();
    k = undefined;
  });

  it('headless, reveal approve is approval_denied naming what to change', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    await k.keyring.store.updateCredential('scavio_api_key', { reveal: 'approve' });
    const e = await refusal(
      k.service.getCredential(research, { name: 'scavio_api_key', scope: 'search_read' }),
    );
    assert.equal(e.code, 'approval_denied');
    assert.match(e.message, /no one to ask/);
    assert.match(e.message, /--reveal-for research-agent=allow/);
    assert.match(e.message, /http_request/);
    assert.ok(!e.message.includes(k.values.scavio_api_key));
  });

  it('reveal never is refused before any anomaly rule or approval; injection is not a reveal', async () => {
    const asked: ApprovalRequest[] = [];
    k = await createTestKeyring({
      anomaly: quiet,
      approver: { ask: async (r) => (asked.push(r), 'once') },
    });
    await k.keyring.store.updateCredential('scavio_api_key', { reveal: 'never' });
    // publish is sensitive: on `never` nobody is asked, the answer is reveal_denied.
    const e = await refusal(k.service.getCredential(research, { name: 'scavio_api_key', scope: 'publish' }));
    assert.equal(e.code, 'reveal_denied');
    assert.equal(asked.length, 0);
    // A name the agent may not use stays not_found / agent_denied as before, never reveal_denied.
    const other = await refusal(k.service.getCredential(research, { name: 'npm_token', scope: 'publish' }));
    assert.notEqual(other.code, 'reveal_denied');
    const cred = await k.keyring.store.getCredential('scavio_api_key');
    assert.equal(effectiveRevealMode(cred!, 'research-agent'), 'never');
  });

  it('an approval is remembered per kind of use: an http_request grant never allows a reveal', async () => {
    const asked: ApprovalRequest[] = [];
    const answers: ApprovalAnswer[] = ['hour'];
    const clock = new FakeClock('2026-11-26T10:00:00Z');
    k = await createTestKeyring({
      clock,
      anomaly: quiet,
      approver: { ask: async (r) => (asked.push(r), answers.shift() ?? 'deny') },
      fetch: async () => new Response('ok', { status: 200 }),
    });
    await k.service.httpRequest(research, {
      credential: 'scavio_api_key',
      scope: 'publish',
      method: 'POST',
      url: 'https://api.scavio.example/v1/publish',
      headers: { Authorization: 'Bearer {{credential}}' },
      body: '{}',
    });
    assert.equal(asked.length, 1);
    assert.equal(asked[0].action, 'POST https://api.scavio.example/v1/publish');
    await k.service.httpRequest(research, {
      credential: 'scavio_api_key',
      scope: 'publish',
      method: 'POST',
      url: 'https://api.scavio.example/v1/publish',
      body: '{}',
    });
    assert.equal(asked.length, 1, 'the hour grant covers the same kind of request');
    const e = await refusal(k.service.getCredential(research, { name: 'scavio_api_key', scope: 'publish' }));
    assert.equal(e.code, 'approval_denied');
    assert.equal(asked.length, 2, 'a reveal is asked separately');
    assert.equal(asked[1].tool, 'get_credential');
  });
});

describe('ApprovalGrants: session grants', () => {
  it('a session grant lasts until the process ends; revoking the agent drops it', () => {
    const clock = new FakeClock('2026-11-26T10:00:00Z');
    const g = new ApprovalGrants(clock);
    g.grant('a', 'c', 's', SESSION_GRANT, 'get_credential');
    clock.advance(400 * 24 * 3_600_000);
    assert.equal(g.has('a', 'c', 's', 'get_credential'), true);
    assert.equal(g.has('a', 'c', 's', 'http_request'), false, 'another kind of use is not covered');
    assert.equal(g.has('a', 'c', 's'), false);
    g.revokeAgent('a');
    assert.equal(g.has('a', 'c', 's', 'get_credential'), false);
  });
});

describe('store: reveal, rules and placement fields', () => {
  let k: TestKeyring | undefined;
  afterEach(async () => {
    await k?.dispose();
    k = undefined;
  });

  it('validates and clears the new fields; rules follow the scopes', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    const store = k.keyring.store;
    const bad = await refusal(store.updateCredential('scavio_api_key', { reveal: 'sometimes' as never }));
    assert.match(bad.message, /reveal: must be "allow", "approve" or "never"/);
    const badRule = await refusal(
      store.updateCredential('scavio_api_key', { scope_rules: { search_read: ['everything'] } }),
    );
    assert.match(badRule.message, /scope_rules\.search_read\[0\]: a rule must be "METHOD \/path"/);
    const unknownScope = await refusal(
      store.updateCredential('scavio_api_key', { scope_rules: { admin: ['GET /x'] } }),
    );
    assert.match(unknownScope.message, /'admin', which 'scavio_api_key' does not allow/);
    const badPlacement = await refusal(store.updateCredential('scavio_api_key', { placement: ['body'] }));
    assert.match(badPlacement.message, /placement\[0\]: a placement must be/);
    let c = await store.updateCredential('scavio_api_key', {
      reveal: 'never',
      reveal_overrides: { vscode: 'allow' },
      scope_rules: { search_read: ['GET /v1/search*'], publish: ['POST /v1/publish'] },
      placement: ['header:Authorization'],
    });
    assert.equal(c.reveal, 'never');
    // Dropping a scope drops its rules (re-added later, it starts from the safe default).
    c = await store.updateCredential('scavio_api_key', { allowed_scopes: ['search_read'] });
    assert.deepEqual(c.scope_rules, { search_read: ['GET /v1/search*'] });
    c = await store.updateCredential('scavio_api_key', {
      reveal: 'allow',
      reveal_overrides: null,
      scope_rules: {},
      placement: null,
    });
    assert.equal(c.reveal, undefined, 'allow is the default and is not stored');
    assert.equal(c.reveal_overrides, undefined);
    assert.equal(c.scope_rules, undefined);
    assert.equal(c.placement, undefined);
  });

  it('a metadata file written before reveal modes reads as allow; a bad mode is a clear error', () => {
    const old = {
      schema: 1,
      credentials: {
        k: {
          name: 'k',
          description: '',
          allowed_scopes: ['read'],
          allowed_agents: ['*'],
          ttl_seconds: 60,
          version: 1,
          versions: [{ version: 1, created_at: '2026-01-01T00:00:00.000Z', rotated_by: 'cli' }],
          created_at: '2026-01-01T00:00:00.000Z',
        },
      },
      agents: {},
    };
    const doc = parseMetadata(JSON.stringify(old), 'metadata.json');
    assert.equal(effectiveRevealMode(doc.credentials.k, 'anyone'), 'allow');
    const broken = structuredClone(old) as unknown as { credentials: { k: Record<string, unknown> } };
    broken.credentials.k.reveal = 'sometimes';
    assert.throws(
      () => parseMetadata(JSON.stringify(broken), 'metadata.json'),
      /credentials\.k\.reveal: must be "allow", "approve" or "never".*left untouched/,
    );
  });
});
