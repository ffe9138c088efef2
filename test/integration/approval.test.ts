/**
 * Approval prompts and alerts in the real extension host, with an external agent over HTTP:
 * a request for a sensitive scope (`publish`, rule action `approve`) is HELD until the person
 * answers the modal (the modal's UI call is swapped through the test API; the approver's logic,
 * timeout and texts are the real ones). Alerts (`first_use`) raise a notification whose
 * "Show in Audit" reveals and highlights the event in the real Audit webview; the status bar's
 * alert count resets when the Audit view is shown.
 */
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { AgentKeyringTestApi } from '../../src/extension';
import { ALLOW_HOUR, ALLOW_ONCE, ALLOW_SESSION, DENY, SHOW_IN_AUDIT } from '../../src/vscode/approvalPrompt';
import { activateExtension, waitFor } from './helpers';
import { isPage, RecordedSession, type PageMessage } from './auditHelpers';

interface ToolText {
  isError: boolean;
  text: string;
  structured: Record<string, unknown> | undefined;
}

async function call(client: Client, args: Record<string, unknown>): Promise<ToolText> {
  const r = await client.callTool({ name: 'get_credential', arguments: args });
  const content = (r.content ?? []) as { type: string; text?: string }[];
  return {
    isError: r.isError === true,
    text: content.map((c) => c.text ?? '').join('\n'),
    structured: r.structuredContent as Record<string, unknown> | undefined,
  };
}

/** A fake modal: records each prompt and lets the test answer it (or never). */
class FakeModal {
  readonly prompts: {
    message: string;
    detail: string;
    items: string[];
    answer: (a: string | undefined) => void;
  }[] = [];
  readonly show = (
    message: string,
    options: vscode.MessageOptions,
    ...items: string[]
  ): Thenable<string | undefined> =>
    new Promise<string | undefined>((resolve) => {
      this.prompts.push({ message, detail: options.detail ?? '', items, answer: resolve });
    });
  async nextPrompt(count: number): Promise<FakeModal['prompts'][number]> {
    return waitFor(`approval prompt #${count}`, () => this.prompts[count - 1]);
  }
}

/** Resolves with 'pending' when `p` has not settled within `ms`. */
async function stillPending<T>(p: Promise<T>, ms: number): Promise<'pending' | 'settled'> {
  return Promise.race([
    p.then(() => 'settled' as const),
    new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms)),
  ]);
}

suite('approval prompts and alerts', () => {
  const agentId = `int-appr-${randomUUID().slice(0, 8)}`;
  const cred = `int-appr-cred-${randomUUID().slice(0, 8)}`;
  const cred2 = `int-appr-alert-${randomUUID().slice(0, 8)}`;
  const canary = `canary-${randomUUID()}`;
  const canary2 = `canary-${randomUUID()}`;
  const modal = new FakeModal();
  let api: AgentKeyringTestApi;
  let client: Client;
  let token = '';
  let rec: RecordedSession;

  suiteSetup(async () => {
    ({ api } = await activateExtension());
    const added = await vscode.commands.executeCommand<{ token: string }>('agentKeyring.addAgent', {
      id: agentId,
      label: 'Release bot',
    });
    token = added.token;
    await vscode.commands.executeCommand('agentKeyring.addCredential', {
      name: cred,
      value: canary,
      scopes: ['publish', 'read'],
      agents: [agentId],
    });
    await vscode.commands.executeCommand('agentKeyring.addCredential', {
      name: cred2,
      value: canary2,
      scopes: ['read'],
      agents: [agentId],
    });
    api.approvals.approver.setTestOverrides({ show: modal.show });
    client = new Client({ name: 'integration-approval-agent', version: '1.0.0' });
    const url = api.server.url;
    assert.ok(url, 'the server runs');
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    rec = new RecordedSession(api);
    await rec.request({ type: 'ready', filter: { agent: agentId } }, isPage);
  });

  suiteTeardown(async () => {
    api.approvals.approver.setTestOverrides(undefined);
    api.approvals.alerts.setTestOverrides(undefined);
    rec?.dispose();
    await client?.close().catch(() => undefined);
    for (const name of [cred, cred2]) {
      await api.keyring.store.removeCredential(name).catch(() => undefined);
    }
    await vscode.commands.executeCommand('agentKeyring.revokeAgent', { id: agentId, confirmed: true });
  });

  test('a publish request is held until "Allow once"; the modal names agent, credential, scope, time, reason, rule', async () => {
    const pending = call(client, { name: cred, scope: 'publish', reason: 'publish release 1.2.3' });
    const prompt = await modal.nextPrompt(1);
    assert.match(
      prompt.message,
      new RegExp(
        `^Release bot \\(${agentId}\\) asks for 'publish' on '${cred}' at \\d\\d:\\d\\d \\(answer within 120 s\\)$`,
      ),
    );
    assert.match(prompt.detail, /Reason given: "publish release 1\.2\.3"/);
    assert.match(prompt.detail, /'publish' is a sensitive scope \[sensitive_scope\]/);
    // One way to say no: Deny is the dialog's close affordance (Esc = Deny, no separate Cancel).
    assert.match(prompt.detail, /Deny \(or Esc\) refuses\. No answer within 120 s also refuses/);
    assert.doesNotMatch(prompt.detail, /Cancel/);
    assert.match(
      prompt.detail,
      new RegExp(`If allowed: hand the value of '${cred}' to the agent \\(get_credential\\)\\.`),
    );
    assert.deepEqual(
      prompt.items,
      [DENY, ALLOW_ONCE, ALLOW_HOUR, ALLOW_SESSION],
      'Deny (the close affordance: Esc), then the three Allows',
    );
    assert.equal(await stillPending(pending, 400), 'pending', 'the agent waits for the answer');
    assert.equal(api.approvals.approver.waiting, 1);
    assert.match(api.statusBar.text, /\$\(bell-dot\) \d+/, 'the status bar counts the open prompt');

    prompt.answer(ALLOW_ONCE);
    const got = await pending;
    assert.equal(got.isError, false, got.text.replaceAll(canary, '<canary>'));
    assert.equal(got.structured?.value, canary);
    assert.equal(api.approvals.approver.waiting, 0);

    // The audit view's handler got the approved event, live, without the value.
    const page = await waitFor('the approved event in the audit view', () =>
      rec.messages
        .filter(isPage)
        .find((m) => m.rows.some((r) => r.credential === cred && r.decision === 'approved')),
    );
    const row = page.rows.find((r) => r.credential === cred && r.decision === 'approved');
    assert.equal(row?.agent, agentId);
    assert.equal(row?.scope, 'publish');
    assert.ok(row?.rules.includes('sensitive_scope'));
    assert.equal(row?.anomaly, true, 'an event with rules is highlighted as an anomaly');
    assert.equal(row?.approval, 'once', 'who decided: the person, Allow once');
    assert.equal(row?.reason, 'publish release 1.2.3');
  });

  test('"Deny" makes the call fail with approval_denied; the denial is recorded and shown', async () => {
    const pending = call(client, { name: cred, scope: 'publish', reason: 'again' });
    const prompt = await modal.nextPrompt(2);
    prompt.answer(DENY);
    const r = await pending;
    assert.equal(r.isError, true);
    assert.equal(r.structured?.code, 'approval_denied');
    assert.ok(!r.text.includes(canary));
    const page = await waitFor('the denial in the audit view', () =>
      rec.messages
        .filter(isPage)
        .find((m) => m.rows[0]?.decision === 'deny' && m.rows[0]?.credential === cred),
    );
    assert.equal(page.rows[0].code, 'approval_denied');
    assert.equal(page.rows[0].anomaly, true);
    // The agent's stated reason is kept; the refusal text and who decided are recorded beside it.
    assert.equal(page.rows[0].reason, 'again');
    assert.match(page.rows[0].refusal ?? '', /The user denied 'publish'/);
    assert.equal(page.rows[0].approval, 'deny');
  });

  test('no answer within the timeout = deny, at the timeout; a late "Allow" grants nothing', async () => {
    api.approvals.approver.setTestOverrides({ show: modal.show, timeoutMs: 1_000 });
    try {
      const started = Date.now();
      const r = await call(client, { name: cred, scope: 'publish' });
      const elapsed = Date.now() - started;
      assert.equal(r.structured?.code, 'approval_denied');
      assert.ok(elapsed >= 900 && elapsed < 5_000, `answered at the timeout (${elapsed} ms)`);
      const prompt = modal.prompts[2];
      assert.match(prompt.message, /\(answer within 1 s\)$/);
      assert.match(prompt.detail, /The agent gave no reason\./);
      const timedOut = await waitFor('the timeout in the audit view', () =>
        rec.messages
          .filter(isPage)
          .flatMap((m) => m.rows)
          .find((x) => x.credential === cred && x.approval === 'timeout'),
      );
      assert.equal(timedOut.code, 'approval_denied');
      // The modal is still "open" (VS Code cannot close it); the person clicks Allow too late.
      prompt.answer(ALLOW_HOUR);
      await new Promise((res) => setTimeout(res, 100));
      const again = call(client, { name: cred, scope: 'publish' });
      const next = await modal.nextPrompt(4);
      assert.ok(next, 'asked again: the late answer granted nothing');
      next.answer(DENY);
      assert.equal((await again).structured?.code, 'approval_denied');
    } finally {
      api.approvals.approver.setTestOverrides({ show: modal.show });
    }
  });

  test('"Allow for 1 hour" lets the next request through without asking', async () => {
    const first = call(client, { name: cred, scope: 'publish' });
    (await modal.nextPrompt(5)).answer(ALLOW_HOUR);
    assert.equal((await first).structured?.value, canary);
    const asked = modal.prompts.length;
    const second = await call(client, { name: cred, scope: 'publish' });
    assert.equal(second.structured?.value, canary);
    assert.equal(modal.prompts.length, asked, 'no new prompt within the hour');
    const approvals = await waitFor('both approvals in the audit view', () => {
      const rows = rec.messages.filter(isPage).at(-1)?.rows ?? [];
      const mine = rows.filter((x) => x.credential === cred && x.decision === 'approved');
      return mine.length >= 3 ? mine.slice(0, 2).map((x) => x.approval) : undefined;
    });
    assert.deepEqual(approvals, ['grant', 'hour'], 'newest first: the earlier grant, then Allow for 1 hour');
  });

  test('an alert counts in the status bar until the Audit view is shown; "Show in Audit" highlights its event', async () => {
    // Start with the Audit view hidden, so showing it is a change the extension sees.
    await vscode.commands.executeCommand('workbench.action.closeSidebar');
    await waitFor('the audit view hidden', () => (api.auditView.visible ? undefined : true));
    const notes: { message: string; answer: (a: string | undefined) => void }[] = [];
    api.approvals.alerts.setTestOverrides({
      show: (message) =>
        new Promise<string | undefined>((resolve) => notes.push({ message, answer: resolve })),
    });
    const r = await call(client, { name: cred2, scope: 'read' }); // first use → alert
    assert.equal(r.structured?.value, canary2);
    const note = await waitFor('the alert notification', () => notes[0]);
    assert.match(note.message, new RegExp(`agent '${agentId}' got '${cred2}' \\(scope 'read'\\): first use`));
    assert.equal(api.approvals.alerts.waiting, 1);
    assert.match(api.statusBar.text, /\$\(bell-dot\) 1$/);

    await vscode.commands.executeCommand('agentKeyring.showAuditLog');
    await waitFor('the alert count reset by showing the Audit view', () =>
      api.approvals.alerts.waiting === 0 ? true : undefined,
    );
    assert.ok(!api.statusBar.text.includes('bell-dot'), api.statusBar.text);

    // "Show in Audit": the real webview gets the page with that event highlighted.
    const lines = fs
      .readFileSync(api.keyring.auditPath as string, 'utf8')
      .trim()
      .split('\n');
    const event = lines
      .map((l) => JSON.parse(l) as { hash: string; credential: string; rules?: string[] })
      .reverse()
      .find((e) => e.credential === cred2 && e.rules?.includes('first_use'));
    assert.ok(event, 'the first-use event is in the audit file');
    const before = api.auditView.sent.length;
    note.answer(SHOW_IN_AUDIT);
    const highlighted = await waitFor('a highlighted page in the real Audit webview', () =>
      api.auditView.sent
        .slice(before)
        .find((m): m is PageMessage => m.type === 'page' && m.highlight === event.hash),
    );
    assert.ok(
      highlighted.rows.some((row) => row.id === event.hash),
      'the page holds the event',
    );
    // The real webview script is running under its CSP: it announced itself.
    assert.ok(
      api.auditView.received.some((m) => (m as { type?: string }).type === 'ready'),
      'the webview script sent ready',
    );
  });

  test('no value in any message the Audit view posted (canaries)', () => {
    const posted = JSON.stringify([...api.auditView.sent, ...rec.messages]);
    assert.ok(posted.length > 100, 'messages were posted');
    for (const c of [canary, canary2]) {
      assert.ok(!posted.includes(c), 'a secret value crossed to the webview');
    }
    const received = JSON.stringify(api.auditView.received);
    for (const c of [canary, canary2]) {
      assert.ok(!received.includes(c));
    }
  });
});
