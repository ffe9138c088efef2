/**
 * The product's shared limits and defaults, in one place: every front end (CLI flags, editor
 * settings and prompts, MCP tool schemas) and the core check against these, so a bound written
 * in a help text, a zod schema and a store check cannot drift apart. README.md documents them.
 */

const DAY_SECONDS = 86_400;

/** Where the server listens by default (setting `agentKeyring.port`, `serve --port`). */
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 47017;

/** Longest grace period a rotation may give the previous value: 30 days. */
export const MAX_GRACE_SECONDS = 30 * DAY_SECONDS;
/** Grace period of a rotation that names none: the previous value is retired at once. */
export const DEFAULT_GRACE_SECONDS = 0;

/** Lease lifetime: default one hour, at most one day. */
export const DEFAULT_TTL_SECONDS = 3600;
export const MAX_TTL_SECONDS = DAY_SECONDS;

/** Largest secret value stored (bytes of UTF-8). */
export const MAX_VALUE_BYTES = 64 * 1024;
/** Generated values: default and allowed lengths. */
export const DEFAULT_GENERATED_LENGTH = 40;
export const MIN_GENERATED_LENGTH = 16;
export const MAX_GENERATED_LENGTH = 256;

/** Largest JSON-RPC request body the HTTP front door reads. */
export const MAX_BODY_BYTES = 1_048_576;
/** Largest upstream response body http_request hands back. */
export const MAX_UPSTREAM_BODY_BYTES = 1_048_576;
/** Largest answer the forwarding path (bridge, `run --mcp --upstream`) collects from an MCP server
 *  (an SSE answer is passed on event by event and is not capped as a whole). */
export const FORWARD_MAX_RESPONSE_BYTES = 64 * 1_048_576;
/** Largest response head (status line + headers) the forwarding path's HTTP client reads. */
export const FORWARD_MAX_RESPONSE_HEAD_BYTES = 65_536;
/** 2025-era sessions: in all, and per agent (an agent at its cap loses its own oldest idle one). */
export const MAX_SESSIONS = 512;
export const MAX_SESSIONS_PER_AGENT = 32;
/** 2026-07-28 `subscriptions/listen` streams per agent. */
export const MAX_LISTEN_STREAMS_PER_AGENT = 16;
