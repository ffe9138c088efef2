/**
 * A real KeyringService over in-memory stores and a real audit file in a temp dir, seeded with
 * the seed scenario's credentials and agents. Every value is a canary, so tests can assert it
 * never leaks.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { KeyringApi } from '../../src/core/api';
import { createKeyring, type Keyring } from '../../src/core/keyring';
import { DEFAULT_ANOMALY_CONFIG, SecretValue, type AnomalyConfig } from '../../src/core/model';
import { SYSTEM_CLOCK, type AlertSink, type Approver, type Clock } from '../../src/core/ports';
import type { KeyringService } from '../../src/core/service';
import { MemoryMetadataStore } from '../fakes/memoryMetadataStore';
import { MemorySecretBackend } from '../fakes/memorySecretBackend';
import { RecordingLogger } from '../fakes/recordingLogger';

export interface TestKeyringOptions {
  clock?: Clock;
  approver?: Approver;
  alerts?: AlertSink;
  /** Merged over the defaults; tests usually switch `first_use` off to keep alerts quiet. */
  anomaly?: Omit<Partial<AnomalyConfig>, 'actions'> & { actions?: Partial<AnomalyConfig['actions']> };
  fetch?: typeof fetch;
  /** http_request's upstream timeout (default 30 s). */
  upstreamTimeoutMs?: number;
  /** Extra hosts `scavio_api_key` may be sent to by http_request (e.g. `127.0.0.1:PORT`). */
  allowedHosts?: string[];
  /** Called with the secret backend before the keyring opens (e.g. to make the audit key read fail). */
  beforeOpen?: (secrets: MemorySecretBackend) => void;
  /** Passed to createKeyring (as VS Code activation does). */
  deferAuditKey?: boolean;
}

export interface TestKeyring {
  api: KeyringApi;
  service: KeyringService;
  keyring: Keyring;
  /** Bearer tokens by agent id: `research-agent`, `release-agent`, `vscode`. */
  tokens: Record<string, string>;
  /** Current secret values by credential name (canaries). */
  values: Record<string, string>;
  auditPath: string;
  dir: string;
  logger: RecordingLogger;
  secrets: MemorySecretBackend;
  metadata: MemoryMetadataStore;
  dispose(): Promise<void>;
}

export function canary(label: string): string {
  return `canary-${label}-${randomUUID()}`;
}

export async function createTestKeyring(opts: TestKeyringOptions = {}): Promise<TestKeyring> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-test-'));
  const logger = new RecordingLogger();
  const secrets = new MemorySecretBackend();
  const metadata = new MemoryMetadataStore();
  const anomalyConfig: AnomalyConfig = {
    ...DEFAULT_ANOMALY_CONFIG,
    ...opts.anomaly,
    actions: { ...DEFAULT_ANOMALY_CONFIG.actions, ...opts.anomaly?.actions },
  };
  opts.beforeOpen?.(secrets);
  const keyring = await createKeyring({
    metadata,
    secrets,
    auditPath: path.join(dir, 'audit.jsonl'),
    clock: opts.clock ?? SYSTEM_CLOCK,
    logger,
    anomalyConfig,
    approver: opts.approver,
    alerts: opts.alerts,
    fetch: opts.fetch,
    upstreamTimeoutMs: opts.upstreamTimeoutMs,
    deferAuditKey: opts.deferAuditKey,
  });
  const { store } = keyring;
  const values: Record<string, string> = {
    scavio_api_key: canary('scavio'),
    npm_token: canary('npm'),
    github_token: canary('github'),
  };
  await store.addCredential(
    {
      name: 'scavio_api_key',
      description: 'Scavio search API key',
      allowed_scopes: ['search_read', 'publish'],
      allowed_agents: ['research-agent', 'vscode'],
      ttl_seconds: 3600,
      allowed_hosts: ['api.scavio.example', ...(opts.allowedHosts ?? [])],
      rotation: { max_age_days: 90, generator: { length: 40 } },
    },
    new SecretValue(values.scavio_api_key),
    'test',
  );
  await store.addCredential(
    {
      name: 'npm_token',
      description: 'npm publish token',
      allowed_scopes: ['publish'],
      allowed_agents: ['release-agent'],
      ttl_seconds: 600,
      rotation_agents: ['release-agent'],
    },
    new SecretValue(values.npm_token),
    'test',
  );
  await store.addCredential(
    {
      name: 'github_token',
      description: 'GitHub token for every agent',
      allowed_scopes: ['repo_read'],
      allowed_agents: ['*'],
      ttl_seconds: 900,
      rotation_agents: ['research-agent'],
      rotation: { generator: { length: 32 } },
    },
    new SecretValue(values.github_token),
    'test',
  );
  const tokens: Record<string, string> = {};
  for (const [id, label] of [
    ['research-agent', 'Research agent'],
    ['release-agent', 'Release agent'],
    ['vscode', 'VS Code chat'],
  ] as const) {
    const { token } = await store.addAgent({ id, label });
    tokens[id] = token.reveal();
  }
  await keyring.service.init();
  return {
    api: keyring.service,
    service: keyring.service,
    keyring,
    tokens,
    values,
    auditPath: path.join(dir, 'audit.jsonl'),
    dir,
    logger,
    secrets,
    metadata,
    dispose: async () => {
      await keyring.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
