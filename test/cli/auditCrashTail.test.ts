/**
 * A crash tail — lines durably written after the last end the `.head` sidecar records, as a server
 * killed between its line write and its sidecar update leaves them — is a warning with its own exit
 * code (3), not "forgery"; a broken chain in that tail is still exit 1 (issue #10).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { verifyAuditFile } from '../../src/core/audit/verify';
import { ensureBuilt, removeStore, runCli, tempStore } from './cliHarness';

describe('agent-keyring audit verify: crash tail', () => {
  let store: string;
  let auditFile: string;
  let headAfterTwo: Buffer;

  before(async () => {
    ensureBuilt();
    store = tempStore();
    auditFile = path.join(store, 'audit.jsonl');
    assert.equal((await runCli(['agent', 'add', 'one', '--store', store])).code, 0);
    assert.equal((await runCli(['agent', 'add', 'two', '--store', store])).code, 0);
    headAfterTwo = fs.readFileSync(`${auditFile}.head`);
    assert.equal((await runCli(['agent', 'add', 'three', '--store', store])).code, 0);
    assert.equal((await runCli(['agent', 'revoke', 'three', '--store', store])).code, 0);
  });
  after(() => removeStore(store));

  test('lines past the recorded head that chain correctly → ok with a crash_tail warning, exit 3', async () => {
    const intact = await runCli(['audit', 'verify', '--store', store]);
    assert.equal(intact.code, 0, intact.stdout + intact.stderr);
    // The sidecar as a writer killed after its line writes but before its sidecar update left it.
    const current = fs.readFileSync(`${auditFile}.head`);
    fs.writeFileSync(`${auditFile}.head`, headAfterTwo);
    try {
      const lines = fs.readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).length;
      const r = await verifyAuditFile(auditFile);
      assert.equal(r.ok, true);
      assert.equal(r.count, lines);
      assert.equal(r.warning?.kind, 'crash_tail');
      assert.equal(r.warning?.line, 3);
      assert.equal(r.warning?.lines, lines - 2);
      const cli = await runCli(['audit', 'verify', '--store', store]);
      assert.equal(cli.code, 3, cli.stdout + cli.stderr);
      assert.match(cli.stdout, /crash tail/);

      // The same tail with an edited line is a broken chain: exit 1.
      const text = fs.readFileSync(auditFile, 'utf8');
      const edited = text.replace(/"agent_id":"three"/, '"agent_id":"thref"');
      assert.notEqual(edited, text);
      fs.writeFileSync(auditFile, edited);
      const broken = await runCli(['audit', 'verify', '--store', store]);
      assert.equal(broken.code, 1, broken.stdout + broken.stderr);
      assert.match(broken.stdout, /NOT intact/);
      fs.writeFileSync(auditFile, text);
    } finally {
      fs.writeFileSync(`${auditFile}.head`, current);
    }
  });
});
