// TEST-ONLY forwarding proxy for the MCP conformance suite, which cannot send our bearer token.
//
//   AKR_PROXY_TOKEN=<agent token> node test/conformance/authProxy.mjs --upstream http://127.0.0.1:U/mcp [--port 0]
//
// Listens on 127.0.0.1 only and prints `LISTENING <port>`. Every request is forwarded to the
// upstream server as it came — method, path, body and every header, Origin included, streamed both
// ways (SSE GET streams too) — with `Authorization: Bearer <token>` added when the request has none.
//
// Host is the one header it may change, and only in one case: when the request names THIS proxy
// (127.0.0.1:P, localhost:P or [::1]:P), it is rewritten to the same loopback name with the
// upstream's port, because that is what a client talking to the server directly would send. Any
// other Host — e.g. the `evil.example.com` of the DNS-rebinding scenario — is passed through
// unchanged, so the server's own Host check still sees and rejects it. (Rewriting every Host to
// the upstream would make that scenario pass without testing anything.) The token is added to
// those requests too, so a 4xx there comes from the Host/Origin check, not from a missing token.
import * as http from 'node:http';

function parseArgs(argv) {
  const out = { port: 0, upstream: undefined };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--upstream') {
      out.upstream = argv[++i];
    } else if (argv[i] === '--port') {
      out.port = Number(argv[++i]);
    } else {
      throw new Error(`authProxy: unknown argument '${argv[i]}'`);
    }
  }
  if (!out.upstream) {
    throw new Error('authProxy: --upstream http://127.0.0.1:PORT/mcp is required');
  }
  return out;
}

const opts = parseArgs(process.argv.slice(2));
const token = process.env.AKR_PROXY_TOKEN;
if (!token) {
  process.stderr.write('authProxy: set AKR_PROXY_TOKEN to the agent token to add\n');
  process.exit(2);
}
const upstream = new URL(opts.upstream);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(upstream.hostname)) {
  process.stderr.write('authProxy: the upstream must be a loopback address\n');
  process.exit(2);
}

let ownPort = 0;
/** `127.0.0.1:P` → `127.0.0.1:U` for our own loopback names; anything else unchanged. */
function upstreamHost(host) {
  const h = (host ?? '').toLowerCase();
  for (const name of ['127.0.0.1', 'localhost', '[::1]']) {
    if (h === `${name}:${ownPort}`) {
      return `${name}:${upstream.port}`;
    }
  }
  return host;
}

const server = http.createServer((req, res) => {
  // rawHeaders keeps every header (and repeated ones) as sent.
  const headers = [];
  let hasAuth = false;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i];
    let value = req.rawHeaders[i + 1];
    const lower = name.toLowerCase();
    if (lower === 'host') {
      value = upstreamHost(value);
    } else if (lower === 'authorization') {
      hasAuth = true;
    }
    headers.push(name, value);
  }
  if (!hasAuth) {
    headers.push('Authorization', `Bearer ${token}`);
  }
  const up = http.request({
    host: upstream.hostname.replace(/^\[|\]$/g, ''),
    port: upstream.port,
    method: req.method,
    path: req.url,
    headers,
    setHost: false,
  });
  up.on('response', (ur) => {
    const out = [];
    for (let i = 0; i < ur.rawHeaders.length; i += 2) {
      out.push(ur.rawHeaders[i], ur.rawHeaders[i + 1]);
    }
    res.writeHead(ur.statusCode ?? 502, ur.statusMessage, out);
    // Flush headers at once: an SSE stream may send nothing for a while.
    res.flushHeaders();
    ur.pipe(res);
    res.on('close', () => ur.destroy());
  });
  up.on('error', (e) => {
    if (!res.headersSent) {
      const body = JSON.stringify({
        jsonrpc: '2.0',
        error: { code: -32603, message: `authProxy: upstream error ${e.code ?? e.message}` },
        id: null,
      });
      res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    } else {
      res.destroy();
    }
  });
  req.on('aborted', () => up.destroy());
  res.on('close', () => {
    if (!res.writableFinished) {
      up.destroy();
    }
  });
  req.pipe(up);
});

server.listen(opts.port, '127.0.0.1', () => {
  ownPort = server.address().port;
  process.stdout.write(`LISTENING ${ownPort}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
