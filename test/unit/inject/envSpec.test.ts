/** `--env VAR=credential[:scope]` and env templates: parsing, defaults, the child's environment. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidInputError } from '../../../src/core/errors';
import {
  buildChildEnv,
  defaultScope,
  mergeSpecs,
  parseEnvSpec,
  parseEnvTemplate,
} from '../../../src/core/inject/envSpec';

describe('envSpec', () => {
  test('parses VAR=credential and VAR=credential:scope', () => {
    assert.deepEqual(parseEnvSpec('OPENAI_API_KEY=openai_api_key'), {
      variable: 'OPENAI_API_KEY',
      credential: 'openai_api_key',
      scope: undefined,
    });
    assert.deepEqual(parseEnvSpec('K=gh.token:repo_read'), {
      variable: 'K',
      credential: 'gh.token',
      scope: 'repo_read',
    });
  });

  for (const [raw, fix] of [
    ['NOEQUALS', /VAR=credential/],
    ['=cred', /VAR=credential/],
    ['1BAD=cred', /not a valid variable name/],
    ['K=Bad Name', /not a credential name/],
    ['K=cred:BAD SCOPE', /not a scope/],
    ['AGENT_KEYRING_TOKEN=cred', /own token variable/],
    ['AGENT_KEYRING_TOKEN_X=cred', /own token variable/],
  ] as const) {
    test(`rejects '${raw}' saying what to fix`, () => {
      assert.throws(
        () => parseEnvSpec(raw),
        (e: unknown) => e instanceof InvalidInputError && fix.test(e.message),
      );
    });
  }

  test('a malformed value is echoed bounded and on one line', () => {
    const long = `K=${'x'.repeat(500)}\nnext`;
    assert.throws(
      () => parseEnvSpec(long),
      (e: unknown) => e instanceof Error && e.message.length < 300 && !e.message.includes('\n'),
    );
  });

  test('templates skip comments and blank lines, accept export, and name the line of an error', () => {
    const specs = parseEnvTemplate('# keys\n\nexport A=cred_a:s\r\nB=cred_b\n', 'keys.env');
    assert.deepEqual(
      specs.map((s) => `${s.variable}=${s.credential}:${s.scope ?? ''}`),
      ['A=cred_a:s', 'B=cred_b:'],
    );
    assert.throws(() => parseEnvTemplate('A=a\nbroken\n', 'keys.env'), /keys\.env line 2/);
  });

  test('the same variable twice is an error', () => {
    assert.throws(() => mergeSpecs([parseEnvSpec('A=x'), parseEnvSpec('A=y')]), /A is given twice/);
  });

  test('default scope: the only one, else a clear error listing them', () => {
    assert.equal(defaultScope(parseEnvSpec('A=x'), ['only']), 'only');
    assert.equal(defaultScope(parseEnvSpec('A=x:given'), ['a', 'b']), 'given');
    assert.throws(() => defaultScope(parseEnvSpec('A=x'), ['a', 'b']), /several \(a, b\)\. Write A=x:SCOPE/);
  });

  test('the child env: inherited, minus every keyring token variable, plus the keys', () => {
    const env = buildChildEnv(
      {
        PATH: '/bin',
        AGENT_KEYRING_TOKEN: 't',
        AGENT_KEYRING_TOKEN_RESEARCH: 't2',
        MY_TOKEN: 't3',
        OTHER: 'o',
      },
      { KEY: 'v' },
      { tokenVariable: 'MY_TOKEN', forceColor: true },
    );
    assert.deepEqual(env, { PATH: '/bin', OTHER: 'o', KEY: 'v', FORCE_COLOR: '1' });
    assert.equal(buildChildEnv({ NO_COLOR: '1' }, {}, { forceColor: true }).FORCE_COLOR, undefined);
  });
});
