/**
 * `.env` parsing (values exactly as dotenv reads them, keys located by line) and the rewrite that
 * moves imported keys out: every other line byte for byte, with quotes, `export`, comments,
 * multi-line values and CRLF. Values never appear in errors or in the rewritten file.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse as dotenvParse } from 'dotenv';
import {
  defaultCredentialName,
  movedComment,
  parseEnv,
  removeKeys,
} from '../../../src/core/importEnv/envFile';
import { InvalidInputError } from '../../../src/core/errors';
import { canary } from '../store/tmpStore';

const A = canary('a');
const B = canary('b');
const C = canary('c');
const D = canary('d');

const SAMPLE = [
  '# app settings',
  'NODE_ENV=production',
  '',
  `export SCAVIO_API_KEY=${A} # search`,
  `QUOTED="${B} with spaces"`,
  `SINGLE='${C}'`,
  `MULTI="line one`,
  `${D}`,
  `line three"`,
  'EMPTY=',
  '  INDENTED = value  ',
  'COLON: yes',
  '# trailing comment',
  '',
].join('\n');

test("parseEnv gives dotenv's values, keys in order with lines, empties flagged", () => {
  const p = parseEnv(SAMPLE);
  const expected = dotenvParse(SAMPLE);
  assert.deepEqual(
    p.keys.map((k) => k.key),
    Object.keys(expected),
  );
  for (const k of p.keys) {
    assert.equal(p.value(k.key)?.reveal(), expected[k.key], k.key);
  }
  const line = (key: string): number | undefined => p.keys.find((k) => k.key === key)?.line;
  assert.equal(line('NODE_ENV'), 2);
  assert.equal(line('SCAVIO_API_KEY'), 4);
  assert.equal(line('MULTI'), 7);
  assert.equal(line('INDENTED'), 11);
  assert.equal(p.keys.find((k) => k.key === 'EMPTY')?.empty, true);
  assert.equal(String(p.value('SCAVIO_API_KEY')), '[redacted]');
  assert.ok(!JSON.stringify(p.keys).includes(A));
});

test('removeKeys replaces each moved definition (all its lines) with a comment; the rest is byte for byte', () => {
  const out = removeKeys(SAMPLE, [
    { key: 'SCAVIO_API_KEY', credential: 'scavio_api_key' },
    { key: 'MULTI', credential: 'multi' },
    { key: 'SINGLE', credential: 'single' },
  ]);
  const expected = SAMPLE.replace(
    `export SCAVIO_API_KEY=${A} # search`,
    movedComment('SCAVIO_API_KEY', 'scavio_api_key'),
  )
    .replace(`MULTI="line one\n${D}\nline three"`, movedComment('MULTI', 'multi'))
    .replace(`SINGLE='${C}'`, movedComment('SINGLE', 'single'));
  assert.equal(out, expected);
  assert.ok(out.includes("# SCAVIO_API_KEY moved to Agent Keyring as 'scavio_api_key'"));
  for (const v of [A, C, D]) {
    assert.ok(!out.includes(v));
  }
  assert.ok(out.includes(B), 'a key not moved keeps its value');
  const left = dotenvParse(out);
  assert.deepEqual(Object.keys(left).sort(), ['COLON', 'EMPTY', 'INDENTED', 'NODE_ENV', 'QUOTED']);
});

test('CRLF files: CRLF kept on every line, including the comment', () => {
  const crlf = SAMPLE.replace(/\n/g, '\r\n');
  const p = parseEnv(crlf);
  assert.equal(p.value('QUOTED')?.reveal(), `${B} with spaces`);
  const out = removeKeys(crlf, [{ key: 'QUOTED', credential: 'quoted' }]);
  assert.equal(out, crlf.replace(`QUOTED="${B} with spaces"`, movedComment('QUOTED', 'quoted')));
  assert.ok(!/[^\r]\n/.test(out));
});

test('a key defined twice: both definitions go (dotenv would otherwise fall back to the other)', () => {
  const text = `K=${A}\nOTHER=1\nK=${B}\n`;
  assert.equal(parseEnv(text).value('K')?.reveal(), dotenvParse(text).K);
  assert.equal(
    removeKeys(text, [{ key: 'K', credential: 'k' }]),
    `${movedComment('K', 'k')}\nOTHER=1\n${movedComment('K', 'k')}\n`,
  );
});

test('no final newline, comment right after a value, a key that is not there', () => {
  const text = `A=${A}\n# note\nB=${B}`;
  assert.equal(
    removeKeys(text, [{ key: 'A', credential: 'a' }]),
    `${movedComment('A', 'a')}\n# note\nB=${B}`,
  );
  assert.equal(
    removeKeys(text, [{ key: 'B', credential: 'b' }]),
    `A=${A}\n# note\n${movedComment('B', 'b')}`,
  );
  assert.throws(
    () => removeKeys(text, [{ key: 'MISSING', credential: 'm' }]),
    (e: unknown) => e instanceof InvalidInputError && !e.message.includes(A) && /MISSING/.test(e.message),
  );
});

test('defaultCredentialName: lower case, valid id', () => {
  assert.equal(defaultCredentialName('SCAVIO_API_KEY'), 'scavio_api_key');
  assert.equal(defaultCredentialName('_PRIVATE.Key-1'), 'private.key-1');
  assert.equal(defaultCredentialName('X'.repeat(80)), 'x'.repeat(64));
  assert.equal(defaultCredentialName('___'), 'imported_key');
});
