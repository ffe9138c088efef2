// The LIMIT for the bench: plain node:http answering MCP's JSON-RPC with canned JSON — it parses
// the body (any server must) and answers initialize with a canned init result plus a session
// header, and everything else with a canned tools/call result under the request's id. No SDK,
// no validation, no work: the floor of node:http + the load generator on this machine.
// Listens on 127.0.0.1 (port from argv[2], 0 = any) and prints `LISTENING <port>`.
import * as http from 'node:http';

const SESSION = 'limit-session';
const INIT_RESULT = {
  protocolVersion: '2025-06-18',
  capabilities: { tools: {} },
  serverInfo: { name: 'bench-limit', version: '1.0.0' },
};
const CALL_RESULT = { content: [{ type: 'text', text: 'ok' }] };

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let msg;
    try {
      msg = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}');
      return;
    }
    if (msg.id === undefined) {
      res.writeHead(202);
      res.end();
      return;
    }
    const result = msg.method === 'initialize' ? INIT_RESULT : CALL_RESULT;
    const body = JSON.stringify({ jsonrpc: '2.0', id: msg.id, result });
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'mcp-session-id': SESSION,
    });
    res.end(body);
  });
});

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
