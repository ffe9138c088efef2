/**
 * `agentKeyring.*` settings reach the anomaly engine live (onDidChangeConfiguration →
 * AnomalyEngine.setConfig); a bad value keeps the default and is named in a warning.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { readSettings } from '../../src/vscode/settings';
import { activateExtension, waitFor } from './helpers';

const SECTION = 'agentKeyring';

suite('settings', () => {
  const keys = [
    'anomaly.burstPerMinute',
    'anomaly.actions',
    'anomaly.sensitiveScopes',
    'approvalTimeoutSeconds',
  ];

  suiteTeardown(async () => {
    const config = vscode.workspace.getConfiguration(SECTION);
    for (const k of keys) {
      await config.update(k, undefined, vscode.ConfigurationTarget.Global);
    }
  });

  test('every setting is contributed with a markdown description', async () => {
    const { extension } = await activateExtension();
    const props = (
      extension.packageJSON as {
        contributes: { configuration: { properties: Record<string, { markdownDescription?: string }> } };
      }
    ).contributes.configuration.properties;
    for (const k of ['port', 'defaultTtlSeconds', ...keys]) {
      assert.ok(props[`${SECTION}.${k}`]?.markdownDescription, `${k} has a markdownDescription`);
    }
  });

  test('anomaly settings apply at once, without a reload', async () => {
    const { api } = await activateExtension();
    const config = vscode.workspace.getConfiguration(SECTION);
    await config.update('anomaly.burstPerMinute', 7, vscode.ConfigurationTarget.Global);
    await config.update(
      'anomaly.actions',
      { first_use: 'off', sensitive_scope: 'deny' },
      vscode.ConfigurationTarget.Global,
    );
    await config.update('anomaly.sensitiveScopes', ['publish', 'wire'], vscode.ConfigurationTarget.Global);
    await waitFor('burst_per_minute 7 in the engine', () =>
      api.keyring.anomaly.config.burst_per_minute === 7 ? true : undefined,
    );
    await waitFor('the actions in the engine', () =>
      api.keyring.anomaly.config.actions.first_use === 'off' ? true : undefined,
    );
    const c = api.keyring.anomaly.config;
    assert.equal(c.actions.sensitive_scope, 'deny');
    assert.equal(c.actions.burst, 'deny', 'rules left out keep their default');
    assert.deepEqual(c.sensitive_scopes, ['publish', 'wire']);
  });

  test('a bad value keeps the default for that setting only', async () => {
    const { api } = await activateExtension();
    const config = vscode.workspace.getConfiguration(SECTION);
    await config.update('anomaly.burstPerMinute', 12, vscode.ConfigurationTarget.Global);
    await config.update('anomaly.actions', { first_use: 'sometimes' }, vscode.ConfigurationTarget.Global);
    await config.update('approvalTimeoutSeconds', -3, vscode.ConfigurationTarget.Global);
    await waitFor('burst_per_minute 12', () =>
      api.keyring.anomaly.config.burst_per_minute === 12 ? true : undefined,
    );
    await waitFor('approval timeout back to its default', () =>
      api.settings().approvalTimeoutSeconds === 120 ? true : undefined,
    );
    assert.equal(
      api.keyring.anomaly.config.actions.first_use,
      'alert',
      'the bad actions fell back to the defaults',
    );

    const { problems } = readSettings(vscode.workspace.getConfiguration(SECTION));
    assert.ok(
      problems.some(
        (p) => p.includes('agentKeyring.anomaly.actions') && p.includes("'alert', 'approve', 'deny', 'off'"),
      ),
      problems.join(' | '),
    );
    assert.ok(
      problems.some((p) => p.includes('agentKeyring.approvalTimeoutSeconds')),
      problems.join(' | '),
    );
  });
});
