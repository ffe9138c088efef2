/**
 * The audit log's storage port (AuditStorage): the log keeps the checks, the known-secret refusal
 * and group commit; a storage takes the batch once it holds the chain head, seals it with
 * sealBatch and makes it durable. A storage in memory stands in for the database here (the real
 * one is tested against PostgreSQL in test/team/teamAudit.test.ts): what the log promises callers
 * must not depend on which storage it has.
 */
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { AuditLog } from '../../../src/core/audit/auditLog';
import { type AuditStorage, type PreparedAuditEvent, sealBatch } from '../../../src/core/audit/auditStorage';
import { type ChainKey, GENESIS_HASH, deriveChainKey, eventLine } from '../../../src/core/audit/chain';
import { ChainWalk } from '../../../src/core/audit/verify';
import { AuditUnavailableError, InvalidInputError } from '../../../src/core/errors';
import type { AuditEvent } from '../../../src/core/model';
import { FakeClock } from '../../fakes/fakeClock';
import { RecordingLogger } from '../../fakes/recordingLogger';
import { TEST_KEY, sampleInput } from './helpers';

/** Rows in memory; `gate` holds the next batch until released, `fail` makes the next batch throw. */
class MemoryStorage implements AuditStorage {
  readonly where = 'memory';
  lines: string[] = [];
  head = GENESIS_HASH;
  batches: number[] = [];
  fail: Error | undefined;
  gate: Promise<void> | undefined;
  closed = false;

  async appendBatch(
    take: () => readonly PreparedAuditEvent[],
    chainKey: ChainKey | undefined,
  ): Promise<AuditEvent[]> {
    await this.gate;
    const inputs = take();
    if (this.fail) {
      throw this.fail;
    }
    const sealed = sealBatch(inputs, this.head, chainKey);
    this.lines.push(...sealed.lines);
    this.head = sealed.head;
    this.batches.push(inputs.length);
    return sealed.events;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

async function open(storage: MemoryStorage, logger = new RecordingLogger()): Promise<AuditLog> {
  return AuditLog.open({
    storage: () => storage,
    hmacKey: TEST_KEY,
    clock: new FakeClock(Date.parse('2026-03-02T12:00:00Z')),
    logger,
    keyedChain: true,
  });
}

describe('AuditLog over a storage port', () => {
  test('events queued while a batch is written join the next batch, taken once the head is held; one keyed chain', async () => {
    const storage = new MemoryStorage();
    const log = await open(storage);
    assert.equal(log.path, undefined);
    assert.equal(log.where, 'memory');
    let release: () => void = () => undefined;
    storage.gate = new Promise((r) => (release = r));
    const seen: number[] = [];
    log.onDidAppend((events) => seen.push(events.length));
    const first = log.append(sampleInput(1));
    const rest = [2, 3, 4, 5].map((i) => log.append(sampleInput(i)));
    storage.gate = undefined;
    release();
    const events = await Promise.all([first, ...rest]);
    // All five were queued before the storage took the batch.
    assert.deepEqual(storage.batches, [5]);
    assert.deepEqual(seen, [5]);
    assert.deepEqual(
      events.map((e) => eventLine(e)),
      storage.lines,
    );
    const walk = new ChainWalk([deriveChainKey(TEST_KEY)]);
    for (const line of storage.lines) {
      assert.ok(walk.add(line), walk.firstBad?.reason);
    }
    assert.equal(walk.lastHash, storage.head);
    await log.close();
    assert.equal(storage.closed, true);
  });

  test('a storage failure refuses every caller of the batch with audit_unavailable, logged without the value', async () => {
    const storage = new MemoryStorage();
    const logger = new RecordingLogger();
    const log = await open(storage, logger);
    const secret = 'canary-storage-value-9f3a';
    log.setKnownSecrets(() => [secret]);
    storage.fail = new Error(`connection lost while holding ${secret}`);
    const results = await Promise.allSettled([log.append(sampleInput(1)), log.append(sampleInput(2))]);
    for (const r of results) {
      assert.ok(r.status === 'rejected' && r.reason instanceof AuditUnavailableError, String(r.status));
    }
    assert.equal(storage.lines.length, 0);
    const logged = logger.text();
    assert.match(logged, /could not write \d event\(s\) to memory/);
    assert.ok(!logged.includes(secret), 'the value reached the log');
    // It recovers: the next batch is written and chains from the start.
    storage.fail = undefined;
    const e = await log.append(sampleInput(3));
    assert.equal(e.prev_hash, GENESIS_HASH);
    await log.close();
  });

  test('an event holding a known secret is refused before it reaches the storage', async () => {
    const storage = new MemoryStorage();
    const log = await open(storage);
    log.setKnownSecrets(() => ['canary-known-7c1d']);
    await assert.rejects(
      log.append(sampleInput(1, { reason: 'here: canary-known-7c1d' })),
      (e) => e instanceof InvalidInputError && !e.message.includes('canary-known-7c1d'),
    );
    assert.deepEqual(storage.batches, []);
    await log.close();
  });
});
