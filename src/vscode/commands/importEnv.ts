/**
 * `agentKeyring.importEnv` ("Import from .env…"). The least-clicks flow:
 * 1. pick a `.env*` file of the workspace (or any file);
 * 2. one multi-select of its KEYS — never a value — each showing the suggested credential name and
 *    scopes (core/importEnv/suggest.ts); keys that look like secrets are selected, plain settings
 *    (`NODE_ENV`, `PORT`) are not; a key whose credential exists says it will be skipped; a key
 *    defined twice and a line dotenv cannot read are listed and refused if chosen;
 * 3. "Import N keys as shown" (then one pick of the agents that may use them) or "Customize each…"
 *    (per key: rotate / rename / skip when the credential exists, then name, scopes, agents);
 * 4. everything is checked first, then stored all or nothing (core/importEnv/importPlan.ts), and
 *    a summary says what happened: "Imported 4 keys from .env (…), skipped 1 (already exists: …)."
 *    Its "Remove Values from .env" button replaces each imported definition by a comment naming
 *    the credential (`# NPM_TOKEN moved to Agent Keyring as 'npm_token'`), every other byte kept.
 *
 * Args: `{ file, keys: [{ key, name?, scopes?, agents?, ifExists?: 'skip' | 'rotate' }],
 * removeFromFile?: boolean }` — no prompt; name and scopes default to the suggestions, agents to
 * none. Resolves `{ file, imported, rotated, skipped, unchanged, removed, summary }`; `shown` lists
 * (in test mode) every text this run put on screen, so tests can check that no value appears.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { writeText } from '../../core/connect/configFile';
import { InvalidInputError, KeyringError } from '../../core/errors';
import { parseEnv, readEnvFile, removeKeys, type ParsedEnv } from '../../core/importEnv/envFile';
import {
  checkImport,
  choiceOf,
  duplicateProblem,
  runImport,
  suggestImport,
  summarizeImport,
  type ImportChoice,
  type ImportOutcome,
  type KeySuggestion,
} from '../../core/importEnv/importPlan';
import { freeName } from '../../core/importEnv/suggest';
import { CredentialPatchSchema } from '../../core/store/schemas';
import {
  ACTOR,
  argObject,
  optionalString,
  optionalStrings,
  type CommandContext,
  type CommandHandler,
} from './commandContext';
import { ask, parseList, pickAllowedAgents, schemaValidator } from './prompts';

const TITLE = 'Import from .env';
const OTHER_FILE = '$(folder-opened) Choose another file…';

export interface ImportEnvResult extends ImportOutcome {
  file: string;
  removed: boolean;
  summary: string;
  shown?: string[];
}

/** One row of the key pick: a key with its suggestion, or a line that cannot be imported. */
export type KeyPickItem = vscode.QuickPickItem & { suggestion?: KeySuggestion; problem?: string };

/**
 * The rows of the key pick: keys that look like secrets (selected), then other settings (not
 * selected), then what cannot be imported. Labels are key names and line numbers; descriptions
 * the suggested name and scopes — never a value.
 */
export function keyPickItems(
  suggestions: readonly KeySuggestion[],
  parsed: ParsedEnv,
  label: string,
): KeyPickItem[] {
  const row = (s: KeySuggestion): KeyPickItem => {
    const dup = duplicateProblem(s.key, s.lines, label);
    const where = s.line > 0 ? `line ${s.line}` : '';
    let detail: string | undefined;
    if (dup) {
      detail = `$(error) Defined on lines ${s.lines.join(', ')}: keep one definition to import it`;
    } else if (s.exists) {
      detail = '$(warning) Already exists: skipped (Customize each… to rotate or rename)';
    }
    return {
      label: s.key,
      description: `→ ${s.name} · ${s.scopes.join(', ')}${where ? ` · ${where}` : ''}`,
      detail,
      picked: s.secretLike && !dup,
      suggestion: s,
      problem: dup,
    };
  };
  const secrets = suggestions.filter((s) => s.secretLike);
  const others = suggestions.filter((s) => !s.secretLike);
  const items: KeyPickItem[] = [];
  if (secrets.length > 0) {
    items.push({ label: 'Keys', kind: vscode.QuickPickItemKind.Separator }, ...secrets.map(row));
  }
  if (others.length > 0) {
    items.push({ label: 'Other settings', kind: vscode.QuickPickItemKind.Separator }, ...others.map(row));
  }
  if (parsed.invalidLines.length > 0) {
    items.push({ label: 'Cannot be imported', kind: vscode.QuickPickItemKind.Separator });
    for (const line of parsed.invalidLines) {
      items.push({
        label: `$(warning) Line ${line}`,
        description: 'not KEY=value, so dotenv ignores it',
        picked: false,
        problem: `Line ${line} of ${label} is not KEY=value, so it cannot be imported. Fix the line (KEY=value), then import again.`,
      });
    }
  }
  return items;
}

export function importEnv(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const args = argObject(arg);
    const shown: string[] = [];
    const file = optionalString(args, 'file') ?? (await pickFile());
    if (!file) {
      return undefined;
    }
    const label = path.basename(file);
    const { text, mode } = await readEnvFile(file, label);
    const parsed = parseEnv(text);
    const existing = new Set((await ctx.keyring.admin.listCredentials()).map((c) => c.name));
    const suggestions = suggestImport(parsed, existing);
    if (suggestions.length === 0) {
      const bad = parsed.invalidLines.length;
      const msg = `Agent Keyring: ${label} defines no key with a value${bad > 0 ? ` (${bad} line(s) are not KEY=value: ${parsed.invalidLines.slice(0, 5).join(', ')})` : ''}; nothing to import.`;
      shown.push(msg);
      if (!args) {
        void vscode.window.showInformationMessage(msg);
      }
      return result(ctx, file, emptyOutcome(), false, msg, shown);
    }

    const choices = args
      ? choicesFromArgs(args, suggestions)
      : await prompt(ctx, parsed, suggestions, label, shown);
    if (!choices) {
      ctx.logger.info('Import from .env cancelled; nothing stored.');
      return undefined;
    }
    checkImport(parsed, choices, label);
    const outcome = await runImport({ admin: ctx.keyring.admin, logger: ctx.logger }, parsed, choices, {
      label,
      actor: ACTOR,
      ttlSeconds: ctx.settings().defaultTtlSeconds,
    });
    ctx.refreshViews();
    const summary = summarizeImport(outcome, label);
    ctx.logger.info(`Import from ${file}: ${summary}`);
    shown.push(summary);

    const moved = [...outcome.imported, ...outcome.rotated].map((i) => ({ key: i.key, credential: i.name }));
    const removeValues = async (): Promise<void> => {
      // Re-read: the file must still hold the values we imported, or we leave it alone.
      const now = await readEnvFile(file, label);
      const again = parseEnv(now.text);
      for (const m of moved) {
        if (again.value(m.key)?.reveal() !== parsed.value(m.key)?.reveal()) {
          throw new InvalidInputError(
            `${label} changed since the import ('${m.key}' is different now), so it was not rewritten. The credentials are stored; remove the values by hand.`,
          );
        }
      }
      await writeText(file, removeKeys(now.text, moved), now.mode ?? mode);
      ctx.logger.info(`Removed ${moved.length} imported value(s) from ${file}.`);
    };

    if (args) {
      const remove = args.removeFromFile === true && moved.length > 0;
      if (remove) {
        await removeValues();
      }
      return result(ctx, file, outcome, remove, summary, shown);
    }
    // The summary stays until dismissed; removing values from the user's file is only ever a click.
    const remove = `Remove Values from ${label}`;
    const actions = moved.length > 0 ? [remove] : [];
    const show = outcome.imported.length + outcome.rotated.length > 0 ? showInfo : showWarning;
    void show(`Agent Keyring: ${summary}`, ...actions).then(async (a) => {
      if (a !== remove) {
        return;
      }
      try {
        await removeValues();
        void vscode.window.showInformationMessage(
          `Agent Keyring: ${label} now names ${moved.length === 1 ? 'the credential' : `the ${moved.length} credentials`} instead of holding the values.`,
        );
      } catch (e) {
        const msg =
          e instanceof KeyringError ? e.message : `Could not rewrite ${label}. See the Agent Keyring log.`;
        ctx.logger.error(
          `Removing imported values from ${file} failed: ${e instanceof Error ? e.message : String(e)}`,
        );
        void vscode.window.showErrorMessage(`Agent Keyring: ${msg}`);
      }
    });
    return result(ctx, file, outcome, false, summary, shown);
  };
}

const showInfo = (m: string, ...a: string[]): Thenable<string | undefined> =>
  vscode.window.showInformationMessage(m, ...a);
const showWarning = (m: string, ...a: string[]): Thenable<string | undefined> =>
  vscode.window.showWarningMessage(m, ...a);

function emptyOutcome(): ImportOutcome {
  return { imported: [], rotated: [], skipped: [], unchanged: [] };
}

function result(
  ctx: CommandContext,
  file: string,
  outcome: ImportOutcome,
  removed: boolean,
  summary: string,
  shown: string[],
): ImportEnvResult {
  return { file, ...outcome, removed, summary, ...(ctx.testMode ? { shown } : {}) };
}

function choicesFromArgs(
  args: Record<string, unknown>,
  suggestions: readonly KeySuggestion[],
): ImportChoice[] {
  const keys = Array.isArray(args.keys) ? args.keys : [];
  if (keys.length === 0) {
    throw new InvalidInputError(
      'Import from .env needs "keys": [{ key, name?, scopes?, agents?, ifExists? }]. Nothing was imported.',
    );
  }
  return keys.map((k) => {
    const o = argObject(k);
    const key = optionalString(o, 'key') ?? '';
    const s = suggestions.find((x) => x.key === key);
    const ifExists = o?.ifExists === 'rotate' ? 'rotate' : 'skip';
    return {
      key,
      name: optionalString(o, 'name') ?? s?.name ?? '',
      scopes: optionalStrings(o, 'scopes') ?? s?.scopes ?? ['read'],
      agents: optionalStrings(o, 'agents') ?? [],
      ifExists,
    };
  });
}

async function pickFile(): Promise<string | undefined> {
  const found = await vscode.workspace.findFiles('**/.env*', '**/node_modules/**', 200);
  const items = [
    ...found
      .map((u) => ({ label: vscode.workspace.asRelativePath(u), file: u.fsPath }))
      .sort((a, b) => a.label.localeCompare(b.label)),
    { label: OTHER_FILE, file: '' },
  ];
  const picked = await vscode.window.showQuickPick(items, {
    title: TITLE,
    placeHolder: found.length > 0 ? 'Which file?' : 'No .env files in the workspace: choose a file',
    ignoreFocusOut: true,
  });
  if (!picked) {
    return undefined;
  }
  if (picked.file) {
    return picked.file;
  }
  const uris = await vscode.window.showOpenDialog({
    canSelectMany: false,
    openLabel: 'Import',
    title: `${TITLE}: choose a file`,
    defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
  });
  return uris?.[0]?.fsPath;
}

const ACCEPT = 'accept';
const CUSTOMIZE = 'customize';

async function prompt(
  ctx: CommandContext,
  parsed: ParsedEnv,
  suggestions: readonly KeySuggestion[],
  label: string,
  shown: string[],
): Promise<ImportChoice[] | undefined> {
  const items = keyPickItems(suggestions, parsed, label);
  shown.push(...items.flatMap((i) => [i.label, i.description ?? '', i.detail ?? '']));
  const picked = await vscode.window.showQuickPick(items, {
    title: `${TITLE}: ${label} (1/3)`,
    placeHolder: 'KEY → credential · scopes — values are never shown',
    canPickMany: true,
    matchOnDescription: true,
    ignoreFocusOut: true,
  });
  if (!picked || picked.length === 0) {
    return undefined;
  }
  // A line dotenv cannot read, or a key defined twice: say so and import nothing.
  const problems = picked.flatMap((p) => (p.problem ? [p.problem] : []));
  if (problems.length > 0) {
    throw new InvalidInputError(`${problems.slice(0, 3).join(' ')} Nothing was imported from ${label}.`);
  }
  const chosen = picked.flatMap((p) => (p.suggestion ? [p.suggestion] : []));
  const n = chosen.length;
  const existing = chosen.filter((s) => s.exists);
  const fresh = chosen.filter((s) => !s.exists);
  const skips =
    existing.length > 0
      ? `Skips ${existing.map((s) => `'${s.name}'`).join(', ')} (already ${existing.length === 1 ? 'exists' : 'exist'}). `
      : '';
  const how = await vscode.window.showQuickPick(
    [
      {
        label:
          fresh.length === 0
            ? '$(check) Import as shown'
            : `$(check) Import ${fresh.length === 1 ? fresh[0].key : `${fresh.length} keys`} as shown`,
        description: 'suggested names and scopes',
        detail:
          fresh.length === 0
            ? `${skips}Nothing new to import: Customize each… rotates or renames them.`
            : `${skips}Next: the agents that may use ${fresh.length === 1 ? 'it' : 'them'}.`,
        how: ACCEPT,
      },
      {
        label: '$(edit) Customize each…',
        description: 'name, scopes and agents key by key',
        detail:
          existing.length > 0
            ? 'Rotate, rename or skip the ones that already exist.'
            : 'Each step starts from the suggestion: Enter accepts it.',
        how: CUSTOMIZE,
      },
    ],
    {
      title: `${TITLE}: ${label} (2/3)`,
      placeHolder: `How to import ${n === 1 ? 'it' : `these ${n} keys`}?`,
      ignoreFocusOut: true,
    },
  );
  if (!how) {
    return undefined;
  }
  if (how.how === ACCEPT) {
    if (fresh.length === 0) {
      return chosen.map((s) => choiceOf(s)); // all exist: skipped, and the summary says so
    }
    const agents = await pickAllowedAgents(
      ctx.keyring.admin,
      { title: `${TITLE}: ${label}`, step: 3, totalSteps: 3 },
      [],
    );
    return agents === undefined ? undefined : chosen.map((s) => choiceOf(s, agents));
  }
  return customize(ctx, chosen, label);
}

/** Per key: what to do when it exists, then name, scopes and agents — each prefilled. */
async function customize(
  ctx: CommandContext,
  chosen: readonly KeySuggestion[],
  label: string,
): Promise<ImportChoice[] | undefined> {
  const store = ctx.keyring.admin;
  const taken = new Set<string>();
  const choices: ImportChoice[] = [];
  let agents: string[] = [];
  const nameSchema = schemaValidator(CredentialPatchSchema, (t) => ({ name: t }));
  const existing = new Set((await store.listCredentials()).map((c) => c.name));
  for (const [i, s] of chosen.entries()) {
    const title = `${TITLE}: ${s.key}`;
    const step = { title, step: i + 1, totalSteps: chosen.length };
    const stepTitle = `${title} (${i + 1}/${chosen.length})`;
    let suggestedName = s.name;
    if (s.exists || taken.has(s.name)) {
      const meta = await store.getCredential(s.name);
      if (meta) {
        const what = await vscode.window.showQuickPick(
          [
            {
              label: `$(sync) Rotate '${s.name}' to the value in ${label}`,
              description: `v${meta.version} → v${meta.version + 1}`,
              detail: 'It keeps its scopes and agents; every agent gets the new value on its next request.',
              action: 'rotate' as const,
            },
            {
              label: '$(edit) Import under another name…',
              description: 'a new credential; the existing one stays as it is',
              action: 'rename' as const,
            },
            {
              label: `$(close) Skip ${s.key}`,
              description: `'${s.name}' stays as it is`,
              action: 'skip' as const,
            },
          ],
          {
            title: stepTitle,
            placeHolder: `A credential named '${s.name}' already exists. What should ${s.key} do?`,
            ignoreFocusOut: true,
          },
        );
        if (!what) {
          return undefined;
        }
        if (what.action !== 'rename') {
          choices.push({ ...choiceOf(s), ifExists: what.action });
          taken.add(s.name);
          continue;
        }
      }
      suggestedName = freeName(s.name, (n) => taken.has(n) || existing.has(n));
    }
    const name = await ask(step, {
      prompt: `Credential name for ${s.key}`,
      value: suggestedName,
      validate: async (t) => {
        const problem = nameSchema(t);
        if (problem) {
          return problem;
        }
        if (taken.has(t)) {
          return `'${t}' is already the name of another key in this import. Pick another.`;
        }
        return (await store.getCredential(t))
          ? `A credential named '${t}' already exists. Pick another name (or Esc, and rotate it with Rotate Credential).`
          : undefined;
      },
    });
    if (name === undefined) {
      return undefined;
    }
    taken.add(name);
    const scopesText = await ask(step, {
      prompt: `Scopes agents may ask for with '${name}', comma-separated (suggested for a ${s.why === 'default' ? 'key' : s.why}: ${s.scopes.join(', ')})`,
      value: s.scopes.join(', '),
      validate: schemaValidator(CredentialPatchSchema, (t) => ({ allowed_scopes: parseList(t) })),
    });
    if (scopesText === undefined) {
      return undefined;
    }
    const picked = await pickAllowedAgents(store, step, agents);
    if (picked === undefined) {
      return undefined;
    }
    agents = picked;
    choices.push({ key: s.key, name, scopes: parseList(scopesText), agents: picked, ifExists: 'skip' });
  }
  return choices;
}
