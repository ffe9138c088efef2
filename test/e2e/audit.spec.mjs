// The Audit webview and the approval modal, as a person meets them in a real VS Code (part of the
// UI suite: test/e2e/ui.spec.mjs spreads these tests into its list, handing over its helpers and
// the names its earlier tests created). The webview is two nested iframes: the workbench's
// `iframe.webview` and its `#active-frame`.
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const BOT = `ui-bot-${randomUUID().slice(0, 4)}`;
const NPM = `ui-npm-${randomUUID().slice(0, 4)}`;
const CANARY_NPM = `canary-npm-${randomUUID()}`;

/** The Audit view's document (inside the webview's two iframes). */
function auditFrame(page) {
  return page
    .frameLocator('iframe.webview[src*="agent-keyring"], iframe.webview[src*="purpose=webviewView"]')
    .first()
    .frameLocator('iframe#active-frame');
}

/** Polls `probe` (async) until it returns true. */
async function until(what, probe, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

/**
 * @param {object} h helpers and names from ui.spec.mjs
 * @param {(page: any, title: string) => Promise<void>} h.palette
 * @param {(page: any, title: string, text: string, opts?: object) => Promise<void>} h.answer
 * @param {(page: any) => any} h.quickInput
 * @param {(page: any) => Promise<void>} h.openKeyring
 * @param {(page: any, name: string) => any} h.pane
 * @param {(env: any, file: string, opts?: object) => Promise<void>} h.shot
 * @param {{ removed: string, rotated: string }} h.names credentials the earlier tests removed / rotated
 * @param {string[]} h.canaries secret values the earlier tests stored (must never show)
 */
export function auditTests(h) {
  const { palette, answer, quickInput, openKeyring, pane, shot } = h;

  /** The webview's whole text never holds a stored value. */
  async function assertNoCanaryIn(view) {
    const text = await view.locator('body').innerText();
    for (const c of [...h.canaries, CANARY_NPM]) {
      assert.ok(!text.includes(c), 'a secret value is visible in the Audit view');
    }
  }

  /** Opens the Audit view with room to read it: the other two sections collapsed. */
  async function showAudit(page) {
    await palette(page, 'Agent Keyring: Show Audit Log');
    for (const name of ['Credentials', 'Agents']) {
      const header = pane(page, name).locator('.pane-header').first();
      if ((await header.getAttribute('aria-expanded')) === 'true') {
        await header.click();
      }
    }
    const view = auditFrame(page);
    await view.locator('#rows').waitFor({ state: 'attached', timeout: 20_000 });
    return view;
  }

  /** Drags the side bar's edge so it is `width` px wide (the view adapts its columns). */
  async function sideBarWidth(page, width) {
    const bar = page.locator('.part.sidebar').first();
    const box = await bar.boundingBox();
    if (!box) {
      return;
    }
    const x = box.x + box.width;
    await page.mouse.move(x + 1, box.y + 200);
    await page.mouse.down();
    await page.mouse.move(box.x + width, box.y + 200, { steps: 5 });
    await page.mouse.up();
  }

  /**
   * No decision badge or header is cut off: every visible `.d-text` and header label fits its
   * cell (the wide view once clipped "agent adde…" into the Reason column).
   */
  async function assertNoClipping(view) {
    const clipped = await view.locator('body').evaluate(() => {
      const out = [];
      const cells = globalThis.document.querySelectorAll(
        'th.c-decision-h, th.c-agent, th.c-cred, th.c-scope, th.c-by, th.c-reason, tr.event td:nth-child(5), tr.event td.c-by',
      );
      for (const el of cells) {
        if (el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1) {
          out.push(el.textContent);
        }
      }
      return out;
    });
    assert.deepEqual(clipped, [], `clipped cells: ${clipped.join(' | ')}`);
  }

  /** The Audit page of the editor tab (its body has the class in-editor). */
  async function editorAuditFrame(page) {
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await page.waitForTimeout(200)) {
      for (const f of page.frames()) {
        const inEditor = await f
          .evaluate(() => globalThis.document.body?.classList.contains('in-editor') ?? false)
          .catch(() => false);
        if (inEditor) {
          return f;
        }
      }
    }
    throw new Error('Timed out waiting for the Audit editor tab');
  }

  return [
    {
      name: 'the Audit view (webview) lists what happened, newest first; a filter narrows it',
      async run(env) {
        const { page } = env;
        const { removed, rotated } = h.names;
        await openKeyring(page);
        const view = await showAudit(page);
        const rows = view.locator('tr.event');
        await rows.first().waitFor();
        await until(
          'the removal on top',
          async () => (await rows.first().getAttribute('data-decision')) === 'removed',
        );
        const first = await rows.first().innerText();
        assert.ok(first.includes(removed), `newest first: ${first}`);
        await view.locator('tr.event', { hasText: rotated }).first().waitFor();
        await shot(env, '12-audit-view.png');

        // Filter by credential: only its events remain.
        await view.locator('#f-credential').fill(rotated);
        await until('the credential filter applied', async () => {
          const texts = await rows.allInnerTexts();
          return texts.length >= 2 && texts.every((t) => t.includes(rotated));
        });
        const texts = await rows.allInnerTexts();
        const decisions = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-decision')));
        assert.deepEqual(decisions, ['rotated', 'created'], 'newest first');
        assert.match(
          await view.locator('#pager-text').innerText(),
          new RegExp(`^1–${texts.length} of ${texts.length}$`),
        );
        // Keyboard: the first row takes focus, Enter opens its details.
        await rows.first().focus();
        await page.keyboard.press('Enter');
        await view.locator('tr.details dl').first().waitFor();
        await shot(env, '12b-audit-filtered.png');
        await page.keyboard.press('Enter');
        await view.locator('#clear').click();
        await until('the filter cleared', async () => (await rows.count()) > texts.length);
        await assertNoCanaryIn(view);
      },
    },
    {
      name: 'an external agent asks for "publish": the approval modal shows; Deny → approval_denied',
      async run(env) {
        const { page, keyringPort } = env;
        await openKeyring(page);
        // The agent, with its token read from the one-time modal.
        await palette(page, 'Agent Keyring: Add Agent…');
        await answer(page, 'Add Agent (1/3)', BOT);
        await answer(page, 'Add Agent (2/3)', 'Release bot');
        await answer(page, 'Add Agent (3/3)', '');
        const tokenDialog = page.locator('.monaco-dialog-box');
        await tokenDialog.waitFor({ state: 'visible' });
        const token = /akr_[A-Za-z0-9_-]{43}/.exec(await tokenDialog.innerText())?.[0];
        assert.ok(token, 'the token is shown once');
        await tokenDialog.locator('.monaco-button', { hasText: 'Copy Token' }).click();
        await tokenDialog.waitFor({ state: 'hidden' });
        // A credential it may use, with the sensitive scope `publish` (rule action: approve).
        await palette(page, 'Agent Keyring: Add Credential');
        await answer(page, 'Add Credential (1/5)', NPM);
        await answer(page, 'Add Credential (2/5)', CANARY_NPM);
        await answer(page, 'Add Credential (3/5)', 'read, publish');
        await quickInput(page).locator('.quick-input-title', { hasText: 'Add Credential (4/5)' }).waitFor();
        const botRow = quickInput(page).locator('.monaco-list-row', { hasText: BOT }).first();
        await botRow
          .locator('.monaco-custom-toggle, input[type=checkbox], .quick-input-list-checkbox')
          .first()
          .click();
        await quickInput(page).locator('.quick-input-count', { hasText: '1 Selected' }).waitFor();
        await quickInput(page).locator('.monaco-button', { hasText: 'OK' }).click();
        await quickInput(page).locator('.quick-input-title', { hasText: 'Add Credential (5/5)' }).waitFor();
        await page.keyboard.press('Enter'); // Add
        await page.locator('.notification-toast', { hasText: `credential '${NPM}' added` }).waitFor();

        const client = new Client({ name: 'ui-release-bot', version: '1.0.0' });
        await client.connect(
          new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${keyringPort}/mcp`), {
            requestInit: { headers: { Authorization: `Bearer ${token}` } },
          }),
        );
        try {
          const started = Date.now();
          const call = client.callTool({
            name: 'get_credential',
            arguments: { name: NPM, scope: 'publish', reason: 'publish v2.0.0 to npm' },
          });
          let settled = false;
          void call.then(
            () => (settled = true),
            () => (settled = true),
          );
          const dialog = page.locator('.monaco-dialog-box', { hasText: `asks for 'publish'` });
          await dialog.waitFor({ state: 'visible' });
          // A stray Enter the moment the dialog opens (its default button is an Allow) allows
          // nothing: the dialog asks again.
          await page.keyboard.press('Enter');
          await page.waitForTimeout(500);
          await dialog.waitFor({ state: 'visible' });
          assert.equal(settled, false, 'a stray Enter did not answer the agent');
          const text = await dialog.innerText();
          assert.match(
            text,
            new RegExp(
              `Release bot \\(${BOT}\\) asks for 'publish' on '${NPM}' at \\d\\d:\\d\\d \\(answer within 120 s\\)`,
            ),
          );
          assert.match(text, /Reason given: "publish v2\.0\.0 to npm"/);
          assert.match(text, /'publish' is a sensitive scope/);
          for (const b of ['Allow once', 'Allow for 1 hour', 'Allow for this session', 'Deny']) {
            await dialog.locator('.monaco-button', { hasText: b }).first().waitFor();
          }
          // One way to say no: Deny, and Esc means Deny (no Cancel button next to it).
          const buttons = (await dialog.locator('.monaco-button').allInnerTexts()).map((t) => t.trim());
          assert.deepEqual(
            [...buttons].sort(),
            ['Allow for 1 hour', 'Allow for this session', 'Allow once', 'Deny'],
            `the dialog's buttons: ${buttons.join(' | ')}`,
          );
          assert.match(text, /Deny \(or Esc\) refuses/);
          assert.ok(!text.includes(CANARY_NPM));
          await shot(env, '20-approval-modal.png');
          await page.keyboard.press('Escape');
          const result = await call;
          env.log(`approval round trip (agent waits, person presses Esc): ${Date.now() - started} ms`);
          assert.equal(result.isError, true);
          assert.equal(result.structuredContent?.code, 'approval_denied');
          assert.ok(!JSON.stringify(result).includes(CANARY_NPM));
        } finally {
          await client.close().catch(() => undefined);
        }

        // The denial shows in the Audit view, marked as an anomaly; the agent filter narrows to it.
        const view = await showAudit(page);
        await view.locator('#f-agent').fill(BOT);
        const row = view.locator('tr.event.denied', { hasText: NPM }).first();
        await row.waitFor();
        assert.equal(await row.getAttribute('data-decision'), 'deny');
        assert.match((await row.getAttribute('class')) ?? '', /anomaly/);
        // The agent's own reason stays on the line; who decided is in the decision's tooltip.
        assert.match(await row.locator('.c-reason').getAttribute('title'), /publish v2\.0\.0 to npm/);
        assert.match(await row.locator('.decision').getAttribute('title'), /You denied it/);
        await view.locator('.lane-name', { hasText: BOT }).first().waitFor();
        await shot(env, '21a-audit-denial-sidebar.png');
        await sideBarWidth(page, 700);
        await page.waitForTimeout(300);
        // A wide side bar: scope and reason shown; no header or decision is cut off.
        await view.locator('th.c-reason', { hasText: 'Reason' }).waitFor({ state: 'visible' });
        await assertNoClipping(view);
        await shot(env, '21-audit-denial-wide.png');
        await sideBarWidth(page, 300);
      },
    },
    {
      name: 'Open Audit Log in Editor: one editor tab with the same table; run again, the same tab shows',
      async run(env) {
        const { page } = env;
        await sideBarWidth(page, 300);
        await palette(page, 'Agent Keyring: Open Audit Log in Editor');
        const tab = page.locator('.tabs-container .tab', { hasText: 'Agent Keyring Audit' });
        await tab.first().waitFor();
        const frame = await editorAuditFrame(page);
        await frame.locator('tr.event').first().waitFor();
        await frame.locator('#f-agent').fill(BOT);
        const row = frame.locator('tr.event.denied', { hasText: NPM }).first();
        await row.waitFor();
        await frame.locator('th.c-by', { hasText: 'Decided by' }).waitFor({ state: 'visible' });
        await frame.locator('th.c-decision-h .d-text', { hasText: 'Decision' }).waitFor({ state: 'visible' });
        assert.equal((await row.locator('td.c-by').innerText()).trim(), 'you: Deny');
        await assertNoClipping(frame);
        await page.waitForTimeout(300);
        await shot(env, '24-audit-editor-tab.png');
        // Run again while it is open: the same tab is shown, not a second one.
        await palette(page, 'Agent Keyring: Open Audit Log in Editor');
        await page.waitForTimeout(500);
        assert.equal(await tab.count(), 1, 'one Audit tab');
        assert.equal(await row.count(), 1, 'the same page (its filter kept)');
        assert.ok(!(await frame.locator('body').innerText()).includes(CANARY_NPM));
        await palette(page, 'View: Close Editor');
        await tab.first().waitFor({ state: 'detached' });
      },
    },
    {
      name: 'Verify and Export in the Audit view: the chain is intact; the save dialog writes the filtered CSV',
      async run(env) {
        const { page } = env;
        const view = await showAudit(page);
        await view.locator('#verify').click();
        const banner = view.locator('#banner.ok');
        await banner.waitFor();
        assert.match(await banner.innerText(), /Audit log intact: [\d,]+ events, hash chain verified\./);
        await shot(env, '22-audit-verify.png');

        // Export… with the agent filter still set: VS Code's save dialog, then a CSV of those rows.
        // (A file left by an earlier attempt would add an "overwrite?" step: remove it, so a retry
        // sees what a first run sees.)
        // Export proposes the home folder (never the workspace, where it could be committed).
        for (const dir of [env.workspace, os.homedir()]) {
          for (const f of fs.readdirSync(dir)) {
            if (/^agent-keyring-audit-.*\.csv$/.test(f)) {
              fs.rmSync(path.join(dir, f), { force: true });
            }
          }
        }
        await view.locator('#export').click();
        const saveBox = quickInput(page);
        await saveBox.locator('input').first().waitFor({ state: 'visible' });
        // The simple save dialog shows the folder first and fills in the file name a moment later.
        let proposed = '';
        for (const deadline = Date.now() + 5_000; Date.now() < deadline; await page.waitForTimeout(100)) {
          proposed = await saveBox.locator('input').first().inputValue();
          if (proposed.endsWith('.csv')) {
            break;
          }
        }
        assert.match(proposed, /agent-keyring-audit-\d{4}-\d\d-\d\d\.csv$/);
        assert.ok(!proposed.startsWith(env.workspace), `proposed outside the workspace: ${proposed}`);
        await shot(env, '23-audit-export-dialog.png');
        await page.keyboard.press('Enter');
        const exported = view.locator('#banner.info');
        await exported.waitFor();
        const saved = /Exported (\d+) event\(s\) to (.+\.csv)\./.exec(await exported.innerText());
        assert.ok(saved, await exported.innerText());
        const csv = fs.readFileSync(saved[2], 'utf8').split('\r\n').filter(Boolean);
        assert.match(csv[0], /^ts,agent_id,claimed_agent_id,credential,scope,/);
        assert.equal(csv.length - 1, Number(saved[1]));
        assert.ok(
          csv.slice(1).every((l) => l.split(',')[1] === BOT),
          'only the filtered agent',
        );
        assert.ok(!csv.join('\n').includes(CANARY_NPM));
        fs.rmSync(saved[2], { force: true });
        await assertNoCanaryIn(view);
        const text = await page.locator('.monaco-workbench').innerText();
        assert.ok(!text.includes(CANARY_NPM), 'no value on the page');
        // Leave the side bar as the other tests expect it.
        for (const name of ['Credentials', 'Agents']) {
          const header = pane(page, name).locator('.pane-header').first();
          if ((await header.getAttribute('aria-expanded')) === 'false') {
            await header.click();
          }
        }
      },
    },
  ];
}
