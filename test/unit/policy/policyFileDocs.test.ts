/**
 * The README documents `<store>/policy.json` key by key with defaults and an example: this keeps that
 * section true to the code (every key and default listed, the example accepted as written).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { DEFAULT_ANOMALY_CONFIG } from '../../../src/core/model';
import { parseAnomalyConfig } from '../../../src/core/policy/anomalyEngine';

const README = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', '..', 'README.md'), 'utf8');

function policySection(): string {
  const start = README.indexOf('### `<store>/policy.json`');
  assert.ok(start >= 0, 'README has a policy.json section');
  const end = README.indexOf('\n#', start + 10);
  return README.slice(start, end < 0 ? undefined : end);
}

/** `key` → default text, from the section's table rows. */
function documentedDefaults(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of policySection().split('\n')) {
    const m = /^\|\s*`([a-z_.]+)`\s*\|\s*`([^`]+)`\s*\|/.exec(line);
    if (m) {
      rows.set(m[1], m[2]);
    }
  }
  return rows;
}

describe('README: policy.json', () => {
  test('lists every setting with its real default', () => {
    const rows = documentedDefaults();
    const expected = new Map<string, string>();
    for (const [rule, action] of Object.entries(DEFAULT_ANOMALY_CONFIG.actions)) {
      expected.set(`actions.${rule}`, JSON.stringify(action));
    }
    for (const [key, value] of Object.entries(DEFAULT_ANOMALY_CONFIG)) {
      if (key !== 'actions') {
        expected.set(key, JSON.stringify(value).replaceAll(',', ', '));
      }
    }
    assert.deepEqual([...rows.keys()].sort(), [...expected.keys()].sort());
    for (const [key, value] of expected) {
      assert.equal(rows.get(key), value, `default of ${key}`);
    }
  });

  test('its example is accepted and means what it says', () => {
    const m = /```json\n([\s\S]*?)```/.exec(policySection());
    assert.ok(m, 'the section has a JSON example');
    const config = parseAnomalyConfig(JSON.parse(m[1]), 'README example');
    assert.equal(config.actions.sensitive_scope, 'alert');
    assert.equal(config.actions.first_use, 'off');
    assert.equal(config.burst_per_minute, 120);
    assert.equal(config.actions.burst, DEFAULT_ANOMALY_CONFIG.actions.burst, 'unlisted keys keep defaults');
  });
});
