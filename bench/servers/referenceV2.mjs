// The SDK v2 reference server (`@modelcontextprotocol/server` 2.4.0) serving both protocol eras on
// one /mcp, wired the way the SDK documents for a server that keeps 2025 sessions: `isLegacyRequest`
// routes 2025-era traffic to a stateful `WebStandardStreamableHTTPServerTransport` per session
// (initialize → Mcp-Session-Id), everything else to `createMcpHandler(factory, { legacy: 'reject' })`
// (2026-07-28: stateless, per-request _meta, server/discover, subscriptions/listen). One `echo` tool
// and one `credential://demo` resource, SDK defaults, no auth (a bearer token is accepted and ignored).
// Used by the bench (a baseline for both eras) and by test/mcp/differential.test.ts (same requests to
// ours and to this). Listens on 127.0.0.1 (port from argv[2], 0 = any) and prints `LISTENING <port>`;
// `ROTATE\n` on stdin publishes resources/updated for credential://demo; SIGTERM stops it.
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import {
  createMcpHandler,
  isLegacyRequest,
  McpServer,
  WebStandardStreamableHTTPServerTransport,
} from '@modelcontextprotocol/server';
import { z } from 'zod';

function newServer() {
  const server = new McpServer(
    { name: 'sdk-v2-reference', version: '2.4.0' },
    { capabilities: { resources: { subscribe: true } } },
  );
  server.registerTool(
    'echo',
    { description: 'Echoes its input', inputSchema: z.object({ text: z.string().describe('text to echo') }) },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  server.registerResource('demo', 'credential://demo', { mimeType: 'application/json' }, async (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'application/json', text: '{"name":"demo"}' }],
  }));
  return server;
}

const modern = createMcpHandler(() => newServer(), { legacy: 'reject' });
const sessions = new Map();

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function send(res, response) {
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  res.on('close', () => reader.cancel().catch(() => undefined));
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    res.write(value);
  }
  res.end();
}

const httpServer = http.createServer(async (req, res) => {
  try {
    const raw = req.method === 'POST' ? await readBody(req) : undefined;
    let parsedBody;
    try {
      parsedBody = raw && raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined;
    } catch {
      parsedBody = undefined;
    }
    const controller = new AbortController();
    res.on('close', () => controller.abort());
    const request = new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url}`, {
      method: req.method,
      headers: req.headers,
      body: raw && raw.length > 0 ? raw : undefined,
      signal: controller.signal,
      duplex: 'half',
    });
    if (!(await isLegacyRequest(request, parsedBody))) {
      await send(res, await modern.fetch(request, { parsedBody }));
      return;
    }
    const sid = req.headers['mcp-session-id'];
    let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (!transport) {
      if (sid !== undefined || req.method !== 'POST' || parsedBody?.method !== 'initialize') {
        // The SDK transports' own answers: unknown id 404 -32001, no session 400 -32000.
        const [status, code, message] =
          sid !== undefined
            ? [404, -32001, 'Session not found']
            : [400, -32000, 'Bad Request: no valid session'];
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
        return;
      }
      transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => sessions.set(id, transport),
        onsessionclosed: (id) => sessions.delete(id),
      });
      await newServer().connect(transport);
    }
    await send(res, await transport.handleRequest(request, { parsedBody }));
  } catch (e) {
    if (!res.headersSent) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          jsonrpc: '2.0',
          error: { code: -32603, message: `Internal error: ${e.message}` },
          id: null,
        }),
      );
    } else {
      res.destroy();
    }
  }
});

httpServer.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${httpServer.address().port}\n`);
});
process.stdin.on('data', (d) => {
  if (d.toString().includes('ROTATE')) {
    modern.notify.resourceUpdated('credential://demo');
  }
});
const shutdown = () => {
  void modern.close();
  httpServer.closeAllConnections();
  httpServer.close(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
