/**
 * `audit verify` and `audit export` over a real store's audit log, including a tampered line.
 * Also: the store folder comes from AGENT_KEYRING_STORE when --store is absent.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseCsv } from '../helpers/csv';
import { ensureBuilt, removeStore, runCli, tempStore } from './cliHarness';

describe('agent-keyring audit', () => {
  let store: string;
  let auditFile: string;

  before(async () => {
    ensureBuilt();
    store = tempStore();
    auditFile = path.join(store, 'audit.jsonl');
    // Made through AGENT_KEYRING_STORE (no --store), to prove the env var is honoured.
    const env = { AGENT_KEYRING_STORE: store };
    const add = await runCli(
      [
        'credential',
        'add',
        'npm_token',
        '--scopes',
        'publish',
        '--description',
        'npm, "publish" token',
        '--generate',
      ],
      { env },
    );
    assert.equal(add.code, 0, add.stderr);
    assert.equal((await runCli(['agent', 'add', 'release-agent'], { env })).code, 0);
    assert.equal((await runCli(['credential', 'rotate', 'npm_token', '--generate'], { env })).code, 0);
    assert.equal((await runCli(['agent', 'revoke', 'release-agent'], { env })).code, 0);
    assert.ok(fs.existsSync(auditFile), 'the audit log is in the folder named by AGENT_KEYRING_STORE');
  });
  after(() => removeStore(store));

  test('verify: an intact log → exit 0 with the event count', async () => {
    const r = await runCli(['audit', 'verify', '--store', store]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, `${auditFile}: intact (4 events)\n`);
    const byFile = await runCli(['audit', 'verify', '--file', auditFile]);
    assert.equal(byFile.code, 0);
  });

  test('export jsonl is the log byte for byte; csv parses with one row per event', async () => {
    const jsonl = await runCli(['audit', 'export', '--store', store]);
    assert.equal(jsonl.code, 0, jsonl.stderr);
    assert.equal(jsonl.stdout, fs.readFileSync(auditFile, 'utf8'));

    const csv = await runCli(['audit', 'export', '--format', 'csv', '--file', auditFile]);
    assert.equal(csv.code, 0, csv.stderr);
    const rows = parseCsv(csv.stdout);
    const header = rows[0] ?? [];
    assert.ok(header.includes('decision') && header.includes('hash'), header.join(','));
    assert.equal(rows.length, 5, 'header + 4 events');
    const decision = header.indexOf('decision');
    assert.deepEqual(
      rows.slice(1).map((r) => r[decision]),
      ['created', 'agent_added', 'rotated', 'agent_revoked'],
    );
    for (const r of rows) {
      assert.equal(r.length, header.length);
    }

    const out = path.join(store, 'export.csv');
    const toFile = await runCli(['audit', 'export', '--format', 'csv', '--store', store, '--out', out]);
    assert.equal(toFile.code, 0, toFile.stderr);
    assert.equal(toFile.stdout, '');
    assert.equal(fs.readFileSync(out, 'utf8'), csv.stdout);
    fs.rmSync(out);

    const filtered = await runCli(['audit', 'export', '--store', store, '--agent', 'release-agent']);
    assert.equal(filtered.stdout.trim().split('\n').length, 2, 'agent_added + agent_revoked');
  });

  test('verify: an edited line → exit 1 naming that line', async () => {
    const copy = path.join(store, 'tampered.jsonl');
    const lines = fs.readFileSync(auditFile, 'utf8').split('\n');
    const third = JSON.parse(lines[2]) as Record<string, unknown>;
    third.reason = 'nothing to see here';
    lines[2] = JSON.stringify(third);
    fs.writeFileSync(copy, lines.join('\n'));
    const r = await runCli(['audit', 'verify', '--file', copy]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /NOT intact — first bad line 3: line 3: its hash does not match its content/);
    fs.rmSync(copy);
  });

  test('verify / export of a missing file → a clear error', async () => {
    const missing = path.join(store, 'nope.jsonl');
    const v = await runCli(['audit', 'verify', '--file', missing]);
    assert.equal(v.code, 2);
    assert.match(v.stderr, /There is no audit log at/);
    const e = await runCli(['audit', 'export', '--file', missing]);
    assert.equal(e.code, 2);
    assert.match(e.stderr, /there is no audit log at/);
  });
});
