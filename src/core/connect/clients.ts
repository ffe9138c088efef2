/**
 * What Agent Keyring writes into each MCP client's configuration. Every entry reaches the server at
 * `http://127.0.0.1:<port>/mcp` and names the token through the client's own reference syntax, so
 * no token is ever written into a file. The formats were checked against each client's docs or
 * source (see the comment on each builder).
 */

/** Name of the server entry in every client's config. */
export const SERVER_ENTRY = 'agent-keyring';
/**
 * The shared variable for an agent's token: still read by `agent-keyring bridge` and `run` as a
 * fallback, but configs written now name one variable per agent ({@link tokenEnvVar}).
 */
export const TOKEN_ENV_VAR = 'AGENT_KEYRING_TOKEN';

/**
 * The variable that holds one agent's token: `AGENT_KEYRING_TOKEN_<ID>`, the id upper-cased with
 * every character other than A-Z and 0-9 turned into `_` (`claude-code` → `AGENT_KEYRING_TOKEN_CLAUDE_CODE`).
 * One variable per agent, so two clients in one shell never share (or swap) an identity.
 */
export function tokenEnvVar(agentId: string): string {
  return `${TOKEN_ENV_VAR}_${agentId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** Id of the VS Code `mcp.json` input that prompts for the token. */
export const VSCODE_TOKEN_INPUT = 'agent-keyring-token';

export type ClientId = 'claude' | 'claude-command' | 'codex' | 'cursor' | 'vscode' | 'stdio';
export const CLIENT_IDS: readonly ClientId[] = [
  'claude',
  'claude-command',
  'codex',
  'cursor',
  'vscode',
  'stdio',
];

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };
export type JsonObject = { [k: string]: JsonValue };

/**
 * Claude Code: an `mcpServers` entry `{"type": "http", "url", "headers"}`, the same shape in the
 * project's `.mcp.json` and in `~/.claude.json` (`projects.<folder>.mcpServers`, the "local" scope
 * `claude mcp add` writes by default). Claude Code expands `${VAR}` in `url` and `headers`
 * (code.claude.com/docs/en/mcp, "Environment variable expansion in .mcp.json"). With `helper`,
 * the entry has `headersHelper` instead: a shell command Claude Code runs at each connection,
 * whose stdout is a JSON object of headers (code.claude.com/docs/en/mcp, "Use dynamic headers for
 * custom authentication"; it runs with a 10 s timeout, and in project or local scope only once the
 * folder is trusted) — then no variable has to be set at all.
 */
export function claudeEntry(url: string, agentId: string, helper?: string): JsonObject {
  return helper !== undefined
    ? { type: 'http', url, headersHelper: helper }
    : { type: 'http', url, headers: { Authorization: `Bearer \${${tokenEnvVar(agentId)}}` } };
}

/**
 * The same as a command (code.claude.com/docs/en/mcp, "Option 1: Add a remote HTTP server"):
 * `claude mcp add --transport http --scope local <name> <url> --header '…'`, or with a helper
 * `claude mcp add-json --scope local <name> '<entry>'`. Single quotes keep `${…}` unexpanded by
 * the shell, so Claude Code stores the reference, not the token.
 */
export function claudeCommand(url: string, agentId: string, helper?: string): string {
  if (helper !== undefined) {
    return `claude mcp add-json --scope local ${SERVER_ENTRY} ${shellQuote(JSON.stringify(claudeEntry(url, agentId, helper)))}`;
  }
  return `claude mcp add --transport http --scope local ${SERVER_ENTRY} ${url} --header 'Authorization: Bearer \${${tokenEnvVar(agentId)}}'`;
}

/**
 * The command a client runs to get the agent's header at start-up (Claude Code's `headersHelper`):
 * `<cli…> token --agent ID --header-json [--store DIR]`, each word quoted for a POSIX shell.
 */
export function headersHelperCommand(cli: readonly string[], agentId: string, storeDir?: string): string {
  return [...cli, 'token', '--agent', agentId, '--header-json', ...(storeDir ? ['--store', storeDir] : [])]
    .map(shellQuote)
    .join(' ');
}

/** `s` as one POSIX shell word that nothing inside expands (single quotes; a `'` as `'\''`). */
export function shellQuote(s: string): string {
  return /^[\w./:@%+=,-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * Cursor: `.cursor/mcp.json` (project) or `~/.cursor/mcp.json`, `{"mcpServers": {name: {"url",
 * "headers"}}}` — a `url` makes it a remote (Streamable HTTP/SSE) server. Cursor interpolates
 * `${env:NAME}` in `command`, `args`, `env`, `url` and `headers` (cursor.com/docs/context/mcp,
 * "Config interpolation").
 */
export function cursorEntry(url: string, agentId: string): JsonObject {
  return { url, headers: { Authorization: `Bearer \${env:${tokenEnvVar(agentId)}}` } };
}

/**
 * VS Code: `.vscode/mcp.json` (or a profile's `mcp.json`), `{"servers": {name: {"type": "http",
 * "url", "headers"}}, "inputs": [{"type": "promptString", "id", "description", "password": true}]}`.
 * `${input:id}` makes VS Code ask for the token once and keep it in its secret storage
 * (microsoft/vscode-docs docs/copilot/reference/mcp-configuration.md, "HTTP and Server-Sent Events
 * (SSE) servers" and "Input variables for sensitive data").
 */
export function vscodeEntry(url: string): JsonObject {
  return { type: 'http', url, headers: { Authorization: `Bearer \${input:${VSCODE_TOKEN_INPUT}}` } };
}

export function vscodeInput(agentId: string): JsonObject {
  return {
    type: 'promptString',
    id: VSCODE_TOKEN_INPUT,
    description: `Agent Keyring token (agent '${agentId}')`,
    password: true,
  };
}

/**
 * Codex: `~/.codex/config.toml` (`$CODEX_HOME/config.toml`), table `[mcp_servers.<name>]` with
 * `url` and `bearer_token_env_var` — Codex sends `Authorization: Bearer <value of that variable>`
 * and refuses an inline `bearer_token` (openai/codex codex-rs/core/src/config/types.rs,
 * `RawMcpServerConfig` / `McpServerTransportConfig::StreamableHttp`).
 */
export function codexEntry(url: string, agentId: string): { url: string; bearer_token_env_var: string } {
  return { url, bearer_token_env_var: tokenEnvVar(agentId) };
}

/**
 * Any client that only speaks stdio: `node <dist/cli.js> bridge --url <url> --agent ID`, which reads
 * the token from `AGENT_KEYRING_TOKEN_<ID>`, else the token saved for the agent (in `storeDir`,
 * when given), else `AGENT_KEYRING_TOKEN`. The `${…}` value is expanded by clients that expand `env` (Claude Code;
 * Cursor wants `${env:…}`); elsewhere leave `env` out and save the token instead.
 */
export function stdioEntry(url: string, cliPath: string, agentId: string, storeDir?: string): JsonObject {
  const variable = tokenEnvVar(agentId);
  return {
    command: 'node',
    args: [cliPath, 'bridge', '--url', url, '--agent', agentId, ...(storeDir ? ['--store', storeDir] : [])],
    env: { [variable]: `\${${variable}}` },
  };
}

/** The generic stdio entry as a ready-to-paste `mcpServers` document. */
export function stdioSnippet(url: string, cliPath: string, agentId: string, storeDir?: string): string {
  return JSON.stringify(
    { mcpServers: { [SERVER_ENTRY]: stdioEntry(url, cliPath, agentId, storeDir) } },
    null,
    2,
  );
}
