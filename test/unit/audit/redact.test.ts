import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { REDACTED, maskTrailingPrefix, redact, redactError } from '../../../src/core/audit/redact';
import { InvalidInputError } from '../../../src/core/errors';

/** Every encoded form of a secret that must not survive redaction. */
function forms(secret: string): string[] {
  const b64 = Buffer.from(secret).toString('base64');
  return [
    secret,
    encodeURIComponent(secret),
    encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    encodeURIComponent(secret).replace(/%20/g, '+'),
    b64,
    b64.replace(/=+$/, ''),
    b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
  ];
}

/** True when some base64 run in `text`, decoded at any alignment, holds 6+ consecutive bytes of the secret. */
function leaksViaBase64(text: string, secret: string): boolean {
  const bytes = Buffer.from(secret);
  const windows: Buffer[] = [];
  for (let i = 0; i + 6 <= bytes.length; i++) {
    windows.push(bytes.subarray(i, i + 6));
  }
  for (const run of text.match(/[A-Za-z0-9+/]{4,}/g) ?? []) {
    for (let shift = 0; shift < 4; shift++) {
      const decoded = Buffer.from(run.slice(shift), 'base64');
      if (windows.some((w) => decoded.includes(w))) {
        return true;
      }
    }
  }
  return false;
}

describe('redact', () => {
  const CANARY = 'canary-' + crypto.randomUUID();
  // Characters that change under URL and base64 encoding.
  const SPICY = `c@n/ary+${crypto.randomUUID()}=&? é`;

  for (const secret of [CANARY, SPICY]) {
    it(`removes the raw, URL-encoded and base64 forms (${secret === CANARY ? 'plain' : 'special characters'})`, () => {
      for (const form of forms(secret)) {
        const text = `before ${form} middle ${form}after`;
        const out = redact(text, [secret]);
        assert.ok(!out.includes(form), `form survived: ${out}`);
        assert.ok(!out.includes(secret));
        assert.ok(out.startsWith('before [REDACTED] middle [REDACTED]'), out);
      }
    });

    it(`removes the secret base64-encoded inside a larger value, at every byte offset (${secret === CANARY ? 'plain' : 'special'})`, () => {
      for (const user of ['u', 'us', 'usr', 'user']) {
        const basic = Buffer.from(`${user}:${secret}`).toString('base64');
        const out = redact(`Authorization: Basic ${basic}`, [secret]);
        assert.ok(out.includes(REDACTED), out);
        assert.ok(!leaksViaBase64(out, secret), out);
        assert.ok(
          leaksViaBase64(`Authorization: Basic ${basic}`, secret),
          'the check itself must see the unredacted header',
        );
      }
    });
  }

  it('redacts several secrets and leaves other text alone', () => {
    const a = 'canary-' + crypto.randomUUID();
    const b = 'canary-' + crypto.randomUUID();
    assert.equal(redact(`x ${a} y ${b} z`, [a, b]), 'x [REDACTED] y [REDACTED] z');
    assert.equal(redact('nothing to see', [a]), 'nothing to see');
    assert.equal(redact('abc abc', ['abc']), 'abc abc', 'secrets under 4 characters are ignored');
    assert.equal(redact('abcd', ['abcd']), REDACTED);
    assert.equal(redact('text', []), 'text');
  });

  it('treats regex characters in a secret literally', () => {
    const s = 'a.b*c(d)[e]$^|\\';
    assert.equal(redact(`<${s}> axbxxc`, [s]), '<[REDACTED]> axbxxc');
  });
});

describe('redactError', () => {
  it('returns a safe message with name, code and cause, the canary removed in every form', () => {
    const CANARY = 'canary-' + crypto.randomUUID();
    const e = new Error(`upstream said ${CANARY} and ${Buffer.from(CANARY).toString('base64')}`, {
      cause: new Error(`because ${encodeURIComponent(CANARY)}`),
    });
    (e as NodeJS.ErrnoException).code = 'ECONNRESET';
    const msg = redactError(e, [CANARY]);
    assert.ok(!msg.includes(CANARY));
    assert.ok(!msg.includes(Buffer.from(CANARY).toString('base64')));
    assert.match(
      msg,
      /^Error \[ECONNRESET\]: upstream said \[REDACTED\] and \[REDACTED\] \(cause: Error: because \[REDACTED\]\)$/,
    );
    assert.ok(!msg.includes('at '), 'no stack trace');
  });

  it('handles typed errors, strings, objects and junk', () => {
    const CANARY = 'canary-' + crypto.randomUUID();
    assert.match(
      redactError(new InvalidInputError(`bad ${CANARY}`), [CANARY]),
      /^InvalidInputError \[invalid_input\]: bad \[REDACTED\]$/,
    );
    assert.equal(redactError(`plain ${CANARY}`, [CANARY]), 'plain [REDACTED]');
    assert.equal(redactError({ detail: CANARY }, [CANARY]), '{"detail":"[REDACTED]"}');
    assert.equal(redactError(undefined, [CANARY]), 'undefined');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    assert.equal(redactError(circular, []), '[object Object]');
  });
});

describe('redact: forms an echoing upstream produces (issue #10)', () => {
  const secret = `Sk/${crypto.randomUUID()}+Zz`;

  it('JSON escaping with \\/, hex in either case, upper- and lower-cased copies', () => {
    const hex = Buffer.from(secret).toString('hex');
    const text = [
      JSON.stringify({ key: secret }).replace(/\//g, '\\/'),
      hex,
      hex.toUpperCase(),
      secret.toUpperCase(),
      secret.toLowerCase(),
      JSON.stringify(`é${secret}`).replace(
        /[^\x20-\x7e]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
      ),
    ].join('\n');
    const out = redact(text, [secret]);
    const lower = out.toLowerCase();
    assert.ok(!lower.includes(secret.toLowerCase()), out);
    assert.ok(!lower.includes(hex), out);
    assert.ok(!out.includes(secret.replace(/\//g, '\\/')), out);
    assert.equal(out.split(REDACTED).length - 1, 6, out);
  });

  it('maskTrailingPrefix masks the start of a key form at the end of a cut text', () => {
    const cut = `${'a'.repeat(50)}${secret.slice(0, 9)}`;
    assert.equal(maskTrailingPrefix(cut, [secret]), `${'a'.repeat(50)}${REDACTED}`);
    const hexCut = `x${Buffer.from(secret).toString('hex').slice(0, 11).toUpperCase()}`;
    assert.equal(maskTrailingPrefix(hexCut, [secret]), `x${REDACTED}`);
    // Text that merely ends like ordinary text is kept.
    assert.equal(maskTrailingPrefix('hello world', [secret]), 'hello world');
    assert.equal(
      maskTrailingPrefix(`${secret.slice(0, 2)}`, [secret]),
      secret.slice(0, 2),
      'under 3 characters',
    );
  });
});
