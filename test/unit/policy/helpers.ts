/** Builders shared by the policy tests. */
import type { AgentMeta, CredentialMeta } from '../../../src/core/model';

export function makeCredential(overrides: Partial<CredentialMeta> = {}): CredentialMeta {
  return {
    name: 'search_api',
    description: 'Search API key',
    allowed_scopes: ['search_read'],
    allowed_agents: ['research-agent'],
    ttl_seconds: 3600,
    version: 1,
    versions: [{ version: 1, created_at: '2026-01-01T00:00:00.000Z', rotated_by: 'cli' }],
    created_at: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

export function makeAgent(overrides: Partial<AgentMeta> = {}): AgentMeta {
  return {
    id: 'research-agent',
    label: 'Research agent',
    token_sha256: '0'.repeat(64),
    created_at: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/** Small deterministic PRNG (mulberry32) so "random" replays are the same every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const HOUR_MS = 3_600_000;
export const MINUTE_MS = 60_000;
export const DAY_MS = 24 * HOUR_MS;
