/** Team store URLs: recognised, and masked so that no form of password survives into a message. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  isPostgresUrl,
  maskStoreUrl,
  storeSlug,
  storeUrlPassword,
} from '../../../src/core/store/postgres/storeUrl';

test('postgres:// and postgresql:// select the team store; paths do not', () => {
  for (const s of ['postgres://h/db', 'postgresql://u@h:5432/db', ' POSTGRES://h/db ']) {
    assert.equal(isPostgresUrl(s), true, s);
  }
  for (const s of ['/home/me/.agent-keyring', './postgres', 'postgres', 'C:\\keys', 'http://h/db']) {
    assert.equal(isPostgresUrl(s), false, s);
  }
});

test('every form of password is masked, everything else is kept', () => {
  const cases: [string, string, string | undefined][] = [
    ['postgres://akr:s3cret@db.example:5432/team', 'postgres://akr:***@db.example:5432/team', 's3cret'],
    ['postgres://akr@db.example/team', 'postgres://akr@db.example/team', undefined],
    ['postgres://akr:p%40ss%3Aw0rd@h/db', 'postgres://akr:***@h/db', 'p@ss:w0rd'],
    [
      'postgres://akr@h/db?sslmode=require&password=qwerty',
      'postgres://akr@h/db?sslmode=require&password=***',
      'qwerty',
    ],
    ['postgresql://h/db?PASSWORD=zz9', 'postgresql://h/db?PASSWORD=***', 'zz9'],
  ];
  for (const [input, masked, password] of cases) {
    assert.equal(maskStoreUrl(input), masked, input);
    assert.equal(storeUrlPassword(input), password, input);
    if (password) {
      assert.ok(!maskStoreUrl(input).includes(password));
    }
  }
});

test('a string that does not parse as a URL is still masked', () => {
  const odd = 'postgres://akr:hunter2@[not-a-host/db';
  const masked = maskStoreUrl(odd);
  assert.ok(!masked.includes('hunter2'), masked);
  assert.match(masked, /akr:\*\*\*@/);
});

test('the local folder name has no password and no path separators', () => {
  assert.equal(storeSlug('postgres://akr:s3cret@db.example:6543/team'), 'akr@db.example_6543_team');
  assert.equal(storeSlug('postgres://db.example/team'), 'default@db.example_5432_team');
  assert.ok(!storeSlug('postgres://u:pw@h/../../etc').includes('/'));
});
