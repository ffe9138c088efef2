/**
 * The Audit view's message handler in the real extension host: tool calls reach it live, paging
 * and filters return the right slices of a 100k-event log, bad messages get an error reply, the
 * page is strict about CSP; Verify (command and view) names a tampered line; Export writes CSV /
 * JSONL / JSON that parse (and an unfiltered JSONL export verifies). No value ever crosses.
 */
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { FileAuditSource } from '../../src/core/audit/auditSource';
import { GENESIS_HASH, eventLine, sealEvent } from '../../src/core/audit/chain';
import { CSV_COLUMNS } from '../../src/core/audit/export';
import { verifyAuditFile } from '../../src/core/audit/verify';
import type { AuditEvent } from '../../src/core/model';
import type { AgentKeyringTestApi } from '../../src/extension';
import { exportAuditToFile } from '../../src/vscode/commands/exportAuditLog';
import { describeVerifyResult } from '../../src/vscode/commands/verifyAuditLog';
import { AUDIT_PANEL_VIEW_TYPE, renderHtml } from '../../src/vscode/webview/auditView';
import type { ExtensionMessage } from '../../src/vscode/webview/messages';
import { activateExtension, waitFor } from './helpers';
import { isPage, RecordedSession, type PageMessage } from './auditHelpers';

const N = 100_000;
const ARTIFACTS = path.resolve(__dirname, '..', '..', '..', '.test-artifacts', 'integration');
const timings: Record<string, number> = {};

async function timed<T>(label: string, fn: () => Thenable<T>): Promise<T> {
  const s = Date.now();
  try {
    return await fn();
  } finally {
    timings[label] = Date.now() - s;
  }
}

const isError = (m: ExtensionMessage): m is Extract<ExtensionMessage, { type: 'error' }> =>
  m.type === 'error';

/** A fake AuditLog: the test fires appends itself. */
function fakeAudit(): {
  onDidAppend(l: (e: AuditEvent[]) => void): { dispose(): void };
  fire(e: AuditEvent[]): void;
} {
  const listeners = new Set<(e: AuditEvent[]) => void>();
  return {
    onDidAppend: (l) => {
      listeners.add(l);
      return { dispose: () => listeners.delete(l) };
    },
    fire: (e) => listeners.forEach((l) => l(e)),
  };
}

suite('audit view, verify and export', () => {
  let api: AgentKeyringTestApi;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-audit-int-'));
  const bigLog = path.join(tmp, 'big-audit.jsonl');
  const base = Date.now() - N * 1000;
  const sessions: RecordedSession[] = [];
  const open = (overrides = {}): RecordedSession => {
    const s = new RecordedSession(api, overrides);
    sessions.push(s);
    return s;
  };

  suiteSetup(async () => {
    ({ api } = await activateExtension());
    // 100k chained events, one a second, ending now: agent a<i%5>, credential c<i%7>, every 10th denied.
    await timed('generate 100k events', async () => {
      const out = fs.createWriteStream(bigLog);
      let prev = GENESIS_HASH;
      let chunk: string[] = [];
      for (let i = 0; i < N; i++) {
        const e = sealEvent(
          {
            ts: new Date(base + i * 1000).toISOString(),
            agent_id: `a${i % 5}`,
            claimed_agent_id: null,
            credential: `c${i % 7}`,
            scope: 'read',
            tool: 'get_credential',
            decision: i % 10 === 0 ? 'deny' : 'allow',
            code: i % 10 === 0 ? 'scope_denied' : null,
            reason: `#${i}`,
            lease_id: null,
            version: 1,
            value_fingerprint: null,
            client: null,
            rules: i % 10 === 0 ? ['burst'] : [],
          },
          prev,
        );
        prev = e.hash;
        chunk.push(eventLine(e));
        if (chunk.length === 5000) {
          out.write(chunk.join('\n') + '\n');
          chunk = [];
        }
      }
      out.write(chunk.join('\n') + (chunk.length ? '\n' : ''));
      await new Promise<void>((r) => out.end(r));
    });
  });

  suiteTeardown(() => {
    for (const s of sessions) {
      s.dispose();
    }
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(ARTIFACTS, 'audit-timings.json'), JSON.stringify(timings, null, 2) + '\n');
  });

  test('paging 100k events: newest first, 100 per page, right slices at both ends', async () => {
    const s = open({ source: new FileAuditSource(bigLog), audit: fakeAudit() });
    const first = await timed('first page (ready, with timeline)', () =>
      s.request({ type: 'ready' }, isPage),
    );
    assert.equal(first.total, N);
    assert.equal(first.rows.length, 100);
    assert.equal(first.rows[0].reason, `#${N - 1}`, 'newest first');
    assert.equal(first.rows[99].reason, `#${N - 100}`);
    const second = await timed('page 2', () => s.request({ type: 'query', filter: {}, offset: 100 }, isPage));
    assert.equal(second.rows[0].reason, `#${N - 101}`);
    const last = await timed('last page (offset 99 950)', () =>
      s.request({ type: 'query', filter: {}, offset: N - 50 }, isPage),
    );
    assert.equal(last.rows.length, 50);
    assert.equal(last.rows[49].reason, '#0');
    const beyond = await s.request({ type: 'query', filter: {}, offset: N + 500 }, isPage);
    assert.equal(beyond.offset, N - 100, 'an offset past the end shows the last page');
    // Only one page ever crosses: the biggest message stays small.
    const biggest = Math.max(...s.messages.map((m) => JSON.stringify(m).length));
    timings['largest message (bytes)'] = biggest;
    assert.ok(biggest < 200_000, `a page message is ${biggest} bytes`);
  });

  test('filters narrow the slices: agent, credential, decision, custom time range', async () => {
    const s = open({ source: new FileAuditSource(bigLog), audit: fakeAudit() });
    await s.request({ type: 'ready' }, isPage);
    const byAgent = await timed('filter agent', () =>
      s.request({ type: 'query', filter: { agent: 'a3' }, offset: 0 }, isPage),
    );
    assert.equal(byAgent.total, N / 5);
    assert.ok(byAgent.rows.every((r) => r.agent === 'a3'));
    assert.equal(byAgent.rows[0].reason, `#${N - 2}`, 'the newest a3 event (i % 5 === 3)');

    let expected = 0;
    for (let i = 0; i < N; i++) {
      if (i % 5 === 3 && i % 7 === 2) {
        expected++;
      }
    }
    const both = await s.request(
      { type: 'query', filter: { agent: 'a3', credential: 'c2' }, offset: 0 },
      isPage,
    );
    assert.equal(both.total, expected);
    assert.ok(both.rows.every((r) => r.agent === 'a3' && r.credential === 'c2'));

    const denied = await timed('filter decision deny', () =>
      s.request({ type: 'query', filter: { decision: 'deny' }, offset: 0 }, isPage),
    );
    assert.equal(denied.total, N / 10);
    assert.ok(denied.rows.every((r) => r.decision === 'deny' && r.anomaly && r.rules[0] === 'burst'));

    const since = base + 1000 * 1000;
    const until = base + 1500 * 1000;
    const ranged = await s.request(
      { type: 'query', filter: { range: 'custom', since, until }, offset: 0 },
      isPage,
    );
    assert.equal(ranged.total, 500, 'events 1000..1499');
    assert.equal(ranged.rows[0].reason, '#1499');

    const lastHour = await timed('filter last hour', () =>
      s.request({ type: 'query', filter: { range: '1h' }, offset: 0 }, isPage),
    );
    assert.ok(lastHour.total >= 3400 && lastHour.total <= 3601, `last hour: ${lastHour.total}`);
    // The timeline of the last hour: 5-minute buckets, one lane per agent, denials marked.
    const t = lastHour.timeline;
    assert.ok(t);
    assert.equal(t.bucketMs, 5 * 60_000);
    assert.deepEqual(t.lanes.map((l) => l.agent).sort(), ['a0', 'a1', 'a2', 'a3', 'a4']);
    const counted = t.lanes.reduce((n, l) => n + l.total, 0);
    assert.ok(Math.abs(counted - lastHour.total) <= 1, `timeline counts ${counted} of ${lastHour.total}`);
    const denials = t.lanes.reduce((n, l) => n + l.denials.reduce((a, b) => a + b, 0), 0);
    assert.ok(Math.abs(denials - lastHour.total / 10) <= 2, `${denials} denials marked`);
  });

  test('appends go live without re-reading: the new event tops page 1, later pages keep their rows', async () => {
    const audit = fakeAudit();
    const s = open({ source: new FileAuditSource(bigLog), audit });
    await s.request({ type: 'ready', filter: { agent: 'a1' } }, isPage);
    const event = sealEvent(
      {
        ts: new Date().toISOString(),
        agent_id: 'a1',
        claimed_agent_id: null,
        credential: 'c9',
        scope: 'read',
        tool: 'get_credential',
        decision: 'allow',
        code: null,
        reason: 'live',
        lease_id: null,
        version: 1,
        value_fingerprint: null,
        client: null,
        rules: [],
      },
      GENESIS_HASH,
    );
    const other = { ...event, agent_id: 'zz', hash: 'f'.repeat(64) };
    const live = s.next((m): m is PageMessage => m.type === 'page' && m.live);
    audit.fire([event, other]);
    const page = await live;
    assert.equal(page.total, N / 5 + 1, 'only the matching event counts');
    assert.equal(page.rows[0].reason, 'live');
    assert.equal(page.rows.length, 100);

    const p2 = await s.request({ type: 'query', filter: { agent: 'a1' }, offset: 100 }, isPage);
    const live2 = s.next((m): m is PageMessage => m.type === 'page' && m.live);
    audit.fire([event]);
    const moved = await live2;
    assert.equal(moved.offset, 101, 'page 2 keeps showing the same events');
    assert.equal(moved.rows[0].id, p2.rows[0].id);
  });

  test('bad messages get an error reply and the handler keeps working', async () => {
    const s = open({ source: new FileAuditSource(bigLog), audit: fakeAudit() });
    const bad: unknown[] = [
      'hello',
      null,
      { type: 'nope' },
      { type: 'query', offset: -1, filter: {} },
      { type: 'query', offset: 0, filter: { agent: 'x'.repeat(500) } },
      { type: 'query', offset: 0, filter: { evil: true } },
      {
        type: 'query',
        offset: 0,
        filter: { range: 'custom', since: 2_000_000_000_000, until: 1_000_000_000_000 },
      },
      { type: 'export', filter: {}, format: 'exe' },
      { type: 'verify', extra: 1 },
    ];
    for (const raw of bad) {
      const reply = await s.request(raw, isError);
      assert.match(reply.message, /The Audit view sent a message the extension does not understand/);
      assert.ok(!reply.message.includes('xxxxxxxxxx'), 'the reply never echoes the input');
    }
    const ok = await s.request({ type: 'query', filter: {}, offset: 0 }, isPage);
    assert.equal(ok.total, N);
  });

  test('the page has a strict CSP: a fresh nonce per render, no inline script or style, media only', () => {
    const media = vscode.Uri.file('/ext/media');
    const fake = {
      cspSource: 'https://webview.test',
      asWebviewUri: (u: vscode.Uri) => vscode.Uri.parse(`https://webview.test${u.path}`),
    } as unknown as vscode.Webview;
    const a = renderHtml(fake, media);
    const b = renderHtml(fake, media);
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(a)?.[1] ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-[A-Za-z0-9+/=]{24}'/);
    assert.ok(!csp.includes('unsafe'), csp);
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(a.includes(`<script nonce="${nonce}" src="https://webview.test/ext/media/dist/audit.js">`));
    assert.notEqual(nonce, /'nonce-([^']+)'/.exec(b)?.[1], 'a new nonce each render');
    assert.equal((a.match(/<script/g) ?? []).length, 1, 'one script, from media/');
    assert.ok(!/<style|style="/.test(a), 'no inline styles');
    for (const label of ['f-agent', 'f-credential', 'f-decision', 'f-range']) {
      assert.ok(a.includes(`<label for="${label}">`), `the ${label} filter has a label`);
    }
  });

  test('Open Audit Log in Editor: one editor tab (revealed when run again) whose page is the Audit page', async () => {
    const auditTabs = (): vscode.Tab[] =>
      vscode.window.tabGroups.all
        .flatMap((g) => g.tabs)
        .filter(
          (t) =>
            t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith(AUDIT_PANEL_VIEW_TYPE),
        );
    assert.equal(await vscode.commands.executeCommand('agentKeyring.openAuditLogInEditor'), true);
    await waitFor('the Audit tab', () => auditTabs().length === 1 || undefined);
    assert.equal(auditTabs()[0].label, 'Agent Keyring Audit');
    await waitFor(
      'the tab page started (ready message)',
      () => api.auditView.panelSession?.started || undefined,
    );
    await vscode.commands.executeCommand('agentKeyring.openAuditLogInEditor');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(auditTabs().length, 1, 'run again: the same tab, not a second one');
    // Same page as the side bar's view, marked as the editor variant.
    const fake = {
      cspSource: 'https://webview.test',
      asWebviewUri: (u: vscode.Uri) => vscode.Uri.parse(`https://webview.test${u.path}`),
    } as unknown as vscode.Webview;
    const html = renderHtml(fake, vscode.Uri.file('/ext/media'), { inEditor: true });
    assert.match(html, /<body class="in-editor">/);
    assert.match(html, /<th scope="col" class="c-by"[^>]*>Decided by<\/th>/);
    await vscode.window.tabGroups.close(auditTabs());
    await waitFor('the tab closed', () => (auditTabs().length === 0 ? true : undefined));
    assert.equal(api.auditView.panelSession, undefined, 'its session is disposed with it');
  });

  suite('with the real audit log', () => {
    const agentId = `int-audit-${randomUUID().slice(0, 8)}`;
    const cred = `int-audit-cred-${randomUUID().slice(0, 8)}`;
    const canary = `canary-${randomUUID()}`;
    let client: Client;

    suiteSetup(async () => {
      const added = await vscode.commands.executeCommand<{ token: string }>('agentKeyring.addAgent', {
        id: agentId,
      });
      await vscode.commands.executeCommand('agentKeyring.addCredential', {
        name: cred,
        value: canary,
        scopes: ['search_read'],
        agents: [agentId],
      });
      client = new Client({ name: 'integration-audit-agent', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(api.server.url ?? ''), {
          requestInit: { headers: { Authorization: `Bearer ${added.token}` } },
        }),
      );
    });

    suiteTeardown(async () => {
      await client?.close().catch(() => undefined);
      await api.keyring.store.removeCredential(cred).catch(() => undefined);
      await vscode.commands.executeCommand('agentKeyring.revokeAgent', { id: agentId, confirmed: true });
    });

    test('tool calls from an external agent reach the handler live, allow and deny alike', async () => {
      const s = open();
      const first = await s.request({ type: 'ready', filter: { credential: cred } }, isPage);
      assert.ok(first.options?.agents.includes(agentId), 'filter suggestions list the agent');
      assert.ok(first.options?.credentials.includes(cred));
      const allowed = s.next((m): m is PageMessage => isPage(m) && m.live && m.rows[0]?.decision === 'allow');
      const r = await client.callTool({
        name: 'get_credential',
        arguments: { name: cred, scope: 'search_read' },
      });
      assert.equal((r.structuredContent as { value?: string }).value, canary);
      const page = await allowed;
      assert.equal(page.rows[0].agent, agentId);
      assert.equal(page.rows[0].scope, 'search_read');
      assert.equal(page.rows[0].tool, 'get_credential');
      assert.ok(page.rows[0].rules.includes('first_use'), 'first use is marked');
      assert.equal(page.rows[0].anomaly, true);

      const denied = s.next((m): m is PageMessage => isPage(m) && m.live && m.rows[0]?.decision === 'deny');
      await client.callTool({ name: 'get_credential', arguments: { name: cred, scope: 'admin' } });
      const d = await denied;
      assert.equal(d.rows[0].code, 'scope_denied');
      assert.equal(d.total, first.total + 2);
      assert.ok(d.timeline?.lanes.some((l) => l.agent === agentId && l.denials.some((n) => n > 0)));
    });

    test('Verify Audit Log: intact, then names the tampered line (command and view), then intact again', async () => {
      const file = api.keyring.auditPath as string; // the editor's keyring is a file store
      await api.keyring.audit.flush();
      const ok = await vscode.commands.executeCommand<{ ok: boolean; count: number }>(
        'agentKeyring.verifyAuditLog',
        {
          silent: true,
        },
      );
      assert.equal(ok.ok, true, JSON.stringify(ok));
      const original = fs.readFileSync(file);
      const lines = original.toString('utf8').split('\n');
      const k = lines.findIndex(
        (l) => l.includes(`"credential":"${cred}"`) && l.includes('"decision":"deny"'),
      );
      assert.ok(k >= 0, 'the denial is in the file');
      // Same length, one letter changed: what a hand edit to hide a denial looks like.
      lines[k] = lines[k].replace('"decision":"deny"', '"decision":"dent"');
      fs.writeFileSync(file, lines.join('\n'));
      try {
        const bad = await vscode.commands.executeCommand<{
          ok: boolean;
          firstBad?: { line: number; reason: string };
        }>('agentKeyring.verifyAuditLog', { silent: true });
        assert.equal(bad.ok, false);
        assert.equal(bad.firstBad?.line, k + 1);
        assert.match(
          describeVerifyResult({ ...bad, count: 0 }),
          new RegExp(`at line ${k + 1}: its hash does not match`),
        );
        const s = open();
        const viewResult = await s.request(
          { type: 'verify' },
          (m): m is Extract<ExtensionMessage, { type: 'verifyResult' }> => m.type === 'verifyResult',
        );
        assert.equal(viewResult.ok, false);
        assert.equal(viewResult.firstBad?.line, k + 1);
      } finally {
        fs.writeFileSync(file, original);
      }
      const again = await vscode.commands.executeCommand<{ ok: boolean }>('agentKeyring.verifyAuditLog', {
        silent: true,
      });
      assert.equal(again.ok, true);
    });

    test('Export Audit Log writes CSV, JSONL and JSON that parse; the JSONL export verifies', async () => {
      await api.keyring.audit.flush();
      const lines = fs
        .readFileSync(api.keyring.auditPath as string, 'utf8')
        .trim()
        .split('\n').length;
      const csvPath = path.join(tmp, 'audit.csv');
      const csv = await timed('export CSV (real log)', () =>
        vscode.commands.executeCommand<{ count: number; format: string }>('agentKeyring.exportAuditLog', {
          uri: csvPath,
        }),
      );
      assert.equal(csv.format, 'csv');
      const rows = fs.readFileSync(csvPath, 'utf8').split('\r\n').filter(Boolean);
      assert.equal(rows[0], CSV_COLUMNS.join(','));
      assert.equal(rows.length - 1, csv.count);
      assert.ok(csv.count >= lines, `${csv.count} rows for ${lines} lines`);

      const jsonlPath = path.join(tmp, 'audit.jsonl');
      const jsonl = await vscode.commands.executeCommand<{ count: number; format: string }>(
        'agentKeyring.exportAuditLog',
        { uri: vscode.Uri.file(jsonlPath) },
      );
      assert.equal(jsonl.format, 'jsonl');
      const parsed = fs
        .readFileSync(jsonlPath, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AuditEvent);
      assert.equal(parsed.length, jsonl.count);
      assert.equal((await verifyAuditFile(jsonlPath)).ok, true, 'the exported JSONL chain verifies');

      const jsonPath = path.join(tmp, 'only-mine.json');
      const json = await vscode.commands.executeCommand<{ count: number; format: string }>(
        'agentKeyring.exportAuditLog',
        { uri: jsonPath, filter: { credential: cred } },
      );
      const arr = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as AuditEvent[];
      assert.equal(json.format, 'json');
      assert.equal(arr.length, json.count);
      assert.ok(arr.length >= 3 && arr.every((e) => e.credential === cred));

      const big = path.join(tmp, 'big.csv');
      const bigCsv = await timed('export CSV (100k events)', async () => {
        return exportAuditToFile(new FileAuditSource(bigLog), vscode.Uri.file(big), 'csv');
      });
      assert.equal(bigCsv, N);
      for (const f of [csvPath, jsonlPath, jsonPath]) {
        assert.ok(!fs.readFileSync(f, 'utf8').includes(canary), 'no value in an export');
      }
    });

    test('no value in anything posted to the Audit webview or a handler session (canary)', async () => {
      // The real webview too: show it, so it posts the real log's pages.
      const before = api.auditView.sent.length;
      await vscode.commands.executeCommand('agentKeyring.showAuditLog');
      await waitFor('the real Audit webview to post a page', () =>
        api.auditView.sent.length > before || api.auditView.sent.some(isPage) ? true : undefined,
      );
      const all = JSON.stringify([...api.auditView.sent, ...sessions.flatMap((s) => s.messages)]);
      assert.ok(all.includes(cred), 'the messages do carry this credential’s events');
      assert.ok(!all.includes(canary), 'a secret value crossed to the webview');
      assert.ok(!all.includes('value_fingerprint'), 'rows carry named fields only');
    });
  });
});
