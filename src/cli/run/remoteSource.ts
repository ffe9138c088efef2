/**
 * `agent-keyring run --url URL`: keys from a running server (VS Code or `agent-keyring serve`) over
 * MCP with the agent's token. Each key is a `tools/call get_credential` whose `_meta`
 * {"agent-keyring/run": {command}} makes the server audit it as `tool: run` with the command's
 * name; rotations arrive as `notifications/resources/updated` on `credential://{name}`.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { InjectedVariable, CredentialSource } from '../../core/inject/credentialSource';
import { defaultScope, type EnvSpec } from '../../core/inject/envSpec';
import { RUN_META_KEY } from '../../core/mcp/callContext';
import { SecretValue } from '../../core/model';
import type { Disposable } from '../../core/ports';
import { CliError, clip } from '../args';
import { rememberSecret, scrub } from '../io';
import { EXIT_DENIED, EXIT_UNAVAILABLE, EXIT_USAGE } from './exitCodes';

const URI_PREFIX = 'credential://';

/** A refusal from the server as the one-line error the CLI prints, with run's exit code. */
function refusalError(result: CallToolResult): CliError {
  const structured = (result.structuredContent ?? {}) as { code?: string; message?: string };
  const message = scrub(clip(structured.message ?? 'the server refused the request', 400));
  return new CliError(message, structured.code === 'invalid_input' ? EXIT_USAGE : EXIT_DENIED);
}

export class RemoteCredentialSource implements CredentialSource {
  #updatesHandler: ((uri: string) => void) | undefined;

  private constructor(
    private readonly client: Client,
    private readonly url: URL,
  ) {}

  /** Connects with the token. @throws CliError 77 (token refused) or 69 (server not reachable). */
  static async open(url: URL, token: string): Promise<RemoteCredentialSource> {
    const client = new Client({ name: 'agent-keyring run', version: '1' });
    const transport = new StreamableHTTPClientTransport(url, {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
      reconnectionOptions: {
        initialReconnectionDelay: 250,
        maxReconnectionDelay: 2000,
        reconnectionDelayGrowFactor: 2,
        maxRetries: 2,
      },
    });
    try {
      await client.connect(transport);
    } catch (e) {
      await client.close().catch(() => undefined);
      if (e instanceof StreamableHTTPError && e.code === 401) {
        throw new CliError(
          `the server at ${url.href} refused the agent token (HTTP 401): check the token variable (create one with 'agent-keyring agent add ID')`,
          EXIT_DENIED,
        );
      }
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new CliError(
        `the Agent Keyring server at ${url.href} is not reachable${cause ? ` (${cause})` : ''}: start it (VS Code, or 'agent-keyring serve'), or leave out --url / AGENT_KEYRING_URL to use the local store`,
        EXIT_UNAVAILABLE,
      );
    }
    const source = new RemoteCredentialSource(client, url);
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      source.#updatesHandler?.(n.params.uri);
    });
    return source;
  }

  async fetch(specs: readonly EnvSpec[], command: string): Promise<InjectedVariable[]> {
    let scopes: Map<string, string[]> | undefined;
    const out: InjectedVariable[] = [];
    for (const spec of specs) {
      let scope = spec.scope;
      if (scope === undefined) {
        scopes ??= await this.#listScopes();
        const known = scopes.get(spec.credential);
        scope = known ? defaultScope(spec, known) : '-';
      }
      const result = (await this.#call('get_credential', { name: spec.credential, scope }, command)) as {
        structuredContent?: { name: string; scope: string; value: string; version: number; lease_id: string };
      } & CallToolResult;
      if (result.isError || !result.structuredContent) {
        throw refusalError(result);
      }
      const r = result.structuredContent;
      rememberSecret(r.value);
      out.push({
        spec,
        credential: {
          name: r.name,
          scope: r.scope,
          value: new SecretValue(r.value),
          version: r.version,
          lease_id: r.lease_id,
          // The reveal-mode policy is not carried over the wire yet (see README limits).
          mustMask: false,
        },
      });
    }
    return out;
  }

  /** Metadata of one credential (allowed hosts, scopes) from its `credential://` resource. */
  async describe(name: string): Promise<{ allowed_hosts: string[]; scopes: string[] } | undefined> {
    try {
      const r = await this.client.readResource({ uri: `${URI_PREFIX}${name}` });
      const first = r.contents[0] as { text?: string } | undefined;
      return first?.text
        ? (JSON.parse(first.text) as { allowed_hosts: string[]; scopes: string[] })
        : undefined;
    } catch {
      return undefined;
    }
  }

  async watch(names: readonly string[], listener: (name: string) => void): Promise<Disposable> {
    const wanted = new Set(names.map((n) => `${URI_PREFIX}${n}`));
    this.#updatesHandler = (uri) => {
      if (wanted.has(uri)) {
        listener(uri.slice(URI_PREFIX.length));
      }
    };
    for (const uri of wanted) {
      await this.client.subscribeResource({ uri });
    }
    return { dispose: () => (this.#updatesHandler = undefined) };
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => undefined);
  }

  async #listScopes(): Promise<Map<string, string[]>> {
    const result = (await this.#call('list_credentials', {})) as CallToolResult & {
      structuredContent?: { credentials: Array<{ name: string; scopes: string[] }> };
    };
    if (result.isError || !result.structuredContent) {
      throw refusalError(result);
    }
    return new Map(result.structuredContent.credentials.map((c) => [c.name, c.scopes]));
  }

  async #call(name: string, args: Record<string, unknown>, command?: string): Promise<CallToolResult> {
    try {
      return (await this.client.callTool({
        name,
        arguments: args,
        ...(command ? { _meta: { [RUN_META_KEY]: { command } } } : {}),
      })) as CallToolResult;
    } catch (e) {
      throw new CliError(
        `the Agent Keyring server at ${this.url.href} did not answer (${scrub(clip(e instanceof Error ? e.message : String(e), 200))}); check that it is running, then retry`,
        EXIT_UNAVAILABLE,
      );
    }
  }
}
