/**
 * Scope method/path rules, placement and reveal modes (issue #10): pure policy, no I/O.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { KeyringError } from '../../../src/core/errors';
import {
  checkPlacement,
  checkRequestRules,
  findPlacements,
  parseScopeRule,
  placementProblem,
} from '../../../src/core/policy/requestRules';
import { effectiveRevealMode, mustMaskOutput, revealDenied } from '../../../src/core/policy/revealMode';
import { makeCredential } from './helpers';

const CANARY = 'canary-' + crypto.randomUUID();
const SENSITIVE = ['publish', 'write', 'admin', 'delete'];

function denied(fn: () => unknown, pattern?: RegExp): KeyringError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof KeyringError, `expected a refusal, got ${String(caught)}`);
  assert.equal(caught.code, 'request_denied');
  if (pattern) {
    assert.match(caught.message, pattern);
  }
  assert.ok(!caught.message.includes(CANARY) && !JSON.stringify(caught.details).includes(CANARY));
  return caught;
}

describe('parseScopeRule', () => {
  it('reads METHODS PATH with * globs', () => {
    const r = parseScopeRule('GET|HEAD /api/v1/search*');
    assert.ok(typeof r !== 'string');
    assert.deepEqual([...(r.methods ?? [])], ['GET', 'HEAD']);
    assert.ok(r.path.test('/api/v1/search'));
    assert.ok(r.path.test('/api/v1/search/deep/er'));
    assert.ok(!r.path.test('/api/v1/searc'));
    assert.ok(!r.path.test('/x/api/v1/search'), 'anchored at the start');
    const any = parseScopeRule('* /v1/items/*/view');
    assert.ok(typeof any !== 'string' && any.methods === undefined);
    assert.ok(typeof any !== 'string' && any.path.test('/v1/items/42/view'));
    assert.ok(typeof any !== 'string' && !any.path.test('/v1/items/42/edit'));
    const dots = parseScopeRule('GET /a.b');
    assert.ok(typeof dots !== 'string' && !dots.path.test('/aXb'), '. is literal');
  });

  it('refuses malformed rules with a sentence', () => {
    for (const bad of ['GET', '/only/path', 'get /x', 'GET x', 'GET /a?b', 'GET /a b c', 'G3T /x', '']) {
      assert.equal(typeof parseScopeRule(bad), 'string', bad);
    }
  });
});

describe('checkRequestRules', () => {
  const cred = makeCredential({
    allowed_scopes: ['search_read', 'items_write', 'publish', 'other_read'],
    scope_rules: { search_read: ['GET /api/v1/search*'], items_write: ['POST|PUT /api/v1/items/*'] },
  });
  const check = (scope: string, method: string, url: string) =>
    checkRequestRules(cred, scope, method, new URL(url), SENSITIVE);

  it('a scope with rules allows exactly what they say', () => {
    check('search_read', 'GET', `https://api.example.com/api/v1/search?q=${CANARY}`);
    check('items_write', 'PUT', 'https://api.example.com/api/v1/items/7');
    const e = denied(
      () => check('search_read', 'POST', 'https://api.example.com/api/v1/search'),
      /does not allow POST \/api\/v1\/search\. It allows: 'GET \/api\/v1\/search\*'/,
    );
    assert.deepEqual(e.details.allowed, ['GET /api/v1/search*']);
    denied(() => check('search_read', 'GET', 'https://api.example.com/api/v1/admin'));
    // Dot segments are resolved by the URL parser before the check (and the same URL is sent).
    denied(() => check('search_read', 'GET', 'https://api.example.com/api/v1/search/../../v2/admin'));
    denied(
      () => check('search_read', 'GET', 'https://api.example.com/api/v1/search%2F..%2F..%2Fadmin'),
      /percent-encoded/,
    );
  });

  it('a scope without rules: safe methods only, unless the scope is sensitive (the approval then applies)', () => {
    check('other_read', 'GET', 'https://api.example.com/anything');
    check('other_read', 'HEAD', 'https://api.example.com/anything');
    for (const m of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      denied(() => check('other_read', m, 'https://api.example.com/x'), /may only read with it/);
    }
    check('publish', 'POST', 'https://api.example.com/x');
    // What counts as sensitive is the anomaly configuration's.
    denied(() => checkRequestRules(cred, 'publish', 'POST', new URL('https://a.example/x'), ['admin']));
  });
});

describe('placement', () => {
  it('finds every placeholder', () => {
    const found = findPlacements('https://a.example/v1/{{credential}}/x?key={{credential}}&q=1', {
      Authorization: 'Bearer {{credential}}',
      Accept: 'application/json',
    });
    assert.deepEqual(found, [
      { kind: 'header', name: 'Authorization' },
      { kind: 'path' },
      { kind: 'query', name: 'key' },
    ]);
    assert.deepEqual(findPlacements('https://a.example/?{{credential}}=1', {}), [
      { kind: 'other', where: 'a query parameter name' },
    ]);
    assert.deepEqual(findPlacements('https://a.example/#{{credential}}', {}), [
      { kind: 'other', where: 'the URL fragment' },
    ]);
  });

  it('a pinned credential may only go where its placement says', () => {
    const pinned = makeCredential({ placement: ['header:Authorization'] });
    checkPlacement(pinned, findPlacements('https://a.example/x', { authorization: 'Bearer {{credential}}' }));
    const e = denied(
      () => checkPlacement(pinned, findPlacements('https://a.example/x?api_key={{credential}}', {})),
      /may not be placed in query parameter 'api_key': it may only go in header 'Authorization'/,
    );
    assert.deepEqual(e.details.placement, ['header:Authorization']);
    denied(
      () => checkPlacement(pinned, findPlacements('https://a.example/{{credential}}', {})),
      /the URL path/,
    );
    denied(() =>
      checkPlacement(pinned, findPlacements('https://a.example/', { 'X-Api-Key': '{{credential}}' })),
    );
    const query = makeCredential({ placement: ['query:key', 'header:*'] });
    checkPlacement(
      query,
      findPlacements('https://a.example/?key={{credential}}', { 'X-Any': '{{credential}}' }),
    );
    denied(() => checkPlacement(query, findPlacements('https://a.example/?token={{credential}}', {})));
  });

  it('without placement, anywhere but odd URL parts', () => {
    const free = makeCredential();
    checkPlacement(
      free,
      findPlacements('https://a.example/{{credential}}?k={{credential}}', { A: '{{credential}}' }),
    );
    denied(() => checkPlacement(free, findPlacements('https://a.example/#{{credential}}', {})));
  });

  it('validates placement entries', () => {
    for (const ok of ['header:Authorization', 'header:X-Api-Key', 'header:*', 'query:api_key', 'path']) {
      assert.equal(placementProblem(ok), undefined, ok);
    }
    for (const bad of ['header:', 'query:', 'body', 'header:a b', 'query:a&b', 'Authorization']) {
      assert.match(placementProblem(bad) ?? '', /a placement must be/, bad);
    }
  });
});

describe('reveal modes', () => {
  it('absent = allow (metadata written before reveal modes); per-agent overrides win either way', () => {
    assert.equal(effectiveRevealMode(makeCredential(), 'a'), 'allow');
    const never = makeCredential({
      reveal: 'never',
      reveal_overrides: { trusted: 'allow', careful: 'approve' },
    });
    assert.equal(effectiveRevealMode(never, 'a'), 'never');
    assert.equal(effectiveRevealMode(never, 'trusted'), 'allow');
    assert.equal(effectiveRevealMode(never, 'careful'), 'approve');
    assert.equal(effectiveRevealMode(makeCredential({ reveal_overrides: { bot: 'never' } }), 'bot'), 'never');
    // Only own entries: an agent id such as "constructor" is not an inherited property.
    assert.equal(effectiveRevealMode(never, 'constructor'), 'never');
    assert.equal(mustMaskOutput(never, 'a'), true);
    assert.equal(mustMaskOutput(never, 'trusted'), false);
  });

  it('reveal_denied tells the agent to use http_request or agent-keyring run', () => {
    const e = revealDenied(
      makeCredential({ name: 'npm_token', allowed_hosts: ['registry.npmjs.org'] }),
      'publish',
    );
    assert.equal(e.code, 'reveal_denied');
    assert.match(e.message, /used, never read/);
    assert.match(e.message, /http_request/);
    assert.match(e.message, /agent-keyring run --env VAR=npm_token:publish/);
    const noHosts = revealDenied(makeCredential({ name: 'db' }), 'read');
    assert.match(noHosts.message, /agent-keyring run/);
  });
});
