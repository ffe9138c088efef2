/**
 * ApprovalGrants over a shared {@link GrantStore}: two instances (two servers) on one store. Hour
 * grants travel through it, session grants stay local, revocations reach the other instance, and
 * `has()` stays synchronous. The store here is a small in-memory {@link GrantStore} that fires its
 * change listeners like the PostgreSQL one's notifications (test/team/teamState.test.ts runs the
 * real one).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ApprovalGrants,
  SESSION_GRANT,
  type GrantStore,
  type StoredGrant,
} from '../../../src/core/policy/approvalGrants';
import type { Clock } from '../../../src/core/ports';
import { FakeClock } from '../../fakes/fakeClock';
import { RecordingLogger } from '../../fakes/recordingLogger';
import { HOUR_MS } from './helpers';

class SharedStore implements GrantStore {
  rows = new Map<string, StoredGrant>();
  listeners = new Set<() => void>();
  failing = false;
  constructor(private readonly clock: Clock) {}
  load(): Promise<StoredGrant[]> {
    return Promise.resolve([...this.rows.values()].filter((g) => g.untilMs > this.clock.now()));
  }
  save(g: StoredGrant): Promise<void> {
    if (this.failing) {
      return Promise.reject(new Error('database down'));
    }
    const k = JSON.stringify([g.agentId, g.credential, g.scope, g.use]);
    const old = this.rows.get(k);
    this.rows.set(k, { ...g, untilMs: Math.max(old?.untilMs ?? 0, g.untilMs) });
    this.#notify();
    return Promise.resolve();
  }
  revokeAgent(agentId: string): Promise<void> {
    this.#drop((g) => g.agentId === agentId);
    return Promise.resolve();
  }
  revokeCredential(credential: string): Promise<void> {
    this.#drop((g) => g.credential === credential);
    return Promise.resolve();
  }
  onDidChange(listener: () => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }
  #drop(pred: (g: StoredGrant) => boolean): void {
    for (const [k, g] of this.rows) {
      if (pred(g)) {
        this.rows.delete(k);
      }
    }
    this.#notify();
  }
  #notify(): void {
    // Like a NOTIFY: delivered later, to every listener (the sender too).
    queueMicrotask(() => this.listeners.forEach((l) => l()));
  }
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

describe('ApprovalGrants with a shared GrantStore', () => {
  it('an hour grant on one instance holds on the other and on one attached later (a restart); a session grant stays local', async () => {
    const clock = new FakeClock();
    const store = new SharedStore(clock);
    const logger = new RecordingLogger();
    const a = new ApprovalGrants(clock);
    const b = new ApprovalGrants(clock);
    await a.attach(store, logger);
    await b.attach(store, logger);
    a.grant('bot', 'k', 'read', clock.now() + HOUR_MS, 'get_credential');
    a.grant('bot', 'k2', 'read', SESSION_GRANT, 'get_credential');
    await settle();
    assert.equal(b.has('bot', 'k', 'read', 'get_credential'), true);
    assert.equal(b.has('bot', 'k', 'read', 'http_request'), false, 'another use is not covered');
    assert.equal(b.has('bot', 'k2', 'read', 'get_credential'), false, 'a session grant is not shared');
    assert.equal(a.has('bot', 'k2', 'read', 'get_credential'), true);

    const restarted = new ApprovalGrants(clock);
    await restarted.attach(store, logger);
    assert.equal(restarted.has('bot', 'k', 'read', 'get_credential'), true);
    clock.advance(HOUR_MS);
    assert.equal(restarted.has('bot', 'k', 'read', 'get_credential'), false, 'expired everywhere');
    assert.equal(b.has('bot', 'k', 'read', 'get_credential'), false);
  });

  it('revoking an agent or a credential on one instance drops the grants on the other', async () => {
    const clock = new FakeClock();
    const store = new SharedStore(clock);
    const logger = new RecordingLogger();
    const a = new ApprovalGrants(clock);
    const b = new ApprovalGrants(clock);
    await a.attach(store, logger);
    await b.attach(store, logger);
    a.grant('bot', 'k', 'read', clock.now() + HOUR_MS, 'get_credential');
    a.grant('other', 'k2', 'read', clock.now() + HOUR_MS, 'get_credential');
    await settle();
    assert.equal(b.size, 2);
    b.revokeAgent('bot');
    await settle();
    assert.equal(a.has('bot', 'k', 'read', 'get_credential'), false);
    assert.equal(a.has('other', 'k2', 'read', 'get_credential'), true);
    // After a store change: the credential k2 is gone.
    a.dropStale(
      (name) => name !== 'k2',
      () => true,
    );
    await settle();
    assert.equal(b.has('other', 'k2', 'read', 'get_credential'), false);
    assert.equal(store.rows.size, 0);
    await a.settled();
  });

  it('a store that fails to save keeps the grant here and says so in the log', async () => {
    const clock = new FakeClock();
    const store = new SharedStore(clock);
    const logger = new RecordingLogger();
    const a = new ApprovalGrants(clock);
    await a.attach(store, logger);
    store.failing = true;
    a.grant('bot', 'k', 'read', clock.now() + HOUR_MS, 'get_credential');
    await a.settled();
    assert.equal(a.has('bot', 'k', 'read', 'get_credential'), true);
    assert.match(logger.text(), /not shared with the other servers/);
  });
});
