// The conformance suite's DNS-rebinding scenario sends a bad Host AND a bad Origin together, so it
// cannot catch a server that checks only Host. This checks Origin on its own, straight against
// the server (no proxy): a correct Host with a foreign Origin must get 403, while the same request
// with a loopback Origin, or none, must succeed.
//
//   AKR_TOKEN=<agent token> node test/conformance/originCheck.mjs http://127.0.0.1:PORT/mcp
// Exit 0 when all hold; 1 with one line per failure.
const url = new URL(process.argv[2]);
const token = process.env.AKR_TOKEN;
if (!token) {
  console.error('originCheck: set AKR_TOKEN');
  process.exit(2);
}

async function initialize(origin) {
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    authorization: `Bearer ${token}`,
  };
  if (origin) {
    headers.origin = origin;
  }
  const res = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'origin-check', version: '1' },
      },
    }),
  });
  const body = await res.text();
  const session = res.headers.get('mcp-session-id');
  if (session) {
    await fetch(url, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}`, 'mcp-session-id': session },
    });
  }
  return { status: res.status, body };
}

const cases = [
  { origin: 'http://evil.example.com', want: 403 },
  { origin: 'https://evil.example.com:443', want: 403 },
  { origin: 'null', want: 403 },
  { origin: `http://127.0.0.1:${url.port}`, want: 200 },
  { origin: 'http://localhost:1234', want: 200 },
  { origin: undefined, want: 200 },
];
let failed = 0;
for (const c of cases) {
  const got = await initialize(c.origin);
  const ok = got.status === c.want && (c.want !== 403 || /"jsonrpc"/.test(got.body));
  console.log(
    `${ok ? 'ok  ' : 'FAIL'} Origin ${c.origin ?? '(none)'} → HTTP ${got.status} (want ${c.want}${c.want === 403 ? ', JSON-RPC body' : ''})`,
  );
  if (!ok) {
    failed++;
  }
}
process.exit(failed ? 1 : 0);
