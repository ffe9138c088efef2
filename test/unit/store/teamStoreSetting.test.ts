/**
 * The editor's store setting (`agentKeyring.store`, README "Team store in VS Code"): empty is the
 * editor's own store; a postgres:// URL without a password is a team store; anything else is refused
 * with a sentence saying what to do — and a password typed into it never shows in that sentence.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseStoreSetting,
  splitPassword,
  teamEditorAgentId,
  teamSecretKey,
  withPassword,
} from '../../../src/core/store/postgres/teamStoreSetting';

const CANARY = 'canary-Pw-7f3a9c';
const AGENT_ID = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

describe('store setting', () => {
  it('empty, blank or unset is the local store', () => {
    for (const raw of [undefined, null, '', '   ']) {
      assert.deepEqual(parseStoreSetting(raw), { kind: 'local', label: 'local' });
    }
  });

  it('a postgres URL is a team store labelled by database and host', () => {
    const c = parseStoreSetting(' postgres://akr@db.example:5432/agent_keyring ');
    assert.equal(c.kind, 'team');
    assert.ok(c.kind === 'team');
    assert.equal(c.url, 'postgres://akr@db.example:5432/agent_keyring');
    assert.equal(c.label, 'team agent_keyring@db.example');
    assert.equal(c.slug, 'akr@db.example_5432_agent_keyring');
    const other = parseStoreSetting('postgresql://akr@127.0.0.1:6543/team?sslmode=require');
    assert.ok(other.kind === 'team');
    assert.equal(other.label, 'team team@127.0.0.1:6543', 'a port other than 5432 is shown');
  });

  it('a password in the URL (user info or query) is refused, says to use the command, never shows it', () => {
    for (const raw of [
      `postgres://akr:${CANARY}@db.example:5432/keys`,
      `postgres://akr@db.example/keys?password=${CANARY}`,
      `postgres://akr@db.example/keys?PASSWORD=${CANARY}&sslmode=require`,
    ]) {
      const c = parseStoreSetting(raw);
      assert.equal(c.kind, 'invalid', raw);
      assert.ok(c.kind === 'invalid');
      assert.match(c.reason, /contains a password/);
      assert.match(c.reason, /Connect to Team Store/);
      assert.ok(!c.reason.includes(CANARY), c.reason);
      assert.ok(!c.label.includes(CANARY));
    }
  });

  it('malformed values get a message naming the setting and the expected form', () => {
    const cases: [unknown, RegExp][] = [
      [42, /must be a text/],
      [{ url: 'x' }, /must be a text/],
      ['/home/me/.agent-keyring', /not a team store.*postgres:\/\/user@host:port\/db/],
      ['mysql://akr@db/keys', /not a team store/],
      ['postgres://akr@/keys', /names no host|not a valid URL/],
      ['postgres://akr@db.example', /names no database/],
      ['postgres://akr@db.example/', /names no database/],
      ['postgres://akr@db.example:port/keys', /not a valid URL|bad port/],
      ['postgres://[::1/keys', /not a valid URL/],
    ];
    for (const [raw, expected] of cases) {
      const c = parseStoreSetting(raw);
      assert.equal(c.kind, 'invalid', String(raw));
      assert.ok(c.kind === 'invalid');
      assert.match(c.reason, /agentKeyring\.store/);
      assert.match(c.reason, expected, c.reason);
      assert.equal(c.label, 'not connected');
    }
  });

  it('a malformed URL with a password in it still never shows the password', () => {
    for (const raw of [`postgres://akr:${CANARY}@[bad/keys`, `mysql://akr:${CANARY}@db/keys`]) {
      const c = parseStoreSetting(raw);
      assert.ok(c.kind === 'invalid');
      assert.ok(!c.reason.includes(CANARY), c.reason);
    }
  });

  it('splitPassword takes a pasted password out of the URL; withPassword puts it back for the driver', () => {
    const s = splitPassword(`postgres://akr:${encodeURIComponent('p@ss:wörd%')}@db.example:5432/keys`);
    assert.equal(s.url, 'postgres://akr@db.example:5432/keys');
    assert.equal(s.password, 'p@ss:wörd%');
    assert.equal(parseStoreSetting(s.url).kind, 'team');
    assert.deepEqual(splitPassword('postgres://akr@db/keys'), { url: 'postgres://akr@db/keys' });
    const full = withPassword(s.url, s.password);
    assert.equal(decodeURIComponent(new URL(full).password), 'p@ss:wörd%');
    assert.equal(withPassword(s.url, undefined), s.url);
  });

  it('secret keys are per store URL; they never hold the password', () => {
    const url = 'postgres://akr@db.example:5432/keys';
    assert.notEqual(teamSecretKey('password', url), teamSecretKey('masterKey', url));
    assert.notEqual(teamSecretKey('password', url), teamSecretKey('password', `${url}2`));
  });

  it("each editor's agent id on a team store is its own, from user and host, in the agent-id alphabet", () => {
    assert.equal(teamEditorAgentId('alice', 'laptop.corp.example'), 'vscode.alice.laptop');
    assert.notEqual(teamEditorAgentId('alice', 'laptop'), teamEditorAgentId('bob', 'laptop'));
    assert.notEqual(teamEditorAgentId('alice', 'laptop'), teamEditorAgentId('alice', 'desktop'));
    for (const [user, host] of [
      ['Jean Dupont', 'PC-01'],
      ['ÉLODIE', 'box'],
      ['', ''],
      ['x'.repeat(100), 'y'.repeat(100)],
      ['root', '-.host-'],
    ]) {
      const id = teamEditorAgentId(user, host);
      assert.match(id, AGENT_ID, id);
      assert.ok(id.startsWith('vscode.'));
      assert.notEqual(id, 'vscode');
    }
  });
});
