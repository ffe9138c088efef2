/**
 * Protocol-era vocabulary shared by the front door: the 2026-07-28 revision's version, its
 * per-request `_meta` keys and headers, and its error codes. The 2025-era versions are the SDK's
 * `SUPPORTED_PROTOCOL_VERSIONS`.
 */
export const MODERN_PROTOCOL_VERSION = '2026-07-28';
/** Revisions served statelessly with the per-request envelope. */
export const MODERN_PROTOCOL_VERSIONS: readonly string[] = [MODERN_PROTOCOL_VERSION];

export const PROTOCOL_VERSION_META_KEY = 'io.modelcontextprotocol/protocolVersion';
export const CLIENT_INFO_META_KEY = 'io.modelcontextprotocol/clientInfo';
export const CLIENT_CAPABILITIES_META_KEY = 'io.modelcontextprotocol/clientCapabilities';
export const SERVER_INFO_META_KEY = 'io.modelcontextprotocol/serverInfo';
export const SUBSCRIPTION_ID_META_KEY = 'io.modelcontextprotocol/subscriptionId';

/** Headers and body disagree (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`). */
export const HEADER_MISMATCH = -32020;
/** The requested revision is not served here; `data.supported` lists those that are. */
export const UNSUPPORTED_PROTOCOL_VERSION = -32022;
export const INVALID_PARAMS = -32602;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_REQUEST = -32600;

/** Does a request's `_meta` carry a 2026-07-28-style protocol version? */
export function isModernRequest(meta: Record<string, unknown> | undefined): boolean {
  return typeof meta?.[PROTOCOL_VERSION_META_KEY] === 'string';
}
