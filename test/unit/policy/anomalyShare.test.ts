/**
 * Rate state shared between engines (servers of one team store): what one engine counts, another
 * counts through applyRemote — burst windows and probing denials — while replayed history is not
 * shared. The transport (pg_notify) is tested with real servers in test/team/teamRate.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnomalyEngine, type RateEvent } from '../../../src/core/policy/anomalyEngine';
import { DEFAULT_ANOMALY_CONFIG, type AnomalyConfig } from '../../../src/core/model';
import { FakeClock } from '../../fakes/fakeClock';

const CONFIG: AnomalyConfig = { ...DEFAULT_ANOMALY_CONFIG, burst_per_minute: 3 };

function pair(): { clock: FakeClock; a: AnomalyEngine; b: AnomalyEngine; sent: RateEvent[] } {
  const clock = new FakeClock('2026-03-02T10:00:00Z');
  const a = new AnomalyEngine({ config: CONFIG, clock });
  const b = new AnomalyEngine({ config: CONFIG, clock });
  const sent: RateEvent[] = [];
  a.shareRateState((e) => {
    sent.push(e);
    b.applyRemote(e);
  });
  return { clock, a, b, sent };
}

describe('AnomalyEngine: rate state shared between servers', () => {
  it("B counts A's requests for the burst rule; without sharing it would not", () => {
    const { a, b, sent } = pair();
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(a.checkRate('x').fired, []);
    }
    assert.equal(sent.length, 3);
    assert.deepEqual(
      b.checkRate('x').fired.map((f) => f.rule),
      ['burst'],
    );
    const alone = new AnomalyEngine({ config: CONFIG, clock: new FakeClock('2026-03-02T10:00:00Z') });
    assert.deepEqual(alone.checkRate('x').fired, []);
  });

  it('remote requests older than a minute do not count; an older one is kept in time order', () => {
    const { clock, b } = pair();
    const now = clock.now();
    b.applyRemote({ agent: 'x', kind: 'request', at: now - 61_000 });
    b.applyRemote({ agent: 'x', kind: 'request', at: now - 1000 });
    b.applyRemote({ agent: 'x', kind: 'request', at: now - 2000 });
    assert.deepEqual(b.checkRate('x').fired, [], 'two in the window, plus this one: 3, not over 3');
    const fired = b.checkRate('x');
    assert.deepEqual(
      fired.fired.map((f) => f.rule),
      ['burst'],
    );
    // The retry time comes from the second oldest kept request (now - 1000 ms): 59 s.
    assert.equal(fired.retryAfter.burst, 59);
  });

  it("A's denials lock the agent out on B; replayed history is not shared", () => {
    const { a, b, sent } = pair();
    for (let i = 0; i < DEFAULT_ANOMALY_CONFIG.probing_denials; i++) {
      a.recordDecision('p', true);
    }
    assert.ok(a.lockedUntil('p'));
    assert.equal(b.lockedUntil('p'), a.lockedUntil('p'));
    const before = sent.length;
    a.loadHistory([{ agent_id: 'q', ts: Date.now(), decision: 'deny', code: 'not_found' }]);
    assert.equal(sent.length, before);
  });

  it('malformed remote events are ignored; a disposed share sends nothing', () => {
    const clock = new FakeClock('2026-03-02T10:00:00Z');
    const e = new AnomalyEngine({ config: CONFIG, clock });
    for (const bad of [
      null,
      {},
      { agent: 1, kind: 'request', at: 1 },
      { agent: 'x', kind: 'request', at: NaN },
    ]) {
      e.applyRemote(bad as unknown as RateEvent);
    }
    assert.deepEqual(e.checkRate('x').fired, []);
    const sent: RateEvent[] = [];
    e.shareRateState((ev) => sent.push(ev)).dispose();
    e.checkRate('x');
    assert.equal(sent.length, 0);
  });
});
