/**
 * Regression tests for the core holes of issue #10 (each failed on main before its fix): rate
 * rules before policy and aggregated refusals, rate_limited not counting as probing, rotations
 * under the rate rules and fail-closed, no agent_denied oracle, revocation dropping grants, other
 * credentials' values kept out of the audit log.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import type { CallContext } from '../../src/core/api';
import { KeyringError } from '../../src/core/errors';
import { SecretValue } from '../../src/core/model';
import { FakeClock } from '../fakes/fakeClock';
import { createTestKeyring, type TestKeyring } from '../helpers/testKeyring';

const research: CallContext = { agentId: 'research-agent', client: { name: 'test-client', version: '1' } };
const release: CallContext = { agentId: 'release-agent' };
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

function auditLines(k: TestKeyring): Record<string, unknown>[] {
  if (!fs.existsSync(k.auditPath)) {
    return [];
  }
  return fs
    .readFileSync(k.auditPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function assertNoCanary(k: TestKeyring, text: string, what: string): void {
  for (const v of Object.values(k.values)) {
    assert.ok(!text.includes(v), `a secret value leaked into ${what}`);
  }
}

/** Makes every further audit write fail (the file replaced by a folder). */
function breakAudit(k: TestKeyring): void {
  fs.rmSync(k.auditPath, { force: true });
  fs.mkdirSync(k.auditPath);
}

describe('security holes (issue #10, core)', () => {
  let k: TestKeyring | undefined;
  afterEach(async () => {
    await k?.dispose();
    k = undefined;
  });

  it('300 refusals in a burst write a bounded number of audit lines, and a locked-out agent is refused before policy', async () => {
    const clock = new FakeClock('2026-11-26T10:00:00Z');
    k = await createTestKeyring({ clock, anomaly: quiet });
    const before = auditLines(k).length;
    const codes = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const e = await refusal(k.service.getCredential(research, { name: 'no_such_key', scope: 'read' }));
      codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
    }
    // 5 not_found lock the agent out; everything after is refused by the lockout, before policy.
    assert.equal(codes.get('not_found'), 5);
    assert.equal(codes.get('anomaly_denied'), 295);
    const written = auditLines(k).length - before;
    assert.ok(written <= 4, `expected at most a few audit lines for 300 refusals, got ${written}`);
    // The count is not lost: the summary is written when the window ends.
    clock.advance(61_000);
    await k.service.flushAggregated();
    await k.keyring.audit.flush();
    const summaries = auditLines(k).filter((e) => /more identical events/.test(String(e.reason)));
    const counted = summaries
      .map((e) => Number(/^(\d+) more/.exec(String(e.reason))?.[1] ?? 0))
      .reduce((a, b) => a + b, 0);
    const full = auditLines(k).filter(
      (e) => e.decision === 'deny' && !/more identical events/.test(String(e.reason)),
    ).length;
    assert.equal(counted + full, 300, 'every refusal is accounted for, in full or in a count');
    // A locked-out agent gets the lockout even for a credential it may use.
    const e = await refusal(
      k.service.getCredential(research, { name: 'scavio_api_key', scope: 'search_read' }),
    );
    assert.equal(e.code, 'anomaly_denied');
    assert.equal(typeof e.details.retry_after_seconds, 'number');
  });

  it('a client retrying on rate_limited does not lock itself out; the refusal carries retry_after_seconds', async () => {
    const clock = new FakeClock('2026-11-26T10:00:00Z');
    k = await createTestKeyring({ clock, anomaly: { ...quiet, burst_per_minute: 10 } });
    const args = { name: 'scavio_api_key', scope: 'search_read' };
    for (let i = 0; i < 10; i++) {
      await k.service.getCredential(research, args);
    }
    for (let i = 0; i < 12; i++) {
      const e = await refusal(k.service.getCredential(research, args));
      assert.equal(e.code, 'rate_limited');
      assert.equal(typeof e.details.retry_after_seconds, 'number');
      assert.ok((e.details.retry_after_seconds as number) >= 1);
    }
    clock.advance(61_000);
    const got = await k.service.getCredential(research, args);
    assert.equal(got.value.reveal(), k.values.scavio_api_key);
  });

  it('rotate_credential runs the rate rules: a locked-out agent cannot rotate, nor can one over the burst limit', async () => {
    const clock = new FakeClock('2026-11-26T10:00:00Z');
    k = await createTestKeyring({ clock, anomaly: { ...quiet, burst_per_minute: 5 } });
    for (let i = 0; i < 5; i++) {
      await refusal(k.service.getCredential(research, { name: `missing_${i}`, scope: 'read' }));
    }
    const e = await refusal(k.service.rotateCredential(research, { name: 'github_token' }));
    assert.equal(e.code, 'anomaly_denied');
    assert.equal((await k.keyring.store.getCredential('github_token'))?.version, 1);
    // Burst: release-agent may rotate npm_token; the 6th rotation within a minute is refused.
    for (let i = 0; i < 5; i++) {
      await k.service.rotateCredential(release, {
        name: 'npm_token',
        new_value: new SecretValue(`canary-npm-rot-${i}-0123456789`),
      });
    }
    const burst = await refusal(
      k.service.rotateCredential(release, {
        name: 'npm_token',
        new_value: new SecretValue('canary-npm-x-0123456789'),
      }),
    );
    assert.equal(burst.code, 'rate_limited');
    assert.equal((await k.keyring.store.getCredential('npm_token'))?.version, 6);
  });

  it("an agent's rotation is fail-closed when the audit log cannot be written; a human's happens with a warning", async () => {
    k = await createTestKeyring({ anomaly: quiet });
    breakAudit(k);
    const e = await refusal(k.service.rotateCredential(research, { name: 'github_token' }));
    assert.equal(e.code, 'audit_unavailable');
    assert.equal(
      (await k.keyring.store.getCredential('github_token'))?.version,
      1,
      'no rotation without an audit line',
    );
    const human = await k.service.rotate('github_token', { actor: 'cli' });
    assert.equal(human.version, 2);
    assert.match(human.audit_warning ?? '', /audit log could not record it/);
    assert.ok(k.logger.lines.some((l) => /audit log could not record it/.test(l)));
  });

  it('a credential granted to someone else answers exactly like a name that does not exist', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    const denied = await refusal(k.service.getCredential(research, { name: 'npm_token', scope: 'publish' }));
    const missing = await refusal(k.service.getCredential(research, { name: 'npm_tokeo', scope: 'publish' }));
    assert.equal(denied.code, 'not_found');
    assert.equal(denied.code, missing.code);
    assert.equal(denied.message.replace('npm_token', 'X'), missing.message.replace('npm_tokeo', 'X'));
    assert.deepEqual(Object.keys(denied.details), Object.keys(missing.details));
    const viaHttp = await refusal(
      k.service.httpRequest(research, {
        credential: 'npm_token',
        scope: 'publish',
        method: 'GET',
        url: 'https://registry.example/',
      }),
    );
    assert.equal(viaHttp.code, 'not_found');
    // The operator still sees the true reason.
    const codes = auditLines(k)
      .filter((e) => e.decision === 'deny')
      .map((e) => `${String(e.credential)}:${String(e.code)}`);
    assert.ok(codes.includes('npm_token:agent_denied'));
    assert.ok(codes.includes('npm_tokeo:not_found'));
  });

  it('revoking an agent removes its grants: adding the id again starts with none', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    const { removedFrom } = await k.service.revokeAgent('release-agent', 'cli');
    assert.deepEqual(removedFrom, ['npm_token']);
    const npm = await k.keyring.store.getCredential('npm_token');
    assert.deepEqual(npm?.allowed_agents, []);
    assert.deepEqual(npm?.rotation_agents, []);
    await k.keyring.store.addAgent({ id: 'release-agent', label: 'again' });
    const e = await refusal(k.service.getCredential(release, { name: 'npm_token', scope: 'publish' }));
    assert.equal(e.code, 'not_found');
    assert.equal(
      (await refusal(k.service.rotateCredential(release, { name: 'npm_token' }))).code,
      'not_found',
    );
    // '*' still admits every agent, the re-added one included.
    const gh = await k.service.getCredential(release, { name: 'github_token', scope: 'repo_read' });
    assert.equal(gh.value.reveal(), k.values.github_token);
    const line = auditLines(k).find((x) => x.decision === 'agent_revoked');
    assert.match(String(line?.reason), /removed from the grants of npm_token/);
  });

  it("an agent's reason, client info or asked-for name carrying another credential's value never reaches the audit log", async () => {
    k = await createTestKeyring({ anomaly: quiet });
    const npm = k.values.npm_token;
    const gh = k.values.github_token;
    const sneaky: CallContext = {
      agentId: 'research-agent',
      client: {
        name: `client ${gh}`,
        version: `v${'9'.repeat(5000)}`,
        conversation_id: encodeURIComponent(npm),
      },
    };
    await k.service.getCredential(sneaky, {
      name: 'scavio_api_key',
      scope: 'search_read',
      reason: `copy of ${npm} and ${Buffer.from(gh).toString('base64')}`,
    });
    await k.service.listCredentials(sneaky);
    await refusal(k.service.getCredential(sneaky, { name: 'scavio_api_key', scope: 'admin' }));
    const text = fs.readFileSync(k.auditPath, 'utf8');
    assertNoCanary(k, text, 'the audit log');
    assert.ok(!text.includes(Buffer.from(gh).toString('base64')), 'base64 form leaked');
    assert.ok(!text.includes(encodeURIComponent(npm)), 'URL-encoded form leaked');
    const line = auditLines(k).find((e) => e.tool === 'get_credential' && e.decision === 'allow');
    assert.match(String(line?.reason), /\[REDACTED\]/);
    const client = line?.client as { version: string };
    assert.ok(client.version.length <= 128, 'client info is bounded');
  });

  it("a person's approval_denied answers are each recorded in full (never aggregated)", async () => {
    k = await createTestKeyring({ anomaly: { ...quiet, actions: { ...quiet.actions, probing: 'off' } } });
    for (let i = 0; i < 3; i++) {
      const e = await refusal(k.service.getCredential(release, { name: 'npm_token', scope: 'publish' }));
      assert.equal(e.code, 'approval_denied');
    }
    const lines = auditLines(k).filter((e) => e.code === 'approval_denied');
    assert.equal(lines.length, 3);
  });

  it("another credential's value asked for as a name, as an agent's very first call, stays out of the audit log", async () => {
    k = await createTestKeyring({ anomaly: quiet });
    const e = await refusal(k.service.getCredential(research, { name: k.values.npm_token, scope: 'read' }));
    assert.equal(e.code, 'not_found');
    const e2 = await refusal(k.service.rotateCredential(research, { name: k.values.github_token }));
    assert.equal(e2.code, 'not_found');
    assertNoCanary(k, fs.readFileSync(k.auditPath, 'utf8'), 'the audit log');
  });
});
