// Baseline for the bench: the same MCP SDK our host uses (McpServer + StreamableHTTPServerTransport,
// one stateful session per initialize, SDK defaults — i.e. SSE-framed responses) on plain node:http,
// serving one trivial `echo` tool. No auth, no policy, no audit: what any SDK server costs.
// Listens on 127.0.0.1 (port from argv[2], 0 = any) and prints `LISTENING <port>`.
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { newEchoServer } from './echoServer.mjs';

const transports = new Map();

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        reject(e);
      }
    });
    req.on('error', reject);
  });
}

function sendError(res, status, message) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

const httpServer = http.createServer(async (req, res) => {
  try {
    const sid = req.headers['mcp-session-id'];
    if (req.method === 'POST') {
      const body = await readJson(req);
      let transport = typeof sid === 'string' ? transports.get(sid) : undefined;
      if (!transport) {
        if (sid !== undefined || !isInitializeRequest(body)) {
          return sendError(res, 400, 'Bad Request: no valid session');
        }
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => transports.set(id, transport),
        });
        transport.onclose = () => transport.sessionId && transports.delete(transport.sessionId);
        await newEchoServer('bench-baseline').connect(transport);
      }
      await transport.handleRequest(req, res, body);
      return;
    }
    const transport = typeof sid === 'string' ? transports.get(sid) : undefined;
    if (!transport) {
      return sendError(res, 400, 'Bad Request: no valid session');
    }
    await transport.handleRequest(req, res);
  } catch (e) {
    if (!res.headersSent) {
      sendError(res, 500, `Internal error: ${e.message}`);
    }
  }
});

httpServer.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${httpServer.address().port}\n`);
});
process.on('SIGTERM', () => {
  httpServer.closeAllConnections();
  httpServer.close(() => process.exit(0));
});
