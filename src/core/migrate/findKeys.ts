/**
 * Literal keys in one MCP config file: `env` values of stdio servers and `headers` (Codex:
 * `http_headers`) of remote ones that look like secrets (the scanner's rule, `secretReason`) and
 * are not `${…}` references. The values travel only as SecretValue; findings name file, server and
 * field.
 */
import { secretReason } from '../connect/scanSecrets';
import { isObject, parseJsonConfig } from '../connect/jsonConfig';
import { parseToml } from '../connect/tomlConfig';
import { SecretValue } from '../model';
import type { ClientFile } from './clientFiles';

const BEARER = /^(Bearer|Token|Basic)\s+/i;

export interface LiteralKey {
  group: 'env' | 'headers' | 'http_headers';
  /** The variable or header name. */
  name: string;
  /** Why it looks like a key (never the value). */
  reason: string;
  /** The key without a `Bearer ` (or `Token `, `Basic `) prefix. */
  value: SecretValue;
  /** That prefix, as written (`'Bearer '`), or ''. */
  prefix: string;
}

export interface ServerKeys extends ClientFile {
  server: string;
  /** `github`, or `projects[/home/me/app].github` for a per-project server in `~/.claude.json`. */
  label: string;
  /** Where the server's object is in the document: `['mcpServers', 'github']`. */
  path: string[];
  transport: 'stdio' | 'remote' | 'unknown';
  /** The parsed entry (values included: never print it). */
  entry: Record<string, unknown>;
  keys: LiteralKey[];
}

/** The server maps of a document, by path. */
function containers(doc: Record<string, unknown>, cf: ClientFile): { path: string[]; prefix: string }[] {
  switch (cf.layout) {
    case 'servers':
      return [{ path: ['servers'], prefix: '' }];
    case 'toml':
      return [{ path: ['mcp_servers'], prefix: '' }];
    case 'mcpServers':
      return [{ path: ['mcpServers'], prefix: '' }];
    case 'claude-user': {
      const out = [{ path: ['mcpServers'], prefix: '' }];
      const projects = doc.projects;
      if (isObject(projects)) {
        for (const p of Object.keys(projects)) {
          out.push({ path: ['projects', p, 'mcpServers'], prefix: `projects[${p}].` });
        }
      }
      return out;
    }
  }
}

function at(doc: unknown, keys: readonly string[]): unknown {
  let node = doc;
  for (const k of keys) {
    node = isObject(node) ? node[k] : undefined;
  }
  return node;
}

/**
 * Parses `text` (JSON with comments, or TOML for Codex) and lists every server with literal keys.
 * @throws InvalidInputError when the text does not parse (line and column, never content).
 */
export function findLiteralKeys(text: string, cf: ClientFile): ServerKeys[] {
  const doc: Record<string, unknown> =
    cf.layout === 'toml' ? parseToml(text, cf.file) : parseJsonConfig(text, cf.file, true);
  const out: ServerKeys[] = [];
  for (const c of containers(doc, cf)) {
    const servers = at(doc, c.path);
    if (!isObject(servers)) {
      continue;
    }
    for (const [server, conf] of Object.entries(servers)) {
      if (!isObject(conf)) {
        continue;
      }
      const transport =
        typeof conf.command === 'string' ? 'stdio' : typeof conf.url === 'string' ? 'remote' : 'unknown';
      const keys: LiteralKey[] = [];
      for (const group of ['env', 'headers', 'http_headers'] as const) {
        const fields = conf[group];
        if (!isObject(fields)) {
          continue;
        }
        for (const [name, value] of Object.entries(fields)) {
          const reason = typeof value === 'string' ? secretReason(value) : undefined;
          if (reason && typeof value === 'string') {
            const prefix = group === 'env' ? '' : (BEARER.exec(value)?.[0] ?? '');
            keys.push({ group, name, reason, prefix, value: new SecretValue(value.slice(prefix.length)) });
          }
        }
      }
      if (keys.length > 0) {
        out.push({
          ...cf,
          server,
          label: `${c.prefix}${server}`,
          path: [...c.path, server],
          transport,
          entry: conf,
          keys,
        });
      }
    }
  }
  return out;
}
