import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import { describe, it } from 'node:test';
import {
  GENESIS_HASH,
  canonicalJson,
  canonicalOrdered,
  computeEventHash,
  orderEvent,
  sealEvent,
} from '../../../src/core/audit/chain';
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

  it("the write path's hand-ordered canonical form equals the generic one verify uses, for every shape", () => {
    const clients = [
      null,
      {},
      { name: 'claude-code' },
      { version: '1.2.3', name: 'x' },
      { conversation_id: 'c-1', name: 'Copilot', version: '1' },
      { name: 'quote"back\\slash\u2028é\u0000' },
    ];
    const rulesOptions = [undefined, [], ['unusual_hours'], ['burst', 'probing']];
    let n = 0;
    for (const client of clients) {
      for (const rules of rulesOptions) {
        for (const version of [null, 0, 7, Number.NaN]) {
          const input = {
            ...sampleInput(n++),
            client,
            rules,
            version,
            reason: n % 2 ? null : 'line\nbreak "quoted" ✓',
            ts: '2026-03-02T03:12:00.000Z',
          };
          const unsealed = orderEvent(input, crypto.randomBytes(32).toString('hex'));
          assert.equal(canonicalOrdered(unsealed), canonicalJson(unsealed));
          const sealed = sealEvent(input, unsealed.prev_hash);
          assert.equal(sealed.hash, computeEventHash(sealed), 'verify recomputes the same hash');
          // And after a round trip through the written line, as verify reads it.
          assert.equal(
            computeEventHash(JSON.parse(JSON.stringify(sealed)) as Record<string, unknown>),
            sealed.hash,
          );
        }
      }
    }
  });
});
