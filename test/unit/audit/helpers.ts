/** Shared bits for the audit tests: temp dirs, sample events, line surgery. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AuditEvent, AuditEventInput } from '../../../src/core/model';
import { GENESIS_HASH, eventLine, orderEvent, sealEvent } from '../../../src/core/audit/chain';

export const TEST_KEY = Buffer.from('0123456789abcdef0123456789abcdef', 'utf8');

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function sampleInput(i: number, overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    agent_id: `agent-${i % 3}`,
    claimed_agent_id: null,
    credential: `cred-${i % 5}`,
    scope: 'search_read',
    tool: 'get_credential',
    decision: i % 7 === 0 ? 'deny' : 'allow',
    code: i % 7 === 0 ? 'scope_denied' : null,
    reason: `request ${i}`,
    lease_id: `lease-${i}`,
    version: 1,
    value_fingerprint: null,
    client: { name: 'claude-code', version: '1.0.0' },
    ...overrides,
  };
}

/**
 * Writes `n` chained events straight to a file (for reader/verify tests). Returns the events.
 * `fakeHashes` skips the real hashing (for big reader-only files: readers don't check the chain).
 */
export function writeChain(
  file: string,
  n: number,
  startMs = Date.parse('2026-03-02T12:00:00Z'),
  mk = sampleInput,
  fakeHashes = false,
): AuditEvent[] {
  const events: AuditEvent[] = [];
  let prev = GENESIS_HASH;
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const input = { ...mk(i), ts: new Date(startMs + i * 1000).toISOString() };
    const e = fakeHashes
      ? { ...orderEvent(input, prev), hash: i.toString(16).padStart(64, '0') }
      : sealEvent(input, prev);
    prev = e.hash;
    events.push(e);
    parts.push(eventLine(e) + '\n');
  }
  fs.writeFileSync(file, parts.join(''));
  return events;
}

export function readLinesSync(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') {
    lines.pop();
  }
  return lines;
}

export function writeLinesSync(file: string, lines: string[]): void {
  fs.writeFileSync(file, lines.map((l) => l + '\n').join(''));
}
