/**
 * The forwarding path's HTTP/1.1 client against a raw TCP server on 127.0.0.1 that writes exactly
 * the bytes each test scripts: answers framed by content-length, chunked (with extensions and
 * trailers) or until close, cut at every byte boundary; keep-alive reuse; a server that closes the
 * socket mid-answer or while idle; oversized and invalid answers; refused connections and timeouts
 * — each ends in one clear error, never a hang, and a header value never appears in an error.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  Http1Client,
  headerLines,
  type Http1Error,
  type Http1Request,
  type Http1Response,
} from '../../../src/core/forward/http1Client';

interface Received {
  head: string;
  body: Buffer;
  socket: net.Socket;
  /** Connection number on this server (1-based). */
  conn: number;
}

/** A TCP server that reads HTTP/1.1 requests (content-length bodies) and lets the test answer. */
class ScriptedServer {
  readonly server = net.createServer();
  readonly sockets = new Set<net.Socket>();
  connections = 0;
  onRequest: (r: Received) => void = (r) => r.socket.end();

  async start(): Promise<URL> {
    this.server.on('connection', (socket) => {
      const conn = ++this.connections;
      socket.setNoDelay(true); // a test's second write must not wait for the client's delayed ACK
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      let buf = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) {
            return;
          }
          const head = buf.toString('latin1', 0, end);
          const m = /content-length: (\d+)/i.exec(head);
          const length = m ? Number(m[1]) : 0;
          if (buf.length < end + 4 + length) {
            return;
          }
          const body = buf.subarray(end + 4, end + 4 + length);
          buf = buf.subarray(end + 4 + length);
          this.onRequest({ head, body, socket, conn });
        }
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as net.AddressInfo;
    return new URL(`http://127.0.0.1:${port}/mcp?x=1`);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) {
      s.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Outcome {
  res?: Http1Response;
  body?: Buffer;
  chunks: Buffer[];
  error?: Http1Error;
}

/** One request; resolves with its outcome (answer or error), rejects only if nothing happens in 5 s. */
function call(client: Http1Client, req: Partial<Http1Request> = {}, stream = false): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const out: Outcome = { chunks: [] };
    const guard = setTimeout(
      () => reject(new Error('the client hung: no answer and no error in 5 s')),
      5_000,
    );
    client.request(
      { method: 'POST', headers: '', body: Buffer.from('{}'), ...req },
      {
        onResponse: (res) => {
          out.res = res;
          return stream;
        },
        onChunk: (c) => out.chunks.push(Buffer.from(c)),
        onEnd: (body) => {
          clearTimeout(guard);
          out.body = body;
          resolve(out);
        },
        onError: (e) => {
          clearTimeout(guard);
          out.error = e;
          resolve(out);
        },
      },
    );
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Writes `bytes` in two parts cut at `cut`, with a pause between (two reads on the client). */
async function writeCut(socket: net.Socket, bytes: Buffer, cut: number): Promise<void> {
  socket.write(bytes.subarray(0, cut));
  await sleep(2);
  socket.write(bytes.subarray(cut));
}

describe('Http1Client (forwarding path)', () => {
  const server = new ScriptedServer();
  let url: URL;

  before(async () => {
    url = await server.start();
  });
  after(async () => {
    await server.stop();
  });

  test('sends the pre-built head, the request headers and the body as they are', async () => {
    const client = new Http1Client({ url, headers: headerLines({ authorization: 'Bearer abc' }) });
    let seen: Received | undefined;
    server.onRequest = (r) => {
      seen = r;
      r.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    };
    const big = Buffer.alloc(1_048_576 + 7, 'x');
    big[0] = 0x7b;
    const out = await call(client, { headers: headerLines({ 'mcp-session-id': 's1' }), body: big });
    client.close();
    assert.equal(out.error, undefined);
    assert.equal(out.body?.toString(), 'ok');
    assert.ok(seen);
    const lines = seen.head.split('\r\n');
    assert.equal(lines[0], 'POST /mcp?x=1 HTTP/1.1');
    assert.ok(lines.includes(`host: ${url.host}`));
    assert.ok(lines.includes('authorization: Bearer abc'));
    assert.ok(lines.includes('mcp-session-id: s1'));
    assert.ok(lines.includes(`content-length: ${big.length}`));
    assert.ok(seen.body.equals(big));
  });

  test('content-length and chunked answers cut at every byte: same status, headers and body', async () => {
    const plain = Buffer.from(
      'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Multi: a\r\nx-multi: b\r\nContent-Length: 27\r\n\r\n{"jsonrpc":"2.0","id":1,"é"}'.replace(
        '27',
        String(Buffer.byteLength('{"jsonrpc":"2.0","id":1,"é"}')),
      ),
    );
    const chunked = Buffer.from(
      'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n' +
        '8;ext=1\r\ndata: a\n\r\n' +
        'D\r\n\ndata: bcdef\n\r\n' +
        '0\r\nx-trailer: t\r\n\r\n',
    );
    const client = new Http1Client({ url });
    for (const [bytes, body, stream] of [
      [plain, '{"jsonrpc":"2.0","id":1,"é"}', false],
      [chunked, 'data: a\n\ndata: bcdef\n', false],
      [chunked, 'data: a\n\ndata: bcdef\n', true],
    ] as const) {
      for (let cut = 1; cut < bytes.length; cut++) {
        server.onRequest = (r) => void writeCut(r.socket, bytes, cut);
        const out = await call(client, {}, stream);
        assert.equal(out.error, undefined, `cut at ${cut}: ${out.error?.message}`);
        assert.equal(out.res?.status, 200);
        const got = stream ? Buffer.concat(out.chunks) : out.body;
        assert.equal(got?.toString('utf8'), body, `cut at ${cut}`);
        if (bytes === plain) {
          assert.equal(out.res?.headers['content-type'], 'application/json');
          assert.equal(out.res?.headers['x-multi'], 'a, b');
        } else {
          assert.equal(out.res?.headers['content-type'], 'text/event-stream');
        }
      }
    }
    // All of it over one kept-alive connection.
    assert.equal(client.connections, 1);
    client.close();
  });

  test('keep-alive: sequential requests reuse one connection; concurrent ones open more; 1xx is skipped', async () => {
    const before = server.connections;
    const client = new Http1Client({ url });
    server.onRequest = (r) =>
      r.socket.write(
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n' + String(r.conn % 10),
      );
    for (let i = 0; i < 20; i++) {
      const out = await call(client);
      assert.equal(out.res?.status, 200);
    }
    assert.equal(server.connections - before, 1);
    const all = await Promise.all([call(client), call(client), call(client)]);
    assert.ok(all.every((o) => o.res?.status === 200));
    assert.equal(server.connections - before, 3);
    assert.equal(client.connections, 3);
    client.close();
    assert.equal(client.connections, 0);
  });

  test('204, a HEAD answer and a bodiless 202 complete without waiting for a body', async () => {
    const client = new Http1Client({ url });
    server.onRequest = (r) => r.socket.write('HTTP/1.1 204 No Content\r\n\r\n');
    assert.equal((await call(client)).res?.status, 204);
    server.onRequest = (r) => r.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n');
    assert.equal((await call(client, { method: 'HEAD', body: undefined })).res?.status, 200);
    server.onRequest = (r) => r.socket.write('HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n');
    assert.equal((await call(client)).body?.length, 0);
    assert.equal(client.connections, 1);
    client.close();
  });

  test('an answer framed by the end of the connection completes when the server closes it', async () => {
    const client = new Http1Client({ url });
    server.onRequest = (r) => {
      r.socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\npart one, ');
      setTimeout(() => r.socket.end('part two'), 5);
    };
    const out = await call(client);
    assert.equal(out.body?.toString(), 'part one, part two');
    assert.equal(client.connections, 0);
    client.close();
  });

  test('the server closes the socket mid-answer: one clear error, and the next request works', async () => {
    const client = new Http1Client({ url });
    server.onRequest = (r) => {
      r.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly some');
      setTimeout(() => r.socket.destroy(), 5);
    };
    let errors = 0;
    const out = await new Promise<Outcome>((resolve) => {
      const o: Outcome = { chunks: [] };
      client.request(
        { method: 'POST', headers: '', body: Buffer.from('{}') },
        {
          onResponse: () => false,
          onEnd: () => resolve(o),
          onError: (e) => {
            errors++;
            o.error = e;
            setTimeout(() => resolve(o), 50); // a second error would be counted meanwhile
          },
        },
      );
    });
    assert.equal(errors, 1);
    assert.equal(out.error?.code, 'ECONNRESET');
    assert.match(out.error?.message ?? '', /closed the connection before its answer was complete/);
    server.onRequest = (r) => r.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    assert.equal((await call(client)).body?.toString(), 'ok');
    client.close();
  });

  test('the server closes an idle kept-alive connection: the next request opens a new one', async () => {
    const client = new Http1Client({ url });
    server.onRequest = (r) => r.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    await call(client);
    for (const s of server.sockets) {
      s.destroy();
    }
    await sleep(30);
    assert.equal(client.connections, 0);
    const out = await call(client);
    assert.equal(out.body?.toString(), 'ok');
    client.close();
  });

  test('oversized and invalid answers: a clear error each, the connection dropped, no hang', async () => {
    const client = new Http1Client({ url, maxResponseBytes: 1000 });
    const cases: [string | (() => string), string, RegExp][] = [
      ['HTTP/1.1 200 OK\r\ncontent-length: 1001\r\n\r\n', 'E2BIG', /larger than 1000 bytes; not passed on/],
      [
        `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3e8\r\n${'x'.repeat(1000)}\r\n1\r\ny\r\n0\r\n\r\n`,
        'E2BIG',
        /larger than 1000 bytes/,
      ],
      ['SSH-2.0-OpenSSH_9.6\r\n\r\n', 'EPROTO', /not valid HTTP\/1\.1: status line 'SSH-2\.0/],
      ['HTTP/1.1 200 OK\r\ncontent-length: ten\r\n\r\n', 'EPROTO', /content-length 'ten'/],
      ['HTTP/1.1 200 OK\r\nbroken header\r\n\r\n', 'EPROTO', /header line without a name/],
      ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', 'EPROTO', /bad chunk size 'zz'/],
      ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n', 'EPROTO', /longer than its size/],
      [() => `HTTP/1.1 200 OK\r\nx-big: ${'h'.repeat(70_000)}`, 'EPROTO', /head is larger than 65536 bytes/],
    ];
    for (const [bytes, code, message] of cases) {
      server.onRequest = (r) => r.socket.write(typeof bytes === 'string' ? bytes : bytes());
      const out = await call(client);
      assert.equal(out.error?.code, code, `${String(bytes).slice(0, 40)}: ${out.error?.message}`);
      assert.match(out.error?.message ?? '', message);
    }
    // A streamed answer is not capped as a whole (SSE), only collected ones.
    server.onRequest = (r) =>
      r.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n${'s'.repeat(5000)}`);
    const streamed = await call(client, {}, true);
    assert.equal(Buffer.concat(streamed.chunks).length, 5000);
    client.close();
  });

  test('refused connection and timeout: an error with its code, no hang', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = new Http1Client({ url: new URL(`http://127.0.0.1:${port}/mcp`) });
    const out = await call(refused);
    assert.equal(out.error?.code, 'ECONNREFUSED');
    refused.close();

    const client = new Http1Client({ url });
    server.onRequest = () => undefined; // never answers
    const slow = await call(client, { timeoutMs: 100 });
    assert.equal(slow.error?.code, 'ETIMEDOUT');
    assert.match(slow.error?.message ?? '', /no complete answer within 100 ms/);
    assert.equal(client.connections, 0);
    // close() fails what is in flight (ECANCELED), and a request after it at once.
    const inFlight = call(client);
    await sleep(20);
    client.close();
    assert.equal((await inFlight).error?.code, 'ECANCELED');
    assert.equal((await call(client)).error?.code, 'ECANCELED');
  });

  test('abort drops the request without calling back; the connection is not reused', async () => {
    const client = new Http1Client({ url });
    server.onRequest = () => undefined;
    let called = false;
    const p = client.request(
      { method: 'GET', headers: '' },
      { onResponse: () => (called = true), onEnd: () => (called = true), onError: () => (called = true) },
    );
    await sleep(20);
    p.abort();
    await sleep(20);
    assert.equal(called, false);
    assert.equal(client.connections, 0);
    client.close();
  });

  test('headerLines refuses a line break or control character in a value without showing the value', () => {
    const canary = 'CANARY-b7c1e0-value';
    assert.equal(headerLines({ a: 'x', 'mcp-name': 'tool é' }), 'a: x\r\nmcp-name: tool é\r\n');
    for (const bad of [`${canary}\r\nx-injected: 1`, `${canary}\n`, `${canary}\u0000`]) {
      assert.throws(
        () => headerLines({ authorization: bad }),
        (e: Error) =>
          /header 'authorization' holds a line break or control character/.test(e.message) &&
          !e.message.includes(canary),
      );
    }
    assert.throws(() => headerLines({ 'bad name': 'x' }), /not a valid HTTP header name/);
  });
});
