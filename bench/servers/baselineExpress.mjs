// Second baseline: the SDK's DEFAULT HTTP stack as its README and examples set it up —
// `createMcpExpressApp()` (Express 5 + express.json() + the localhost Host check) with a stateful
// StreamableHTTPServerTransport per session (SDK defaults: SSE-framed responses), one trivial
// `echo` tool. No auth, no policy, no audit. `baseline.mjs` is the same SDK on plain node:http
// (the fastest SDK set-up we know); both are measured in the same run.
// Listens on 127.0.0.1 (port from argv[2], 0 = any) and prints `LISTENING <port>`.
import { randomUUID } from 'node:crypto';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { newEchoServer } from './echoServer.mjs';

const transports = new Map();

function sendError(res, status, message) {
  res.status(status).json({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });
}

const app = createMcpExpressApp();

// The SDK README's session-managed handler, unchanged in substance.
app.post('/mcp', async (req, res) => {
  try {
    const sid = req.headers['mcp-session-id'];
    let transport = typeof sid === 'string' ? transports.get(sid) : undefined;
    if (!transport) {
      if (sid !== undefined || !isInitializeRequest(req.body)) {
        return sendError(res, 400, 'Bad Request: no valid session');
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => transports.set(id, transport),
      });
      transport.onclose = () => transport.sessionId && transports.delete(transport.sessionId);
      await newEchoServer('bench-baseline-express').connect(transport);
    }
    await transport.handleRequest(req, res, req.body);
  } catch (e) {
    if (!res.headersSent) {
      sendError(res, 500, `Internal error: ${e.message}`);
    }
  }
});

const sessionRequest = async (req, res) => {
  const sid = req.headers['mcp-session-id'];
  const transport = typeof sid === 'string' ? transports.get(sid) : undefined;
  if (!transport) {
    return sendError(res, 400, 'Bad Request: no valid session');
  }
  await transport.handleRequest(req, res);
};
app.get('/mcp', sessionRequest);
app.delete('/mcp', sessionRequest);

const httpServer = app.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${httpServer.address().port}\n`);
});
process.on('SIGTERM', () => {
  httpServer.closeAllConnections();
  httpServer.close(() => process.exit(0));
});
