/**
 * `agentKeyring.scanConfigs` ("Scan MCP Configs for Keys"): lists the workspace's MCP configs
 * (`.vscode/mcp.json`, `.mcp.json`, `.cursor/mcp.json`) that hold literal keys in `headers` or `env`
 * — file, server and field, never the value — and imports a picked one: the value becomes a
 * credential, and the file gets the client's environment reference instead (`${VAR}` for Claude
 * Code, `${env:VAR}` for Cursor and VS Code), written atomically.
 *
 * Args: `{ list: true }` → the findings; `{ import: { file, server, field: [group, key], name?,
 * varName?, scopes?, agents? } }` → imports that one without prompts.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readText, writeText } from '../../core/connect/configFile';
import {
  WORKSPACE_MCP_CONFIGS,
  defaultVarName,
  envReference,
  replaceWithReference,
  scanMcpConfig,
  type McpConfigKind,
  type SecretFinding,
} from '../../core/connect/scanSecrets';
import { InvalidInputError, isKeyringError } from '../../core/errors';
import { defaultCredentialName } from '../../core/importEnv/envFile';
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

const TITLE = 'Import Key from MCP Config';

export interface FileFinding extends SecretFinding {
  file: string;
  kind: McpConfigKind;
}

/** Every literal key in the workspace's MCP configs; unreadable files are listed in `problems`. */
export async function scanWorkspace(): Promise<{ findings: FileFinding[]; problems: string[] }> {
  const findings: FileFinding[] = [];
  const problems: string[] = [];
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    for (const c of WORKSPACE_MCP_CONFIGS) {
      const file = path.join(folder.uri.fsPath, c.relPath);
      try {
        const { text } = await readText(file);
        if (text === '') {
          continue;
        }
        for (const f of scanMcpConfig(text, c.kind, vscode.workspace.asRelativePath(file))) {
          findings.push({ ...f, file, kind: c.kind });
        }
      } catch (e) {
        problems.push(isKeyringError(e) ? e.message : `${file} could not be read.`);
      }
    }
  }
  return { findings, problems };
}

function kindOf(file: string): McpConfigKind {
  const norm = file.split(path.sep).join('/');
  if (norm.endsWith('.vscode/mcp.json')) {
    return 'vscode';
  }
  if (norm.endsWith('.cursor/mcp.json')) {
    return 'cursor';
  }
  return 'claude';
}

export function scanConfigs(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const args = argObject(arg);
    const imp = argObject(args?.import);
    if (imp) {
      const field = optionalStrings(imp, 'field');
      const file = optionalString(imp, 'file');
      const server = optionalString(imp, 'server');
      if (!file || !server || !field || field.length !== 2) {
        throw new InvalidInputError('Import needs { file, server, field: [group, key] }.');
      }
      const finding = { server, field: [field[0], field[1]] as [string, string], reason: '' };
      return importOne(ctx, file, kindOf(file), finding, {
        name: optionalString(imp, 'name') ?? defaultCredentialName(`${server}_${field[1]}`),
        varName: optionalString(imp, 'varName') ?? defaultVarName(finding),
        scopes: optionalStrings(imp, 'scopes') ?? ['read'],
        agents: optionalStrings(imp, 'agents') ?? [],
      });
    }
    const { findings, problems } = await scanWorkspace();
    for (const p of problems) {
      ctx.logger.warn(`Scan MCP configs: ${p}`);
    }
    if (args?.list === true) {
      return { findings, problems };
    }
    if (findings.length === 0) {
      void vscode.window.showInformationMessage(
        `Agent Keyring: no literal keys in ${WORKSPACE_MCP_CONFIGS.map((c) => c.relPath).join(', ')}${problems.length > 0 ? ` (${problems.length} file(s) could not be read: see the log)` : ''}.`,
      );
      return { findings, problems };
    }
    const picked = await vscode.window.showQuickPick(
      findings.map((f) => ({
        label: `$(key) ${f.server} — ${f.field.join('.')}`,
        description: vscode.workspace.asRelativePath(f.file),
        detail: `Looks like a key (${f.reason}). Pick to move it into Agent Keyring and refer to it by environment variable.`,
        finding: f,
      })),
      {
        title: `MCP configs: ${findings.length} literal key(s) found`,
        placeHolder: 'Pick one to import it as a credential (the value is never shown)',
        ignoreFocusOut: true,
      },
    );
    if (!picked) {
      return { findings, problems };
    }
    const f = picked.finding;
    const plan = await prompt(ctx, f);
    if (!plan) {
      return undefined;
    }
    return importOne(ctx, f.file, f.kind, f, plan);
  };
}

interface ImportPlan {
  name: string;
  varName: string;
  scopes: string[];
  agents: string[];
}

async function importOne(
  ctx: CommandContext,
  file: string,
  kind: McpConfigKind,
  finding: SecretFinding,
  plan: ImportPlan,
): Promise<{ name: string; file: string; varName: string }> {
  const { text, mode } = await readText(file);
  const label = vscode.workspace.asRelativePath(file);
  const { text: next, value } = replaceWithReference(text, kind, finding, plan.varName, label);
  const meta = await ctx.keyring.admin.addCredential(
    {
      name: plan.name,
      description: `Imported from ${label} (${finding.server} ${finding.field.join('.')})`,
      allowed_scopes: plan.scopes,
      allowed_agents: plan.agents,
      ttl_seconds: ctx.settings().defaultTtlSeconds,
    },
    value,
    ACTOR,
    { tool: 'import_mcp_config', reason: `imported from ${label} by ${ACTOR}` },
  );
  await writeText(file, next, mode);
  ctx.logger.info(`Imported ${finding.server} ${finding.field.join('.')} of ${file} as '${meta.name}'.`);
  ctx.refreshViews();
  if (!ctx.testMode) {
    void vscode.window.showInformationMessage(
      `Agent Keyring: stored as '${meta.name}'. ${label} now reads ${envReference(kind, plan.varName)}: set ${plan.varName} in the environment that starts the client.`,
    );
  }
  return { name: meta.name, file, varName: plan.varName };
}

async function prompt(ctx: CommandContext, f: FileFinding): Promise<ImportPlan | undefined> {
  const step = (n: number): Step => ({ title: TITLE, step: n, totalSteps: 4 });
  const nameSchema = schemaValidator(CredentialPatchSchema, (t) => ({ name: t }));
  const name = await ask(step(1), {
    prompt: `Credential name for ${f.server} ${f.field.join('.')}`,
    value: defaultCredentialName(`${f.server}_${f.field[1]}`),
    validate: async (t) =>
      nameSchema(t) ??
      ((await ctx.keyring.admin.getCredential(t))
        ? `A credential named '${t}' already exists. Pick another name.`
        : undefined),
  });
  if (name === undefined) {
    return undefined;
  }
  const varName = await ask(step(2), {
    prompt: `Environment variable the config will refer to (${envReference(f.kind, 'NAME')})`,
    value: defaultVarName(f),
    validate: (t) =>
      /^[A-Za-z_][A-Za-z0-9_]*$/.test(t) ? undefined : 'Letters, digits and "_", not starting with a digit.',
  });
  if (varName === undefined) {
    return undefined;
  }
  const scopes = await ask(step(3), {
    prompt: 'Scopes agents may ask for, separated by commas',
    value: 'read',
    validate: schemaValidator(CredentialPatchSchema, (t) => ({ allowed_scopes: parseList(t) })),
  });
  if (scopes === undefined) {
    return undefined;
  }
  const agents = await pickAllowedAgents(ctx.keyring.admin, step(4), []);
  if (agents === undefined) {
    return undefined;
  }
  return { name, varName, scopes: parseList(scopes), agents };
}
