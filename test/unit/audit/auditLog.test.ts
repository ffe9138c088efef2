import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AuditLog, FINGERPRINT_PREFIX, generateAuditKey } from '../../../src/core/audit/auditLog';
import { AUDIT_FIELDS, GENESIS_HASH, computeEventHash } from '../../../src/core/audit/chain';
import { verifyAuditFile } from '../../../src/core/audit/verify';
import { AuditUnavailableError, InvalidInputError } from '../../../src/core/errors';
import { SecretValue, type AuditEvent } from '../../../src/core/model';
import { FakeClock } from '../../fakes/fakeClock';
import { RecordingLogger } from '../../fakes/recordingLogger';
import { TEST_KEY, readLinesSync, sampleInput, tempDir } from './helpers';

describe('AuditLog', () => {
  let dir: string;
  let cleanup: () => void;
  let file: string;
  let clock: FakeClock;
  let logger: RecordingLogger;
  const open = (p = file, key: Buffer = TEST_KEY, knownSecrets?: () => Iterable<string>): Promise<AuditLog> =>
    AuditLog.open({ path: p, hmacKey: key, clock, logger, knownSecrets });

  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    file = path.join(dir, 'audit', 'audit.jsonl');
    clock = new FakeClock('2026-03-02T12:00:00Z');
    logger = new RecordingLogger();
  });
  afterEach(() => cleanup());

  it('appends a durable line with ts from the clock, fields in AuditEvent order and a valid chain', async () => {
    const log = await open();
    const e1 = await log.append(sampleInput(1));
    clock.advance(1500);
    const e2 = await log.append(
      sampleInput(2, { rules: ['first_use'], client: { name: 'x', conversation_id: 'c1' } }),
    );
    await log.close();

    assert.equal(e1.ts, '2026-03-02T12:00:00.000Z');
    assert.equal(e2.ts, '2026-03-02T12:00:01.500Z');
    assert.equal(e1.prev_hash, GENESIS_HASH);
    assert.equal(e2.prev_hash, e1.hash);
    const lines = readLinesSync(file);
    assert.equal(lines.length, 2);
    const parsed = lines.map((l) => JSON.parse(l) as AuditEvent);
    assert.deepEqual(parsed, [e1, e2]);
    // A log opened without keyedChain writes no 'chain' field (the plain SHA-256 format); the
    // optional 'approval' and 'refusal' are absent unless set.
    const optional = ['chain', 'approval', 'refusal'];
    assert.deepEqual(
      Object.keys(parsed[1]),
      AUDIT_FIELDS.filter((f) => !optional.includes(f)),
    );
    assert.deepEqual(
      Object.keys(parsed[0]),
      AUDIT_FIELDS.filter((f) => f !== 'rules' && !optional.includes(f)),
    );
    // The hash is sha256(prev_hash + '\n' + canonical JSON of the event without hash).
    const { hash, ...rest } = e2;
    const canonical = JSON.stringify(
      Object.fromEntries(
        Object.entries(rest)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, v]) => [
            k,
            v && typeof v === 'object' && !Array.isArray(v)
              ? Object.fromEntries(Object.entries(v).sort())
              : v,
          ]),
      ),
    );
    assert.equal(
      hash,
      crypto
        .createHash('sha256')
        .update(e1.hash + '\n' + canonical)
        .digest('hex'),
    );
    assert.equal(computeEventHash(e2), e2.hash);
    assert.deepEqual(await verifyAuditFile(file), { ok: true, count: 2 });
  });

  it('keeps a given ts and rejects a malformed one without writing', async () => {
    const log = await open();
    const e = await log.append(sampleInput(1, { ts: '2025-01-01T00:00:00.000Z' }));
    assert.equal(e.ts, '2025-01-01T00:00:00.000Z');
    await assert.rejects(
      log.append(sampleInput(2, { ts: 'yesterday' })),
      (err: unknown) => err instanceof InvalidInputError,
    );
    await log.close();
    assert.equal(readLinesSync(file).length, 1);
  });

  it('group-commits 1000 concurrent appends into few batches and keeps the chain valid', async (t) => {
    const log = await open();
    const batches: number[] = [];
    log.onDidAppend((events) => batches.push(events.length));
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => log.append(sampleInput(i))));
    await log.close();

    t.diagnostic(
      `1000 appends in ${batches.length} batch(es) (one write + one fsync each): ${batches.join(', ')}`,
    );
    assert.equal(
      batches.reduce((a, b) => a + b, 0),
      1000,
    );
    assert.ok(batches.length <= 10, `expected few fsync batches, got ${batches.length}`);
    // Each caller got its own event, chained in file order.
    const lines = readLinesSync(file).map((l) => JSON.parse(l) as AuditEvent);
    assert.equal(lines.length, 1000);
    assert.deepEqual(results, lines);
    assert.deepEqual(new Set(results.map((r) => r.lease_id)).size, 1000);
    assert.deepEqual(await verifyAuditFile(file), { ok: true, count: 1000 });
    const head = JSON.parse(fs.readFileSync(file + '.head', 'utf8')) as unknown;
    assert.deepEqual(head, { count: 1000, hash: lines[999].hash, size: fs.statSync(file).size });
  });

  it('continues the chain of an existing file and of another writer on the same file', async () => {
    const a = await open();
    await a.append(sampleInput(1));
    const b = await open();
    await b.append(sampleInput(2));
    await a.append(sampleInput(3));
    await Promise.all([a.append(sampleInput(4)), b.append(sampleInput(5)), a.append(sampleInput(6))]);
    await Promise.all([a.close(), b.close()]);
    const c = await open();
    await c.append(sampleInput(7));
    await c.close();
    assert.deepEqual(await verifyAuditFile(file), { ok: true, count: 7 });
  });

  it('fails closed when the folder cannot be created, and resumes once it can', async () => {
    const blocker = path.join(dir, 'blocker');
    fs.writeFileSync(blocker, 'a file where a folder should be');
    const p = path.join(blocker, 'audit.jsonl');
    const log = await open(p);
    await assert.rejects(log.append(sampleInput(1)), (err: unknown) => {
      assert.ok(err instanceof AuditUnavailableError);
      assert.equal(err.code, 'audit_unavailable');
      return true;
    });
    assert.ok(
      logger.at('error').some((l) => l.includes('could not write 1 event(s)')),
      logger.text(),
    );

    fs.rmSync(blocker);
    await log.append(sampleInput(2));
    await log.close();
    assert.deepEqual(await verifyAuditFile(p), { ok: true, count: 1 });
  });

  it('fails closed when the file is replaced by a directory mid-run; the chain stays valid after recovery', async () => {
    const log = await open();
    await Promise.all([1, 2, 3].map((i) => log.append(sampleInput(i))));
    const before = fs.readFileSync(file);

    fs.renameSync(file, file + '.moved');
    fs.mkdirSync(file);
    const failing = await Promise.allSettled([4, 5, 6].map((i) => log.append(sampleInput(i))));
    for (const r of failing) {
      assert.equal(r.status, 'rejected');
      assert.equal((r.reason as AuditUnavailableError).code, 'audit_unavailable');
    }
    assert.ok(logger.at('error').length >= 1);

    fs.rmdirSync(file);
    fs.renameSync(file + '.moved', file);
    const e7 = await log.append(sampleInput(7));
    await log.close();
    const lines = readLinesSync(file);
    assert.equal(lines.length, 4);
    assert.deepEqual(fs.readFileSync(file).subarray(0, before.length), before);
    assert.equal(e7.prev_hash, (JSON.parse(lines[2]) as AuditEvent).hash);
    assert.deepEqual(await verifyAuditFile(file), { ok: true, count: 4 });
  });

  it('a deleted audit file is not silently restarted: the new chain shows the gap', async () => {
    const log = await open();
    await log.append(sampleInput(1));
    await log.append(sampleInput(2));
    fs.rmSync(file);
    await log.append(sampleInput(3));
    await log.close();
    const r = await verifyAuditFile(file);
    assert.equal(r.ok, false);
    assert.equal(r.firstBad?.line, 1);
    assert.ok(
      logger.at('error').some((l) => l.includes('shorter than recorded')),
      logger.text(),
    );
  });

  it('dispose() writes what is queued, then refuses new events', async () => {
    const log = await open();
    const pending = [1, 2, 3].map((i) => log.append(sampleInput(i)));
    log.dispose();
    await assert.rejects(log.append(sampleInput(4)), (err: unknown) => err instanceof AuditUnavailableError);
    assert.equal((await Promise.all(pending)).length, 3);
    await log.flush();
    assert.equal(readLinesSync(file).length, 3);
  });

  it('onDidAppend fires after the batch is durable; a throwing listener is logged, not fatal', async () => {
    const log = await open();
    const seen: number[] = [];
    const sub = log.onDidAppend((events) => {
      // Durable: the lines are already in the file.
      seen.push(readLinesSync(file).length, events.length);
    });
    log.onDidAppend(() => {
      throw new Error('listener broke');
    });
    await log.append(sampleInput(1));
    sub.dispose();
    await log.append(sampleInput(2));
    await log.close();
    assert.deepEqual(seen, [1, 1]);
    assert.ok(logger.text().includes('listener broke'));
  });

  it('fingerprint is stable for one value and key, differs across keys and values', async () => {
    const log1 = await open();
    const log2 = await open(file, generateAuditKey());
    const v = new SecretValue('sk-live-1234567890');
    const f = await log1.fingerprint(v);
    assert.match(f, new RegExp(`^${FINGERPRINT_PREFIX}[0-9a-f]{64}$`));
    assert.equal(await log1.fingerprint(new SecretValue('sk-live-1234567890')), f);
    assert.notEqual(await log2.fingerprint(v), f);
    assert.notEqual(await log1.fingerprint(new SecretValue('sk-live-1234567891')), f);
    assert.equal(
      f,
      FINGERPRINT_PREFIX + crypto.createHmac('sha256', TEST_KEY).update('sk-live-1234567890').digest('hex'),
    );
    log1.dispose();
    log2.dispose();
  });

  it('rejects a short audit key', async () => {
    await assert.rejects(open(file, Buffer.alloc(8)), (err: unknown) => err instanceof InvalidInputError);
  });

  it('a key given as a promise: the log opens and appends at once, fingerprints wait for the key', async () => {
    let give!: (key: Buffer) => void;
    const keyPromise = new Promise<Buffer>((resolve) => (give = resolve));
    const log = await AuditLog.open({ path: file, hmacKey: keyPromise, clock, logger });
    await log.append(sampleInput(1)); // the hash chain needs no key
    let fingerprint: string | undefined;
    const pending = log.fingerprint(new SecretValue('sk-live-1234567890')).then((f) => (fingerprint = f));
    await new Promise((r) => setImmediate(r));
    assert.equal(fingerprint, undefined, 'waits for the key');
    give(TEST_KEY);
    await pending;
    assert.equal(
      fingerprint,
      FINGERPRINT_PREFIX + crypto.createHmac('sha256', TEST_KEY).update('sk-live-1234567890').digest('hex'),
    );
    await log.close();
  });

  it('a key promise that fails or gives a short key: fingerprints fail closed, the log says why, no value', async () => {
    const CANARY = 'canary-' + crypto.randomUUID();
    for (const hmacKey of [
      Promise.reject(new Error('SecretStorage is locked')),
      Promise.resolve(Buffer.alloc(8)),
    ]) {
      const log = await AuditLog.open({ path: file, hmacKey, clock, logger });
      await assert.rejects(
        log.fingerprint(new SecretValue(CANARY)),
        (e: unknown) => e instanceof AuditUnavailableError,
      );
      await log.close();
    }
    assert.match(
      logger.text(),
      /the audit key could not be read \(.*SecretStorage is locked.*\); credentials are refused/,
    );
    assert.match(logger.text(), /The audit key must be at least 16 random bytes/);
    assert.ok(!logger.text().includes(CANARY));
  });

  it('canary: the audit file never contains a fingerprinted value, in any form', async () => {
    const CANARY = 'canary-' + crypto.randomUUID();
    const log = await open();
    const secret = new SecretValue(CANARY);
    await log.append(
      sampleInput(1, {
        value_fingerprint: await log.fingerprint(secret),
        reason: `handed out ${String(secret)}`,
      }),
    );
    await log.close();
    const text = fs.readFileSync(file, 'utf8') + fs.readFileSync(file + '.head', 'utf8');
    for (const form of [
      CANARY,
      Buffer.from(CANARY).toString('base64'),
      Buffer.from(CANARY).toString('hex'),
    ]) {
      assert.ok(!text.includes(form), 'the audit file must not contain the value');
    }
    assert.ok(text.includes('[redacted]'));
    assert.ok(!logger.text().includes(CANARY));
  });

  it('refuses an event containing a known secret (raw, URL-encoded or base64) and writes nothing', async () => {
    const CANARY = 'canary/' + crypto.randomUUID() + '+x';
    const log = await open();
    log.setKnownSecrets(() => [CANARY, 'ab']);
    await log.append(sampleInput(0, { reason: 'mentions ab, too short to count' }));
    const forms = [
      { reason: `oops ${CANARY}` },
      { reason: `url ${encodeURIComponent(CANARY)}` },
      { client: { name: Buffer.from(CANARY).toString('base64') } },
      { rules: ['x', `r-${CANARY}`] },
    ];
    for (const f of forms) {
      await assert.rejects(log.append(sampleInput(1, f)), (err: unknown) => {
        assert.ok(err instanceof InvalidInputError);
        assert.ok(!err.message.includes(CANARY));
        assert.ok(!JSON.stringify(err.details).includes(CANARY));
        return true;
      });
    }
    await log.close();
    assert.equal(readLinesSync(file).length, 1);
    assert.ok(!fs.readFileSync(file, 'utf8').includes(CANARY));
  });

  it('redacts known secrets from its own log lines', async () => {
    const CANARY = 'canary-' + crypto.randomUUID();
    // A folder named after the secret (absurd, but it puts the value into the fs error text).
    const blocker = path.join(dir, CANARY);
    fs.writeFileSync(blocker, 'file');
    const log = await open(path.join(blocker, 'audit.jsonl'), TEST_KEY, () => [CANARY]);
    await assert.rejects(log.append(sampleInput(1)), (err: unknown) => err instanceof AuditUnavailableError);
    log.dispose();
    assert.ok(logger.at('error').length > 0);
    assert.ok(!logger.text().includes(CANARY), logger.text());
    assert.ok(logger.text().includes('[REDACTED]'));
  });

  it('a write failure leaves the in-memory head untouched (no gap after recovery)', async () => {
    const log = await open();
    await log.append(sampleInput(1));
    // Make the sidecar's temp name a directory? No: break the audit file itself, twice in a row.
    fs.renameSync(file, file + '.x');
    fs.mkdirSync(file);
    await assert.rejects(log.append(sampleInput(2)));
    await assert.rejects(log.append(sampleInput(3)));
    fs.rmdirSync(file);
    fs.renameSync(file + '.x', file);
    const [e4, e5] = await Promise.all([log.append(sampleInput(4)), log.append(sampleInput(5))]);
    await log.close();
    assert.equal(e5.prev_hash, e4.hash);
    assert.deepEqual(
      readLinesSync(file).map((l) => (JSON.parse(l) as AuditEvent).lease_id),
      ['lease-1', 'lease-4', 'lease-5'],
    );
    assert.deepEqual(await verifyAuditFile(file), { ok: true, count: 3 });
  });

  it('a file whose last line was cut off mid-write gets a newline before the next line', async () => {
    const log = await open();
    await log.append(sampleInput(1));
    fs.appendFileSync(file, '{"ts":"2026-03-02T12:00:0');
    await log.append(sampleInput(2));
    await log.close();
    const lines = readLinesSync(file);
    assert.equal(lines.length, 3);
    assert.doesNotThrow(() => JSON.parse(lines[2]));
    const r = await verifyAuditFile(file);
    assert.equal(r.ok, false);
    assert.equal(r.firstBad?.line, 2);
    assert.match(r.firstBad.reason, /not valid JSON/);
  });

  it('fails closed when the known-secrets provider throws, and survives a throwing logger', async () => {
    const log = await open(file, TEST_KEY, () => {
      throw new Error('keychain locked');
    });
    await assert.rejects(log.append(sampleInput(1)), (err: unknown) => err instanceof AuditUnavailableError);
    assert.ok(logger.text().includes('keychain locked'));
    await log.close();
    assert.ok(!fs.existsSync(file));

    const throwing = new RecordingLogger();
    throwing.error = () => {
      throw new Error('logger down');
    };
    const blocker = path.join(dir, 'blocker');
    fs.writeFileSync(blocker, '');
    const log2 = await AuditLog.open({
      path: path.join(blocker, 'a.jsonl'),
      hmacKey: TEST_KEY,
      clock,
      logger: throwing,
    });
    await assert.rejects(log2.append(sampleInput(2)), (err: unknown) => err instanceof AuditUnavailableError);
    await log2.close();
  });

  it('rebuilds a missing .head from the file (last line longer than one read chunk) and keeps chaining', async () => {
    const log = await open();
    await log.append(sampleInput(1));
    await log.append(sampleInput(2, { reason: 'x'.repeat(200_000) }));
    await log.close();
    fs.rmSync(file + '.head');
    const again = await open();
    const e3 = await again.append(sampleInput(3));
    await again.close();
    const lines = readLinesSync(file);
    assert.equal(e3.prev_hash, (JSON.parse(lines[1]) as AuditEvent).hash);
    assert.deepEqual(JSON.parse(fs.readFileSync(file + '.head', 'utf8')) as unknown, {
      count: 3,
      hash: e3.hash,
      size: fs.statSync(file).size,
    });
    assert.deepEqual(await verifyAuditFile(file), { ok: true, count: 3 });
  });
});
