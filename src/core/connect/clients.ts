/**
 * What Agent Keyring writes into each MCP client's configuration. Every entry reaches the server at
 * `http://127.0.0.1:<port>/mcp` and names the token through the client's own reference syntax, so
 * no token is ever written into a file. The formats were checked against each client's docs or
 * source (see the comment on each builder).
 */

/** Name of the server entry in every client's config. */
export const SERVER_ENTRY = 'agent-keyring';
/** Environment variable that holds an agent's token (also read by `agent-keyring bridge`). */
export const TOKEN_ENV_VAR = 'AGENT_KEYRING_TOKEN';
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
 * Claude Code, project scope: `.mcp.json` at the project root, `{"mcpServers": {name: {"type":
 * "http", "url", "headers"}}}`. Claude Code expands `${VAR}` (and `${VAR:-default}`) in `command`,
 * `args`, `env`, `url` and `headers` of `.mcp.json` (code.claude.com/docs/en/mcp, "Environment
 * variable expansion in .mcp.json"; header expansion for remote servers fixed in v2.1.119,
 * anthropics/claude-code#51581).
 */
export function claudeEntry(url: string): JsonObject {
  return { type: 'http', url, headers: { Authorization: `Bearer \${${TOKEN_ENV_VAR}}` } };
}

/**
 * The same as a command: `claude mcp add --transport http <name> <url> --header "…"`
 * (code.claude.com/docs/en/mcp, "Option 1: Add a remote HTTP server"). Single quotes keep
 * `${AGENT_KEYRING_TOKEN}` unexpanded by the shell, so Claude Code stores the reference, not the token.
 */
export function claudeCommand(url: string): string {
  return `claude mcp add --transport http ${SERVER_ENTRY} ${url} --header 'Authorization: Bearer \${${TOKEN_ENV_VAR}}'`;
}

/**
 * Cursor: `.cursor/mcp.json` (project) or `~/.cursor/mcp.json`, `{"mcpServers": {name: {"url",
 * "headers"}}}` — a `url` makes it a remote (Streamable HTTP/SSE) server. Cursor interpolates
 * `${env:NAME}` in `command`, `args`, `env`, `url` and `headers` (cursor.com/docs/context/mcp,
 * "Config interpolation").
 */
export function cursorEntry(url: string): JsonObject {
  return { url, headers: { Authorization: `Bearer \${env:${TOKEN_ENV_VAR}}` } };
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
export function codexEntry(url: string): { url: string; bearer_token_env_var: string } {
  return { url, bearer_token_env_var: TOKEN_ENV_VAR };
}

/**
 * Any client that only speaks stdio: `node <dist/cli.js> bridge --url <url>`, which reads the token
 * from `AGENT_KEYRING_TOKEN`. The `${AGENT_KEYRING_TOKEN}` value is expanded by clients that expand
 * `env` (Claude Code; Cursor wants `${env:…}`); elsewhere replace it with the token.
 */
export function stdioEntry(url: string, cliPath: string): JsonObject {
  return {
    command: 'node',
    args: [cliPath, 'bridge', '--url', url],
    env: { [TOKEN_ENV_VAR]: `\${${TOKEN_ENV_VAR}}` },
  };
}

/** The generic stdio entry as a ready-to-paste `mcpServers` document. */
export function stdioSnippet(url: string, cliPath: string): string {
  return JSON.stringify({ mcpServers: { [SERVER_ENTRY]: stdioEntry(url, cliPath) } }, null, 2);
}
