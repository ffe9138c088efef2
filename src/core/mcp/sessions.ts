/**
 * Sessions of the 2025-era protocol (`initialize`, `Mcp-Session-Id`): create, look up with the owner
 * check, idle sweep, limits (in total and per agent), and closing all of one agent's sessions when
 * it is revoked. A session is one transport + one {@link CredentialServer}, bound to the agent of the
 * token that opened it.
 */
import { randomUUID } from 'node:crypto';
import type { KeyringApi } from '../api';
import { MAX_SESSIONS, MAX_SESSIONS_PER_AGENT } from '../limits';
import type { AgentId } from '../model';
import type { Clock, Disposable, Logger } from '../ports';
import type { Implementation } from '@modelcontextprotocol/sdk/types.js';
import type { Caller } from './gate';
import { Refusal } from './refusal';
import { createCredentialServer, type CredentialServer } from './server';
import { NodeStreamableHttpTransport } from './streamableHttpTransport';

export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60_000;
/** Sessions held at once; a runaway client cannot grow memory without bound. */
export const DEFAULT_MAX_SESSIONS = MAX_SESSIONS;
/** Sessions one agent may hold; its oldest idle one makes room for a new one. */
export const DEFAULT_MAX_SESSIONS_PER_AGENT = MAX_SESSIONS_PER_AGENT;
const SWEEP_INTERVAL_MS = 60_000;

export interface Session {
  id: string;
  caller: Caller;
  transport: NodeStreamableHttpTransport;
  mcp: CredentialServer;
  lastSeen: number;
  /** Requests (including open GET event streams) in progress: a session in use is never idle. */
  inFlight: number;
}

export interface SessionTableOptions {
  api: KeyringApi;
  logger: Logger;
  clock: Clock;
  idleTimeoutMs: number;
  maxSessions: number;
  maxSessionsPerAgent: number;
  serverInfo?: Implementation;
  /** Checked before each rotation notice of a session: false once its agent is revoked. */
  stillAllowed?: (caller: Caller) => Promise<boolean>;
}

export class SessionTable {
  readonly #sessions = new Map<string, Session>();
  #sweepTimer: Disposable | undefined;
  #closed = false;

  constructor(private readonly opts: SessionTableOptions) {
    this.#scheduleSweep();
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** The session `id` of this caller, or a 404 / 403 refusal. */
  lookUp(id: string, caller: Caller): Session {
    const session = this.#sessions.get(id);
    if (!session) {
      throw new Refusal(
        404,
        -32001,
        'Session not found: it expired or was closed. Start a new session (initialize without Mcp-Session-Id).',
      );
    }
    if (session.caller.agent.id !== caller.agent.id) {
      throw new Refusal(
        403,
        -32000,
        'Forbidden: this session belongs to another agent. Start a new session with your own token.',
      );
    }
    return session;
  }

  /**
   * A transport for an `initialize` from `caller`; the session joins the table once the transport
   * accepts the initialize. Makes room first: the agent's own oldest idle session when it is at its
   * limit, else a 503 when the whole table is full.
   */
  async open(
    caller: Caller,
  ): Promise<{ transport: NodeStreamableHttpTransport; session: () => Session | undefined }> {
    this.#makeRoomFor(caller.agent.id);
    const { api, logger, clock } = this.opts;
    const { stillAllowed } = this.opts;
    const mcp = createCredentialServer({
      api,
      agentId: caller.agent.id,
      logger,
      serverInfo: this.opts.serverInfo,
      stillAllowed: stillAllowed && (() => stillAllowed(caller)),
    });
    let session: Session | undefined;
    const transport = new NodeStreamableHttpTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => {
        session = { id, caller, transport, mcp, lastSeen: clock.now(), inFlight: 0 };
        this.#sessions.set(id, session);
        logger.debug(`MCP session ${id} opened for agent '${caller.agent.id}'.`);
      },
      onsessionclosed: (id) => {
        const s = this.#sessions.get(id);
        if (s) {
          void this.close(s, 'DELETE');
        }
      },
    });
    transport.onclose = () => {
      if (session) {
        void this.close(session, 'transport closed');
      }
    };
    await mcp.server.connect(transport);
    return { transport, session: () => session };
  }

  async close(s: Session, why: string): Promise<void> {
    if (this.#sessions.get(s.id) !== s) {
      return;
    }
    this.#sessions.delete(s.id);
    this.opts.logger.debug(`MCP session ${s.id} of agent '${s.caller.agent.id}' closed (${why}).`);
    try {
      await s.mcp.dispose();
    } catch (e) {
      this.opts.logger.warn(`Closing MCP session ${s.id} failed`, e);
    }
  }

  /** Closes every session (and so every event stream) of `agentId`. */
  async closeAgent(agentId: AgentId, why: string): Promise<number> {
    const mine = [...this.#sessions.values()].filter((s) => s.caller.agent.id === agentId);
    await Promise.all(mine.map((s) => this.close(s, why)));
    return mine.length;
  }

  async dispose(): Promise<void> {
    this.#closed = true;
    this.#sweepTimer?.dispose();
    await Promise.all([...this.#sessions.values()].map((s) => this.close(s, 'server closing')));
  }

  #makeRoomFor(agentId: AgentId): void {
    const mine = [...this.#sessions.values()].filter((s) => s.caller.agent.id === agentId);
    if (mine.length >= this.opts.maxSessionsPerAgent) {
      const oldestIdle = mine.filter((s) => s.inFlight === 0).sort((a, b) => a.lastSeen - b.lastSeen)[0];
      if (!oldestIdle) {
        throw new Refusal(
          503,
          -32000,
          `Too many open MCP sessions for this agent (${this.opts.maxSessionsPerAgent}, all in use). Close unused sessions (DELETE /mcp), then retry.`,
        );
      }
      void this.close(oldestIdle, `agent at its limit of ${this.opts.maxSessionsPerAgent} sessions`);
      return;
    }
    if (this.#sessions.size >= this.opts.maxSessions) {
      throw new Refusal(
        503,
        -32000,
        'Too many open MCP sessions. Close unused sessions (DELETE /mcp) or wait for idle ones to expire, then retry.',
      );
    }
  }

  #scheduleSweep(): void {
    const { clock, idleTimeoutMs } = this.opts;
    this.#sweepTimer = clock.setTimeout(
      () => {
        const now = clock.now();
        for (const s of [...this.#sessions.values()]) {
          if (s.inFlight === 0 && now - s.lastSeen >= idleTimeoutMs) {
            void this.close(s, `idle for ${Math.round((now - s.lastSeen) / 60_000)} min`);
          }
        }
        if (!this.#closed) {
          this.#scheduleSweep();
        }
      },
      Math.min(SWEEP_INTERVAL_MS, idleTimeoutMs),
    );
  }
}
