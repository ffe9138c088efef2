/**
 * The shared forwarding path's pieces: peekJsonRpc agrees with JSON.parse on id and method for
 * generated messages (nested strings with quotes, backslashes, brackets and non-ASCII; ids of every
 * kind; keys in any order; whitespace), refuses what is not an object; LineFramer hands on exact
 * line bytes whatever the chunking; BatchedWriter keeps order and coalesces one turn's writes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { peekJsonRpc } from '../../../src/core/forward/jsonRpcPeek';
import { BatchedWriter, LineFramer } from '../../../src/core/forward/lineFramer';

/** Deterministic pseudo-random numbers (a failure can be replayed). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const NASTY = ['"', '\\', '{', '}', '[', ']', ',', ':', 'é', '😀', '\\"', '"id":1', '\n', '\u0001', ' '];

function randomString(r: () => number): string {
  let s = '';
  const n = Math.floor(r() * 12);
  for (let i = 0; i < n; i++) {
    s += r() < 0.4 ? NASTY[Math.floor(r() * NASTY.length)] : String.fromCharCode(97 + Math.floor(r() * 26));
  }
  return s;
}

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 3 ? 4 : 6));
  switch (k) {
    case 0:
      return randomString(r);
    case 1:
      return Math.floor(r() * 1e6) - 5e5;
    case 2:
      return r() < 0.5 ? null : r() < 0.5;
    case 3:
      return r() * 1000;
    case 4:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 4); i > 0; i--) {
        o[r() < 0.2 ? (r() < 0.5 ? 'id' : 'method') : randomString(r)] = randomValue(r, depth + 1);
      }
      return o;
    }
  }
}

function randomId(r: () => number): unknown {
  const choices: unknown[] = [
    Math.floor(r() * 1e9),
    0,
    -17,
    `req-${randomString(r)}`,
    null,
    'akr-wrapper-3',
    '',
    12.5,
  ];
  return choices[Math.floor(r() * choices.length)];
}

function randomMessage(r: () => number): Record<string, unknown> {
  const entries: Array<[string, unknown]> = [['jsonrpc', '2.0']];
  if (r() < 0.8) {
    entries.push(['id', randomId(r)]);
  }
  if (r() < 0.5) {
    entries.push(['method', r() < 0.9 ? `tools/${randomString(r)}` : 42]);
    entries.push(['params', randomValue(r, 1)]);
  } else {
    entries.push([r() < 0.8 ? 'result' : 'error', randomValue(r, 1)]);
  }
  // Keys in random order: the SDK writes `id` last in answers.
  entries.sort(() => r() - 0.5);
  return Object.fromEntries(entries);
}

function truth(text: string): { id: string | undefined; hasMethod: boolean; method: string | undefined } {
  const m = JSON.parse(text) as Record<string, unknown>;
  return {
    id: 'id' in m ? JSON.stringify(m.id) : undefined,
    hasMethod: 'method' in m,
    method: typeof m.method === 'string' ? m.method : undefined,
  };
}

describe('peekJsonRpc', () => {
  test('agrees with JSON.parse on 5,000 generated messages, compact and indented', () => {
    const r = rng(0x5eed);
    for (let i = 0; i < 5000; i++) {
      const msg = randomMessage(r);
      const text = i % 3 === 0 ? JSON.stringify(msg, null, i % 2 ? 2 : '\t') : JSON.stringify(msg);
      assert.deepEqual(peekJsonRpc(Buffer.from(`${text}\n`)), truth(text), text);
    }
  });

  test('ids and keys written with escapes or unusual number forms get their canonical text', () => {
    const cases: Array<[string, string | undefined, string | undefined]> = [
      ['{"\\u0069d": 5, "method": "a"}', '5', 'a'],
      ['{"id": "a\\u0062c", "method": "x\\/y"}', '"abc"', 'x/y'],
      ['{"id": 1.0}', '1', undefined],
      ['{"id": 1e2}', '100', undefined],
      ['{"id": -0}', '0', undefined],
      ['  {"id" : 7 , "method" : "m"}  \r\n', '7', 'm'],
      ['{"id":1,"id":2}', '2', undefined],
      ['{}', undefined, undefined],
    ];
    for (const [text, id, method] of cases) {
      const p = peekJsonRpc(Buffer.from(text));
      assert.ok(p, text);
      assert.equal(p.id, id, text);
      assert.equal(p.method, method, text);
    }
  });

  test('not an object, or cut off: undefined (the line is forwarded untracked)', () => {
    for (const text of [
      '',
      '\n',
      '[{"id":1}]',
      'not json',
      '"a string"',
      '{"id":1',
      '{"id":"abc}',
      '{"id":1,"params":{"a":[1,2}',
      '{"id":1} trailing',
      '{id:1}',
      '{"id":}',
    ]) {
      assert.equal(peekJsonRpc(Buffer.from(text)), undefined, text);
    }
  });
});

describe('LineFramer', () => {
  test('every way of cutting the stream gives the same lines, byte for byte', () => {
    const lines = ['{"a":1}\n', '\n', '{"b":"é😀"}\r\n', '{"c":[1,2,3]}\n', 'tail without newline'];
    const all = Buffer.from(lines.join(''));
    const r = rng(7);
    for (let round = 0; round < 300; round++) {
      const got: Buffer[] = [];
      const framer = new LineFramer((l) => got.push(Buffer.from(l)));
      let at = 0;
      while (at < all.length) {
        const n = 1 + Math.floor(r() * 9);
        const chunk = Buffer.from(all.subarray(at, at + n));
        framer.push(chunk);
        chunk.fill(0); // the framer must not keep a reference to a reused buffer
        at += n;
      }
      framer.end();
      assert.deepEqual(
        got.map((b) => b.toString('utf8')),
        lines,
      );
    }
  });
});

describe('BatchedWriter', () => {
  test('writes of one turn become one write, in order; the next turn writes again', async () => {
    const writes: string[] = [];
    const w = new BatchedWriter((b) => writes.push(b.toString('utf8')));
    w.write(Buffer.from('a\n'));
    w.write(Buffer.from('b\n'));
    w.write(Buffer.from('c\n'));
    assert.deepEqual(writes, []);
    await Promise.resolve();
    assert.deepEqual(writes, ['a\nb\nc\n']);
    w.write(Buffer.from('d\n'));
    w.flush();
    assert.deepEqual(writes, ['a\nb\nc\n', 'd\n']);
    await Promise.resolve();
    assert.deepEqual(writes, ['a\nb\nc\n', 'd\n'], 'an explicit flush leaves nothing for the microtask');
  });
});
