/**
 * `agentKeyring.importEnv` ("Import from .env…"): pick a `.env*` file of the workspace (or any file),
 * pick KEYS (values are never shown), name each credential (default: the key in lower case), set
 * scopes and agents, store the values (SecretStorage, audited), then — if the user agrees — replace
 * each imported definition in the file by a comment naming the credential
 * (`# SCAVIO_API_KEY moved to Agent Keyring as 'scavio_api_key'`), every other line kept byte for
 * byte, written atomically.
 *
 * Args: `{ file, keys: [{ key, name?, scopes?, agents? }], removeFromFile?: boolean }` — no prompt.
 * Resolves `{ file, imported: [{ key, name }], removed }`; `shown` lists (in test mode) every text
 * this run put on screen, so tests can check that no value appears.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readText, writeText } from '../../core/connect/configFile';
import { InvalidInputError } from '../../core/errors';
import {
  defaultCredentialName,
  parseEnv,
  removeKeys,
  type EnvKey,
  type ParsedEnv,
} from '../../core/importEnv/envFile';
import { CredentialPatchSchema } from '../../core/store/schemas';
import {
  ACTOR,
  argObject,
  optionalString,
  optionalStrings,
  type CommandContext,
  type CommandHandler,
} from './commandContext';
import { ask, parseList, pickAllowedAgents, schemaValidator, type Step } from './prompts';

const TITLE = 'Import from .env';
const OTHER_FILE = '$(folder-opened) Choose another file…';
const REMOVE = 'Remove Values from File';

interface Plan {
  key: string;
  name: string;
  scopes: string[];
  agents: string[];
}

export interface ImportEnvResult {
  file: string;
  imported: { key: string; name: string }[];
  removed: boolean;
  shown?: string[];
}

/** Quick-pick items for the keys of a parsed file: key, line and "empty" — never a value. */
export function keyPickItems(parsed: ParsedEnv): (vscode.QuickPickItem & { key: string })[] {
  return parsed.keys
    .filter((k) => !k.empty)
    .map((k: EnvKey) => ({
      label: k.key,
      key: k.key,
      description: k.line > 0 ? `line ${k.line}` : undefined,
      detail: `→ credential '${defaultCredentialName(k.key)}'`,
      picked: false,
    }));
}

export function importEnv(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const args = argObject(arg);
    const shown: string[] = [];
    const file = optionalString(args, 'file') ?? (await pickFile());
    if (!file) {
      return undefined;
    }
    const { text, mode } = await readText(file);
    const parsed = parseEnv(text);
    const label = path.basename(file);
    if (parsed.keys.filter((k) => !k.empty).length === 0) {
      const msg = `Agent Keyring: ${label} defines no key with a value; nothing to import.`;
      shown.push(msg);
      if (!args) {
        void vscode.window.showInformationMessage(msg);
      }
      return { file, imported: [], removed: false, ...(ctx.testMode ? { shown } : {}) };
    }

    const plans = args ? plansFromArgs(args, parsed) : await prompt(ctx, parsed, label, shown);
    if (!plans || plans.length === 0) {
      ctx.logger.info('Import from .env cancelled; nothing stored.');
      return undefined;
    }

    // Store them all; stop at the first failure (what was stored stays, and is reported).
    const imported: { key: string; name: string }[] = [];
    for (const p of plans) {
      const value = parsed.value(p.key);
      if (!value || value.length === 0) {
        throw new InvalidInputError(`${label} has no value for '${p.key}'; nothing more was imported.`);
      }
      try {
        const meta = await ctx.keyring.store.addCredential(
          {
            name: p.name,
            description: `Imported from ${label} (${p.key})`,
            allowed_scopes: p.scopes,
            allowed_agents: p.agents,
            ttl_seconds: ctx.settings().defaultTtlSeconds,
          },
          value,
          ACTOR,
        );
        await ctx.keyring.service.recordAdmin('import_env', 'created', {
          credential: meta.name,
          version: meta.version,
          reason: `imported from ${label} by ${ACTOR}`,
          actor: ACTOR,
        });
        imported.push({ key: p.key, name: meta.name });
      } catch (e) {
        ctx.refreshViews();
        if (imported.length > 0) {
          const msg = `Agent Keyring: imported ${imported.map((i) => `'${i.name}'`).join(', ')} before '${p.key}' failed; ${label} was not changed.`;
          shown.push(msg);
          void vscode.window.showWarningMessage(msg);
        }
        throw e;
      }
    }
    ctx.logger.info(
      `Imported ${imported.length} key(s) from ${file} as ${imported.map((i) => i.name).join(', ')}.`,
    );
    ctx.refreshViews();

    let remove: boolean;
    if (args) {
      remove = args.removeFromFile === true;
    } else {
      const msg = `Imported ${imported.length} key(s) from ${label}. Remove their values from the file?`;
      const detail = [
        ...imported.map((i) => `${i.key} → '${i.name}'`),
        '',
        'Each definition becomes a comment naming the credential; every other line stays as it is.',
        'Agents then ask Agent Keyring for the key instead of reading it from the file.',
      ].join('\n');
      shown.push(msg, detail);
      remove = (await vscode.window.showWarningMessage(msg, { modal: true, detail }, REMOVE)) === REMOVE;
    }
    if (remove) {
      // Re-read: the file must still hold the values we imported, or we leave it alone.
      const now = await readText(file);
      const again = parseEnv(now.text);
      for (const i of imported) {
        if (again.value(i.key)?.reveal() !== parsed.value(i.key)?.reveal()) {
          throw new InvalidInputError(
            `${label} changed while importing ('${i.key}' is different now), so it was not rewritten. The credentials are stored; remove the values by hand.`,
          );
        }
      }
      await writeText(
        file,
        removeKeys(
          now.text,
          imported.map((i) => ({ key: i.key, credential: i.name })),
        ),
        now.mode ?? mode,
      );
      ctx.logger.info(`Removed ${imported.length} imported value(s) from ${file}.`);
    }
    if (!args) {
      const msg = `Agent Keyring: imported ${imported.map((i) => `'${i.name}'`).join(', ')}${remove ? `; ${label} now names them instead of holding the values` : ''}.`;
      shown.push(msg);
      void vscode.window.showInformationMessage(msg);
    }
    const result: ImportEnvResult = { file, imported, removed: remove };
    return ctx.testMode ? { ...result, shown } : result;
  };
}

function plansFromArgs(args: Record<string, unknown>, parsed: ParsedEnv): Plan[] {
  const keys = Array.isArray(args.keys) ? args.keys : [];
  if (keys.length === 0) {
    throw new InvalidInputError('Import from .env needs "keys": [{ key, name?, scopes?, agents? }].');
  }
  return keys.map((k) => {
    const o = argObject(k);
    const key = optionalString(o, 'key');
    if (!key || !parsed.keys.some((x) => x.key === key)) {
      throw new InvalidInputError(`The file defines no key '${key ?? ''}'. Pick one of its keys.`);
    }
    return {
      key,
      name: optionalString(o, 'name') ?? defaultCredentialName(key),
      scopes: optionalStrings(o, 'scopes') ?? ['read'],
      agents: optionalStrings(o, 'agents') ?? [],
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

async function prompt(
  ctx: CommandContext,
  parsed: ParsedEnv,
  label: string,
  shown: string[],
): Promise<Plan[] | undefined> {
  const items = keyPickItems(parsed);
  shown.push(...items.flatMap((i) => [i.label, i.description ?? '', i.detail ?? '']));
  const picked = await vscode.window.showQuickPick(items, {
    title: `${TITLE}: ${label}`,
    placeHolder: 'Keys to move into Agent Keyring (values are not shown)',
    canPickMany: true,
    ignoreFocusOut: true,
  });
  if (!picked || picked.length === 0) {
    return undefined;
  }
  const total = picked.length + 2;
  const step = (n: number): Step => ({ title: TITLE, step: n, totalSteps: total });
  const nameSchema = schemaValidator(CredentialPatchSchema, (t) => ({ name: t }));
  const names: string[] = [];
  for (const [i, p] of picked.entries()) {
    const name = await ask(step(i + 1), {
      prompt: `Credential name for ${p.key}`,
      value: defaultCredentialName(p.key),
      validate: async (t) => {
        const problem = nameSchema(t);
        if (problem) {
          return problem;
        }
        if (names.includes(t)) {
          return `'${t}' is already the name of another key in this import. Pick another.`;
        }
        return (await ctx.keyring.store.getCredential(t))
          ? `A credential named '${t}' already exists. Pick another name, or rotate the existing one.`
          : undefined;
      },
    });
    if (name === undefined) {
      return undefined;
    }
    names.push(name);
  }
  const scopesText = await ask(step(picked.length + 1), {
    prompt: `Scopes agents may ask for, for ${picked.length === 1 ? 'it' : `all ${picked.length}`} (change one later with Edit Scopes…)`,
    value: 'read',
    validate: schemaValidator(CredentialPatchSchema, (t) => ({ allowed_scopes: parseList(t) })),
  });
  if (scopesText === undefined) {
    return undefined;
  }
  const agents = await pickAllowedAgents(ctx.keyring.store, step(picked.length + 2), []);
  if (agents === undefined) {
    return undefined;
  }
  return picked.map((p, i) => ({ key: p.key, name: names[i], scopes: parseList(scopesText), agents }));
}
