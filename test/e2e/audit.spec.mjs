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
        await answer(page, 'Add Credential (1/8)', CANARY_NPM);
        await answer(page, 'Add Credential (2/8)', NPM);
        await answer(page, 'Add Credential (3/8)', 'npm publish token');
        await answer(page, 'Add Credential (4/8)', 'read, publish');
        await quickInput(page).locator('.quick-input-title', { hasText: 'Add Credential (5/8)' }).waitFor();
        const botRow = quickInput(page).locator('.monaco-list-row', { hasText: BOT }).first();
        await botRow
          .locator('.monaco-custom-toggle, input[type=checkbox], .quick-input-list-checkbox')
          .first()
          .click();
        await quickInput(page).locator('.quick-input-count', { hasText: '1 Selected' }).waitFor();
        await quickInput(page).locator('.monaco-button', { hasText: 'OK' }).click();
        await answer(page, 'Add Credential (6/8)', '600');
        await answer(page, 'Add Credential (7/8)', '');
        await answer(page, 'Add Credential (8/8)', ''); // reveal mode: Allow (the first item)
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
          const dialog = page.locator('.monaco-dialog-box', { hasText: `asks for 'publish'` });
          await dialog.waitFor({ state: 'visible' });
          const text = await dialog.innerText();
          assert.match(
            text,
            new RegExp(
              `Release bot \\(${BOT}\\) asks for 'publish' on '${NPM}' at \\d\\d:\\d\\d \\(answer within 120 s\\)`,
            ),
          );
          assert.match(text, /Reason given: "publish v2\.0\.0 to npm"/);
          assert.match(text, /'publish' is a sensitive scope/);
          for (const b of ['Allow once', 'Allow for 1 hour', 'Deny']) {
            await dialog.locator('.monaco-button', { hasText: b }).first().waitFor();
          }
          assert.ok(!text.includes(CANARY_NPM));
          await shot(env, '20-approval-modal.png');
          await dialog.locator('.monaco-button', { hasText: /^Deny$/ }).click();
          const result = await call;
          env.log(`approval round trip (agent waits, person clicks Deny): ${Date.now() - started} ms`);
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
        await view.locator('.lane-name', { hasText: BOT }).first().waitFor();
        await sideBarWidth(page, 640);
        await page.waitForTimeout(300);
        await shot(env, '21-audit-denial-wide.png');
        await sideBarWidth(page, 300);
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
