/**
 * OutputMasker: secrets (raw and the encodings redact() knows) are masked in a byte stream also
 * when an occurrence is split across chunks at any byte; other bytes pass through unchanged.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { REDACTED, redact } from '../../../src/core/audit/redact';
import { OutputMasker } from '../../../src/core/inject/outputMasker';
import { canary } from '../../helpers/testKeyring';

function collect(
  secrets: string[],
  idleFlushMs = 0,
): { masker: OutputMasker; text: () => string; bytes: () => Buffer } {
  const out: Buffer[] = [];
  const masker = new OutputMasker(secrets, (b) => out.push(Buffer.from(b)), { idleFlushMs });
  return { masker, text: () => Buffer.concat(out).toString('utf8'), bytes: () => Buffer.concat(out) };
}

describe('OutputMasker', () => {
  const secret = canary('mask');
  const forms = {
    raw: secret,
    base64: Buffer.from(secret).toString('base64'),
    uri: encodeURIComponent(`${secret}/x y`),
    basic: Buffer.from(`user:${secret}`).toString('base64'),
  };

  for (const [form, encoded] of Object.entries(forms)) {
    test(`masks the ${form} form split at every byte`, () => {
      const line = `before ${encoded} after\n`;
      const value = form === 'uri' ? `${secret}/x y` : secret;
      for (let cut = 0; cut <= line.length; cut++) {
        const { masker, text } = collect([value]);
        masker.push(Buffer.from(line.slice(0, cut)));
        masker.push(Buffer.from(line.slice(cut)));
        masker.end();
        assert.ok(!text().includes(value), `raw value at cut ${cut}`);
        assert.ok(
          !text().includes(Buffer.from(value).toString('base64').slice(0, 12)),
          `base64 at cut ${cut}`,
        );
        assert.ok(text().includes(REDACTED), `cut ${cut}: ${text()}`);
        assert.equal(text(), redact(line, [value]));
      }
    });
  }

  test('random chunking of a long stream gives exactly what redact() gives for the whole', () => {
    const secrets = [canary('a'), canary('b')];
    let whole = '';
    for (let i = 0; i < 200; i++) {
      whole += `line ${i} ${i % 7 === 0 ? secrets[i % 2] : 'nothing'} ${i % 11 === 0 ? Buffer.from(secrets[1]).toString('base64') : ''}\n`;
    }
    const bytes = Buffer.from(whole);
    for (let round = 0; round < 20; round++) {
      const { masker, text } = collect(secrets);
      let i = 0;
      while (i < bytes.length) {
        const n = 1 + (randomBytes(1)[0] % 40);
        masker.push(bytes.subarray(i, i + n));
        i += n;
      }
      masker.end();
      assert.equal(text(), redact(whole, secrets));
    }
  });

  test('binary and multi-byte UTF-8 split across chunks pass through unchanged', () => {
    const data = Buffer.concat([randomBytes(500), Buffer.from('héllo ✓ wörld\n'), randomBytes(100)]);
    const { masker, bytes } = collect([canary('x')]);
    for (let i = 0; i < data.length; i += 3) {
      masker.push(data.subarray(i, i + 3));
    }
    masker.end();
    assert.deepEqual(bytes(), data);
  });

  test('a tail held back for a possible match is flushed after the idle time (a prompt shows)', async () => {
    const { masker, text } = collect([canary('idle')], 20);
    masker.push(Buffer.from('Password: '));
    assert.equal(text(), '', 'the tail is held at first');
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(text(), 'Password: ');
  });

  test('a newline releases the text before it at once', () => {
    const { masker, text } = collect([canary('nl')]);
    masker.push(Buffer.from('ready\nprompt'));
    assert.equal(text(), 'ready\n');
    masker.end();
    assert.equal(text(), 'ready\nprompt');
  });
});
