/**
 * Where `agent-keyring run` gets its keys: the local store in-process ({@link LocalCredentialSource},
 * the same decision pipeline as get_credential) or a running server (the CLI's remote source, over
 * MCP with the agent's token). Both audit every release as `tool: run` with the command's name.
 */
import type { InjectedCredential } from '../api';
import { UnauthorizedError } from '../errors';
import type { Disposable } from '../ports';
import type { KeyringService } from '../service';
import { defaultScope, type EnvSpec } from './envSpec';

/** One injected variable: the spec it came from and the released credential. */
export interface InjectedVariable {
  spec: EnvSpec;
  credential: InjectedCredential;
}

export interface CredentialSource {
  /**
   * Asks for every spec's credential (scopes defaulted, see {@link defaultScope}); all or
   * nothing. @throws a KeyringError on the first refusal.
   */
  fetch(specs: readonly EnvSpec[], command: string): Promise<InjectedVariable[]>;
  /** What the agent may see of one credential (scopes, allowed hosts), or undefined. */
  describe(name: string): Promise<{ scopes: string[]; allowed_hosts: string[] } | undefined>;
  /** Calls `listener` when one of `names` is rotated (by anyone, in any process). */
  watch(names: readonly string[], listener: (name: string) => void): Promise<Disposable>;
  close(): Promise<void>;
}

/** The local store, in this process: {@link KeyringService.injectCredentials}. */
export class LocalCredentialSource implements CredentialSource {
  readonly #agentId: string;

  private constructor(
    private readonly service: KeyringService,
    agentId: string,
    private readonly onClose: () => Promise<void>,
  ) {
    this.#agentId = agentId;
  }

  /**
   * @param token the agent's bearer token: the identity every release is decided for.
   * @throws UnauthorizedError when the token is unknown or revoked.
   */
  static async open(
    service: KeyringService,
    token: string,
    onClose: () => Promise<void>,
  ): Promise<LocalCredentialSource> {
    const agent = await service.authenticate(token);
    if (!agent) {
      throw new UnauthorizedError(
        "The agent token is unknown or revoked for this store. Check the token variable and --store (create a token with 'agent-keyring agent add ID').",
      );
    }
    return new LocalCredentialSource(service, agent.id, onClose);
  }

  async fetch(specs: readonly EnvSpec[], command: string): Promise<InjectedVariable[]> {
    const ctx = { agentId: this.#agentId, client: { name: 'agent-keyring run' } };
    const requests = [];
    for (const spec of specs) {
      let scope = spec.scope;
      if (scope === undefined) {
        const meta = await this.service.describeCredential(this.#agentId, spec.credential);
        // Unknown or invisible: let the service refuse it (not_found, audited) with its own words.
        scope = meta ? defaultScope(spec, meta.allowed_scopes) : '-';
      }
      requests.push({ name: spec.credential, scope });
    }
    const released = await this.service.injectCredentials(ctx, requests, { command });
    return specs.map((spec, i) => ({ spec, credential: released[i] }));
  }

  async describe(name: string): Promise<{ scopes: string[]; allowed_hosts: string[] } | undefined> {
    const meta = await this.service.describeCredential(this.#agentId, name);
    return meta
      ? { scopes: [...meta.allowed_scopes], allowed_hosts: [...(meta.allowed_hosts ?? [])] }
      : undefined;
  }

  watch(names: readonly string[], listener: (name: string) => void): Promise<Disposable> {
    const wanted = new Set(names);
    return Promise.resolve(
      this.service.onDidRotate((name) => {
        if (wanted.has(name)) {
          listener(name);
        }
      }),
    );
  }

  close(): Promise<void> {
    return this.onClose();
  }
}
