/**
 * A small in-memory {@link KeyringApi} for the paths the real service cannot be made to take on
 * demand (a library throwing a plain Error, an error whose message carries a secret, …). The
 * contract tests use the real KeyringService through `test/helpers/testKeyring.ts`.
 */
import { randomUUID } from 'node:crypto';
import type {
  CallContext,
  CredentialListing,
  GetCredentialArgs,
  GetCredentialResult,
  HttpRequestArgs,
  HttpRequestResult,
  KeyringApi,
  RotateArgs,
  RotateResult,
} from '../../src/core/api';
import { CredentialNotFoundError, PolicyDeniedError } from '../../src/core/errors';
import { SecretValue, type AgentMeta, type CredentialMeta } from '../../src/core/model';
import type { Disposable } from '../../src/core/ports';

type Method = 'getCredential' | 'listCredentials' | 'rotateCredential' | 'httpRequest';

export class FakeKeyringApi implements KeyringApi {
  readonly agents = new Map<string, AgentMeta>();
  readonly tokens = new Map<string, string>();
  readonly credentials = new Map<string, { meta: CredentialMeta; value: string }>();
  readonly calls: Array<{ method: Method; ctx: CallContext; args: unknown }> = [];
  /** When set, the named method throws this instead of doing its job. */
  readonly failures = new Map<Method, unknown>();
  /** When set, the named method returns this (a deliberately malformed result). */
  readonly overrides = new Map<Method, unknown>();
  readonly #listeners = new Set<(name: string) => void>();

  addAgent(id: string): string {
    const token = `fake-${randomUUID()}`;
    this.agents.set(id, { id, label: id, token_sha256: 'x', created_at: new Date(0).toISOString() });
    this.tokens.set(token, id);
    return token;
  }

  addCredential(name: string, value: string, over: Partial<CredentialMeta> = {}): void {
    const created_at = '2026-01-01T00:00:00.000Z';
    this.credentials.set(name, {
      value,
      meta: {
        name,
        description: `${name} description`,
        allowed_scopes: ['read'],
        allowed_agents: ['*'],
        ttl_seconds: 3600,
        version: 1,
        versions: [{ version: 1, created_at, rotated_by: 'test' }],
        created_at,
        ...over,
      },
    });
  }

  async authenticate(token: string): Promise<AgentMeta | undefined> {
    const id = this.tokens.get(token);
    return id ? this.agents.get(id) : undefined;
  }

  async getCredential(ctx: CallContext, args: GetCredentialArgs): Promise<GetCredentialResult> {
    this.#enter('getCredential', ctx, args);
    const c = this.#visible(ctx.agentId, args.name);
    if (!c.meta.allowed_scopes.includes(args.scope)) {
      throw new PolicyDeniedError(
        'scope_denied',
        `Credential '${args.name}' is not allowed for scope '${args.scope}'.`,
        {
          credential: args.name,
          scope: args.scope,
        },
      );
    }
    return (
      (this.#override('getCredential') as GetCredentialResult | undefined) ?? {
        name: args.name,
        scope: args.scope,
        value: new SecretValue(c.value),
        version: c.meta.version,
        lease_id: randomUUID(),
        expires_in: c.meta.ttl_seconds,
        expires_at: new Date(Date.now() + c.meta.ttl_seconds * 1000).toISOString(),
      }
    );
  }

  async listCredentials(ctx: CallContext): Promise<CredentialListing[]> {
    this.#enter('listCredentials', ctx, undefined);
    return [...this.credentials.values()]
      .filter((c) => canSee(c.meta, ctx.agentId))
      .map((c) => ({
        name: c.meta.name,
        description: c.meta.description,
        scopes: c.meta.allowed_scopes,
        version: c.meta.version,
        rotated_at: c.meta.versions[c.meta.versions.length - 1].created_at,
      }));
  }

  async rotateCredential(ctx: CallContext, args: RotateArgs): Promise<RotateResult> {
    this.#enter('rotateCredential', ctx, args);
    const c = this.#visible(ctx.agentId, args.name);
    const previous = c.meta.version;
    c.meta.version++;
    c.meta.versions.push({
      version: c.meta.version,
      created_at: new Date().toISOString(),
      rotated_by: ctx.agentId,
    });
    c.value = args.new_value?.reveal() ?? randomUUID();
    for (const l of this.#listeners) {
      l(args.name);
    }
    return {
      name: args.name,
      version: c.meta.version,
      previous_version: previous,
      previous_valid_until: null,
    };
  }

  async httpRequest(ctx: CallContext, args: HttpRequestArgs): Promise<HttpRequestResult> {
    this.#enter('httpRequest', ctx, args);
    this.#visible(ctx.agentId, args.credential);
    return { status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' };
  }

  async describeCredential(agentId: string, name: string): Promise<CredentialMeta | undefined> {
    const c = this.credentials.get(name);
    return c && canSee(c.meta, agentId) ? structuredClone(c.meta) : undefined;
  }

  onDidRotate(listener: (name: string) => void): Disposable {
    this.#listeners.add(listener);
    return { dispose: () => this.#listeners.delete(listener) };
  }

  get rotateListenerCount(): number {
    return this.#listeners.size;
  }

  #enter(method: Method, ctx: CallContext, args: unknown): void {
    this.calls.push({ method, ctx, args });
    if (this.failures.has(method)) {
      throw this.failures.get(method);
    }
  }

  #override(method: Method): unknown {
    return this.overrides.get(method);
  }

  #visible(agentId: string, name: string): { meta: CredentialMeta; value: string } {
    const c = this.credentials.get(name);
    if (!c || !canSee(c.meta, agentId)) {
      throw new CredentialNotFoundError(name);
    }
    return c;
  }
}

function canSee(meta: CredentialMeta, agentId: string): boolean {
  return meta.allowed_agents.includes('*') || meta.allowed_agents.includes(agentId);
}
