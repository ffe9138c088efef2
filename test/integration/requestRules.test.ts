/**
 * Request rules and placement edited in VS Code (issue #10, "Editable in the Credentials view"):
 * Edit Scopes… with `rules` and Set Placement… with `placement` (the args the prompts produce)
 * change the credential, the Credentials tree shows each scope's rules and the placement, a bad
 * rule or placement is refused with what to fix and changes nothing, and a removed scope takes its
 * rules along.
 */
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { activateExtension, renderTree } from './helpers';

suite('request rules and placement in VS Code', () => {
  const name = `int-rules-${randomUUID().slice(0, 8)}`;

  suiteTeardown(async () => {
    const { api } = await activateExtension();
    await api.keyring.store.removeCredential(name).catch(() => undefined);
  });

  test('Edit Scopes sets rules per scope, Set Placement pins the value; the tree shows both', async () => {
    const { api } = await activateExtension();
    await api.keyring.store.addCredential(
      { name, allowed_scopes: ['search_read', 'write'], allowed_agents: ['vscode'] },
      new api.SecretValue(`canary-${randomUUID()}`),
      'vscode-user',
    );
    await vscode.commands.executeCommand('agentKeyring.editScopes', {
      name,
      rules: { search_read: ['GET /api/v1/search*'], write: ['POST /api/v1/items'] },
    });
    await vscode.commands.executeCommand('agentKeyring.setPlacement', {
      name,
      placement: ['header:Authorization'],
    });
    const meta = await api.keyring.store.getCredential(name);
    assert.deepEqual(meta?.scope_rules, {
      search_read: ['GET /api/v1/search*'],
      write: ['POST /api/v1/items'],
    });
    assert.deepEqual(meta?.placement, ['header:Authorization']);
    const items = await renderTree(api.trees.credentials);
    const scope = items.find((i) => i.id === `credential:${name}/scopes/search_read`);
    assert.equal(scope?.description, 'GET /api/v1/search*');
    assert.match(String(scope?.tooltip), /Placement: header:Authorization/);

    // A bad rule or placement: refused with what to fix, nothing changed.
    await assert.rejects(
      async () =>
        vscode.commands.executeCommand('agentKeyring.editScopes', { name, rules: { write: ['post /x'] } }),
      /Scope 'write', rule 1: .*upper-case methods/,
    );
    await assert.rejects(
      async () =>
        vscode.commands.executeCommand('agentKeyring.setPlacement', { name, placement: ['cookie:sid'] }),
      /Entry 1 \("cookie:sid"\): a placement must be/,
    );
    await assert.rejects(
      async () =>
        vscode.commands.executeCommand('agentKeyring.editScopes', { name, rules: { admin: ['GET /x'] } }),
      /Scope 'admin' is not one of the credential's scopes \(search_read, write\): add it/,
    );
    assert.deepEqual((await api.keyring.store.getCredential(name))?.placement, ['header:Authorization']);

    // Removing a scope takes its rules along; placement back to anywhere.
    await vscode.commands.executeCommand('agentKeyring.editScopes', { name, scopes: ['search_read'] });
    await vscode.commands.executeCommand('agentKeyring.setPlacement', { name, placement: null });
    const after = await api.keyring.store.getCredential(name);
    assert.deepEqual(after?.scope_rules, { search_read: ['GET /api/v1/search*'] });
    assert.equal(after?.placement, undefined);
    const again = await renderTree(api.trees.credentials);
    assert.equal(
      again.find((i) => i.id === `credential:${name}/scopes/write`),
      undefined,
    );
  });
});
