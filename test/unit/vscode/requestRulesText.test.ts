/**
 * The checks behind Edit Scopes… (request rules) and Set Placement… in VS Code: what a typed rule
 * or placement gets told (what to fix), and that a removed scope takes its rules along. The same
 * rule parser as the CLI and the store, so an entry the box accepts is one the store accepts.
 */
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CredentialPatchSchema } from '../../../src/core/store/schemas';
import {
  MAX_RULES_PER_SCOPE,
  describePlacement,
  describeRules,
  parsePlacementText,
  ruleProblem,
  rulesForScopes,
} from '../../../src/vscode/commands/requestRulesText';

describe('request rules typed in VS Code', () => {
  test('a good rule passes; each kind of mistake says what to type instead', () => {
    assert.equal(ruleProblem('GET /api/v1/search*', []), undefined);
    assert.equal(ruleProblem('  GET|HEAD /v1/*  ', []), undefined);
    assert.equal(ruleProblem('* /anything', []), undefined);
    assert.match(ruleProblem('', []) ?? '', /^Type a rule such as "GET \/api\/v1\/search\*"/);
    assert.match(ruleProblem('/api/v1', []) ?? '', /^A rule must be "METHOD \/path"/);
    assert.match(ruleProblem('get /api', []) ?? '', /upper-case methods joined by "\|"/);
    assert.match(ruleProblem('GET api', []) ?? '', /must start with "\/"/);
    assert.match(ruleProblem('GET /a?b=1', []) ?? '', /no spaces, "\?" or "#"/);
    assert.match(ruleProblem('GET /a', ['GET /a']) ?? '', /already has the rule "GET \/a"/);
    const full = Array.from({ length: MAX_RULES_PER_SCOPE }, (_, i) => `GET /p${i}`);
    assert.match(ruleProblem('GET /more', full) ?? '', /at most 32 rules: remove one first/);
  });

  test('what the box accepts the store accepts, and the other way round', () => {
    for (const rule of ['GET /api/v1/search*', 'POST /x', 'bad', 'GET nope', 'GET|DELETE /a/*']) {
      const box = ruleProblem(rule, []) === undefined;
      const store = CredentialPatchSchema.safeParse({
        allowed_scopes: ['s'],
        scope_rules: { s: [rule] },
      }).success;
      assert.equal(box, store, rule);
    }
  });

  test('a scope that is removed takes its rules along; empty lists are dropped', () => {
    const rules = { read: ['GET /v1/*'], write: ['POST /v1/items'], old: [] };
    assert.deepEqual(rulesForScopes(rules, ['read', 'admin']), { read: ['GET /v1/*'] });
    assert.deepEqual(rulesForScopes(undefined, ['read']), {});
    const kept = rulesForScopes(rules, ['read', 'write']);
    kept.read.push('GET /more');
    assert.deepEqual(rules.read, ['GET /v1/*'], 'a copy: the credential is not changed in place');
  });

  test('descriptions for the tree: the rules, or the safe default said plainly', () => {
    assert.equal(describeRules(['GET /a', 'HEAD /b']), 'GET /a, HEAD /b');
    assert.equal(
      describeRules(undefined),
      'no rules: GET/HEAD/OPTIONS only (other methods need a sensitive scope)',
    );
    assert.equal(describePlacement(['header:Authorization']), 'header:Authorization');
    assert.equal(describePlacement(null), 'anywhere (no placement pin)');
  });
});

describe('placement typed in VS Code', () => {
  test('a list, empty for anywhere, or the bad entry named with what is allowed', () => {
    assert.deepEqual(parsePlacementText('header:Authorization, query:api_key  path'), {
      placement: ['header:Authorization', 'query:api_key', 'path'],
    });
    assert.deepEqual(parsePlacementText('  '), { placement: null });
    const bad = parsePlacementText('header:Authorization, cookie:sid');
    assert.ok('problem' in bad);
    assert.match(bad.problem, /^Entry 2 \("cookie:sid"\): a placement must be "header:<Name>"/);
    const twice = parsePlacementText('path, path');
    assert.ok('problem' in twice);
    assert.match(twice.problem, /listed twice: remove one/);
    const many = parsePlacementText(Array.from({ length: 17 }, (_, i) => `query:p${i}`).join(','));
    assert.ok('problem' in many);
    assert.match(many.problem, /At most 16 placements/);
  });
});
