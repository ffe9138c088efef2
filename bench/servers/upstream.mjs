// A local upstream API for the `http_request` rows: plain node:http on 127.0.0.1 (port from
// argv[2], 0 = any; prints `LISTENING <port>`). GET /v1/items answers a small canned JSON body
// (~400 bytes) when the request carries `Authorization: Bearer <something>`, else 401. No work
// beyond that: the same answer for the brokered call and the direct call it is compared with.
import * as http from 'node:http';

const BODY = JSON.stringify({
  items: Array.from({ length: 8 }, (_, i) => ({ id: `item-${i}`, name: `Item number ${i}`, score: i * 7 })),
  next: null,
});

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (!(req.headers.authorization ?? '').startsWith('Bearer ')) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":"missing bearer"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) });
    res.end(BODY);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
for (const s of ['SIGINT', 'SIGTERM']) {
  process.on(s, () => server.close(() => process.exit(0)));
}
