// The UI suite: what a person does with Agent Keyring in a real VS Code (code-server in Chromium,
// extension installed from the .vsix). Run by scripts/vscode/run-ui.mjs (`npm run test:ui`), which
// hands each test { page, keyringPort, artifacts, log, workspace, userDataDir }. Tests run in order
// and build on each other (the credential added first is rotated later), like a person's session.
//
// DOM hooks (TESTING.md): palette = F1 + `.quick-input-widget input`; tree rows `.monaco-list-row`;
// dialogs `.monaco-dialog-box`; notifications `.notification-toast`.
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { auditTests } from './audit.spec.mjs';

const NAME = `ui-${randomUUID().slice(0, 6)}`;
const CANCELLED = `ui-esc-${randomUUID().slice(0, 6)}`;
const DOOMED = `ui-doomed-${randomUUID().slice(0, 6)}`;
const AGENT = `ui-agent-${randomUUID().slice(0, 4)}`;
const CONNECTED = `ui-claude-${randomUUID().slice(0, 4)}`;
const CANARY_V1 = `canary-v1-${randomUUID()}`;
const CANARY_V2 = `canary-v2-${randomUUID()}`;

const shot = (env, file, opts = {}) => env.page.screenshot({ path: path.join(env.artifacts, file), ...opts });

function quickInput(page) {
  return page.locator('.quick-input-widget');
}

/**
 * Opens the command palette and runs the command with this title. Right after the workbench
 * loads, extension commands can be missing from the palette for a moment: retry then.
 */
async function palette(page, title) {
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('Escape');
    await page.keyboard.press('F1');
    const input = quickInput(page).locator('input').first();
    await input.waitFor({ state: 'visible' });
    await input.fill(`>${title}`);
    const row = quickInput(page).locator('.monaco-list-row', { hasText: title }).first();
    try {
      await row.waitFor({ state: 'visible', timeout: attempt < 3 ? 3_000 : 15_000 });
    } catch (e) {
      if (attempt < 3) {
        continue;
      }
      throw e;
    }
    await page.keyboard.press('Enter');
    return;
  }
}

/** Waits for the quick input whose title contains `title`, then types `text` (may be '') and optionally Enter. */
async function answer(page, title, text, { enter = true } = {}) {
  const widget = quickInput(page);
  await widget.locator('.quick-input-title', { hasText: title }).waitFor({ state: 'visible' });
  const input = widget.locator('input').first();
  await input.fill(text);
  if (enter) {
    await input.press('Enter');
  }
}

/** The view pane whose header says `name` (Credentials, Agents, Audit). */
function pane(page, name) {
  return page.locator('.pane', {
    has: page.locator('.pane-header', { hasText: new RegExp(`^\\s*${name}`, 'i') }),
  });
}

async function openKeyring(page) {
  const icon = page.locator('.activitybar [aria-label="Agent Keyring"]').first();
  await icon.waitFor({ state: 'visible' });
  const checked = await icon.getAttribute('aria-expanded');
  const selected = await page
    .locator('.activitybar .action-item.checked [aria-label="Agent Keyring"]')
    .count();
  if (!selected && checked !== 'true') {
    await icon.click();
  }
  await pane(page, 'Credentials').waitFor({ state: 'visible' });
}

/** Expands the view section `name` if it is collapsed. */
async function expandPane(page, name) {
  const header = pane(page, name).locator('.pane-header').first();
  if ((await header.getAttribute('aria-expanded')) === 'false') {
    await header.click();
  }
}

function treeRow(page, view, label) {
  return pane(page, view).locator('.monaco-list-row', {
    has: page.locator('.label-name', { hasText: label }),
  });
}

async function assertNoCanaryOnPage(page) {
  const text = await page.locator('.monaco-workbench').innerText();
  for (const c of [CANARY_V1, CANARY_V2]) {
    assert.ok(!text.includes(c), 'a secret value is visible on the page');
  }
}

// --- Import from .env… (test/e2e: owned by the .env import; appended to `tests` below) ----------
// A person with a project .env: run the command from the palette, pick the file, accept the
// suggestions (or customize each key), see the Credentials tree and a summary — and never a value,
// neither on screen nor in the extension's log.
const ENV_CANARIES = {
  OPENAI_API_KEY: `canary-openai-${randomUUID()}`,
  NPM_TOKEN: `canary-npm-${randomUUID()}`,
  GITHUB_TOKEN: `canary-gh-${randomUUID()}`,
  SERPAPI_KEY: `canary-serp-${randomUUID()}`,
  DATABASE_URL: `postgres://app:canary-db-${randomUUID()}@db.internal:5432/app`,
};
const ENV_CANARIES_2 = {
  GITHUB_TOKEN: `canary-gh2-${randomUUID()}`,
  OPENAI_API_KEY: `canary-openai2-${randomUUID()}`,
  ANTHROPIC_API_KEY: `canary-anthropic-${randomUUID()}`,
};
/** The unique part of every .env value (`canary-…-<uuid>`), which must never be seen. */
/** Every GITHUB_TOKEN value the customize test wrote (one per attempt). */
const rotatedValues = [];
const allEnvCanaries = () =>
  [...Object.values(ENV_CANARIES), ...Object.values(ENV_CANARIES_2), ...rotatedValues].map(
    (v) => /canary-[a-z0-9]+-[0-9a-f-]{36}/.exec(v)[0],
  );

/** Every text a person could see in the workbench: rendered text and the values of input boxes. */
async function visibleText(page) {
  const text = await page.locator('.monaco-workbench').innerText();
  const inputs = await page
    .locator('.monaco-workbench input, .monaco-workbench textarea')
    .evaluateAll((els) => els.map((e) => e.value ?? ''));
  return `${text}\n${inputs.join('\n')}`;
}

async function assertNoEnvCanaryOnPage(page, where) {
  const text = await visibleText(page);
  for (const c of allEnvCanaries()) {
    assert.ok(!text.includes(c), `a .env value is visible on the page (${where})`);
  }
}

/** The extension host's log files (the "Agent Keyring" output channel is one of them). */
function logFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        walk(p);
      } else if (e.name.endsWith('.log')) {
        out.push(p);
      }
    }
  };
  walk(path.join(dir, 'logs'));
  return out;
}

/** Waits until the Agent Keyring log says `line`, then checks no log file holds a .env value. */
async function assertLogSaysButHidesValues(env, line) {
  let files;
  for (const deadline = Date.now() + 10_000; ; await env.page.waitForTimeout(200)) {
    files = logFiles(env.userDataDir).filter((f) => fs.readFileSync(f, 'utf8').includes(line));
    if (files.length > 0 || Date.now() > deadline) {
      break;
    }
  }
  assert.ok(files.length > 0, `the Agent Keyring log says "${line}"`);
  for (const f of logFiles(env.userDataDir)) {
    const text = fs.readFileSync(f, 'utf8');
    for (const c of allEnvCanaries()) {
      assert.ok(!text.includes(c), `a .env value is in the log ${path.basename(f)}`);
    }
  }
}

/** Clicks the checkbox of the quick-pick row whose label matches `label` (multi-select). */
async function toggleRow(page, label) {
  await quickInput(page)
    .locator('.monaco-list-row', { has: page.locator('.label-name', { hasText: label }) })
    .locator('.monaco-custom-toggle, input[type=checkbox], .quick-input-list-checkbox')
    .first()
    .click();
}

/** The quick input's Back button (title bar). */
function backButton(page) {
  return quickInput(page)
    .locator(
      '.quick-input-titlebar .action-label.codicon-quick-input-back, .quick-input-titlebar [aria-label="Back"]',
    )
    .first();
}

/** Waits until the quick input's box holds `value`. */
async function inputValue(page, value) {
  await page.waitForFunction(
    (v) => globalThis.document.querySelector('.quick-input-widget input')?.value === v,
    value,
  );
}

/**
 * Expands a tree row by its twistie. The view repaints when the store changes (our own import
 * included), which can swallow a click: check aria-expanded and click again if needed.
 */
async function expandTreeRow(page, row) {
  for (let attempt = 1; ; attempt++) {
    await row.waitFor();
    if ((await row.getAttribute('aria-expanded')) === 'true') {
      return;
    }
    if (attempt > 3) {
      throw new Error(`the tree row did not expand: ${await row.innerText()}`);
    }
    await row.locator('.monaco-tl-twistie').click();
    await page
      .waitForFunction((el) => el.getAttribute('aria-expanded') === 'true', await row.elementHandle(), {
        timeout: 2_000,
      })
      .catch(() => undefined);
  }
}

/** The Credentials view with room to read it: Agents and Audit collapsed, every credential collapsed. */
async function roomForCredentials(page) {
  await openKeyring(page);
  for (const name of ['Agents', 'Audit']) {
    const header = pane(page, name).locator('.pane-header').first();
    if ((await header.getAttribute('aria-expanded')) === 'true') {
      await header.click();
    }
  }
  const credentials = pane(page, 'Credentials');
  await credentials.locator('.pane-header').hover();
  // Disabled while nothing is expanded (or the view is empty): nothing to do then.
  const collapse = credentials.locator(
    '.pane-header .action-label[aria-label^="Collapse All"]:not([aria-disabled="true"])',
  );
  if (await collapse.count()) {
    await collapse.first().click();
  }
}

/** A screenshot of the quick input once it has faded in (a new picker animates its opacity). */
async function pickerShot(env, file) {
  await env.page.waitForFunction(() => {
    const w = globalThis.document.querySelector('.quick-input-widget');
    return w && globalThis.getComputedStyle(w).opacity === '1';
  });
  await shot(env, file);
}

/** The palette → Import from .env… → the file `label`. */
async function startImport(page, label) {
  await palette(page, 'Agent Keyring: Import from .env…');
  await quickInput(page)
    .locator('.quick-input-title', { hasText: /^Import from \.env$/ })
    .waitFor();
  await quickInput(page).locator('input').first().fill(label);
  await quickInput(page)
    .locator('.monaco-list-row', { has: page.locator('.label-name').getByText(label, { exact: true }) })
    .first()
    .click();
  await quickInput(page)
    .locator('.quick-input-title', { hasText: `Import from .env: ${label} (1/3)` })
    .waitFor();
}

const importEnvTests = [
  {
    name: 'Import from .env…: five keys with suggested names and scopes, accepted in three steps; no value on screen or in the log',
    async run(env) {
      const { page } = env;
      const file = path.join(env.workspace, '.env');
      const text = [
        '# my-app',
        'NODE_ENV=development',
        'PORT=3000',
        ...Object.entries(ENV_CANARIES).map(([k, v]) => `${k}=${v}`),
        '',
      ].join('\n');
      fs.writeFileSync(file, text);
      await roomForCredentials(page);
      await startImport(page, '.env');
      // The key pick: five secrets selected with their suggestion, NODE_ENV and PORT offered, not selected.
      const widget = quickInput(page);
      await widget.locator('.quick-input-count', { hasText: '5 Selected' }).waitFor();
      const row = (key) =>
        widget.locator('.monaco-list-row', {
          has: page.locator('.label-name', { hasText: new RegExp(`^${key}$`) }),
        });
      assert.match(await row('NPM_TOKEN').innerText(), /→ npm_token · read, publish · line 5/);
      assert.match(await row('OPENAI_API_KEY').innerText(), /→ openai_api_key · inference/);
      assert.match(await row('GITHUB_TOKEN').innerText(), /→ github_token · repo_read/);
      await row('PORT').waitFor();
      await assertNoEnvCanaryOnPage(page, 'key pick');
      await pickerShot(env, '30-import-env-keys.png');
      await page.keyboard.press('Enter');
      // "Import 5 keys as shown" is the default; Enter takes it.
      await widget.locator('.quick-input-title', { hasText: 'Import from .env: .env (2/3)' }).waitFor();
      await widget.locator('.monaco-list-row', { hasText: 'Import 5 keys as shown' }).first().waitFor();
      await pickerShot(env, '31-import-env-how.png');
      await page.keyboard.press('Enter');
      await widget.locator('.quick-input-title', { hasText: 'Import from .env: .env (3/3)' }).waitFor();
      await toggleRow(page, /^vscode$/);
      await widget.locator('.quick-input-count', { hasText: '1 Selected' }).waitFor();
      await widget.locator('.monaco-button', { hasText: 'OK' }).click();

      const names = ['openai_api_key', 'npm_token', 'github_token', 'serpapi_key', 'database_url'];
      const toast = page.locator('.notification-toast', {
        hasText: `Imported 5 keys from .env (${names.join(', ')})`,
      });
      await toast.waitFor();
      for (const n of names) {
        await treeRow(page, 'Credentials', n).first().waitFor();
      }
      await page.waitForTimeout(400); // the toast fades in
      await assertNoEnvCanaryOnPage(page, 'after the import');
      await shot(env, '32-import-env-done.png');
      // The summary's button replaces the values in the file by comments; nothing else changes.
      await toast.locator('.monaco-button', { hasText: 'Remove Values from .env' }).click();
      await page.locator('.notification-toast', { hasText: '.env now names the 5 credentials' }).waitFor();
      assert.equal(
        fs.readFileSync(file, 'utf8'),
        [
          '# my-app',
          'NODE_ENV=development',
          'PORT=3000',
          ...names.map((n) => `# ${n.toUpperCase()} moved to Agent Keyring as '${n}'`),
          '',
        ].join('\n'),
      );
      await assertLogSaysButHidesValues(env, 'Imported 5 keys from .env');
    },
  },
  {
    name: 'Import from .env…: customize each — rotate an existing key, rename another, change scopes',
    async run(env) {
      const { page } = env;
      const file = path.join(env.workspace, '.env.local');
      // A new value per attempt: a retry must rotate again, not find the value up to date.
      ENV_CANARIES_2.GITHUB_TOKEN = `canary-gh2-${randomUUID()}`;
      rotatedValues.push(ENV_CANARIES_2.GITHUB_TOKEN);
      fs.writeFileSync(
        file,
        [...Object.entries(ENV_CANARIES_2).map(([k, v]) => `${k}=${v}`), 'LOG LEVEL=debug', ''].join('\n'),
      );
      await roomForCredentials(page);
      await startImport(page, '.env.local');
      const widget = quickInput(page);
      await widget.locator('.quick-input-count', { hasText: '3 Selected' }).waitFor();
      await widget
        .locator('.monaco-list-row', { hasText: 'GITHUB_TOKEN' })
        .filter({ hasText: 'Already exists: skipped' })
        .first()
        .waitFor();
      await widget.locator('.monaco-list-row', { hasText: 'Line 4' }).first().waitFor();
      await assertNoEnvCanaryOnPage(page, 'key pick');
      await pickerShot(env, '33-import-env-existing.png');
      await page.keyboard.press('Enter');
      await widget.locator('.quick-input-title', { hasText: 'Import from .env: .env.local (2/3)' }).waitFor();
      await widget.locator('.monaco-list-row', { hasText: 'Customize each…' }).first().click();

      // GITHUB_TOKEN exists: rotate it to the value in the file.
      await widget
        .locator('.quick-input-title', { hasText: 'Import from .env: GITHUB_TOKEN (1/3)' })
        .waitFor();
      await widget.locator('.monaco-list-row', { hasText: "Rotate 'github_token'" }).first().waitFor();
      await pickerShot(env, '34-import-env-conflict.png');
      await widget.locator('.monaco-list-row', { hasText: "Rotate 'github_token'" }).first().click();
      // OPENAI_API_KEY exists: import it under another name (suggested openai_api_key_2). Names
      // are per attempt, so a retry after a partial run does not meet its own credentials.
      const tag = randomUUID().slice(0, 4);
      const renamed = `openai_api_key_${tag}`;
      const fresh = `anthropic_${tag}`;
      await widget
        .locator('.quick-input-title', { hasText: 'Import from .env: OPENAI_API_KEY (2/3)' })
        .waitFor();
      await widget.locator('.monaco-list-row', { hasText: 'Import under another name…' }).first().click();
      await inputValue(page, 'openai_api_key_2');
      await answer(page, 'Import from .env: OPENAI_API_KEY (2/3)', renamed);
      await inputValue(page, 'inference'); // the suggested scope
      await page.keyboard.press('Enter');
      await widget.locator('.monaco-button', { hasText: 'OK' }).click();
      // ANTHROPIC_API_KEY is new: another name, and one more scope.
      await widget
        .locator('.quick-input-title', { hasText: 'Import from .env: ANTHROPIC_API_KEY (3/3)' })
        .waitFor();
      await inputValue(page, 'anthropic_api_key');
      await widget.locator('input').first().fill(fresh);
      await page.keyboard.press('Enter');
      await inputValue(page, 'inference');
      await widget.locator('input').first().fill('inference, batch');
      await pickerShot(env, '35-import-env-customize-scopes.png');
      await page.keyboard.press('Enter');
      await widget.locator('.monaco-button', { hasText: 'OK' }).click();

      const toast = page.locator('.notification-toast', {
        hasText: `Imported 2 keys from .env.local (${renamed}, ${fresh}), rotated 1 (github_token → v`,
      });
      await toast.waitFor();
      const version = /github_token → v(\d+)/.exec(await toast.innerText())[1];
      await page.waitForFunction(
        (v) =>
          [...globalThis.document.querySelectorAll('.monaco-list-row')].some(
            (r) =>
              r.querySelector('.label-name')?.textContent === 'github_token' &&
              r.querySelector('.label-description')?.textContent?.startsWith(`v${v} · `),
          ),
        version,
      );
      const added = treeRow(page, 'Credentials', fresh).first();
      // Expand it, then its Scopes (the only Scopes row: every other credential is collapsed).
      await expandTreeRow(page, added);
      await expandTreeRow(page, treeRow(page, 'Credentials', 'Scopes').first());
      await treeRow(page, 'Credentials', 'batch').first().waitFor();
      await treeRow(page, 'Credentials', renamed).first().waitFor();
      await page.waitForTimeout(400); // the toast fades in
      await assertNoEnvCanaryOnPage(page, 'after the import');
      await shot(env, '36-import-env-customized.png');
      await added.locator('.monaco-tl-twistie').click();
      await treeRow(page, 'Credentials', 'batch').first().waitFor({ state: 'detached' });
      await toast.locator('.codicon-notifications-clear, .codicon-close').first().click();
      await toast.waitFor({ state: 'hidden' });
      // Not asked to: the file keeps its values.
      assert.ok(fs.readFileSync(file, 'utf8').includes(ENV_CANARIES_2.ANTHROPIC_API_KEY));
      await assertLogSaysButHidesValues(env, 'Imported 2 keys from .env.local');
    },
  },
  {
    name: 'Import from .env…: a line that is not KEY=value, if chosen, is refused with a clear message; nothing imported',
    async run(env) {
      const { page } = env;
      const file = path.join(env.workspace, '.env.broken');
      fs.writeFileSync(file, `STRIPE_SECRET_KEY=${ENV_CANARIES.OPENAI_API_KEY}\nexport MY KEY=x\n`);
      await startImport(page, '.env.broken');
      await toggleRow(page, /Line 2$/);
      await quickInput(page).locator('.quick-input-count', { hasText: '2 Selected' }).waitFor();
      // OK, not Enter: with the focus in the list, Enter toggles the focused row again.
      await quickInput(page).locator('.monaco-button', { hasText: 'OK' }).click();
      const toast = page.locator('.notification-toast', {
        hasText: 'Line 2 of .env.broken is not KEY=value, so it cannot be imported',
      });
      await toast.waitFor();
      assert.match(await toast.innerText(), /Nothing was imported from \.env\.broken\./);
      await page.waitForTimeout(400);
      await shot(env, '37-import-env-refused.png');
      assert.equal(await treeRow(page, 'Credentials', 'stripe_secret_key').count(), 0, 'nothing was stored');
      await assertNoEnvCanaryOnPage(page, 'the refusal');
      await toast
        .locator('.codicon-notifications-clear, .codicon-close')
        .first()
        .click()
        .catch(() => undefined);
    },
  },
];

/** Opens "Get started with Agent Keyring" and waits for its four steps; returns its container. */
async function openWalkthrough(page) {
  await palette(page, 'Welcome: Open Walkthrough...');
  await quickInput(page).locator('input').first().fill('Agent Keyring');
  await quickInput(page)
    .locator('.monaco-list-row', { hasText: 'Get started with Agent Keyring' })
    .first()
    .click();
  const wt = page.locator('.gettingStartedContainer');
  for (const step of WALKTHROUGH_STEPS) {
    await wt.locator('.getting-started-step', { hasText: step }).first().waitFor();
  }
  return wt;
}

const WALKTHROUGH_STEPS = [
  'Add a credential',
  'Start Agent Keyring for Copilot',
  'Connect a CLI agent',
  'Watch the audit',
];
/** The steps that tick on the store's state (context keys agentKeyring.hasCredentials / hasExternalAgents). */
const STATE_STEPS = ['Add a credential', 'Connect a CLI agent'];

function stepIcon(wt, step, state) {
  return wt
    .locator('.getting-started-step', { hasText: step })
    .first()
    .locator(`.codicon-getting-started-step-${state}`);
}

export const tests = [
  {
    name: 'the extension activates: status bar item and the Agent Keyring views (empty state)',
    async run(env) {
      const { page, keyringPort } = env;
      const status = page.locator('.statusbar-item', { hasText: `Agent Keyring :${keyringPort}` });
      await status.waitFor({ state: 'visible', timeout: 30_000 });
      await openKeyring(page);
      // Only the built-in agent exists: the Credentials view shows its welcome content.
      const welcome = pane(page, 'Credentials').locator('.welcome-view-content');
      await welcome.waitFor({ state: 'visible' });
      assert.match(await welcome.innerText(), /No credentials yet/);
      await welcome.locator('a, .monaco-button', { hasText: 'Add Credential' }).first().waitFor();
      await shot(env, '01-empty-credentials-welcome.png');
      await status.hover();
      await page.locator('.monaco-hover, .workbench-hover', { hasText: 'agent session' }).first().waitFor();
      await shot(env, '02-status-bar-tooltip.png', { clip: { x: 0, y: 560, width: 700, height: 240 } });
      await page.mouse.move(640, 300);
    },
  },
  {
    // As after installing: the walkthrough is open before anything is stored. (VS Code ticks an
    // onContext step when its key turns true while the walkthrough service runs; it starts with
    // the first walkthrough shown.)
    name: 'the walkthrough on first use: four steps, "Add a credential" and "Connect a CLI agent" not done yet',
    async run(env) {
      const { page } = env;
      const wt = await openWalkthrough(page);
      for (const step of STATE_STEPS) {
        await stepIcon(wt, step, 'unchecked').waitFor();
      }
      await shot(env, '03-walkthrough-first-use.png');
      await palette(page, 'View: Close Editor');
      await wt.waitFor({ state: 'detached' });
    },
  },
  {
    // Issue #12: with the walkthrough open, the focus went back to it between two prompts (each
    // prompt was its own quick input: closing one restored the focus to the walkthrough, which
    // re-focused its selected step a moment later), so typed text and Enter landed there.
    name: 'with the walkthrough open, Add Credential by keyboard only: every key reaches the prompts; the step is ticked',
    async run(env) {
      const { page } = env;
      const name = `ui-kb-${randomUUID().slice(0, 4)}`;
      const wt = await openWalkthrough(page);
      // Select the "Add a credential" step (its guide shows), then its Add Credential button, by
      // keyboard: focus on the button, Enter.
      await wt.locator('.getting-started-step', { hasText: 'Add a credential' }).first().click();
      await page.waitForTimeout(600);
      await wt
        .locator('.monaco-button', { hasText: /^Add Credential$/ })
        .first()
        .focus();
      await page.keyboard.press('Enter');
      // As a person does: read each prompt, then type (the pause is when the focus used to move).
      const step = async (n, keys) => {
        await quickInput(page)
          .locator('.quick-input-title', { hasText: `Add Credential (${n}/5)` })
          .waitFor();
        await page.waitForTimeout(700);
        if (keys) {
          await page.keyboard.type(keys, { delay: 20 });
        }
        await page.keyboard.press('Enter');
      };
      await step(1, name);
      await step(2, `canary-kb-${randomUUID()}`);
      await step(3, ''); // the default scope, read
      await step(4, ''); // no agent yet
      await step(5, ''); // Add
      await page.locator('.notification-toast', { hasText: `credential '${name}' added` }).waitFor();
      await stepIcon(wt, 'Add a credential', 'checked').waitFor({ timeout: 15_000 });
      await shot(env, '03b-walkthrough-add-credential-by-keyboard.png');
      await palette(page, 'View: Close Editor');
      await wt.waitFor({ state: 'detached' });
      await openKeyring(page);
      await treeRow(page, 'Credentials', name).first().waitFor();
    },
  },
  {
    name: 'Add Credential from the palette: validation as you type, then the tree shows it (v1)',
    async run(env) {
      const { page } = env;
      await openKeyring(page);
      await palette(page, 'Agent Keyring: Add Credential');
      // The name first; a bad one is refused as typed, with the rule (and never echoes what was typed).
      await answer(page, 'Add Credential (1/5)', 'Bad Name!', { enter: false });
      const message = quickInput(page).locator('.quick-input-message');
      await message.filter({ hasText: 'Must be 1–64 characters' }).waitFor();
      await shot(env, '03-add-credential-validation.png');
      await answer(page, 'Add Credential (1/5)', NAME);
      // The value: a password box that names the credential.
      await quickInput(page).locator('.quick-input-title', { hasText: 'Add Credential (2/5)' }).waitFor();
      assert.equal(await quickInput(page).locator('input').first().getAttribute('type'), 'password');
      assert.match(await quickInput(page).innerText(), new RegExp(`secret value of '${NAME}'`));
      await answer(page, 'Add Credential (2/5)', CANARY_V1);
      // Back keeps what was typed: step 2 shows again with the value still in its box.
      await quickInput(page).locator('.quick-input-title', { hasText: 'Add Credential (3/5)' }).waitFor();
      await backButton(page).click();
      await quickInput(page).locator('.quick-input-title', { hasText: 'Add Credential (2/5)' }).waitFor();
      await inputValue(page, CANARY_V1);
      await backButton(page).click();
      await quickInput(page).locator('.quick-input-title', { hasText: 'Add Credential (1/5)' }).waitFor();
      await inputValue(page, NAME);
      await page.keyboard.press('Enter');
      await quickInput(page).locator('.quick-input-title', { hasText: 'Add Credential (2/5)' }).waitFor();
      await inputValue(page, CANARY_V1);
      await page.keyboard.press('Enter');
      await answer(page, 'Add Credential (3/5)', 'search_read, publish');
      // Allowed agents: a multi-select of the known agents and *.
      await quickInput(page).locator('.quick-input-title', { hasText: 'Add Credential (4/5)' }).waitFor();
      const vscodeRow = quickInput(page).locator('.monaco-list-row', { hasText: 'vscode' }).first();
      await vscodeRow
        .locator('.monaco-custom-toggle, input[type=checkbox], .quick-input-list-checkbox')
        .first()
        .click();
      await quickInput(page).locator('.quick-input-count', { hasText: '1 Selected' }).waitFor();
      await shot(env, '04-add-credential-agents.png');
      await quickInput(page).locator('.monaco-button', { hasText: 'OK' }).click();
      // The last step: Add (the default) or Customize… the rest.
      await quickInput(page).locator('.quick-input-title', { hasText: 'Add Credential (5/5)' }).waitFor();
      await quickInput(page)
        .locator('.monaco-list-row', { hasText: `Add '${NAME}'` })
        .first()
        .waitFor();
      await quickInput(page).locator('.monaco-list-row', { hasText: 'Customize…' }).first().waitFor();
      await pickerShot(env, '04b-add-credential-review.png');
      await quickInput(page).locator('.monaco-list-row', { hasText: 'Customize…' }).first().click();
      const settings = quickInput(page).locator('.quick-input-title', { hasText: `customize '${NAME}'` });
      await settings.waitFor();
      await pickerShot(env, '04c-add-credential-customize.png');
      // Each setting: pick it, type, Enter — back to the list of settings.
      const setting = async (label, prompt, text) => {
        await settings.waitFor();
        await quickInput(page)
          .locator('.monaco-list-row', {
            has: page.locator('.label-name', { hasText: new RegExp(`^${label}$`) }),
          })
          .first()
          .click();
        await quickInput(page).locator('.quick-input-message', { hasText: prompt }).waitFor();
        await quickInput(page).locator('input').first().fill(text);
        await page.keyboard.press('Enter');
      };
      await setting('Description', 'What is it for?', 'Search API key for the UI test');
      await setting('Lease lifetime', 'Lease lifetime in seconds', '900');
      await setting('Allowed hosts', 'Hosts http_request may send it to', 'api.example.com');
      await settings.waitFor();
      await quickInput(page).locator('.monaco-list-row', { hasText: 'api.example.com' }).first().waitFor();
      await quickInput(page).locator('.monaco-list-row', { hasText: '900 s' }).first().waitFor();
      await pickerShot(env, '04d-add-credential-customized.png');
      await quickInput(page)
        .locator('.monaco-list-row', { hasText: `Add '${NAME}'` })
        .first()
        .click();
      const row = treeRow(page, 'Credentials', NAME);
      await row.waitFor({ state: 'visible' });
      assert.match(await row.locator('.label-description').innerText(), /^v1 · (<1 min|\d+ min)$/);
      await page.locator('.notification-toast', { hasText: `credential '${NAME}' added` }).waitFor();
      await assertNoCanaryOnPage(page);
    },
  },
  {
    name: 'Esc in the middle of Add Credential stores nothing',
    async run(env) {
      const { page } = env;
      await palette(page, 'Agent Keyring: Add Credential');
      await answer(page, 'Add Credential (1/5)', CANCELLED);
      await answer(page, 'Add Credential (2/5)', 'canary-esc-value');
      await quickInput(page).locator('.quick-input-title', { hasText: 'Add Credential (3/5)' }).waitFor();
      await page.keyboard.press('Escape');
      await quickInput(page).waitFor({ state: 'hidden' });
      await page.waitForTimeout(500);
      assert.equal(await treeRow(page, 'Credentials', CANCELLED).count(), 0, 'nothing was stored');
    },
  },
  {
    name: 'the credential row: children without the value, inline Rotate / Edit Scopes, context menu',
    async run(env) {
      const { page } = env;
      const row = treeRow(page, 'Credentials', NAME);
      await row.click();
      await page.keyboard.press('ArrowRight');
      for (const child of ['Scopes', 'Allowed agents', 'Versions']) {
        await treeRow(page, 'Credentials', child).first().waitFor();
      }
      await treeRow(page, 'Credentials', 'Scopes').first().click();
      await page.keyboard.press('ArrowRight');
      await treeRow(page, 'Credentials', 'Versions').first().click();
      await page.keyboard.press('ArrowRight');
      await treeRow(page, 'Credentials', 'search_read').waitFor();
      await row.hover();
      await row.locator('.action-label[aria-label="Rotate Credential"]').waitFor({ state: 'visible' });
      await row.locator('.action-label[aria-label="Edit Scopes…"]').waitFor({ state: 'visible' });
      await shot(env, '05-credentials-view.png');
      // The row's tooltip: metadata only.
      await row.locator('.label-name').hover();
      const hover = page.locator('.monaco-hover, .workbench-hover', { hasText: 'Lease lifetime' }).first();
      await hover.waitFor({ state: 'visible' });
      assert.match(await hover.innerText(), /Scopes:\s*search_read,\s*publish/);
      await shot(env, '05b-credential-tooltip.png');
      await page.mouse.move(800, 500);
      await row.click({ button: 'right' });
      const menu = page.locator('.context-view .monaco-menu, .monaco-menu-container').first();
      await menu.waitFor({ state: 'visible' });
      const text = await menu.innerText();
      for (const entry of ['Rotate Credential', 'Edit Scopes…', 'Copy Name', 'Remove Credential']) {
        assert.ok(text.includes(entry), `context menu has ${entry}: ${text}`);
      }
      await shot(env, '06-credential-context-menu.png');
      await page.keyboard.press('Escape');
      await assertNoCanaryOnPage(page);
    },
  },
  {
    name: 'Rotate Credential from the palette: new value, 1 h grace; the tree shows v2',
    async run(env) {
      const { page } = env;
      await palette(page, 'Agent Keyring: Rotate Credential');
      await quickInput(page).locator('.quick-input-title', { hasText: 'Rotate Credential' }).waitFor();
      await quickInput(page).locator('input').first().fill(NAME);
      await quickInput(page).locator('.monaco-list-row', { hasText: NAME }).first().waitFor();
      await page.keyboard.press('Enter');
      await answer(page, `Rotate Credential: ${NAME} (v1) (1/2)`, CANARY_V2);
      await quickInput(page).locator('.quick-input-title', { hasText: '(2/2)' }).waitFor();
      await shot(env, '07-rotate-grace-period.png');
      await quickInput(page).locator('input').first().fill('1 hour');
      await page.keyboard.press('Enter');
      const toast = page.locator('.notification-toast', { hasText: `'${NAME}' is now version 2` });
      await toast.waitFor();
      await page.waitForTimeout(400); // the toast fades in
      await shot(env, '08-rotate-done.png');
      const row = treeRow(page, 'Credentials', NAME);
      await page.waitForFunction(
        (name) =>
          [...globalThis.document.querySelectorAll('.monaco-list-row')].some(
            (r) =>
              r.querySelector('.label-name')?.textContent?.includes(name) &&
              /^v2 · /.test(r.querySelector('.label-description')?.textContent ?? ''),
          ),
        NAME,
      );
      assert.match(await row.locator('.label-description').innerText(), /^v2 · /);
      // A few seconds later the status bar tells how many running MCP servers restarted (none here).
      const restarts = page.locator('.statusbar-item', {
        hasText: `No running MCP servers restarted with '${NAME}' v2`,
      });
      await restarts.waitFor({ timeout: 20_000 });
      await shot(env, '08b-rotate-restarts-status-bar.png');
      await assertNoCanaryOnPage(page);
    },
  },
  {
    name: 'Add Agent: the token is shown once in a modal with Copy Token; the Agents view lists the agent',
    async run(env) {
      const { page } = env;
      await openKeyring(page);
      await palette(page, 'Agent Keyring: Add Agent…');
      await answer(page, 'Add Agent (1/3)', AGENT);
      await answer(page, 'Add Agent (2/3)', 'UI test agent');
      await answer(page, 'Add Agent (3/3)', '08:00-20:00');
      const dialog = page.locator('.monaco-dialog-box');
      await dialog.waitFor({ state: 'visible' });
      const text = await dialog.innerText();
      assert.match(text, /shown only this once/);
      const token = /akr_[A-Za-z0-9_-]{43}/.exec(text)?.[0];
      assert.ok(token, 'the modal shows the token');
      await shot(env, '09-add-agent-token-modal.png');
      await dialog.locator('.monaco-button', { hasText: 'Copy Token' }).click();
      await dialog.waitFor({ state: 'hidden' });
      // The extension host writes the clipboard after the dialog closed: poll for it.
      await page.waitForFunction(
        async (t) => (await navigator.clipboard.readText().catch(() => '')) === t,
        token,
        { timeout: 5_000 },
      );
      await expandPane(page, 'Agents');
      const row = treeRow(page, 'Agents', AGENT);
      await row.waitFor();
      assert.match(await row.locator('.label-description').innerText(), /^never seen · UI test agent$/);
      await row.click();
      await page.keyboard.press('ArrowRight');
      const vscodeRow = treeRow(page, 'Agents', 'vscode').first();
      await vscodeRow.click();
      await page.keyboard.press('ArrowRight');
      await treeRow(page, 'Agents', NAME).first().waitFor();
      await shot(env, '10-agents-view.png');
    },
  },
  {
    name: 'Remove Credential from the context menu asks in a modal, then removes it',
    async run(env) {
      const { page } = env;
      await openKeyring(page);
      await palette(page, 'Agent Keyring: Add Credential');
      await answer(page, 'Add Credential (1/5)', DOOMED);
      await answer(page, 'Add Credential (2/5)', 'canary-doomed-value');
      await answer(page, 'Add Credential (3/5)', 'read');
      await quickInput(page).locator('.quick-input-title', { hasText: 'Add Credential (4/5)' }).waitFor();
      await quickInput(page).locator('.monaco-button', { hasText: 'OK' }).click();
      await quickInput(page).locator('.quick-input-title', { hasText: 'Add Credential (5/5)' }).waitFor();
      await page.keyboard.press('Enter'); // Add (the first item)
      const row = treeRow(page, 'Credentials', DOOMED);
      await row.waitFor();
      await row.click({ button: 'right' });
      const item = page.locator('.monaco-menu .action-label', { hasText: 'Remove Credential' });
      await item.hover();
      await item.click();
      const dialog = page.locator('.monaco-dialog-box');
      // A click during the menu's fade-in can be dropped; the item is focused then, so Enter runs it.
      await dialog.waitFor({ state: 'visible', timeout: 3_000 }).catch(async () => {
        await page.keyboard.press('Enter');
        await dialog.waitFor({ state: 'visible' });
      });
      assert.match(await dialog.innerText(), new RegExp(`Remove credential '${DOOMED}'\\?`));
      await shot(env, '11-revoke-confirm-modal.png');
      await dialog.locator('.monaco-button', { hasText: /^Remove$/ }).click();
      await row.waitFor({ state: 'detached' });
    },
  },
  // The Audit webview and the approval modal: test/e2e/audit.spec.mjs.
  ...auditTests({
    palette,
    answer,
    quickInput,
    openKeyring,
    pane,
    shot,
    names: { removed: DOOMED, rotated: NAME },
    canaries: [CANARY_V1, CANARY_V2],
  }),
  {
    name: '"MCP: List Servers" shows Agent Keyring',
    async run(env) {
      const { page } = env;
      await palette(page, 'MCP: List Servers');
      const row = quickInput(page).locator('.monaco-list-row', { hasText: 'Agent Keyring' }).first();
      await row.waitFor({ state: 'visible' });
      await shot(env, '13-mcp-list-servers.png');
      const text = await row.innerText();
      assert.match(text, /Agent Keyring/);
      await page.keyboard.press('Escape');
    },
  },
  {
    name: "Connect Agent…: new agent → Cursor's .cursor/mcp.json; the token is shown once, the file refers to the agent's own variable",
    async run(env) {
      const { page } = env;
      await openKeyring(page);
      await palette(page, 'Agent Keyring: Connect Agent…');
      await quickInput(page).locator('.quick-input-title', { hasText: 'Connect Agent (1/2)' }).waitFor();
      await quickInput(page).locator('.monaco-list-row', { hasText: 'New agent…' }).first().waitFor();
      await shot(env, '14-connect-agent-pick.png');
      await page.keyboard.press('Enter');
      await answer(page, 'Add Agent (1/3)', CONNECTED);
      await answer(page, 'Add Agent (2/3)', 'Claude Code');
      await answer(page, 'Add Agent (3/3)', '');
      await quickInput(page)
        .locator('.quick-input-title', { hasText: `Connect Agent (2/2): ${CONNECTED}` })
        .waitFor();
      // Cursor's project file: it stays in the workspace (Claude Code's entry goes to ~/.claude.json).
      await quickInput(page).locator('input').first().fill('project .cursor/mcp.json');
      await quickInput(page)
        .locator('.monaco-list-row', { hasText: 'Cursor — project .cursor/mcp.json' })
        .first()
        .waitFor();
      await shot(env, '15-connect-agent-client.png');
      await page.keyboard.press('Enter');
      const dialog = page.locator('.monaco-dialog-box');
      await dialog.waitFor({ state: 'visible' });
      const text = await dialog.innerText();
      assert.match(text, /added to \.cursor\/mcp\.json \(entry 'agent-keyring'\)/);
      const token = /akr_[A-Za-z0-9_-]{43}/.exec(text)?.[0];
      assert.ok(token, 'the modal shows the new token once');
      const variable = `AGENT_KEYRING_TOKEN_${CONNECTED.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
      assert.ok(text.includes(`export ${variable}=<token>`), text);
      assert.match(text, /shown only this once/);
      await shot(env, '16-connect-agent-done.png');
      await dialog.locator('.monaco-button', { hasText: 'Open File' }).click();
      await dialog.waitFor({ state: 'hidden' });
      const editor = page.locator('.editor-instance .view-lines').first();
      await page.locator('.tab', { hasText: 'mcp.json' }).first().waitFor();
      await editor.waitFor();
      await page.waitForFunction(() =>
        [...globalThis.document.querySelectorAll('.editor-instance .view-line')].some((l) =>
          l.textContent?.includes('AGENT_KEYRING_TOKEN'),
        ),
      );
      const content = (await editor.innerText()).replace(/\u00a0/g, ' '); // Monaco renders spaces as NBSP
      assert.match(content, /"agent-keyring"/);
      assert.ok(content.includes(`Bearer \${env:${variable}}`), content);
      assert.ok(!content.includes(token), 'the token is not written to the file');
      await shot(env, '17-connect-agent-mcp-json.png');
      // What VS Code's own .mcp.json validation says about the reference (for the screenshot).
      await page
        .locator('.editor-instance .view-line', { hasText: 'Authorization' })
        .locator('span', { hasText: 'AGENT_KEYRING' })
        .first()
        .hover()
        .catch(() => undefined);
      await page
        .locator('.monaco-hover')
        .first()
        .waitFor({ timeout: 3_000 })
        .catch(() => undefined);
      await shot(env, '17b-mcp-json-hover.png');
      await page.mouse.move(900, 600);
      await expandPane(page, 'Agents');
      await treeRow(page, 'Agents', CONNECTED).first().waitFor();
    },
  },
  {
    name: 'the walkthrough: four steps with buttons; credential and agent steps ticked by what earlier tests did; the connect step shows its guide',
    async run(env) {
      const { page } = env;
      const wt = await openWalkthrough(page);
      // Earlier tests added credentials (palette) and connected an agent: those steps are done,
      // whichever command did it.
      for (const step of STATE_STEPS) {
        await stepIcon(wt, step, 'checked').waitFor({ timeout: 15_000 });
      }
      // Side bar hidden: the walkthrough then has room for each step's media next to the steps.
      await page.keyboard.press('Control+B');
      await page.waitForTimeout(800);
      await shot(env, '18-walkthrough.png');
      await wt.locator('.getting-started-step', { hasText: 'Connect a CLI agent' }).first().click();
      await wt.locator('.monaco-button, a', { hasText: 'Connect Agent…' }).first().waitFor();
      await page.waitForTimeout(800);
      await shot(env, '19-walkthrough-connect-step.png');
      await page.keyboard.press('Control+B');
    },
  },
  // Import from .env…: defined above the list.
  ...importEnvTests,
];
