import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { GENESIS_HASH, canonicalJson, computeEventHash, sealEvent } from '../../../src/core/audit/chain';
import { sampleInput } from './helpers';

describe('audit chain', () => {
  it('canonicalJson sorts keys recursively, drops undefined members and has no whitespace', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [3, { z: 1, y: null }], c: 'x' }, u: undefined }),
      '{"a":{"c":"x","d":[3,{"y":null,"z":1}]},"b":1}',
    );
    assert.equal(canonicalJson([undefined, NaN, 'é"\n']), '[null,null,"é\\"\\n"]');
    assert.equal(canonicalJson(null), 'null');
  });

  it('the hash is sha256(prev_hash + "\\n" + canonical JSON without hash), independent of key order', () => {
    const e = sealEvent({ ...sampleInput(1), ts: '2026-03-02T12:00:00.000Z' }, GENESIS_HASH);
    const { hash, ...rest } = e;
    const expected = crypto
      .createHash('sha256')
      .update(GENESIS_HASH + '\n' + canonicalJson(rest))
      .digest('hex');
    assert.equal(hash, expected);
    const reversed = Object.fromEntries(Object.entries(e).reverse());
    assert.equal(computeEventHash(reversed), hash);
    assert.notEqual(computeEventHash({ ...e, reason: 'other' }), hash);
    assert.notEqual(computeEventHash({ ...e, prev_hash: 'f'.repeat(64) }), hash);
  });

  it('sealEvent drops members outside AuditEvent and fills nulls', () => {
    const input = {
      ...sampleInput(1),
      ts: '2026-03-02T12:00:00.000Z',
      extra: 'dropped',
      code: undefined,
    } as unknown as Parameters<typeof sealEvent>[0];
    const e = sealEvent(input, GENESIS_HASH);
    assert.equal('extra' in e, false);
    assert.equal(e.code, null);
    assert.equal('rules' in e, false);
  });
});
