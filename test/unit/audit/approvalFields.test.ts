/**
 * The audit line's `approval` (who decided a held request) and `refusal` (the refusal text beside
 * the agent's own reason) are optional and absent unless set, so logs written before they existed
 * still verify, and keep chaining when today's code appends to them. The fixtures under
 * test/fixtures/audit-before-approval/ were written by AuditLog as it was before these fields
 * (keyed and plain SHA-256 chains, each with its .head), under the key TEST_KEY.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { AuditLog } from '../../../src/core/audit/auditLog';
import {
  canonicalJson,
  canonicalOrdered,
  computeEventHash,
  deriveChainKey,
  orderEvent,
  sealEvent,
} from '../../../src/core/audit/chain';
import { verifyAuditFile } from '../../../src/core/audit/verify';
import { APPROVAL_OUTCOMES } from '../../../src/core/model';
import { FakeClock } from '../../fakes/fakeClock';
import { RecordingLogger } from '../../fakes/recordingLogger';
import { TEST_KEY, readLinesSync, sampleInput, tempDir } from './helpers';

const FIXTURES = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'audit-before-approval');
const chainKeys = [deriveChainKey(TEST_KEY)];

describe('audit lines with approval / refusal (backward compatible)', () => {
  let cleanup: (() => void) | undefined;
  afterEach(() => {
    cleanup?.();
    cleanup = undefined;
  });

  for (const kind of ['keyed', 'plain'] as const) {
    it(`a ${kind} log written before the fields existed verifies, and still does after today's appends`, async () => {
      const fixture = path.join(FIXTURES, `${kind}.jsonl`);
      const before = await verifyAuditFile(fixture, undefined, { chainKeys });
      assert.equal(before.ok, true, JSON.stringify(before.firstBad));
      assert.equal(before.count, 4);
      assert.ok(
        readLinesSync(fixture).every((l) => !('approval' in (JSON.parse(l) as object))),
        'the fixture predates the fields',
      );

      const t = tempDir();
      cleanup = t.cleanup;
      const file = path.join(t.dir, 'audit.jsonl');
      fs.copyFileSync(fixture, file);
      fs.copyFileSync(`${fixture}.head`, `${file}.head`);
      const log = await AuditLog.open({
        path: file,
        hmacKey: TEST_KEY,
        clock: new FakeClock('2026-12-02T10:00:00Z'),
        logger: new RecordingLogger(),
        keyedChain: kind === 'keyed',
      });
      try {
        await log.append(
          sampleInput(1, {
            decision: 'deny',
            code: 'approval_denied',
            reason: 'publish v2.0.0',
            refusal: "The user denied 'publish' on 'cred-1'.",
            approval: 'deny',
          }),
        );
        await log.append(sampleInput(2, { decision: 'approved', approval: 'once' }));
        await log.append(sampleInput(3)); // no approval: no field
        await log.flush();
      } finally {
        log.dispose();
      }
      const lines = readLinesSync(file).map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(lines.length, 7);
      assert.equal(lines[4].approval, 'deny');
      assert.equal(lines[4].reason, 'publish v2.0.0');
      assert.equal(lines[4].refusal, "The user denied 'publish' on 'cred-1'.");
      assert.equal(lines[5].approval, 'once');
      assert.equal('approval' in lines[6], false);
      assert.equal('refusal' in lines[6], false);
      const after = await verifyAuditFile(file, undefined, { chainKeys });
      assert.equal(after.ok, true, JSON.stringify(after.firstBad));
      assert.equal(after.count, 7);

      // The new fields are covered by the hash: editing one is detected.
      const edited = readLinesSync(file);
      edited[4] = edited[4].replace('"approval":"deny"', '"approval":"once"');
      fs.writeFileSync(file, edited.map((l) => `${l}\n`).join(''));
      const tampered = await verifyAuditFile(file, undefined, { chainKeys });
      assert.equal(tampered.ok, false);
      assert.equal(tampered.firstBad?.line, 5);
    });
  }

  it("the write path's canonical form equals verify's for every approval outcome, with and without refusal", () => {
    for (const approval of [undefined, ...APPROVAL_OUTCOMES]) {
      for (const refusal of [undefined, 'refused: "quoted"\nnext line']) {
        const input = { ...sampleInput(7, { approval, refusal }), ts: '2026-12-02T10:00:00.000Z' };
        const unsealed = orderEvent(input, '0'.repeat(64));
        assert.equal(canonicalOrdered(unsealed), canonicalJson(unsealed));
        const sealed = sealEvent(input, unsealed.prev_hash);
        assert.equal(
          sealed.hash,
          computeEventHash(JSON.parse(JSON.stringify(sealed)) as Record<string, unknown>),
        );
        assert.equal('approval' in sealed, approval !== undefined);
        assert.equal('refusal' in sealed, refusal !== undefined);
      }
    }
  });
});
