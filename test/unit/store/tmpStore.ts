/** Temp-dir helpers for the store tests (not a test file). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function canary(label = 'v'): string {
  return `canary-${label}-${randomUUID()}`;
}

/** Every encoding of `value` that a careless implementation might write to disk. */
export function encodingsOf(value: string): string[] {
  const b = Buffer.from(value, 'utf8');
  return [
    value,
    b.toString('base64'),
    b.toString('base64url'),
    b.toString('hex'),
    b.toString('base64').slice(4, 24),
  ];
}

/** Resolves when `predicate` is true, polling every 10 ms; rejects after `ms`. */
export async function waitFor(predicate: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > until) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
