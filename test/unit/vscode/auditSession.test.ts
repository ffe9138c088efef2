/**
 * The Audit view's session logic (no `vscode` import) in plain Node: a live refresh that comes due
 * while the user's query with a new filter is running must not supersede it with the old filter.
 * setTimeout is mocked so the refresh timer fires exactly while that query is in flight; the
 * queries themselves read a real audit file.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { FileAuditSource } from '../../../src/core/audit/auditSource';
import { GENESIS_HASH, eventLine, sealEvent } from '../../../src/core/audit/chain';
import type { AuditEvent } from '../../../src/core/model';
import { AuditViewSession, toRow } from '../../../src/vscode/webview/auditSession';
import type { ExtensionMessage } from '../../../src/vscode/webview/messages';
import { RecordingLogger } from '../../fakes/recordingLogger';

type Page = Extract<ExtensionMessage, { type: 'page' }>;

function event(i: number, ts: number, prev: string): AuditEvent {
  return sealEvent(
    {
      ts: new Date(ts).toISOString(),
      agent_id: `a${i % 5}`,
      claimed_agent_id: null,
      credential: 'c1',
      scope: 'read',
      tool: 'get_credential',
      decision: 'allow',
      code: null,
      reason: `#${i}`,
      lease_id: null,
      version: 1,
      value_fingerprint: null,
      client: null,
      rules: [],
    },
    prev,
  );
}

/** Lets real I/O and promise callbacks run (setImmediate is not mocked) until `done()` or a cap. */
async function settle(done: () => boolean): Promise<void> {
  for (let i = 0; i < 5000 && !done(); i++) {
    await new Promise((r) => setImmediate(r));
  }
}

describe('audit view session', () => {
  let dir: string;
  let auditPath: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-audit-session-'));
    auditPath = path.join(dir, 'audit.jsonl');
    let prev = GENESIS_HASH;
    const lines: string[] = [];
    const start = Date.now() - 3_000 * 1000;
    for (let i = 0; i < 3_000; i++) {
      const e = event(i, start + i * 1000, prev);
      prev = e.hash;
      lines.push(eventLine(e));
    }
    fs.writeFileSync(auditPath, lines.join('\n') + '\n');
  });

  afterEach(() => {
    mock.timers.reset();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a live refresh due during the user’s new-filter query waits for it and keeps its filter', async () => {
    const listeners = new Set<(e: AuditEvent[]) => void>();
    const posts: ExtensionMessage[] = [];
    const session = new AuditViewSession(
      {
        audit: {
          onDidAppend: (l) => {
            listeners.add(l);
            return { dispose: () => listeners.delete(l) };
          },
        },
        source: new FileAuditSource(auditPath),
        logger: new RecordingLogger(),
        options: () => Promise.resolve({ agents: ['a0', 'a1'], credentials: ['c1'] }),
        verify: () => Promise.reject(new Error('not used')),
        export: () => Promise.reject(new Error('not used')),
      },
      (m) => posts.push(m),
    );
    mock.timers.enable({ apis: ['setTimeout'] });
    const pages = (): Page[] => posts.filter((m): m is Page => m.type === 'page');

    await session.handle({ type: 'ready', filter: {} });
    assert.equal(pages().length, 1);

    // An event past the timeline's open end: the session schedules a re-read (a timer, ≥ 1 s).
    const late = event(9_999, Date.now() + 3 * 3_600_000, GENESIS_HASH);
    listeners.forEach((l) => l([late]));

    // The user filters by agent a1; while that query reads the file, the refresh comes due.
    const userQuery = session.handle({ type: 'query', filter: { agent: 'a1' }, offset: 0 });
    mock.timers.tick(60_000);
    await userQuery;
    // Whatever follows (the deferred refresh) runs with the user's filter.
    mock.timers.tick(60_000);
    await settle(() => pages().some((p) => p.live && p.filter.agent === 'a1'));

    const last = pages()[pages().length - 1];
    assert.deepEqual(last.filter, { agent: 'a1' }, 'the last page shows the filter the user chose');
    assert.ok(last.rows.length > 0);
    assert.ok(
      last.rows.every((r) => r.agent === 'a1'),
      'and only rows of that agent',
    );
    assert.deepEqual(session.state.filter, { agent: 'a1' });
    session.dispose();
  });
});

describe('audit rows: who decided', () => {
  test('a held request shows its approval and refusal; an older line (neither field) shows none', () => {
    const base = sealEvent(
      {
        ts: '2026-12-02T10:00:00.000Z',
        agent_id: 'release-bot',
        claimed_agent_id: null,
        credential: 'npm_token',
        scope: 'publish',
        tool: 'get_credential',
        decision: 'deny',
        code: 'approval_denied',
        reason: 'publish v2.0.0',
        refusal: "The user denied 'publish' on 'npm_token'.",
        approval: 'deny',
        lease_id: null,
        version: null,
        value_fingerprint: null,
        client: null,
      },
      GENESIS_HASH,
    );
    const row = toRow(base);
    assert.equal(row.approval, 'deny');
    assert.equal(row.reason, 'publish v2.0.0');
    assert.equal(row.refusal, "The user denied 'publish' on 'npm_token'.");
    const { approval: _a, refusal: _r, ...older } = base;
    const old = toRow(older);
    assert.equal(old.approval, null);
    assert.equal(old.refusal, null);
    // A hand-edited line with a non-string value is not passed on.
    assert.equal(toRow({ ...base, approval: { x: 1 } } as unknown as AuditEvent).approval, null);
  });
});
