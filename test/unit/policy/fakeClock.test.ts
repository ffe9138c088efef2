import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../fakes/fakeClock';

describe('FakeClock', () => {
  it('starts where told and moves only when moved', () => {
    const c = new FakeClock('2026-03-02T08:00:00Z');
    assert.equal(c.iso(), '2026-03-02T08:00:00.000Z');
    c.advance(90_000);
    assert.equal(c.iso(), '2026-03-02T08:01:30.000Z');
    c.set('2026-03-03T00:00:00Z');
    assert.equal(c.now(), Date.parse('2026-03-03T00:00:00Z'));
    c.set(0);
    assert.equal(c.now(), 0);
  });

  it('computes local time for its fixed offset, whatever the machine zone', () => {
    const ms = Date.parse('2026-03-02T23:30:00Z');
    assert.deepEqual(new FakeClock(ms).localTime(ms), { hour: 23, minute: 30 });
    assert.deepEqual(new FakeClock(ms, 120).localTime(ms), { hour: 1, minute: 30 });
    assert.deepEqual(new FakeClock(ms, -330).localTime(ms), { hour: 18, minute: 0 });
  });

  it('fires timers in due order when time passes them, and not before', () => {
    const c = new FakeClock(1_000);
    const fired: string[] = [];
    c.setTimeout(() => fired.push(`b@${c.now()}`), 200);
    c.setTimeout(() => fired.push(`a@${c.now()}`), 100);
    c.setTimeout(() => fired.push(`c@${c.now()}`), 100);
    c.advance(99);
    assert.deepEqual(fired, []);
    c.advance(1);
    assert.deepEqual(fired, ['a@1100', 'c@1100']);
    c.advance(500);
    assert.deepEqual(fired, ['a@1100', 'c@1100', 'b@1200']);
    assert.equal(c.now(), 1600);
    assert.equal(c.pendingTimers, 0);
  });

  it('disposed timers never fire; timers set by a timer fire in the same advance', () => {
    const c = new FakeClock(0);
    const fired: number[] = [];
    const t = c.setTimeout(() => fired.push(-1), 50);
    t.dispose();
    c.setTimeout(() => {
      fired.push(c.now());
      c.setTimeout(() => fired.push(c.now()), 10);
    }, 20);
    c.advance(100);
    assert.deepEqual(fired, [20, 30]);
  });

  it('set() forward fires due timers, backward fires none', () => {
    const c = new FakeClock(10_000);
    let n = 0;
    c.setTimeout(() => n++, 1_000);
    c.set(5_000);
    assert.equal(n, 0);
    c.set(20_000);
    assert.equal(n, 1);
  });

  it('refuses bad times', () => {
    assert.throws(() => new FakeClock('not a time'));
    assert.throws(() => new FakeClock(0).advance(-1));
  });
});
