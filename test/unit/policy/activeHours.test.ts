import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isWithinActiveHours, parseActiveHours } from '../../../src/core/policy/activeHours';
import { InvalidInputError } from '../../../src/core/errors';

const at = (hhmm: string) => {
  const [h, m] = hhmm.split(':').map(Number);
  return { hour: h, minute: m };
};

describe('parseActiveHours', () => {
  it('parses a plain window as start-inclusive, end-exclusive minutes', () => {
    const w = parseActiveHours('08:00-20:00');
    assert.equal(w.startMinute, 8 * 60);
    assert.equal(w.endMinute, 20 * 60);
    assert.equal(w.always, false);
    assert.equal(w.wrapsMidnight, false);
    assert.equal(w.text, '08:00-20:00');
  });

  it('accepts spaces around the dash and a one-digit hour', () => {
    const w = parseActiveHours(' 8:30 - 17:45 ');
    assert.equal(w.startMinute, 8 * 60 + 30);
    assert.equal(w.endMinute, 17 * 60 + 45);
    assert.equal(w.text, '8:30 - 17:45');
  });

  it('treats 00:00-24:00 as always', () => {
    const w = parseActiveHours('00:00-24:00');
    assert.equal(w.always, true);
    for (const t of ['00:00', '03:00', '12:00', '23:59']) {
      assert.equal(isWithinActiveHours(w, at(t)), true, t);
    }
  });

  for (const bad of [
    '',
    'always',
    '8-20',
    '08:00',
    '08:00-',
    '0800-2000',
    '08:00-20:00-22:00',
    '25:00-26:00',
    '08:60-09:00',
    '24:00-08:00',
    '08:00-24:01',
    '08:00-08:00',
    '00:00-00:00',
    '-1:00-08:00',
  ]) {
    it(`rejects '${bad}' with InvalidInputError naming the expected format`, () => {
      assert.throws(
        () => parseActiveHours(bad),
        (e: unknown) => {
          assert.ok(e instanceof InvalidInputError);
          assert.equal(e.code, 'invalid_input');
          assert.match(e.message, /HH:MM-HH:MM/);
          assert.match(e.message, /08:00-20:00/);
          return true;
        },
      );
    });
  }

  it('says why an equal start and end is refused and what to use instead', () => {
    assert.throws(() => parseActiveHours('09:00-09:00'), /00:00-24:00 for always/);
  });

  it('refuses non-strings without crashing', () => {
    assert.throws(() => parseActiveHours(42 as unknown as string), InvalidInputError);
  });
});

describe('isWithinActiveHours', () => {
  it('08:00-20:00: 07:59 out, 08:00 in, 19:59 in, 20:00 out', () => {
    const w = parseActiveHours('08:00-20:00');
    assert.equal(isWithinActiveHours(w, at('07:59')), false);
    assert.equal(isWithinActiveHours(w, at('08:00')), true);
    assert.equal(isWithinActiveHours(w, at('12:30')), true);
    assert.equal(isWithinActiveHours(w, at('19:59')), true);
    assert.equal(isWithinActiveHours(w, at('20:00')), false);
    assert.equal(isWithinActiveHours(w, at('03:00')), false);
    assert.equal(isWithinActiveHours(w, at('00:00')), false);
  });

  it('22:00-06:00 wraps midnight', () => {
    const w = parseActiveHours('22:00-06:00');
    assert.equal(w.wrapsMidnight, true);
    const expect: Record<string, boolean> = {
      '21:59': false,
      '22:00': true,
      '23:59': true,
      '00:00': true,
      '03:00': true,
      '05:59': true,
      '06:00': false,
      '12:00': false,
    };
    for (const [t, inside] of Object.entries(expect)) {
      assert.equal(isWithinActiveHours(w, at(t)), inside, t);
    }
  });

  it('an end of 24:00 runs to midnight; an end of 00:00 wraps to the same place', () => {
    for (const text of ['20:00-24:00', '20:00-00:00']) {
      const w = parseActiveHours(text);
      assert.equal(isWithinActiveHours(w, at('19:59')), false, text);
      assert.equal(isWithinActiveHours(w, at('20:00')), true, text);
      assert.equal(isWithinActiveHours(w, at('23:59')), true, text);
      assert.equal(isWithinActiveHours(w, at('00:00')), false, text);
    }
  });
});
