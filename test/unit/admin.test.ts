/**
 * KeyringAdmin: every human change audits exactly once, bad input is refused before anything
 * changes with a message that says what to fix, and a canary value never reaches the audit log,
 * an error or the log.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { BatchAddError } from '../../src/core/admin';
import { KeyringError } from '../../src/core/errors';
import { SecretValue } from '../../src/core/model';
import { canary, createTestKeyring, type TestKeyring } from '../helpers/testKeyring';

interface Line {
  tool: string;
  decision: string;
  credential: string | null;
  agent_id: string | null;
  reason: string | null;
  client: { name?: string } | null;
}

function auditText(k: TestKeyring): string {
  return fs.existsSync(k.auditPath) ? fs.readFileSync(k.auditPath, 'utf8') : '';
}

function auditLines(k: TestKeyring): Line[] {
  return auditText(k)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
}

/** Runs `action` and returns the audit lines it added. */
async function added(k: TestKeyring, action: () => Promise<unknown>): Promise<Line[]> {
  const before = auditLines(k).length;
  await action();
  await k.keyring.audit.flush();
  return auditLines(k).slice(before);
}

async function refusal(p: Promise<unknown>): Promise<KeyringError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof KeyringError, `a typed error, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a refusal');
}

describe('KeyringAdmin', () => {
  let k: TestKeyring;
  const secret = canary('admin');
  beforeEach(async () => {
    k = await createTestKeyring();
  });
  afterEach(async () => {
    const everything = auditText(k) + k.logger.lines.join('\n');
    assert.ok(!everything.includes(secret), 'the canary never reaches the audit log or the log');
    await k.dispose();
  });

  it('every action writes exactly one audit line naming the actor, never the value', async () => {
    const admin = k.keyring.admin;
    const cases: [string, string, () => Promise<unknown>][] = [
      [
        'add_credential',
        'created',
        () =>
          admin.addCredential({ name: 'svc_key', allowed_scopes: ['read'] }, new SecretValue(secret), 'cli'),
      ],
      ['update_credential', 'updated', () => admin.updateCredential('svc_key', { ttl_seconds: 60 }, 'cli')],
      ['update_credential', 'updated', () => admin.grant('svc_key', ['research-agent'], 'cli')],
      ['update_credential', 'updated', () => admin.ungrant('svc_key', ['research-agent'], 'cli')],
      ['update_credential', 'updated', () => admin.setRevealMode('svc_key', { mode: 'never' }, 'cli')],
      [
        'update_credential',
        'updated',
        () => admin.setRevealMode('svc_key', { agent: 'vscode', mode: 'allow' }, 'cli'),
      ],
      [
        'rotate',
        'rotated',
        () => admin.rotateCredential('svc_key', { value: new SecretValue(`${secret}-2`) }, 'cli'),
      ],
      ['remove_credential', 'removed', () => admin.removeCredential('svc_key', 'cli')],
      ['add_agent', 'agent_added', () => admin.addAgent({ id: 'helper-agent' }, 'cli')],
      ['rotate_agent_token', 'updated', () => admin.rotateAgentToken('helper-agent', 'cli')],
      ['revoke_agent', 'agent_revoked', () => admin.revokeAgent('helper-agent', 'cli')],
    ];
    for (const [tool, decision, action] of cases) {
      const lines = await added(k, action);
      assert.equal(lines.length, 1, `${tool}: one line, got ${JSON.stringify(lines)}`);
      assert.equal(lines[0].tool, tool);
      assert.equal(lines[0].decision, decision);
      assert.match(String(lines[0].reason), /cli/, `${tool}: the reason names who did it`);
    }
  });

  it('grant, ungrant and reveal modes change what they say; the reason says what changed', async () => {
    const admin = k.keyring.admin;
    await admin.grant('npm_token', ['research-agent'], 'vscode-user');
    assert.deepEqual((await admin.getCredential('npm_token'))?.allowed_agents, [
      'release-agent',
      'research-agent',
    ]);
    const [line] = await added(k, () => admin.ungrant('npm_token', ['release-agent'], 'vscode-user'));
    assert.equal(line.reason, 'ungranted from release-agent by vscode-user');
    const after = await admin.getCredential('npm_token');
    assert.deepEqual(after?.allowed_agents, ['research-agent']);
    assert.equal(after?.rotation_agents, undefined, 'its only rotation agent is gone too');

    await admin.setRevealMode('npm_token', { mode: 'approve' }, 'vscode-user');
    const [own] = await added(k, () =>
      admin.setRevealMode('npm_token', { agent: 'research-agent', mode: 'never' }, 'vscode-user'),
    );
    assert.equal(own.reason, 'reveal approve (research-agent: never) (by vscode-user)');
    const cleared = await admin.setRevealMode('npm_token', { agent: 'research-agent', mode: 'default' }, 'x');
    assert.equal(cleared.reveal_overrides, undefined);
  });

  it('bad input is refused before anything changes, with what to fix, and is not audited', async () => {
    const admin = k.keyring.admin;
    const checks: [() => Promise<unknown>, RegExp][] = [
      [
        () =>
          admin.addCredential({ name: 'Bad Name', allowed_scopes: ['read'] }, new SecretValue(secret), 'cli'),
        /name/,
      ],
      [
        () => admin.addCredential({ name: 'ok_name', allowed_scopes: ['read'] }, new SecretValue(''), 'cli'),
        /empty/i,
      ],
      [() => admin.updateCredential('npm_token', { ttl_seconds: -5 }, 'cli'), /ttl_seconds/],
      [
        () => admin.updateCredential('npm_token', {}, 'cli'),
        /Nothing to change for 'npm_token': give at least one/,
      ],
      [() => admin.updateCredential('nope', { ttl_seconds: 5 }, 'cli'), /nope/],
      [
        () => admin.setRevealMode('npm_token', { mode: 'sometimes' as 'allow' }, 'cli'),
        /Reveal mode must be allow, approve or never/,
      ],
      [
        () =>
          admin.rotateCredential(
            'npm_token',
            { value: new SecretValue(secret), graceSeconds: 31 * 86_400 },
            'cli',
          ),
        /grace_seconds must be a whole number .*30 days/,
      ],
      [() => admin.rotateCredential('npm_token', {}, 'cli'), /generator|new value/i],
      [() => admin.removeCredential('nope', 'cli'), /nope/],
      [() => admin.addAgent({ id: 'Has Spaces' }, 'cli'), /id/],
      [() => admin.addAgent({ id: 'research-agent' }, 'cli'), /already exists/],
      [() => admin.revokeAgent('ghost', 'cli'), /No agent with id 'ghost'.*agent list/],
      [() => admin.rotateAgentToken('ghost', 'cli'), /ghost/],
    ];
    const snapshotBefore = JSON.stringify(await k.keyring.store.snapshot());
    for (const [action, message] of checks) {
      const lines = await added(k, async () => {
        const e = await refusal(action());
        assert.match(e.message, message);
        assert.ok(!e.message.includes(secret), 'the error never holds the value');
      });
      assert.equal(lines.length, 0, `a refused change is not audited (${message})`);
    }
    assert.equal(JSON.stringify(await k.keyring.store.snapshot()), snapshotBefore, 'nothing changed');
  });

  it('addCredentials is all or nothing: one bad input stores none; audits only once all exist', async () => {
    const admin = k.keyring.admin;
    const item = (name: string) => ({
      input: { name, allowed_scopes: ['read'] },
      value: new SecretValue(`${secret}-${name}`),
      reason: `imported ${name} by test`,
    });
    const invalid = await refusal(
      admin.addCredentials([item('one_key'), item('Two Key')], 'test', 'import_env'),
    );
    assert.equal(invalid.code, 'invalid_input');
    assert.equal(await admin.getCredential('one_key'), undefined, 'validated before anything was stored');

    // The second one exists already: the first is removed again, and nothing is audited.
    const lines = await added(k, async () => {
      await assert.rejects(
        admin.addCredentials([item('one_key'), item('npm_token')], 'test', 'import_env'),
        (e: unknown) => {
          assert.ok(e instanceof BatchAddError);
          assert.equal(e.index, 1);
          assert.equal(e.rolledBack, 1);
          assert.ok(e.cause instanceof KeyringError && e.cause.code === 'already_exists');
          return true;
        },
      );
    });
    assert.equal(lines.length, 0);
    assert.equal(await admin.getCredential('one_key'), undefined, 'rolled back');

    const ok = await added(k, () =>
      admin.addCredentials([item('one_key'), item('two_key')], 'test', 'import_env'),
    );
    assert.deepEqual(
      ok.map((l) => [l.tool, l.decision, l.credential, l.reason]),
      [
        ['import_env', 'created', 'one_key', 'imported one_key by test'],
        ['import_env', 'created', 'two_key', 'imported two_key by test'],
      ],
    );
    assert.equal(await admin.currentValueEquals('two_key', new SecretValue(`${secret}-two_key`)), true);
    assert.equal(await admin.currentValueEquals('two_key', new SecretValue(`${secret}-other`)), false);
    assert.equal(await admin.currentValueEquals('missing', new SecretValue(secret)), false);
  });

  it('reads are metadata only: listings never carry a value', async () => {
    const admin = k.keyring.admin;
    const text = JSON.stringify([await admin.listCredentials(), await admin.listAgents()]);
    for (const v of Object.values(k.values)) {
      assert.ok(!text.includes(v));
    }
    for (const t of Object.values(k.tokens)) {
      assert.ok(!text.includes(t));
    }
  });
});
