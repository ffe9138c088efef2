/**
 * On a team store every editor's chat is its own agent (`vscode.<user>.<host>`), its token kept in
 * that editor's SecretStorage, not in the store: two teammates' editors on one store never share
 * (and so never rotate) each other's token. One shared store (one CredentialStore over one metadata
 * store and one secret backend, as the database is) and two editors' SecretStorages.
 */
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VSCODE_AGENT_ID } from '../../../src/core/model';
import { CredentialStore } from '../../../src/core/store/credentialStore';
import { teamEditorAgentId } from '../../../src/core/store/postgres/teamStoreSetting';
import { VscodeAgentTokens, isEditorAgentId, teamEditorAgent } from '../../../src/vscode/vscodeAgent';
import { FakeClock } from '../../fakes/fakeClock';
import { MemoryMetadataStore } from '../../fakes/memoryMetadataStore';
import { MemorySecretBackend } from '../../fakes/memorySecretBackend';
import { RecordingLogger } from '../../fakes/recordingLogger';

const URL = 'postgres://akr@db.example:5432/team';

describe('team editor agents', () => {
  test("two editors on one team store get agents of their own; one's renewal leaves the other's token working", async () => {
    const logger = new RecordingLogger();
    const teamSecrets = new MemorySecretBackend(); // the store's values (the database, in the editor)
    const store = new CredentialStore({
      metadata: new MemoryMetadataStore(),
      secrets: teamSecrets,
      clock: new FakeClock('2026-03-02T12:00:00.000Z'),
      logger,
    });
    const alice = { secrets: new MemorySecretBackend(), id: teamEditorAgentId('alice', 'laptop.example') };
    const bob = { secrets: new MemorySecretBackend(), id: teamEditorAgentId('bob', 'desktop') };
    const tokensOf = (e: typeof alice): VscodeAgentTokens =>
      new VscodeAgentTokens(store, e.secrets, logger, teamEditorAgent(e.id, URL));
    const a = tokensOf(alice);
    const b = tokensOf(bob);
    assert.equal(a.id, 'vscode.alice.laptop');
    assert.equal(b.id, 'vscode.bob.desktop');
    // Connect Agent and the walkthrough skip editors' agents (one's own and teammates'), not others.
    assert.deepEqual(['vscode', a.id, b.id, 'vscodex', 'ci-agent', 'my.vscode'].map(isEditorAgentId), [
      true,
      true,
      true,
      false,
      false,
      false,
    ]);

    const [ta, tb] = await Promise.all([a.get(), b.get()]);
    assert.ok(ta.state === 'ok' && tb.state === 'ok');
    assert.equal((await store.authenticate(ta.token))?.id, alice.id);
    assert.equal((await store.authenticate(tb.token))?.id, bob.id);
    assert.equal(await store.getAgent(VSCODE_AGENT_ID), undefined, 'no shared vscode agent');
    // Each token is in its own editor's SecretStorage only, never in the team store's secrets.
    const key = teamEditorAgent(alice.id, URL).tokenKey;
    assert.equal(alice.secrets.peek(key), ta.token);
    assert.equal(bob.secrets.peek(key), undefined);
    for (const k of teamSecrets.keys()) {
      assert.ok(!k.includes('agent-token'), k);
    }

    // Alice renews (Rotate Agent Token on her agent): Bob's token still works, and his editor's next
    // check keeps it (no re-issue that would rotate Alice's in turn).
    await a.renew();
    assert.equal((await store.authenticate(ta.token))?.id, undefined, "Alice's old token is gone");
    assert.equal((await store.authenticate(tb.token))?.id, bob.id, "Bob's token still works");
    assert.deepEqual(await b.get(), tb);
    const renewed = await a.get();
    assert.ok(renewed.state === 'ok');
    assert.equal((await store.authenticate(renewed.token))?.id, alice.id);

    // A second window of Alice's editor (same SecretStorage) finds her token and mints none.
    assert.deepEqual(await tokensOf(alice).get(), renewed);
    for (const t of [ta.token, tb.token, renewed.token]) {
      assert.ok(!logger.lines.join('\n').includes(t), 'tokens are never logged');
    }
  });
});
