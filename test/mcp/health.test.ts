/**
 * `GET /healthz` and the 503 while the store is unreachable, on the real HTTP host (127.0.0.1:0)
 * with a {@link StoreHealth} whose probe the test switches off and on (the team-store suite does the
 * same with a real PostgreSQL that stops: test/team/teamServe.test.ts).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startHttpHost, type HttpHost } from '../../src/core/mcp/http';
import { StoreHealth } from '../../src/core/mcp/storeHealth';
import { RecordingLogger } from '../fakes/recordingLogger';
import { FakeKeyringApi } from './fakeApi';
import { INITIALIZE_BODY, postHeaders, rawRequest } from './harness';

describe('health: /healthz and 503 while the store is unreachable', () => {
  const hosts: HttpHost[] = [];
  after(async () => {
    await Promise.all(hosts.map((h) => h.close()));
  });

  it('a file store (no probe): /healthz is ok with any Host and no token; only GET/HEAD', async () => {
    const host = await startHttpHost({ api: new FakeKeyringApi(), port: 0 });
    hosts.push(host);
    const ok = await rawRequest(host.port, {
      method: 'GET',
      path: '/healthz',
      headers: { Host: 'lb.internal' },
    });
    assert.deepEqual([ok.status, JSON.parse(ok.body)], [200, { status: 'ok' }]);
    assert.equal(ok.headers['cache-control'], 'no-store');
    const head = await rawRequest(host.port, { method: 'HEAD', path: '/healthz' });
    assert.deepEqual([head.status, head.body], [200, '']);
    const post = await rawRequest(host.port, { method: 'POST', path: '/healthz', body: '{}' });
    assert.equal(post.status, 405);
    assert.match(
      (JSON.parse(post.body) as { error: { message: string } }).error.message,
      /use GET on \/healthz/,
    );
  });

  it('a store that stops answering: degraded, MCP requests get 503 (before any token check); back to ok', async () => {
    const api = new FakeKeyringApi();
    const token = api.addAgent('a');
    let up = true;
    let authCalls = 0;
    const authenticate = api.authenticate.bind(api);
    api.authenticate = async (t) => {
      authCalls++;
      return authenticate(t);
    };
    const logger = new RecordingLogger();
    const health = new StoreHealth({
      probe: async () => {
        if (!up) {
          throw new Error('connect ECONNREFUSED 127.0.0.1:5432 (secret-db-detail)');
        }
      },
      display: 'postgres://akr:***@db:5432/team',
      logger,
      intervalMs: 20,
    });
    const host = await startHttpHost({ api, port: 0, health, logger });
    hosts.push(host);
    const init = (): ReturnType<typeof rawRequest> =>
      rawRequest(host.port, { headers: postHeaders(host.port, token), body: INITIALIZE_BODY });
    assert.equal((await init()).status, 200);

    up = false;
    const degraded = await rawRequest(host.port, { method: 'GET', path: '/healthz' });
    assert.deepEqual([degraded.status, JSON.parse(degraded.body)], [503, { status: 'degraded' }]);
    const before = authCalls;
    const refused = await init();
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '2');
    const error = (JSON.parse(refused.body) as { error: { code: number; message: string } }).error;
    assert.equal(error.code, -32000);
    assert.match(
      error.message,
      /^Service Unavailable: the keyring's store postgres:\/\/akr:\*\*\*@db:5432\/team is unreachable \(no answer from the database\)\. Nothing was released or changed\./,
    );
    // The driver's detail goes to the log only, never to an unauthenticated client.
    assert.ok(!refused.body.includes('secret-db-detail') && !degraded.body.includes('secret-db-detail'));
    assert.equal(authCalls, before, 'no token lookup while the store is down');
    assert.equal(logger.lines.filter((l) => /is unreachable .*refusing requests with 503/.test(l)).length, 1);

    up = true;
    const healthy = await rawRequest(host.port, { method: 'GET', path: '/healthz' });
    assert.deepEqual([healthy.status, JSON.parse(healthy.body)], [200, { status: 'ok' }]);
    assert.equal((await init()).status, 200);
    assert.ok(logger.lines.some((l) => /answers again: serving requests/.test(l)));
  });
});
