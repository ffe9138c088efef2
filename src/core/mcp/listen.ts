/**
 * `subscriptions/listen` (2026-07-28 era): one long-lived SSE answer per listen request, carrying
 * `notifications/resources/updated` for the `credential://{name}` URIs the agent asked for and may
 * use. The first event acknowledges the filter the server honours; every notice carries the listen
 * request's id under `io.modelcontextprotocol/subscriptionId`. A rotation reaches a stream once per
 * new version, and only while the agent's token is still valid; revoking an agent ends its streams.
 */
import type * as http from 'node:http';
import type { KeyringApi } from '../api';
import { MAX_LISTEN_STREAMS_PER_AGENT } from '../limits';
import type { AgentId } from '../model';
import type { Disposable, Logger } from '../ports';
import type { Caller } from './gate';
import { INVALID_PARAMS, SUBSCRIPTION_ID_META_KEY } from './protocol';
import { Refusal } from './refusal';
import { describe, URI_PREFIX, uriOf } from './resources';

/** Open listen streams at once (all agents). */
export const DEFAULT_MAX_LISTEN_STREAMS = 256;
/** Open listen streams one agent may hold. */
export const DEFAULT_MAX_LISTEN_STREAMS_PER_AGENT = MAX_LISTEN_STREAMS_PER_AGENT;
/** URIs one listen request may name. */
const MAX_URIS = 256;
const KEEP_ALIVE_MS = 15_000;

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
} as const;

type RequestId = string | number;

interface ListenStream {
  caller: Caller;
  id: RequestId;
  res: http.ServerResponse;
  /** uri → version last announced. */
  versions: Map<string, number>;
  keepAlive: NodeJS.Timeout;
}

export interface ListenHubOptions {
  api: KeyringApi;
  logger: Logger;
  /** Is this caller's token still valid (checked before each notice)? */
  stillValid(caller: Caller): Promise<boolean>;
  /** Called when a notice finds the caller revoked, so every stream and session of it closes. */
  onRevoked(agentId: AgentId): void;
  maxStreams?: number;
  maxStreamsPerAgent?: number;
  keepAliveMs?: number;
}

export class ListenHub implements Disposable {
  readonly #streams = new Set<ListenStream>();
  /** Listens for rotations only while a stream is open. */
  #rotation: Disposable | undefined;

  constructor(private readonly opts: ListenHubOptions) {}

  get size(): number {
    return this.#streams.size;
  }

  /**
   * Answers a `subscriptions/listen` request with an event stream that stays open.
   * @throws {@link Refusal} for bad params or when the limits are reached (before any byte is sent).
   */
  async open(res: http.ServerResponse, id: RequestId, params: unknown, caller: Caller): Promise<void> {
    const filter = (params as { notifications?: unknown } | undefined)?.notifications;
    if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
      throw new Refusal(
        400,
        INVALID_PARAMS,
        'Invalid params: subscriptions/listen needs params.notifications, e.g. {"resourceSubscriptions": ["credential://<name>"]}.',
        {},
        undefined,
        id,
      );
    }
    const wanted = (filter as { resourceSubscriptions?: unknown }).resourceSubscriptions ?? [];
    if (!Array.isArray(wanted) || wanted.length > MAX_URIS || wanted.some((u) => typeof u !== 'string')) {
      throw new Refusal(
        400,
        INVALID_PARAMS,
        `Invalid params: notifications.resourceSubscriptions must be an array of at most ${MAX_URIS} credential://<name> URIs.`,
        {},
        undefined,
        id,
      );
    }
    const mine = [...this.#streams].filter((s) => s.caller.agent.id === caller.agent.id).length;
    if (
      this.#streams.size >= (this.opts.maxStreams ?? DEFAULT_MAX_LISTEN_STREAMS) ||
      mine >= (this.opts.maxStreamsPerAgent ?? DEFAULT_MAX_LISTEN_STREAMS_PER_AGENT)
    ) {
      throw new Refusal(
        503,
        -32603,
        'Subscription limit reached: close a subscriptions/listen stream you no longer need, then retry.',
        {},
        undefined,
        id,
      );
    }
    // Honour only URIs of credentials this agent may use; the acknowledgement says which.
    const versions = new Map<string, number>();
    for (const uri of new Set(wanted as string[])) {
      const meta = await describe(this.opts.api, caller.agent.id, uri, true).catch(() => undefined);
      if (meta) {
        versions.set(uri, meta.version);
      }
    }
    res.writeHead(200, SSE_HEADERS);
    res.flushHeaders();
    const ms = this.opts.keepAliveMs ?? KEEP_ALIVE_MS;
    const keepAlive = setInterval(
      () => {
        if (!res.writableEnded && !res.destroyed) {
          res.write(': keepalive\n\n');
        }
      },
      ms > 0 ? ms : 2 ** 30,
    );
    keepAlive.unref();
    const stream: ListenStream = { caller, id, res, versions, keepAlive };
    this.#streams.add(stream);
    this.#rotation ??= this.opts.api.onDidRotate((name) => {
      this.#onRotate(name).catch((e: unknown) =>
        this.opts.logger.warn(`Could not send resources/updated for ${uriOf(name)}`, e),
      );
    });
    res.once('close', () => this.#drop(stream));
    writeEvent(res, {
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: {
        notifications: { resourceSubscriptions: [...versions.keys()] },
        _meta: { [SUBSCRIPTION_ID_META_KEY]: id },
      },
    });
  }

  /** Ends the stream opened by listen request `id` of this agent (the client cancelled it). */
  cancel(agentId: AgentId, id: RequestId): void {
    for (const s of this.#streams) {
      if (s.caller.agent.id === agentId && s.id === id) {
        this.#end(s, true);
      }
    }
  }

  /** Ends every stream of `agentId` (it was revoked); nothing more is sent on them. */
  closeAgent(agentId: AgentId): number {
    let n = 0;
    for (const s of [...this.#streams]) {
      if (s.caller.agent.id === agentId) {
        this.#drop(s);
        s.res.destroy();
        n++;
      }
    }
    return n;
  }

  /** Ends every stream gracefully (the listen result), as on server shutdown. */
  dispose(): void {
    for (const s of [...this.#streams]) {
      this.#end(s, true);
    }
  }

  async #onRotate(name: string): Promise<void> {
    const uri = uriOf(name);
    const watching = [...this.#streams].filter((s) => s.versions.has(uri));
    const checked = new Map<AgentId, boolean>();
    for (const s of watching) {
      const agentId = s.caller.agent.id;
      if (!checked.has(agentId)) {
        checked.set(agentId, await this.opts.stillValid(s.caller));
        if (!checked.get(agentId)) {
          this.opts.onRevoked(agentId);
        }
      }
      if (!checked.get(agentId) || !this.#streams.has(s)) {
        continue;
      }
      const meta = await this.opts.api.describeCredential(agentId, uri.slice(URI_PREFIX.length));
      if (!meta || meta.version === s.versions.get(uri)) {
        continue;
      }
      s.versions.set(uri, meta.version);
      writeEvent(s.res, {
        jsonrpc: '2.0',
        method: 'notifications/resources/updated',
        params: { uri, _meta: { [SUBSCRIPTION_ID_META_KEY]: s.id } },
      });
    }
  }

  #end(s: ListenStream, graceful: boolean): void {
    this.#drop(s);
    if (graceful && !s.res.writableEnded && !s.res.destroyed) {
      writeEvent(s.res, {
        jsonrpc: '2.0',
        id: s.id,
        result: { resultType: 'complete', _meta: { [SUBSCRIPTION_ID_META_KEY]: s.id } },
      });
    }
    s.res.end();
  }

  #drop(s: ListenStream): void {
    clearInterval(s.keepAlive);
    this.#streams.delete(s);
    if (this.#streams.size === 0) {
      this.#rotation?.dispose();
      this.#rotation = undefined;
    }
  }
}

function writeEvent(res: http.ServerResponse, message: unknown): void {
  if (!res.writableEnded && !res.destroyed) {
    res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }
}
