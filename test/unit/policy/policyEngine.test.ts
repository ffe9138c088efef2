import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { canSee, checkAccess, checkHost, checkRotate } from '../../../src/core/policy/policyEngine';
import {
  CredentialNotFoundError,
  InvalidInputError,
  KeyringError,
  PolicyDeniedError,
} from '../../../src/core/errors';
import { makeCredential } from './helpers';

const CANARY = 'canary-' + crypto.randomUUID();

/** Asserts `fn` throws a KeyringError with `code`, whose message matches `pattern` and holds no canary. */
function throwsCode(fn: () => unknown, code: string, pattern?: RegExp): KeyringError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof KeyringError, `expected a KeyringError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  if (pattern) {
    assert.match(caught.message, pattern);
  }
  assert.ok(!caught.message.includes(CANARY), 'message must not carry the canary');
  assert.ok(!JSON.stringify(caught.details).includes(CANARY), 'details must not carry the canary');
  return caught;
}

describe('checkAccess', () => {
  const cred = makeCredential({
    name: 'search_api',
    description: `holds ${CANARY}`,
    allowed_scopes: ['search_read', 'search_admin'],
    allowed_agents: ['research-agent', 'coder'],
  });

  it('missing credential → not_found with a way forward', () => {
    const e = throwsCode(
      () => checkAccess(undefined, 'nope', 'coder', 'read'),
      'not_found',
      /list_credentials/,
    );
    assert.ok(e instanceof CredentialNotFoundError);
    assert.match(e.message, /'nope'/);
  });

  it('agent not listed → agent_denied telling the user where to grant it', () => {
    const e = throwsCode(
      () => checkAccess(cred, 'search_api', 'intruder', 'search_read'),
      'agent_denied',
      /Agent 'intruder' is not allowed to use 'search_api'\. Ask the user to grant it in Agent Keyring \(Credentials → Edit Scopes…\)/,
    );
    assert.ok(e instanceof PolicyDeniedError);
    assert.deepEqual(e.details, { credential: 'search_api', agent_id: 'intruder' });
  });

  it('agent check comes before scope check', () => {
    throwsCode(() => checkAccess(cred, 'search_api', 'intruder', 'publish'), 'agent_denied');
  });

  it('scope not allowed → scope_denied naming the allowed scopes', () => {
    const e = throwsCode(
      () => checkAccess(cred, 'search_api', 'coder', 'publish'),
      'scope_denied',
      /'publish'.*Allowed scopes: 'search_read', 'search_admin'/,
    );
    assert.match(e.message, /Edit Scopes/);
    assert.deepEqual(e.details.allowed_scopes, ['search_read', 'search_admin']);
  });

  it('a credential with no scopes says so', () => {
    const bare = makeCredential({ allowed_scopes: [], allowed_agents: ['coder'] });
    throwsCode(() => checkAccess(bare, bare.name, 'coder', 'read'), 'scope_denied', /allows no scopes yet/);
  });

  it('allowed agent + scope passes and returns the metadata', () => {
    assert.equal(checkAccess(cred, 'search_api', 'coder', 'search_read'), cred);
  });

  it("'*' admits every agent, but still checks the scope", () => {
    const open = makeCredential({ allowed_agents: ['*'] });
    assert.equal(checkAccess(open, open.name, 'anyone', 'search_read'), open);
    throwsCode(() => checkAccess(open, open.name, 'anyone', 'write'), 'scope_denied');
  });

  it('scopes match exactly (no prefix or case games)', () => {
    throwsCode(() => checkAccess(cred, 'search_api', 'coder', 'search'), 'scope_denied');
    throwsCode(() => checkAccess(cred, 'search_api', 'coder', 'SEARCH_READ'), 'scope_denied');
  });
});

describe('canSee', () => {
  it('follows allowed_agents and *', () => {
    assert.equal(canSee(makeCredential({ allowed_agents: ['a', 'b'] }), 'b'), true);
    assert.equal(canSee(makeCredential({ allowed_agents: ['a', 'b'] }), 'c'), false);
    assert.equal(canSee(makeCredential({ allowed_agents: [] }), 'a'), false);
    assert.equal(canSee(makeCredential({ allowed_agents: ['*'] }), 'z'), true);
  });
});

describe('checkRotate', () => {
  it('nobody by default', () => {
    throwsCode(
      () => checkRotate(makeCredential(), 'research-agent'),
      'rotate_denied',
      /may not rotate 'search_api'.*Rotate Credential/,
    );
  });

  it('only agents listed in rotation_agents; * is not a wildcard here', () => {
    const cred = makeCredential({ rotation_agents: ['ci-bot'] });
    assert.doesNotThrow(() => checkRotate(cred, 'ci-bot'));
    throwsCode(
      () => checkRotate(cred, 'research-agent'),
      'rotate_denied',
      /add 'research-agent' to its rotation agents/,
    );
    throwsCode(() => checkRotate(makeCredential({ rotation_agents: ['*'] }), 'ci-bot'), 'rotate_denied');
  });
});

describe('checkHost', () => {
  const cred = makeCredential({
    allowed_hosts: ['api.example.com', 'localhost:8080', 'secure.example.org:443', '[::1]:9000'],
  });
  const ok = (u: string) => assert.doesNotThrow(() => checkHost(cred, new URL(u)), u);
  const denied = (u: string) => throwsCode(() => checkHost(cred, new URL(u)), 'host_denied');

  it('admits listed hosts (case-insensitive, trailing dot ignored)', () => {
    ok(`https://api.example.com/v1/search?key={{credential}}&q=${CANARY}`);
    ok('https://API.Example.COM/v1');
    ok('https://api.example.com./v1');
    ok('http://localhost:8080/hook');
    ok('https://secure.example.org/');
    ok('https://secure.example.org:443/');
    ok('http://[::1]:9000/');
  });

  it('cleartext: http:// only to loopback or to an entry that says http:// (issue #10)', () => {
    // Was admitted: a portless entry let the key go out unencrypted on port 80.
    const e = denied(`http://api.example.com/v1?key={{credential}}&q=${CANARY}`);
    assert.match(e.message, /only sent to 'api\.example\.com' over https:\/\//);
    assert.match(e.message, /allow 'http:\/\/api\.example\.com' explicitly/);
    assert.ok(!e.message.includes(CANARY));
    const ported = makeCredential({ allowed_hosts: ['api.example.com:8080'] });
    throwsCode(() => checkHost(ported, new URL('http://api.example.com:8080/')), 'host_denied');
    assert.doesNotThrow(() => checkHost(ported, new URL('https://api.example.com:8080/')));
    const explicit = makeCredential({ allowed_hosts: ['http://intranet.example', 'http://10.0.0.5:8080'] });
    assert.doesNotThrow(() => checkHost(explicit, new URL('http://intranet.example/x')));
    assert.doesNotThrow(() => checkHost(explicit, new URL('https://intranet.example/x')));
    assert.doesNotThrow(() => checkHost(explicit, new URL('http://10.0.0.5:8080/')));
    throwsCode(() => checkHost(explicit, new URL('http://10.0.0.5/')), 'host_denied');
    const loop = makeCredential({ allowed_hosts: ['127.0.0.1:9000', 'localhost'] });
    assert.doesNotThrow(() => checkHost(loop, new URL('http://127.0.0.1:9000/')));
    assert.doesNotThrow(() => checkHost(loop, new URL('http://localhost/')));
  });

  it('a portless entry admits the default port only; a ported entry that exact port only', () => {
    denied('https://api.example.com:8443/');
    denied('http://localhost/');
    denied('http://localhost:8081/');
    denied('http://secure.example.org/'); // port 80, entry says 443
    denied('http://[::1]:9001/');
  });

  it('no look-alikes: suffixes, subdomains, userinfo tricks', () => {
    denied('https://api.example.com.evil.com/');
    denied('https://evil-api.example.com/');
    denied('https://sub.api.example.com/');
    denied('https://example.com/');
    const e = denied(`https://api.example.com@evil.com/?k=${CANARY}`);
    assert.equal(e.details.host, 'evil.com');
  });

  it('the denial names the host, the allowed hosts and how to allow it — never the URL query', () => {
    const e = denied(`https://other.example.net:4443/path?token=${CANARY}`);
    assert.match(e.message, /'other\.example\.net:4443'/);
    assert.match(e.message, /Allowed hosts: 'api\.example\.com'/);
    assert.match(e.message, /ask the user to add 'other\.example\.net:4443' to its allowed hosts/);
  });

  it('no allowed_hosts → host_denied explaining how to allow one', () => {
    for (const hosts of [undefined, []]) {
      const c = makeCredential({ allowed_hosts: hosts });
      throwsCode(
        () => checkHost(c, new URL(`https://api.example.com/?k=${CANARY}`)),
        'host_denied',
        /has no allowed hosts.*add 'api\.example\.com' to its allowed hosts/,
      );
    }
  });

  it('schemes other than http/https are invalid input', () => {
    for (const u of [
      'ftp://api.example.com/',
      'file:///etc/passwd',
      'ws://api.example.com/',
      'data:text/plain,hi',
    ]) {
      const e = throwsCode(() => checkHost(cred, new URL(u)), 'invalid_input', /http: or https:/);
      assert.ok(e instanceof InvalidInputError);
    }
  });

  it('the placeholder may not sit in the host', () => {
    const open = makeCredential({ allowed_hosts: ['{{credential}}.example.com'] });
    throwsCode(
      () => checkHost(open, new URL('https://{{credential}}.example.com/')),
      'invalid_input',
      /never in its host/,
    );
    throwsCode(() => checkHost(cred, new URL('https://{{credential}}.evil.com/')), 'invalid_input');
  });

  it('a malformed allowed_hosts entry matches nothing rather than everything', () => {
    const weird = makeCredential({ allowed_hosts: ['', ':', 'https://api.example.com/x', 'a b'] });
    throwsCode(() => checkHost(weird, new URL('https://api.example.com/')), 'host_denied');
  });
});
