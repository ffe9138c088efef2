/**
 * Connects a real SDK `Client` to the credential server: in memory (linked transport pair, bound
 * to one agent) or over real HTTP on 127.0.0.1 with a bearer token.
 */
import * as http from 'node:http';
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
} from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { KeyringApi } from '../../src/core/api';
import type { Logger } from '../../src/core/ports';
import { createCredentialServer, type CredentialServer } from '../../src/core/mcp/server';

export interface Connected {
  client: Client;
  credentialServer: CredentialServer;
  close(): Promise<void>;
}

export async function connectInMemory(
  api: KeyringApi,
  agentId: string,
  opts: { logger?: Logger; clientName?: string } = {},
): Promise<Connected> {
  const credentialServer = createCredentialServer({ api, agentId, logger: opts.logger });
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await credentialServer.server.connect(serverTransport);
  const client = new Client({ name: opts.clientName ?? 'mcp-test-client', version: '9.9.9' });
  await client.connect(clientTransport);
  return {
    client,
    credentialServer,
    close: async () => {
      await client.close();
      await credentialServer.dispose();
    },
  };
}

export async function connectHttp(
  url: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}`, ...headers } },
  });
  const client = new Client({ name: 'mcp-http-test-client', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

/** The tool result, typed; `structuredContent` as a plain record. */
export async function call(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
): Promise<CallToolResult & { structuredContent?: Record<string, unknown> }> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult & {
    structuredContent?: Record<string, unknown>;
  };
}

/** All text of a result's content, joined. */
export function textOf(result: CallToolResult): string {
  return result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A raw HTTP request with exact control over headers (fetch forbids setting Host / Origin freely). */
export function rawRequest(
  port: number,
  opts: { method?: string; path?: string; headers?: Record<string, string | number>; body?: string | Buffer },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'POST',
        path: opts.path ?? '/mcp',
        headers: opts.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

export const INITIALIZE_BODY = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

/** Headers a well-behaved Streamable HTTP client sends on POST. */
export function postHeaders(
  port: number,
  token: string | undefined,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    Host: `127.0.0.1:${port}`,
    'Content-Type': 'application/json',
    Accept: 'application/json, text/event-stream',
    ...(token ? { Authorization: `Bearer ${token}` } : {}),
    ...extra,
  };
}

/** Waits for `predicate` with a bounded number of event-loop turns (no fixed sleeps). */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) {
      throw new Error(`Timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A real SDK v2 client (`@modelcontextprotocol/client`) over HTTP with a bearer token, negotiating
 * the 2026-07-28 era (pinned by default; `'auto'` probes with server/discover first).
 */
export async function connectHttpV2(
  url: string,
  token: string,
  mode: 'auto' | 'pin' = 'pin',
): Promise<ClientV2> {
  const client = new ClientV2(
    { name: 'mcp-v2-test-client', version: '2.0.0' },
    { versionNegotiation: { mode: mode === 'auto' ? 'auto' : { pin: '2026-07-28' } } },
  );
  await client.connect(
    new TransportV2(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

/** The `_meta` envelope of a 2026-07-28 request, and the headers that must agree with it. */
export function modernRequest(
  port: number,
  token: string,
  method: string,
  params: Record<string, unknown> = {},
  opts: { id?: number | string; headers?: Record<string, string>; version?: string } = {},
): { headers: Record<string, string>; body: string } {
  const version = opts.version ?? '2026-07-28';
  const name =
    typeof params.name === 'string' ? params.name : typeof params.uri === 'string' ? params.uri : undefined;
  return {
    headers: postHeaders(port, token, {
      'MCP-Protocol-Version': version,
      'Mcp-Method': method,
      ...(name !== undefined && (method === 'tools/call' || method === 'resources/read')
        ? { 'Mcp-Name': name }
        : {}),
      ...opts.headers,
    }),
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: opts.id ?? 1,
      method,
      params: {
        ...params,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': version,
          'io.modelcontextprotocol/clientInfo': { name: 'raw-modern', version: '1' },
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    }),
  };
}
