/**
 * Several windows, one server: the state machine behind the VS Code ServerController. With a fake
 * port and a FakeClock: attach, the periodic probe, takeover when the serving window goes, losing
 * the race to another window, never fighting a foreign program, back-off while the server does not
 * answer, and stop/start cancelling the probe. Then two instances over REAL sockets (our HTTP
 * host and the real probe) on one loopback port: the second attaches, and takes over when the first
 * stops.
 */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { describe, test } from 'node:test';
import { startHttpHost } from '../../../src/core/mcp/http';
import { identifyPort } from '../../../src/vscode/server/portProbe';
import {
  ATTACHED_PROBE_MS,
  MAX_PROBE_MS,
  SharedServer,
  type ChangeCause,
  type PortOccupant,
  type ServerState,
  type ServingHost,
} from '../../../src/vscode/server/sharedServer';
import { FakeClock } from '../../fakes/fakeClock';
import { RecordingLogger } from '../../fakes/recordingLogger';
import { FakeKeyringApi } from '../../mcp/fakeApi';

const PORT = 47999;
const urlOf = (port: number): string => `http://127.0.0.1:${port}/mcp`;

/** One loopback port and who holds it; `listen` and `identify` behave as the real ones would. */
class FakePort {
  holder: 'nobody' | 'otherWindow' | 'foreign' | 'hung' | 'us' = 'nobody';
  listens = 0;
  identifies = 0;
  /** Runs before `identify` answers (a window closing or winning a race in between). */
  beforeIdentify: (() => void) | undefined;
  listenError: (Error & { code?: string }) | undefined;

  listen = async (port: number): Promise<ServingHost> => {
    this.listens++;
    if (this.listenError) {
      throw this.listenError;
    }
    if (this.holder !== 'nobody') {
      throw Object.assign(new Error(`Port ${port} is already in use`), { code: 'EADDRINUSE' });
    }
    this.holder = 'us';
    return {
      url: urlOf(port),
      port,
      sessionCount: () => 0,
      close: async () => {
        this.holder = 'nobody';
      },
    };
  };

  identify = async (): Promise<PortOccupant> => {
    this.identifies++;
    const hook = this.beforeIdentify;
    this.beforeIdentify = undefined;
    hook?.();
    switch (this.holder) {
      case 'nobody':
        return 'free';
      case 'otherWindow':
      case 'us':
        return 'agentKeyring';
      case 'foreign':
        return 'foreign';
      case 'hung':
        return 'unknown';
    }
  };
}

function setup(probeMs?: number): {
  port: FakePort;
  clock: FakeClock;
  logger: RecordingLogger;
  server: SharedServer;
  changes: [ServerState['kind'], ChangeCause][];
  tick: (ms: number) => Promise<void>;
} {
  const port = new FakePort();
  const clock = new FakeClock();
  const logger = new RecordingLogger();
  const server = new SharedServer({
    // Through the object, so a test can swap a method mid-way.
    listen: (p) => port.listen(p),
    identify: () => port.identify(),
    clock,
    logger,
    urlOf,
    probeMs,
  });
  const changes: [ServerState['kind'], ChangeCause][] = [];
  server.onDidChange((s, cause) => changes.push([s.kind, cause]));
  return {
    port,
    clock,
    logger,
    server,
    changes,
    tick: async (ms) => {
      clock.advance(ms);
      await server.whenIdle();
    },
  };
}

describe('SharedServer with a fake port and clock', () => {
  test('a free port: this window serves, and no probe is scheduled', async () => {
    const { server, clock, changes } = setup();
    const state = await server.start(PORT);
    assert.deepEqual(state, { kind: 'running', port: PORT, url: urlOf(PORT) });
    assert.equal(clock.pendingTimers, 0);
    assert.deepEqual(changes, [
      ['starting', 'request'],
      ['running', 'request'],
    ]);
  });

  test('port held by another window: attached, probed every period while it answers', async () => {
    const { server, port, clock, tick } = setup();
    port.holder = 'otherWindow';
    const state = await server.start(PORT);
    assert.deepEqual(state, { kind: 'attached', port: PORT, url: urlOf(PORT) });
    assert.equal(server.url, urlOf(PORT));
    assert.equal(server.nextProbeDelay, ATTACHED_PROBE_MS);
    const before = port.identifies;
    await tick(ATTACHED_PROBE_MS - 1);
    assert.equal(port.identifies, before, 'no probe before the period');
    await tick(1);
    assert.equal(port.identifies, before + 1, 'one probe per period');
    for (let i = 0; i < 3; i++) {
      await tick(ATTACHED_PROBE_MS);
    }
    assert.equal(port.identifies, before + 4);
    assert.equal(server.state.kind, 'attached');
    assert.equal(port.listens, 1, 'no bind attempt while the other window answers');
    assert.equal(clock.pendingTimers, 1);
  });

  test('the serving window closes: this window takes the port at the next probe and serves', async () => {
    const { server, port, clock, tick, changes, logger } = setup();
    port.holder = 'otherWindow';
    await server.start(PORT);
    await tick(ATTACHED_PROBE_MS);
    port.holder = 'nobody'; // the other window closed
    await tick(ATTACHED_PROBE_MS);
    assert.deepEqual(server.state, { kind: 'running', port: PORT, url: urlOf(PORT) });
    assert.equal(port.holder, 'us');
    assert.deepEqual(changes.at(-1), ['running', 'probe']);
    assert.equal(clock.pendingTimers, 0, 'serving: no more probes');
    assert.match(logger.text(), /window that served port 47999 is gone; this window serves it now/);
  });

  test('a crashed window that leaves the port half-open (no answer) is also taken over at once', async () => {
    const { server, port, tick } = setup();
    port.holder = 'otherWindow';
    await server.start(PORT);
    // The probe gets no clear answer, and by the time we bind the port is free.
    port.identify = async () => {
      port.holder = 'nobody';
      return 'unknown';
    };
    await tick(ATTACHED_PROBE_MS);
    assert.equal(server.state.kind, 'running');
  });

  test('another window wins the takeover race: this one stays attached to it', async () => {
    const { server, port, tick, changes } = setup();
    port.holder = 'otherWindow';
    await server.start(PORT);
    const n = changes.length;
    port.holder = 'nobody';
    // Between our probe ("free") and our bind, a third window binds the port.
    const listen = port.listen;
    port.listen = async (p) => {
      port.holder = 'otherWindow';
      port.listen = listen;
      return listen(p);
    };
    await tick(ATTACHED_PROBE_MS);
    assert.equal(server.state.kind, 'attached');
    assert.equal(changes.length, n, 'no state change: still attached to the same port');
    assert.equal(server.nextProbeDelay, ATTACHED_PROBE_MS);
  });

  test('a foreign program on the port: never fought for, state portInUse, probing stops', async () => {
    const { server, port, clock, tick, changes } = setup();
    port.holder = 'otherWindow';
    await server.start(PORT);
    port.holder = 'foreign';
    const listens = port.listens;
    await tick(ATTACHED_PROBE_MS);
    assert.deepEqual(server.state, { kind: 'portInUse', port: PORT });
    assert.equal(server.url, undefined, 'no URL: the in-editor token never goes to that program');
    assert.equal(port.listens, listens, 'no bind attempt against a foreign program');
    assert.deepEqual(changes.at(-1), ['portInUse', 'probe']);
    assert.equal(clock.pendingTimers, 0);
    await tick(MAX_PROBE_MS * 4);
    assert.equal(port.listens, listens);
  });

  test('a foreign program grabbing the freed port first: portInUse, not attached', async () => {
    const { server, port, tick } = setup();
    port.holder = 'otherWindow';
    await server.start(PORT);
    port.holder = 'nobody';
    port.listen = async (p) => {
      throw Object.assign(new Error(`Port ${p} is already in use`), { code: 'EADDRINUSE' });
    };
    // First identify says free; by the re-check a foreign program holds it.
    const identify = port.identify;
    let calls = 0;
    port.identify = async () => {
      calls++;
      if (calls === 2) {
        port.holder = 'foreign';
      }
      return identify();
    };
    await tick(ATTACHED_PROBE_MS);
    assert.deepEqual(server.state, { kind: 'portInUse', port: PORT });
  });

  test('a server that stops answering but keeps the port: stays attached, probes back off, then recover', async () => {
    const { server, port, tick } = setup();
    port.holder = 'otherWindow';
    await server.start(PORT);
    port.holder = 'hung';
    const delays: number[] = [];
    let waited = ATTACHED_PROBE_MS;
    for (let i = 0; i < 6; i++) {
      await tick(waited);
      assert.equal(server.state.kind, 'attached');
      waited = server.nextProbeDelay ?? -1;
      delays.push(waited);
    }
    assert.deepEqual(delays, [4_000, 8_000, 16_000, MAX_PROBE_MS, MAX_PROBE_MS, MAX_PROBE_MS]);
    port.holder = 'otherWindow';
    await tick(waited);
    assert.equal(server.nextProbeDelay, ATTACHED_PROBE_MS, 'an answer resets the back-off');
  });

  test('stop while attached cancels the probe; a start on another port probes that port only', async () => {
    const { server, port, clock, tick } = setup();
    port.holder = 'otherWindow';
    await server.start(PORT);
    await server.stop();
    assert.deepEqual(server.state, { kind: 'stopped' });
    assert.equal(clock.pendingTimers, 0);
    port.holder = 'nobody';
    await tick(ATTACHED_PROBE_MS * 10);
    assert.equal(server.state.kind, 'stopped', 'a stopped window never takes the port');

    port.holder = 'otherWindow';
    await server.start(PORT);
    await server.start(PORT + 1); // setting changed: still held (fake holds every port)
    assert.equal(clock.pendingTimers, 1, 'one probe, for the new port');
    assert.deepEqual(server.state, { kind: 'attached', port: PORT + 1, url: urlOf(PORT + 1) });
  });

  test('the holder leaves between our bind and the probe: start retries once and serves', async () => {
    const { server, port } = setup();
    port.holder = 'otherWindow';
    port.beforeIdentify = () => (port.holder = 'nobody');
    const state = await server.start(PORT);
    assert.equal(state.kind, 'running');
    assert.equal(port.listens, 2);
  });

  test('a takeover that fails for another reason is reported as failed, and probing stops', async () => {
    const { server, port, clock, tick, changes } = setup();
    port.holder = 'otherWindow';
    await server.start(PORT);
    port.holder = 'nobody';
    port.listenError = Object.assign(new Error('listen EACCES: permission denied'), { code: 'EACCES' });
    await tick(ATTACHED_PROBE_MS);
    assert.equal(server.state.kind, 'failed');
    assert.deepEqual(changes.at(-1), ['failed', 'probe']);
    assert.equal(clock.pendingTimers, 0);
  });

  test('after close, no probe runs and start does nothing', async () => {
    const { server, port, clock, tick } = setup();
    port.holder = 'otherWindow';
    await server.start(PORT);
    await server.close();
    assert.equal(clock.pendingTimers, 0);
    port.holder = 'nobody';
    await tick(ATTACHED_PROBE_MS * 5);
    assert.equal((await server.start(PORT)).kind, 'stopped');
    assert.equal(port.holder, 'nobody');
  });
});

/** A port that is free right now on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves when `server` reaches `kind` (now or on a later change). */
function reaches(server: SharedServer, kind: ServerState['kind']): Promise<ServerState> {
  if (server.state.kind === kind) {
    return Promise.resolve(server.state);
  }
  return new Promise((resolve) => {
    const sub = server.onDidChange((s) => {
      if (s.kind === kind) {
        sub.dispose();
        resolve(s);
      }
    });
  });
}

function realWindow(logger = new RecordingLogger()): SharedServer {
  return new SharedServer({
    listen: (port) => startHttpHost({ api: new FakeKeyringApi(), port, host: '127.0.0.1', logger }),
    identify: (port) => identifyPort(port),
    clock: {
      setTimeout: (fn, ms) => {
        const t = setTimeout(fn, ms);
        return { dispose: () => clearTimeout(t) };
      },
    },
    logger,
    urlOf,
    probeMs: 25,
  });
}

describe('two windows over real sockets', () => {
  test('the second window attaches; when the first stops, it takes over and answers as Agent Keyring', async () => {
    const port = await freePort();
    const first = realWindow();
    const second = realWindow();
    try {
      assert.equal((await first.start(port)).kind, 'running');
      assert.deepEqual(await second.start(port), { kind: 'attached', port, url: urlOf(port) });
      const served = reaches(second, 'running');
      await first.stop();
      assert.deepEqual(await served, { kind: 'running', port, url: urlOf(port) });
      assert.equal(await identifyPort(port), 'agentKeyring');
      // And the first window, started again, now attaches to the second.
      assert.equal((await first.start(port)).kind, 'attached');
    } finally {
      await first.close();
      await second.close();
    }
    assert.equal(await identifyPort(port), 'free');
  });

  test('a foreign HTTP program on the port: start says portInUse and never binds or probes', async () => {
    const foreign = http.createServer((_req, res) => res.end('hello'));
    await new Promise<void>((r) => foreign.listen(0, '127.0.0.1', r));
    const { port } = foreign.address() as net.AddressInfo;
    const seen: string[] = [];
    foreign.on('request', (req: http.IncomingMessage) => seen.push(String(req.headers.authorization)));
    const w = realWindow();
    try {
      assert.deepEqual(await w.start(port), { kind: 'portInUse', port });
      assert.equal(w.url, undefined);
      assert.equal(w.nextProbeDelay, undefined);
      assert.deepEqual(seen, ['undefined'], 'one probe, without any Authorization header');
    } finally {
      await w.close();
      await new Promise((r) => foreign.close(r));
    }
  });
});

describe('identifyPort', () => {
  test('tells our server, a foreign HTTP server, a non-HTTP program, a silent one and a free port apart', async () => {
    const host: ServingHost = await startHttpHost({ api: new FakeKeyringApi(), port: 0, host: '127.0.0.1' });
    const web = http.createServer((_req, res) => {
      res.statusCode = 401;
      res.end('{"error":"nope"}');
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    // Raw TCP servers: their sockets are kept and destroyed at the end (nobody reads them).
    const sockets: net.Socket[] = [];
    const banner = net.createServer((s) => {
      sockets.push(s);
      s.end('SSH-2.0-OpenSSH_9.6\r\n');
    });
    await new Promise<void>((r) => banner.listen(0, '127.0.0.1', r));
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const portOf = (s: net.Server): number => (s.address() as net.AddressInfo).port;
    try {
      assert.equal(await identifyPort(host.port), 'agentKeyring');
      assert.equal(await identifyPort(portOf(web)), 'foreign', 'a 401 that is not ours');
      assert.equal(await identifyPort(portOf(banner)), 'foreign', 'not HTTP at all');
      assert.equal(await identifyPort(portOf(silent), { timeoutMs: 200 }), 'unknown');
      assert.equal(await identifyPort(await freePort()), 'free');
    } finally {
      await host.close();
      for (const s of sockets) {
        s.destroy();
      }
      await Promise.all([web, banner, silent].map((s) => new Promise((r) => s.close(r))));
    }
  });
});
