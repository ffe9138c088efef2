import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { queryAuditEvents, readAuditEvents } from '../../../src/core/audit/auditReader';
import { InvalidInputError } from '../../../src/core/errors';
import type { AuditEvent } from '../../../src/core/model';
import { sampleInput, tempDir, writeChain } from './helpers';

async function collect(it: AsyncIterable<AuditEvent>): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const e of it) {
    out.push(e);
  }
  return out;
}

const START = Date.parse('2026-03-02T12:00:00Z');

describe('audit reader', () => {
  let dir: string;
  let cleanup: () => void;
  let file: string;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    file = path.join(dir, 'audit.jsonl');
  });
  afterEach(() => cleanup());

  it('streams every event, tolerates a missing file and skips lines that are not events', async () => {
    assert.deepEqual(await collect(readAuditEvents(path.join(dir, 'missing.jsonl'))), []);
    const events = writeChain(file, 12);
    fs.appendFileSync(file, 'garbage\n{"no":"event"}\n\n');
    assert.deepEqual(await collect(readAuditEvents(file)), events);
  });

  it('filters by agent, credential, decision and time range', async () => {
    const events = writeChain(file, 60);
    const by = async (f: Parameters<typeof readAuditEvents>[1]): Promise<AuditEvent[]> =>
      collect(readAuditEvents(file, f));
    assert.deepEqual(
      await by({ agent_id: 'agent-2' }),
      events.filter((e) => e.agent_id === 'agent-2'),
    );
    assert.deepEqual(
      await by({ credential: 'cred-4' }),
      events.filter((e) => e.credential === 'cred-4'),
    );
    assert.deepEqual(
      await by({ decision: 'deny' }),
      events.filter((e) => e.decision === 'deny'),
    );
    assert.deepEqual(await by({ decision: ['deny', 'allow'] }), events);
    assert.deepEqual(await by({ since: START + 10_000, until: START + 20_000 }), events.slice(10, 20));
    assert.deepEqual(
      await by({ agent_id: 'agent-0', credential: 'cred-0', decision: 'deny' }),
      events.filter((e) => e.agent_id === 'agent-0' && e.credential === 'cred-0' && e.decision === 'deny'),
    );
    assert.deepEqual(await by({ agent_id: 'nobody' }), []);
  });

  it("the agent filter also finds a person's own changes (actor vscode-user / cli), not an agent's client program", async () => {
    const events = writeChain(file, 9, START, (i) =>
      i % 3 === 0
        ? sampleInput(i, {
            agent_id: i === 3 ? 'agent-1' : null,
            tool: i === 3 ? 'add_agent' : 'add_credential',
            decision: i === 3 ? 'agent_added' : 'created',
            code: null,
            client: { name: 'vscode-user' },
          })
        : sampleInput(i),
    );
    const mine = await collect(readAuditEvents(file, { agent_id: 'vscode-user' }));
    assert.deepEqual(
      mine.map((e) => e.tool),
      ['add_credential', 'add_agent', 'add_credential'],
    );
    assert.deepEqual(
      await collect(readAuditEvents(file, { agent_id: 'claude-code' })),
      [],
      'a client program is no actor',
    );
    const agent1 = await collect(readAuditEvents(file, { agent_id: 'agent-1' }));
    assert.deepEqual(
      agent1,
      events.filter((e) => e.agent_id === 'agent-1'),
      'an agent still finds rows about it',
    );
  });

  it('pages oldest-first and newest-first with the right totals', async () => {
    const events = writeChain(file, 50);
    let r = await queryAuditEvents(file, {}, { offset: 0, limit: 10 });
    assert.equal(r.total, 50);
    assert.deepEqual(r.events, events.slice(0, 10));
    r = await queryAuditEvents(file, {}, { offset: 45, limit: 10 });
    assert.deepEqual(r.events, events.slice(45));
    r = await queryAuditEvents(file, {}, { offset: 0, limit: 5, newestFirst: true });
    assert.deepEqual(r.events, events.slice(45).reverse());
    r = await queryAuditEvents(file, {}, { offset: 47, limit: 10, newestFirst: true });
    assert.deepEqual(r.events, events.slice(0, 3).reverse());
    r = await queryAuditEvents(file, {}, { offset: 60, limit: 10, newestFirst: true });
    assert.deepEqual(r, { total: 50, events: [] });
    const denied = events.filter((e) => e.decision === 'deny');
    r = await queryAuditEvents(file, { decision: 'deny' }, { offset: 1, limit: 2, newestFirst: true });
    assert.equal(r.total, denied.length);
    assert.deepEqual(r.events, denied.slice(-3, -1).reverse());
    assert.deepEqual(await queryAuditEvents(path.join(dir, 'none.jsonl'), {}, {}), { total: 0, events: [] });
  });

  it('rejects a bad page request', async () => {
    await assert.rejects(
      queryAuditEvents(file, {}, { limit: 0 }),
      (e: unknown) => e instanceof InvalidInputError,
    );
    await assert.rejects(
      queryAuditEvents(file, {}, { offset: -1 }),
      (e: unknown) => e instanceof InvalidInputError,
    );
    await assert.rejects(
      queryAuditEvents(file, {}, { limit: 1.5 }),
      (e: unknown) => e instanceof InvalidInputError,
    );
  });

  it('pages 100k events (newest first, filtered and not)', async (t) => {
    const N = 100_000;
    const events = writeChain(
      file,
      N,
      START,
      (i) => sampleInput(i, { reason: `request ${i} with a reason of ordinary length` }),
      true,
    );
    t.diagnostic(`file: ${(fs.statSync(file).size / 1e6).toFixed(1)} MB`);

    let t0 = performance.now();
    const page = await queryAuditEvents(file, {}, { offset: 0, limit: 100, newestFirst: true });
    t.diagnostic(`100k lines, newest-first page of 100: ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(page.total, N);
    assert.deepEqual(page.events[0], events[N - 1]);
    assert.deepEqual(page.events[99], events[N - 100]);

    t0 = performance.now();
    const filtered = await queryAuditEvents(
      file,
      { agent_id: 'agent-1', decision: 'deny' },
      { offset: 200, limit: 50 },
    );
    t.diagnostic(`100k lines, filtered page: ${(performance.now() - t0).toFixed(0)} ms`);
    const expected = events.filter((e) => e.agent_id === 'agent-1' && e.decision === 'deny');
    assert.equal(filtered.total, expected.length);
    assert.deepEqual(filtered.events, expected.slice(200, 250));
  });
});
