/** Which config entries were written for which agent: add, dedupe, remove, damaged file reported. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ConnectionRecords } from '../../../src/core/connect/configFile';
import { StoreError } from '../../../src/core/errors';
import { tempDir } from '../store/tmpStore';

test('records: per agent, one per file + entry, removal of chosen files only, 0600', async () => {
  const t = tempDir();
  try {
    const r = new ConnectionRecords(path.join(t.dir, 'connections.json'));
    assert.deepEqual(await r.list(), []);
    const base = { entry: 'agent-keyring', written_at: '2026-01-01T00:00:00.000Z' };
    await Promise.all([
      r.add({ ...base, agent: 'a', client: 'claude', file: path.join(t.dir, 'p', '.mcp.json') }),
      r.add({ ...base, agent: 'a', client: 'codex', file: path.join(t.dir, 'config.toml') }),
      r.add({ ...base, agent: 'b', client: 'claude', file: path.join(t.dir, 'p', '.mcp.json') }),
    ]);
    await r.add({
      ...base,
      agent: 'a',
      client: 'claude',
      file: path.join(t.dir, 'p', '..', 'p', '.mcp.json'),
    });
    assert.equal((await r.forAgent('a')).length, 2, 'same file (normalised) is one record');
    assert.equal((await r.forAgent('b')).length, 1);
    await r.remove('a', [{ file: path.join(t.dir, 'config.toml'), entry: 'agent-keyring' }]);
    assert.deepEqual(
      (await r.forAgent('a')).map((x) => x.client),
      ['claude'],
    );
    assert.equal(fs.statSync(r.file).mode & 0o777, 0o600);

    fs.writeFileSync(r.file, '{ nope');
    await assert.rejects(r.list(), StoreError);
  } finally {
    t.cleanup();
  }
});
