/**
 * Cursor's MCP extension API (cursorMcp.ts) against a fake `vscode.cursor.mcp`: feature detection,
 * registration with the in-memory token, re-registration on a new URL or token, unregistration
 * when the server stops, the agent is revoked or the extension is disposed — and no token in logs.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import {
  CURSOR_SERVER_NAME,
  CursorMcpRegistration,
  findCursorMcpApi,
  type CursorMcpApi,
} from '../../../src/vscode/server/cursorMcp';
import { RecordingLogger } from '../../fakes/recordingLogger';

type Call =
  | { op: 'register'; name: string; url: string; headers?: Record<string, string> }
  | { op: 'unregister'; name: string };

function fakeCursor(failRegister = false): CursorMcpApi & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    registerServer: (config) => {
      if (failRegister) {
        throw new Error(`rejected ${JSON.stringify(config)}`);
      }
      calls.push({
        op: 'register',
        name: config.name,
        url: config.server.url,
        headers: config.server.headers,
      });
    },
    unregisterServer: (name) => calls.push({ op: 'unregister', name }),
  };
}

function world() {
  const events = new EventEmitter();
  const state = { url: undefined as string | undefined, token: undefined as string | undefined };
  const logger = new RecordingLogger();
  const deps = {
    url: () => state.url,
    token: () => Promise.resolve(state.token),
    onDidChangeServer: (l: () => void) => {
      events.on('server', l);
      return { dispose: () => events.off('server', l) };
    },
    onDidRenewToken: (l: () => void) => {
      events.on('token', l);
      return { dispose: () => events.off('token', l) };
    },
    logger,
  };
  return { events, state, logger, deps };
}

test('findCursorMcpApi: only a namespace with cursor.mcp.registerServer and unregisterServer', () => {
  assert.equal(findCursorMcpApi({}), undefined);
  assert.equal(findCursorMcpApi(undefined), undefined);
  assert.equal(findCursorMcpApi({ cursor: {} }), undefined);
  assert.equal(findCursorMcpApi({ cursor: { mcp: { registerServer: () => undefined } } }), undefined);
  const fake = fakeCursor();
  const api = findCursorMcpApi({ cursor: { mcp: fake } });
  assert.ok(api);
  api.registerServer({ name: 'n', server: { url: 'http://127.0.0.1:1/mcp' } });
  assert.equal(fake.calls.length, 1, 'calls go to Cursor');
});

test('registers with the token in memory, follows URL and token changes, unregisters on stop and dispose', async () => {
  const { events, state, logger, deps } = world();
  const cursor = fakeCursor();
  const first = `akr_${randomUUID()}`;
  const second = `akr_${randomUUID()}`;
  state.url = 'http://127.0.0.1:47017/mcp';
  state.token = first;
  const reg = new CursorMcpRegistration(cursor, deps);
  await reg.synced;
  assert.deepEqual(cursor.calls, [
    {
      op: 'register',
      name: CURSOR_SERVER_NAME,
      url: 'http://127.0.0.1:47017/mcp',
      headers: { Authorization: `Bearer ${first}` },
    },
  ]);

  // Nothing changed: no churn.
  events.emit('server');
  await reg.synced;
  assert.equal(cursor.calls.length, 1);

  // A new token (Rotate Agent Token): unregister, register with the new one.
  state.token = second;
  events.emit('token');
  await reg.synced;
  assert.deepEqual(cursor.calls.slice(1), [
    { op: 'unregister', name: CURSOR_SERVER_NAME },
    {
      op: 'register',
      name: CURSOR_SERVER_NAME,
      url: 'http://127.0.0.1:47017/mcp',
      headers: { Authorization: `Bearer ${second}` },
    },
  ]);

  // Another port (taken over by this window): re-registered at the new URL.
  state.url = 'http://127.0.0.1:47100/mcp';
  events.emit('server');
  await reg.synced;
  assert.equal(cursor.calls.at(-1)?.op, 'register');
  assert.equal((cursor.calls.at(-1) as { url: string }).url, 'http://127.0.0.1:47100/mcp');

  // The server stops: unregistered; it comes back: registered again.
  state.url = undefined;
  events.emit('server');
  await reg.synced;
  assert.deepEqual(cursor.calls.at(-1), { op: 'unregister', name: CURSOR_SERVER_NAME });
  state.url = 'http://127.0.0.1:47017/mcp';
  events.emit('server');
  await reg.synced;
  assert.equal(cursor.calls.at(-1)?.op, 'register');

  // The vscode agent is revoked: unregistered (no token to give).
  state.token = undefined;
  events.emit('token');
  await reg.synced;
  assert.deepEqual(cursor.calls.at(-1), { op: 'unregister', name: CURSOR_SERVER_NAME });

  state.token = first;
  events.emit('token');
  await reg.synced;
  const before = cursor.calls.length;
  reg.dispose();
  assert.deepEqual(cursor.calls.at(-1), { op: 'unregister', name: CURSOR_SERVER_NAME });
  events.emit('server');
  events.emit('token');
  await reg.synced;
  assert.equal(cursor.calls.length, before + 1, 'nothing after dispose');
  assert.equal(events.listenerCount('server') + events.listenerCount('token'), 0, 'listeners removed');

  const log = logger.lines.join('\n');
  assert.ok(!log.includes(first) && !log.includes(second), 'no token in the log');
});

test('Cursor refusing the registration is logged without its message (which could hold the token)', async () => {
  const { state, logger, deps } = world();
  const token = `akr_${randomUUID()}`;
  state.url = 'http://127.0.0.1:47017/mcp';
  state.token = token;
  const reg = new CursorMcpRegistration(fakeCursor(true), deps);
  await reg.synced;
  assert.equal(logger.at('warn').length, 1);
  assert.ok(!logger.lines.join('\n').includes(token));
  reg.dispose();
});
