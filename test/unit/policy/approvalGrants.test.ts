import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApprovalGrants } from '../../../src/core/policy/approvalGrants';
import { FakeClock } from '../../fakes/fakeClock';
import { HOUR_MS, MINUTE_MS } from './helpers';

describe('ApprovalGrants', () => {
  it('"Allow for 1 hour" covers exactly that agent, credential and scope, until it expires', () => {
    const clock = new FakeClock();
    const grants = new ApprovalGrants({ clock });
    grants.grant('research-agent', 'npm_token', 'publish', clock.now() + HOUR_MS);
    assert.equal(grants.has('research-agent', 'npm_token', 'publish'), true);
    assert.equal(grants.has('research-agent', 'npm_token', 'write'), false);
    assert.equal(grants.has('research-agent', 'pypi_token', 'publish'), false);
    assert.equal(grants.has('coder', 'npm_token', 'publish'), false);
    clock.advance(HOUR_MS - 1);
    assert.equal(grants.has('research-agent', 'npm_token', 'publish'), true);
    clock.advance(1);
    assert.equal(grants.has('research-agent', 'npm_token', 'publish'), false);
    assert.equal(grants.size, 0);
  });

  it('keys cannot collide through separators', () => {
    const clock = new FakeClock();
    const grants = new ApprovalGrants(clock);
    grants.grant('a', 'b.c', 'd', clock.now() + HOUR_MS);
    assert.equal(grants.has('a.b', 'c', 'd'), false);
    assert.equal(grants.has('a', 'b', 'c.d'), false);
  });

  it('a later grant extends, an earlier one never shortens, an expired one is ignored', () => {
    const clock = new FakeClock();
    const grants = new ApprovalGrants({ clock });
    const t = clock.now();
    grants.grant('a', 'c', 's', t + HOUR_MS);
    grants.grant('a', 'c', 's', t + 10 * MINUTE_MS);
    clock.advance(30 * MINUTE_MS);
    assert.equal(grants.has('a', 'c', 's'), true);
    grants.grant('a', 'c', 's', t + 2 * HOUR_MS);
    clock.set(t + 90 * MINUTE_MS);
    assert.equal(grants.has('a', 'c', 's'), true);
    grants.grant('b', 'c', 's', clock.now());
    grants.grant('b', 'c', 's', clock.now() - 1);
    assert.equal(grants.has('b', 'c', 's'), false);
    assert.equal(grants.size, 1);
  });

  it('revokeAgent and revokeCredential drop only what they name', () => {
    const clock = new FakeClock();
    const grants = new ApprovalGrants({ clock });
    const until = clock.now() + HOUR_MS;
    grants.grant('a', 'npm_token', 'publish', until);
    grants.grant('a', 'pypi_token', 'publish', until);
    grants.grant('b', 'npm_token', 'publish', until);
    assert.equal(grants.revokeAgent('a'), 2);
    assert.equal(grants.has('a', 'npm_token', 'publish'), false);
    assert.equal(grants.has('b', 'npm_token', 'publish'), true);
    grants.grant('a', 'pypi_token', 'publish', until);
    assert.equal(grants.revokeCredential('npm_token'), 1);
    assert.equal(grants.has('b', 'npm_token', 'publish'), false);
    assert.equal(grants.has('a', 'pypi_token', 'publish'), true);
    grants.clear();
    assert.equal(grants.size, 0);
  });
});
