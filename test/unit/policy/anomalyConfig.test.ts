import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAnomalyConfig } from '../../../src/core/policy/anomalyEngine';
import { DEFAULT_ANOMALY_CONFIG } from '../../../src/core/model';
import { InvalidInputError } from '../../../src/core/errors';

function rejects(input: unknown, ...patterns: RegExp[]): InvalidInputError {
  let caught: unknown;
  try {
    parseAnomalyConfig(input, 'policy.json');
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof InvalidInputError, `expected InvalidInputError for ${JSON.stringify(input)}`);
  assert.equal(caught.code, 'invalid_input');
  assert.match(caught.message, /^Invalid policy\.json: /);
  assert.match(caught.message, /Fix policy\.json and reload\.$/);
  for (const p of patterns) {
    assert.match(caught.message, p);
  }
  return caught;
}

describe('parseAnomalyConfig', () => {
  it('nothing given → the defaults, as a copy', () => {
    for (const input of [undefined, null, {}]) {
      const c = parseAnomalyConfig(input);
      assert.deepEqual(c, DEFAULT_ANOMALY_CONFIG);
      assert.notEqual(c.actions, DEFAULT_ANOMALY_CONFIG.actions);
      c.actions.burst = 'off';
      c.sensitive_scopes.push('x');
      assert.equal(DEFAULT_ANOMALY_CONFIG.actions.burst, 'deny');
      assert.ok(!DEFAULT_ANOMALY_CONFIG.sensitive_scopes.includes('x'));
    }
  });

  it('partial input is merged over the defaults', () => {
    const c = parseAnomalyConfig({
      $schema: './policy.schema.json',
      actions: { first_use: 'off', sensitive_scope: 'deny' },
      burst_per_minute: 120,
      sensitive_scopes: ['publish', 'repo:write', 'publish'],
    });
    assert.deepEqual(c, {
      ...DEFAULT_ANOMALY_CONFIG,
      actions: { ...DEFAULT_ANOMALY_CONFIG.actions, first_use: 'off', sensitive_scope: 'deny' },
      burst_per_minute: 120,
      sensitive_scopes: ['publish', 'repo:write'],
    });
  });

  it('null fields keep their defaults (VS Code settings without a value)', () => {
    const c = parseAnomalyConfig({ actions: { burst: null }, learning_days: null, sensitive_scopes: null });
    assert.deepEqual(c, DEFAULT_ANOMALY_CONFIG);
  });

  it('an empty sensitive_scopes list is allowed (nothing is sensitive)', () => {
    assert.deepEqual(parseAnomalyConfig({ sensitive_scopes: [] }).sensitive_scopes, []);
  });

  it('a bad action names the field and the allowed actions', () => {
    rejects(
      { actions: { burst: 'block' } },
      /'actions\.burst' must be one of 'alert', 'approve', 'deny', 'off'/,
    );
  });

  it('every bad field is listed, with what it expects', () => {
    const e = rejects(
      {
        burst_per_minute: -1,
        learning_days: 'seven',
        probing_window_minutes: 2.5,
        probing_lockout_minutes: 1e9,
      },
      /'burst_per_minute' must be a whole number from 1 to 100000/,
      /'learning_days' must be a whole number of days from 1 to 365/,
      /'probing_window_minutes' must be a whole number of minutes from 1 to 1440/,
      /'probing_lockout_minutes' must be a whole number of minutes from 1 to 10080/,
    );
    assert.deepEqual([...(e.details.fields as string[])].sort(), [
      'burst_per_minute',
      'learning_days',
      'probing_lockout_minutes',
      'probing_window_minutes',
    ]);
  });

  it('unknown settings and unknown rules are typos, and say what is known', () => {
    rejects(
      { burts_per_minute: 10 },
      /'burts_per_minute' is not a known setting \(known: actions, sensitive_scopes, burst_per_minute/,
    );
    rejects(
      { actions: { brust: 'off' } },
      /'actions\.brust' is not a known setting \(known: outside_active_hours, agent_id_mismatch, sensitive_scope, burst, probing, first_use, unusual_hours\)/,
    );
  });

  it('bad scopes and wrong shapes', () => {
    rejects({ sensitive_scopes: ['publish', 'Publish!'] }, /'sensitive_scopes\.1' must be a scope/);
    rejects({ sensitive_scopes: 'publish' }, /'sensitive_scopes' must be a list of scopes/);
    rejects({ actions: ['deny'] }, /'actions' must be an object mapping rules/);
    rejects('deny', /expected an object.*got a string/);
    rejects([1, 2], /got an array/);
    rejects(42, /got a number/);
  });

  it('without a source the message names the anomaly settings', () => {
    assert.throws(
      () => parseAnomalyConfig({ burst_per_minute: 0 }),
      /^InvalidInputError: Invalid anomaly settings: 'burst_per_minute'/,
    );
  });
});
