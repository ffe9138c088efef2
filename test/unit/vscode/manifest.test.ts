/**
 * The manifest's user-facing strings live in package.nls.json (localizable): every `%key%` in
 * package.json has its English text there, and no text there is orphaned.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const read = (f: string): unknown => JSON.parse(fs.readFileSync(path.join(ROOT, f), 'utf8'));

describe('package.json / package.nls.json', () => {
  test('every %key% has its text, every text is used', () => {
    const manifest = JSON.stringify(read('package.json'));
    const nls = read('package.nls.json') as Record<string, string>;
    const used = new Set([...manifest.matchAll(/"%([^%"]+)%"/g)].map((m) => m[1]));
    assert.ok(used.size > 40, 'titles, descriptions and settings are localizable');
    assert.deepEqual(
      [...used].filter((k) => typeof nls[k] !== 'string'),
      [],
      'keys without text',
    );
    assert.deepEqual(
      Object.keys(nls).filter((k) => !used.has(k)),
      [],
      'texts nothing uses',
    );
  });

  test('the .vsix ships package.nls.json', () => {
    const ignore = fs.readFileSync(path.join(ROOT, '.vscodeignore'), 'utf8').split('\n');
    assert.ok(ignore.includes('!package.nls.json'));
  });
});
