/** The in-memory LeaseStore (file store, editor) and JoinNext, the team store's shared reads. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Lease } from '../../../src/core/model';
import { MemoryLeaseStore } from '../../../src/core/store/leaseStore';
import { JoinNext } from '../../../src/core/store/postgres/joinNext';
import { FakeClock } from '../../fakes/fakeClock';

function lease(id: string, agent: string, nowMs: number, ttlMs: number): Lease {
  return {
    lease_id: id,
    agent_id: agent,
    credential: 'k',
    version: 1,
    scope: 'read',
    issued_at: new Date(nowMs).toISOString(),
    expires_at: new Date(nowMs + ttlMs).toISOString(),
  };
}

describe('MemoryLeaseStore', () => {
  it('lists by agent and activity, revokes an agent, forgets expired leases at the next sweep', async () => {
    const clock = new FakeClock('2026-12-07T10:00:00Z');
    const s = new MemoryLeaseStore(clock);
    s.add(lease('l1', 'a', clock.now(), 60_000));
    s.add(lease('l2', 'b', clock.now(), 3_600_000));
    assert.deepEqual(
      (await s.list({ agentId: 'a' })).map((l) => l.lease_id),
      ['l1'],
    );
    assert.equal(await s.revokeAgent('a', new Date(clock.now()).toISOString()), 1);
    assert.equal(await s.revokeAgent('a', new Date(clock.now()).toISOString()), 0, 'already revoked');
    assert.deepEqual(
      (await s.list({ activeOnly: true })).map((l) => l.lease_id),
      ['l2'],
    );
    clock.advance(120_000);
    s.add(lease('l3', 'b', clock.now(), 60_000));
    assert.deepEqual(
      (await s.list()).map((l) => l.lease_id),
      ['l2', 'l3'],
      'the expired one is swept',
    );
    // A copy: changing a listed lease changes nothing stored.
    (await s.list())[0].revoked_at = 'x';
    assert.equal((await s.list())[0].revoked_at, undefined);
  });
});

describe('JoinNext', () => {
  it('callers during a read share the next one, which starts after they called', async () => {
    const j = new JoinNext<number>();
    let started = 0;
    const gates: Array<() => void> = [];
    const read = (): Promise<number> => {
      const n = ++started;
      return new Promise<number>((resolve) => gates.push(() => resolve(n)));
    };
    const first = j.run(read);
    const joined = Array.from({ length: 10 }, () => j.run(read));
    assert.equal(started, 1, 'the others wait for the read in flight to end');
    gates[0]();
    assert.equal(await first, 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(started, 2, 'one more read for all ten');
    gates[1]();
    assert.deepEqual(await Promise.all(joined), Array(10).fill(2));
    assert.equal(j.idle, true);
    // A failure reaches every caller of that read, and the next call reads again.
    const failing = j.run(() => Promise.reject(new Error('down')));
    await assert.rejects(failing, /down/);
    assert.equal(await j.run(() => Promise.resolve(7)), 7);
  });
});
