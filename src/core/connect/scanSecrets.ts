/**
 * Finds literal keys in workspace MCP configs (`.vscode/mcp.json`, `.mcp.json`, `.cursor/mcp.json`):
 * `headers` and `env` values that look like secrets and are not `${…}` references. Findings name
 * the file, server and field — never the value. {@link replaceWithReference} swaps one such value
 * for the client's environment-variable reference and hands the value back as a SecretValue.
 */
import * as jsonc from 'jsonc-parser';
import { InvalidInputError } from '../errors';
import { SecretValue } from '../model';
import { formattingOf, isObject, parseJsonConfig } from './jsonConfig';

export type McpConfigKind = 'vscode' | 'claude' | 'cursor';

/** Workspace-relative config files and their kind. */
export const WORKSPACE_MCP_CONFIGS: readonly { relPath: string; kind: McpConfigKind }[] = [
  { relPath: '.vscode/mcp.json', kind: 'vscode' },
  { relPath: '.mcp.json', kind: 'claude' },
  { relPath: '.cursor/mcp.json', kind: 'cursor' },
];

export interface SecretFinding {
  server: string;
  /** `['headers', 'Authorization']` or `['env', 'GITHUB_TOKEN']`. */
  field: [string, string];
  /** Why it looks like a secret (never the value): `known prefix "ghp_"`, `long random-looking string`. */
  reason: string;
}

const KNOWN_PREFIXES = [
  'sk-',
  'ghp_',
  'gho_',
  'github_pat_',
  'xoxb-',
  'xoxp-',
  'npm_',
  'AKIA',
  'glpat-',
  'akr_',
];
const BEARER = /^(Bearer|Token|Basic)\s+/i;

/** Why `value` looks like a secret, or undefined. References (`${…}`) never do. */
export function secretReason(value: string): string | undefined {
  if (value.includes('${')) {
    return undefined;
  }
  const v = value.replace(BEARER, '').trim();
  const prefix = KNOWN_PREFIXES.find((p) => v.startsWith(p) && v.length >= p.length + 8);
  if (prefix) {
    return `known prefix "${prefix}"`;
  }
  if (v.length >= 20 && !/\s/.test(v) && !/^https?:\/\//i.test(v) && entropyBits(v) >= 3.5) {
    return 'long random-looking string';
  }
  return undefined;
}

/** Shannon entropy per character. */
function entropyBits(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) {
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

function rootKeyOf(kind: McpConfigKind): 'servers' | 'mcpServers' {
  return kind === 'vscode' ? 'servers' : 'mcpServers';
}

/**
 * Literal secrets in one config's text. Comments are tolerated for every kind (read only).
 * @throws InvalidInputError when the text does not parse (message without content).
 */
export function scanMcpConfig(text: string, kind: McpConfigKind, label: string): SecretFinding[] {
  const doc = parseJsonConfig(text, label, true);
  const servers = doc[rootKeyOf(kind)];
  const out: SecretFinding[] = [];
  if (!isObject(servers)) {
    return out;
  }
  for (const [server, conf] of Object.entries(servers)) {
    if (!isObject(conf)) {
      continue;
    }
    for (const group of ['headers', 'env'] as const) {
      const fields = conf[group];
      if (!isObject(fields)) {
        continue;
      }
      for (const [name, value] of Object.entries(fields)) {
        const reason = typeof value === 'string' ? secretReason(value) : undefined;
        if (reason) {
          out.push({ server, field: [group, name], reason });
        }
      }
    }
  }
  return out;
}

/** The reference syntax each client expands: `${VAR}` (Claude Code), `${env:VAR}` (Cursor, VS Code). */
export function envReference(kind: McpConfigKind, varName: string): string {
  return kind === 'claude' ? `\${${varName}}` : `\${env:${varName}}`;
}

/** A variable name for a finding: the env key itself, or `<SERVER>_<HEADER>` for a header. */
export function defaultVarName(f: SecretFinding): string {
  const raw =
    f.field[0] === 'env'
      ? f.field[1]
      : `${f.server}_${f.field[1] === 'Authorization' ? 'TOKEN' : f.field[1]}`;
  return raw
    .toUpperCase()
    .replace(/[^A-Z0-9_]/g, '_')
    .replace(/^([0-9])/, '_$1');
}

/**
 * Replaces the literal at `finding` with an env reference (`Bearer ` and similar prefixes kept) and
 * returns the new text and the secret (prefix stripped).
 * @throws InvalidInputError when the field is gone or no longer a literal secret.
 */
export function replaceWithReference(
  text: string,
  kind: McpConfigKind,
  finding: Pick<SecretFinding, 'server' | 'field'>,
  varName: string,
  label: string,
): { text: string; value: SecretValue } {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(varName)) {
    throw new InvalidInputError(
      `'${varName}' is not a valid environment variable name: use letters, digits and "_", not starting with a digit.`,
    );
  }
  const doc = parseJsonConfig(text, label, true);
  const path = [rootKeyOf(kind), finding.server, ...finding.field];
  let node: unknown = doc;
  for (const k of path) {
    node = isObject(node) ? node[k] : undefined;
  }
  if (typeof node !== 'string' || !secretReason(node)) {
    throw new InvalidInputError(
      `${label}: ${finding.server} ${finding.field.join('.')} no longer holds a literal key. Scan again.`,
    );
  }
  const prefix = BEARER.exec(node)?.[0] ?? '';
  const value = new SecretValue(node.slice(prefix.length).trim());
  const edits = jsonc.modify(text, path, `${prefix}${envReference(kind, varName)}`, {
    formattingOptions: formattingOf(text),
  });
  return { text: jsonc.applyEdits(text, edits), value };
}
