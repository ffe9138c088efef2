/**
 * HttpForwarder (the bridge's HTTP side) against a raw TCP server on 127.0.0.1: a request whose
 * kept-alive connection the server closes before answering is sent once more on a new connection
 * and answered (the client sees one answer, the bridge does not stop); a connection closed
 * mid-answer or a 401 becomes a JSON-RPC error for that request with a clear message, and the
 * token in the fixed headers never appears in what the client or the log gets.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { HttpForwarder } from '../../../src/core/forward/httpForwarder';
import { RecordingLogger } from '../../fakes/recordingLogger';

const TOKEN = 'CANARY-fwd-token-7c2e91';

describe('HttpForwarder', () => {
  const server = net.createServer();
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let heads: string[] = [];
  /** What the server does with the n-th request on a connection (1-based) and its body. */
  let answer: (socket: net.Socket, nth: number, body: string) => void = () => undefined;
  let url: URL;

  before(async () => {
    server.on('connection', (socket) => {
      connections++;
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      let buf = Buffer.alloc(0);
      let nth = 0;
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) {
            return;
          }
          const head = buf.toString('latin1', 0, end);
          const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
          if (buf.length < end + 4 + length) {
            return;
          }
          const body = buf.toString('utf8', end + 4, end + 4 + length);
          buf = buf.subarray(end + 4 + length);
          heads.push(head);
          answer(socket, ++nth, body);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = new URL(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/mcp`);
  });
  after(async () => {
    for (const s of sockets) {
      s.destroy();
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function forwarder(): { fwd: HttpForwarder; out: string[]; fatal: string[]; logger: RecordingLogger } {
    const out: string[] = [];
    const fatal: string[] = [];
    const logger = new RecordingLogger();
    const fwd = new HttpForwarder({
      url,
      headers: { authorization: `Bearer ${TOKEN}` },
      toClient: (line) => out.push(line.toString('utf8')),
      logger,
      unauthorizedHint: 'the server refused the token (HTTP 401): check AGENT_KEYRING_TOKEN',
      scrub: (t) => t.split(TOKEN).join('[REDACTED]'),
      onFatal: (why) => fatal.push(why),
    });
    return { fwd, out, fatal, logger };
  }

  const json = (socket: net.Socket, text: string, status = '200 OK'): void => {
    socket.write(
      `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
    );
  };

  async function until(cond: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!cond()) {
      assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  test('a kept-alive connection closed before the answer: sent again on a new one, answered once', async () => {
    const { fwd, out, fatal } = forwarder();
    heads = [];
    const start = connections;
    answer = (socket, nth, body) => {
      const id = (JSON.parse(body) as { id: number }).id;
      if (nth === 2) {
        socket.destroy(); // the server drops the idle connection just as the request arrives
        return;
      }
      json(socket, `{"jsonrpc":"2.0","id":${id},"result":{"n":${nth}}}`);
    };
    fwd.send(Buffer.from('{"jsonrpc":"2.0","id":1,"method":"ping"}\n'));
    await until(() => out.length === 1, 'the first answer');
    fwd.send(Buffer.from('{"jsonrpc":"2.0","id":2,"method":"ping"}\n'));
    await until(() => out.length === 2, 'the second answer');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(out, [
      '{"jsonrpc":"2.0","id":1,"result":{"n":1}}\n',
      '{"jsonrpc":"2.0","id":2,"result":{"n":1}}\n',
    ]);
    assert.equal(connections - start, 2, 'the retry went out on a new connection');
    assert.equal(heads.length, 3);
    assert.ok(heads.every((h) => h.includes(`authorization: Bearer ${TOKEN}`)));
    assert.deepEqual(fatal, []);
    await fwd.close({ graceful: false, terminate: false });
  });

  test('closed mid-answer on a fresh connection, or a 401: a JSON-RPC error for that request, no token shown', async () => {
    const { fwd, out, logger } = forwarder();
    answer = (socket, _nth, body) => {
      const id = (JSON.parse(body) as { id: number }).id;
      if (id === 7) {
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{"jsonrpc"');
        setTimeout(() => socket.destroy(), 5);
      } else {
        json(socket, `{"error":"bad token ${TOKEN}"}`, '401 Unauthorized');
      }
    };
    fwd.send(Buffer.from('{"jsonrpc":"2.0","id":7,"method":"tools/list"}\n'));
    await until(() => out.length === 1, 'the error for id 7');
    const e7 = JSON.parse(out[0]) as { id: number; error: { code: number; message: string } };
    assert.equal(e7.id, 7);
    assert.equal(e7.error.code, -32000);
    assert.match(e7.error.message, /closed the connection before its answer was complete/);
    fwd.send(Buffer.from('{"jsonrpc":"2.0","id":8,"method":"tools/list"}\n'));
    await until(() => out.length === 2, 'the error for id 8');
    const e8 = JSON.parse(out[1]) as { id: number; error: { message: string } };
    assert.equal(e8.id, 8);
    assert.match(e8.error.message, /refused the token \(HTTP 401\): check AGENT_KEYRING_TOKEN/);
    assert.ok(!out.join('').includes(TOKEN) && !logger.text().includes(TOKEN), 'the token is never shown');
    await fwd.close({ graceful: false, terminate: false });
  });
});
