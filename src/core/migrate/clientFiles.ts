/**
 * Which MCP client owns a config file, where each client keeps its configs (project and user
 * level), and which agent a client's servers run as. Read by `agent-keyring migrate` and VS Code's
 * "Migrate MCP Configs…" (README.md, "Migrate MCP configs").
 */
import * as path from 'node:path';
import { InvalidInputError } from '../errors';

/** The agent each client's servers run as (README.md, "Migrate MCP configs"; created by migrate when missing). */
export type MigrateClient = 'claude-code' | 'cursor' | 'vscode-copilot' | 'codex' | 'claude-desktop';

/** How a file's servers are laid out. */
export type ConfigLayout =
  /** `{"mcpServers": {…}}` (Claude Code `.mcp.json`, Cursor, Claude Desktop). */
  | 'mcpServers'
  /** `~/.claude.json`: `mcpServers` and `projects.<folder>.mcpServers`. */
  | 'claude-user'
  /** VS Code `mcp.json`: `{"servers": {…}}`. */
  | 'servers'
  /** Codex `config.toml`: `[mcp_servers.<name>]`. */
  | 'toml';

export interface ClientFile {
  file: string;
  client: MigrateClient;
  layout: ConfigLayout;
}

/** The environment variable that holds a client's agent token: `AGENT_KEYRING_TOKEN_CLAUDE_CODE`. */
export function tokenVariableOf(agentId: string): string {
  return `AGENT_KEYRING_TOKEN_${agentId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * The client and layout of a config file, from its name and folder.
 * @throws InvalidInputError for a file no supported client reads (the message lists them).
 */
export function classifyConfigFile(file: string): ClientFile {
  const norm = file.split(path.sep).join('/');
  const base = path.basename(norm);
  const parent = path.basename(path.dirname(norm));
  if (base === '.mcp.json') {
    return { file, client: 'claude-code', layout: 'mcpServers' };
  }
  if (base === '.claude.json') {
    return { file, client: 'claude-code', layout: 'claude-user' };
  }
  if (base === 'claude_desktop_config.json') {
    return { file, client: 'claude-desktop', layout: 'mcpServers' };
  }
  if (base === 'config.toml' && parent === '.codex') {
    return { file, client: 'codex', layout: 'toml' };
  }
  if (base === 'config.toml') {
    // $CODEX_HOME/config.toml: any folder, as long as the name is Codex's.
    return { file, client: 'codex', layout: 'toml' };
  }
  if (base === 'mcp.json' && parent === '.cursor') {
    return { file, client: 'cursor', layout: 'mcpServers' };
  }
  if (base === 'mcp.json') {
    // .vscode/mcp.json or a VS Code profile's User/mcp.json.
    return { file, client: 'vscode-copilot', layout: 'servers' };
  }
  throw new InvalidInputError(
    `${file} is not an MCP config migrate knows: name a .mcp.json, .claude.json, .cursor/mcp.json, .vscode/mcp.json or VS Code User/mcp.json, .codex/config.toml or claude_desktop_config.json.`,
    { file },
  );
}

/** Where VS Code keeps the user's `mcp.json` (stable and Insiders), per platform. */
function vscodeUserDirs(home: string, env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string[] {
  const names = ['Code', 'Code - Insiders'];
  if (platform === 'darwin') {
    return names.map((n) => path.join(home, 'Library', 'Application Support', n, 'User'));
  }
  if (platform === 'win32') {
    const appData = env.APPDATA || path.join(home, 'AppData', 'Roaming');
    return names.map((n) => path.join(appData, n, 'User'));
  }
  const config = env.XDG_CONFIG_HOME || path.join(home, '.config');
  return names.map((n) => path.join(config, n, 'User'));
}

function claudeDesktopDir(home: string, env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string {
  if (platform === 'darwin') {
    return path.join(home, 'Library', 'Application Support', 'Claude');
  }
  if (platform === 'win32') {
    return path.join(env.APPDATA || path.join(home, 'AppData', 'Roaming'), 'Claude');
  }
  return path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'Claude');
}

/**
 * Every config file migrate looks at when none is named: the project's (`folder`) and the user's
 * (`home`), whether or not they exist (the caller skips missing ones).
 */
export function defaultConfigFiles(
  folder: string,
  home: string,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): ClientFile[] {
  const codexHome = env.CODEX_HOME && path.isAbsolute(env.CODEX_HOME) ? env.CODEX_HOME : undefined;
  const files = [
    path.join(folder, '.mcp.json'),
    path.join(folder, '.cursor', 'mcp.json'),
    path.join(folder, '.vscode', 'mcp.json'),
    path.join(home, '.claude.json'),
    path.join(home, '.cursor', 'mcp.json'),
    ...vscodeUserDirs(home, env, platform).map((d) => path.join(d, 'mcp.json')),
    path.join(codexHome ?? path.join(home, '.codex'), 'config.toml'),
    path.join(claudeDesktopDir(home, env, platform), 'claude_desktop_config.json'),
  ];
  const seen = new Set<string>();
  return files
    .map((f) => path.resolve(f))
    .filter((f) => (seen.has(f) ? false : (seen.add(f), true)))
    .map(classifyConfigFile);
}
