/**
 * KeyringService.injectCredentials (run, local store) and get_credential with the run `_meta`
 * (run through a server): the same decision as get_credential, audited as `tool: run` with the
 * command's name; all or nothing; refusals audited; values never in an audit line or error.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import type { CallContext } from '../../../src/core/api';
import { KeyringError } from '../../../src/core/errors';
import { boundedCommand } from '../../../src/core/service';
import { connectInMemory } from '../../mcp/harness';
import { createTestKeyring, type TestKeyring } from '../../helpers/testKeyring';

const research: CallContext = { agentId: 'research-agent' };
const quiet = { actions: { first_use: 'off', unusual_hours: 'off' } } as const;

function auditLines(k: TestKeyring): Array<Record<string, unknown>> {
  return fs
    .readFileSync(k.auditPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function assertNoValue(k: TestKeyring, text: string): void {
  for (const v of Object.values(k.values)) {
    assert.ok(!text.includes(v), 'a credential value leaked');
  }
}

describe('injectCredentials', () => {
  let k: TestKeyring;
  afterEach(async () => k.dispose());

  it('releases every key with a run audit line naming the command', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    const out = await k.service.injectCredentials(
      research,
      [
        { name: 'scavio_api_key', scope: 'search_read' },
        { name: 'github_token', scope: 'repo_read' },
      ],
      { command: '/usr/local/bin/my-tool' },
    );
    assert.deepEqual(
      out.map((o) => [o.name, o.value.reveal(), o.mustMask]),
      [
        ['scavio_api_key', k.values.scavio_api_key, false],
        ['github_token', k.values.github_token, false],
      ],
    );
    const lines = auditLines(k).filter((e) => e.tool === 'run');
    assert.equal(lines.length, 2);
    for (const e of lines) {
      assert.equal(e.decision, 'allow');
      assert.equal(e.reason, 'run my-tool');
      assert.equal(e.agent_id, 'research-agent');
      assert.match(String(e.lease_id), /^lease_/);
    }
    assertNoValue(k, fs.readFileSync(k.auditPath, 'utf8'));
  });

  it('a key used, never read: an in-process run injects it with output masking forced; a run over the wire is a reveal and is refused', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    await k.keyring.store.updateCredential('scavio_api_key', { reveal: 'never' });
    const [injected] = await k.service.injectCredentials(
      research,
      [{ name: 'scavio_api_key', scope: 'search_read' }],
      { command: 'my-tool' },
    );
    assert.equal(injected?.value.reveal(), k.values.scavio_api_key);
    assert.equal(injected?.mustMask, true, 'the command output is masked whatever --no-mask says');
    // The `_meta` run marker is something any holder of the token can send: it must not unlock it.
    await assert.rejects(
      k.service.getCredential(
        { ...research, run: { command: 'my-tool' } },
        { name: 'scavio_api_key', scope: 'search_read' },
      ),
      (e: unknown) => e instanceof KeyringError && e.code === 'reveal_denied',
    );
    assertNoValue(k, fs.readFileSync(k.auditPath, 'utf8'));
  });

  it('all or nothing: a refused key releases none and is audited as a run denial', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    let error: unknown;
    try {
      await k.service.injectCredentials(
        research,
        [
          { name: 'scavio_api_key', scope: 'search_read' },
          { name: 'npm_token', scope: 'publish' },
        ],
        { command: 'npm' },
      );
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof KeyringError);
    // Not granted to this agent: answered like a name that does not exist (no oracle).
    assert.equal(error.code, 'not_found');
    const run = auditLines(k).filter((e) => e.tool === 'run');
    assert.deepEqual(
      run.map((e) => [e.credential, e.decision]),
      [['npm_token', 'deny']],
      'nothing was released, the refusal is recorded',
    );
    assertNoValue(k, `${error.message} ${fs.readFileSync(k.auditPath, 'utf8')}`);
  });

  it('a sensitive scope goes through the approval rule (headless: approval_denied)', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    await assert.rejects(
      k.service.injectCredentials(research, [{ name: 'scavio_api_key', scope: 'publish' }], { command: 'x' }),
      (e: unknown) => e instanceof KeyringError && e.code === 'approval_denied',
    );
  });

  it('get_credential with the run _meta is audited as run with the command (run through a server)', async () => {
    k = await createTestKeyring({ anomaly: quiet });
    const c = await connectInMemory(k.api, 'research-agent');
    try {
      const r = await c.client.callTool({
        name: 'get_credential',
        arguments: { name: 'scavio_api_key', scope: 'search_read' },
        _meta: { 'agent-keyring/run': { command: 'python3' } },
      });
      assert.equal(r.isError, undefined);
      const plain = await c.client.callTool({
        name: 'get_credential',
        arguments: { name: 'scavio_api_key', scope: 'search_read' },
      });
      assert.equal(plain.isError, undefined);
    } finally {
      await c.close();
    }
    const lines = auditLines(k).filter((e) => e.credential === 'scavio_api_key');
    assert.deepEqual(
      lines.map((e) => [e.tool, e.reason]),
      [
        ['run', 'run python3'],
        ['get_credential', null],
      ],
    );
  });

  it('the command name in the audit line is its basename, printable and bounded', () => {
    assert.equal(boundedCommand('/usr/bin/node'), 'node');
    assert.equal(boundedCommand('C:\\tools\\x.exe'), 'x.exe');
    assert.equal(boundedCommand(`a\u0000b${'c'.repeat(200)}`).length, 64);
    assert.equal(boundedCommand(''), '?');
  });
});
