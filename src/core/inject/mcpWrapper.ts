/**
 * `agent-keyring run --mcp`: a stdio MCP server to the client that is really the command it starts
 * (the "child"), with keys in the child's environment. JSON-RPC lines are forwarded verbatim both
 * ways — the bytes written are the bytes read; lines are parsed only to track request ids and the
 * handshake. When a key rotates, {@link McpWrapper.restart} swaps the child without the client
 * noticing:
 *
 *   1. the new child starts with the new keys and gets the client's recorded `initialize`
 *      (under a wrapper id, its answer swallowed), `notifications/initialized` and the
 *      session-state requests (`resources/subscribe`/`unsubscribe`, `logging/setLevel`) — while
 *      the old child keeps serving; if the new one does not start, the old one stays;
 *   2. client messages are held (queued in order); the old child's tools are listed (to compare)
 *      and its requests in flight get up to `drainMs` to finish; a request it did not answer gets
 *      a JSON-RPC error (-32000) that says to retry, and it is stopped in the background;
 *   3. what the client set up meanwhile is replayed too; `notifications/tools/list_changed` goes to
 *      the client only if `tools/list` differs;
 *   4. the held messages go to the new child.
 *
 * No request is lost or answered twice: every client request is answered by exactly one child,
 * or by the wrapper's error when the child that had it went away.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { peekJsonRpc } from '../forward/jsonRpcPeek';
import { BatchedWriter, LineFramer } from '../forward/lineFramer';
import type { Logger } from '../ports';
import { OutputMasker } from './outputMasker';
import { shellExitCode } from './runProcess';

/** JSON-RPC error code for a request the restarted (or crashed) child did not answer. */
export const RESTARTED_ERROR_CODE = -32000;
const INTERNAL_ID_PREFIX = 'akr-wrapper-';
/** Client requests that set up session state in the server: replayed to a new child. */
const SESSION_STATE_METHODS = new Set(['resources/subscribe', 'resources/unsubscribe', 'logging/setLevel']);
const INTERNAL_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 2_000;

export interface McpWrapperOptions {
  command: string;
  args: readonly string[];
  /** The child's environment, asked for at every (re)start: it carries the current keys. */
  env: () => NodeJS.ProcessEnv;
  /** Values to mask in the child's stderr, asked for at every (re)start; undefined: no masking. */
  maskValues: () => readonly string[] | undefined;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  logger: Logger;
  /** How long requests in flight may take to finish before the old child is stopped (default 5 s). */
  drainMs?: number;
}

type JsonRpcId = string | number | null;

interface Parsed {
  id?: JsonRpcId;
  method?: string;
  result?: unknown;
  error?: unknown;
}

interface Child {
  proc: ChildProcess;
  /** Writes to the child's stdin (batched per event-loop turn). */
  stdin: BatchedWriter;
  /** Client requests sent to this child and not answered yet (ids as canonical JSON text). */
  pending: Set<string>;
  /** The wrapper's own requests: key → resolver. */
  internal: Map<string, (m: Parsed) => void>;
  exited: Promise<number>;
  alive: boolean;
  masker: OutputMasker | undefined;
}

function keyOf(id: JsonRpcId): string {
  return JSON.stringify(id);
}

function parse(line: Buffer): Parsed | undefined {
  try {
    const v: unknown = JSON.parse(line.toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export class McpWrapper {
  readonly #opts: McpWrapperOptions;
  readonly #drainMs: number;
  #child: Child | undefined;
  #restarting = false;
  #held: Buffer[] = [];
  #initLine: Buffer | undefined;
  #initializedLine: Buffer | undefined;
  readonly #sessionLines: Buffer[] = [];
  /** Requests the child sent to the client: key → the child that is waiting for the answer. */
  readonly #childRequests = new Map<string, Child>();
  #nextInternal = 0;
  /** Writes to the client (batched per event-loop turn). */
  readonly #out: BatchedWriter;
  #inputEnded = false;
  #finished = false;
  #resolveDone!: (code: number) => void;
  /** Resolves with the exit code the wrapper should exit with. */
  readonly done: Promise<number>;
  /** Restarts done (for logs and tests). */
  restarts = 0;

  constructor(opts: McpWrapperOptions) {
    this.#opts = opts;
    this.#drainMs = opts.drainMs ?? 5_000;
    this.#out = new BatchedWriter((b) => opts.output.write(b));
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  /** Starts the first child and begins forwarding. */
  start(): void {
    this.#child = this.#spawn();
    const splitter = new LineFramer((line) => this.#fromClient(line));
    this.#opts.input.on('data', (b: Buffer | string) =>
      splitter.push(typeof b === 'string' ? Buffer.from(b) : b),
    );
    this.#opts.input.on('end', () => {
      splitter.end();
      this.#inputEnded = true;
      if (!this.#restarting) {
        this.#endChildInput();
      }
    });
  }

  /**
   * Swaps the child for a new one started with the current {@link McpWrapperOptions.env}. Calls
   * made while a restart runs are serialised by the caller (see the run command).
   */
  async restart(): Promise<void> {
    const old = this.#child;
    if (!old || this.#finished || this.#inputEnded) {
      return;
    }
    // 1. The new child starts and gets the handshake while the old one keeps serving the client,
    //    so the client waits only for the swap, not for a process start.
    const next = this.#spawn();
    const replay = { init: false, sessionLines: 0 };
    try {
      await this.#replayHandshake(next, replay);
    } catch (e) {
      this.#opts.logger.error(
        `run --mcp: the restarted '${this.#opts.command}' did not start (${e instanceof Error ? e.message : String(e)}); the running one keeps its old keys.`,
      );
      await this.#stop(next);
      return;
    }
    if (this.#finished || !old.alive) {
      await this.#stop(next);
      return;
    }
    // 2. Swap: hold the client's messages, let the old child finish what it has, stop it.
    this.#restarting = true;
    try {
      const before = this.#initLine !== undefined ? await this.#listTools(old) : undefined;
      await this.#drain(old);
      // What the old child did not answer is failed now, so a late answer from it is dropped (it
      // is no longer pending); it is stopped in the background — the client does not wait for its
      // exit (up to 2 s for a server that ignores the end of its stdin).
      this.#failPending(
        old,
        'The MCP server was restarted because one of its keys was rotated before it answered; retry the request.',
      );
      void this.#stop(old);
      this.#child = next;
      // What the client set up while the new child was starting (or the handshake, if it came then).
      await this.#replayHandshake(next, replay);
      const after = before !== undefined ? await this.#listTools(next) : undefined;
      if (before !== undefined && after !== undefined && before !== after) {
        this.#toClient(Buffer.from('{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\n'));
      }
      this.restarts++;
    } catch (e) {
      this.#opts.logger.error(
        `run --mcp: could not restart '${this.#opts.command}' after a rotation (${e instanceof Error ? e.message : String(e)}); stopping so the client can restart it.`,
      );
      this.#restarting = false;
      for (const c of [old, next]) {
        if (c.alive) {
          await this.#stop(c);
        }
      }
      this.#finish(1);
      return;
    }
    this.#restarting = false;
    const held = this.#held;
    this.#held = [];
    for (const line of held) {
      this.#fromClient(line);
    }
    if (this.#inputEnded) {
      this.#endChildInput();
    }
  }

  // ------------------------------------------------------------------ client → child

  #fromClient(line: Buffer): void {
    if (this.#finished) {
      return;
    }
    if (this.#restarting) {
      this.#held.push(line);
      return;
    }
    const m = peekJsonRpc(line);
    const child = this.#child;
    if (!child) {
      return;
    }
    if (m?.hasMethod) {
      if (m.method === 'initialize' && m.id !== undefined) {
        this.#initLine = line;
      } else if (m.method === 'notifications/initialized') {
        this.#initializedLine = line;
      } else if (m.method !== undefined && SESSION_STATE_METHODS.has(m.method)) {
        this.#sessionLines.push(line);
      }
      if (m.id !== undefined) {
        child.pending.add(m.id);
      }
    } else if (m?.id !== undefined && m.id !== 'null') {
      // An answer to a request a child sent: only that child gets it (a new child may ask during
      // its handshake, before it serves), and none if it is gone.
      const origin = this.#childRequests.get(m.id);
      this.#childRequests.delete(m.id);
      if (origin?.alive) {
        origin.stdin.write(line);
      }
      return;
    }
    child.stdin.write(line);
  }

  // ------------------------------------------------------------------ child → client

  #fromChild(child: Child, line: Buffer): void {
    const m = peekJsonRpc(line);
    // `id: null` answers a message the child could not parse: passed on as it is.
    if (m?.id !== undefined && m.id !== 'null' && !m.hasMethod) {
      const key = m.id;
      const internal = child.internal.get(key);
      if (internal) {
        child.internal.delete(key);
        internal(parse(line) ?? { error: { message: 'an answer that is not a JSON object' } });
        return;
      }
      if (!child.pending.delete(key)) {
        // Not a request this child has (any more): a late or duplicate answer is not passed on.
        return;
      }
    } else if (m?.id !== undefined && m.hasMethod) {
      this.#childRequests.set(m.id, child);
    }
    if (child === this.#child || m?.id !== undefined) {
      this.#toClient(line);
    }
  }

  #toClient(line: Buffer): void {
    if (!this.#finished) {
      this.#out.write(line);
    }
  }

  // ------------------------------------------------------------------ children

  #spawn(): Child {
    const values = this.#opts.maskValues();
    const proc = spawn(this.#opts.command, [...this.#opts.args], {
      env: this.#opts.env(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let resolveExit!: (code: number) => void;
    const child: Child = {
      proc,
      stdin: new BatchedWriter((b) => proc.stdin?.write(b)),
      pending: new Set(),
      internal: new Map(),
      exited: new Promise((r) => (resolveExit = r)),
      alive: true,
      masker: values ? new OutputMasker(values, (b) => this.#opts.stderr.write(b)) : undefined,
    };
    const splitter = new LineFramer((line) => this.#fromChild(child, line));
    proc.stdout?.on('data', (b: Buffer) => splitter.push(b));
    proc.stdout?.on('end', () => splitter.end());
    proc.stderr?.on('data', (b: Buffer) =>
      child.masker ? child.masker.push(b) : this.#opts.stderr.write(b),
    );
    proc.stderr?.on('end', () => child.masker?.end());
    proc.stdin?.on('error', () => undefined); // a child that exits early closes its stdin
    let settled = false;
    const onGone = (code: number, why: string | undefined): void => {
      if (settled) {
        return;
      }
      settled = true;
      child.alive = false;
      for (const resolve of child.internal.values()) {
        resolve({ error: { message: why ?? 'exited' } });
      }
      child.internal.clear();
      resolveExit(code);
      if (child === this.#child && !this.#restarting) {
        // Not a restart: the server itself ended. Answer what it left open, then end like it did.
        this.#failPending(
          child,
          `The MCP server '${this.#opts.command}' exited before it answered; restart it and retry.`,
        );
        if (why) {
          this.#opts.logger.error(`run --mcp: ${why}`);
        }
        this.#finish(code);
      }
    };
    proc.on('error', (e: NodeJS.ErrnoException) =>
      onGone(
        e.code === 'ENOENT' ? 127 : 126,
        `command '${this.#opts.command}' could not be started (${e.code ?? e.message})`,
      ),
    );
    proc.on('exit', (code, signal) => {
      // Let the last stdout lines through before the pending requests are failed.
      setImmediate(() => onGone(shellExitCode(code, signal), undefined));
    });
    return child;
  }

  /** Sends one of the wrapper's own requests to `child`; resolves with the answer (or an error shape). */
  #internalRequest(child: Child, method: string, params: unknown, rawLine?: Buffer): Promise<Parsed> {
    const id = `${INTERNAL_ID_PREFIX}${this.#nextInternal++}`;
    let line: string;
    if (rawLine) {
      const original = JSON.parse(rawLine.toString('utf8')) as Record<string, unknown>;
      line = JSON.stringify({ ...original, id });
    } else {
      line = JSON.stringify({ jsonrpc: '2.0', id, method, params });
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        child.internal.delete(keyOf(id));
        resolve({ error: { message: `no answer to ${method} in ${INTERNAL_TIMEOUT_MS} ms` } });
      }, INTERNAL_TIMEOUT_MS);
      child.internal.set(keyOf(id), (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      child.stdin.write(Buffer.from(`${line}\n`));
    });
  }

  /** The child's `tools/list` answer as a canonical string, or undefined when it has none. */
  async #listTools(child: Child): Promise<string | undefined> {
    const r = await this.#internalRequest(child, 'tools/list', {});
    return r.result === undefined
      ? undefined
      : JSON.stringify((r.result as { tools?: unknown }).tools ?? null);
  }

  /**
   * Replays to `child` what the client has set up and `done` does not record yet: the
   * `initialize` (answer swallowed), `notifications/initialized`, then session-state requests.
   * @throws when the child does not accept the `initialize`.
   */
  async #replayHandshake(child: Child, done: { init: boolean; sessionLines: number }): Promise<void> {
    if (!done.init && this.#initLine) {
      const init = await this.#internalRequest(child, 'initialize', undefined, this.#initLine);
      if (init.error !== undefined || init.result === undefined) {
        throw new Error('the new server did not accept the replayed initialize');
      }
      done.init = true;
      if (this.#initializedLine) {
        child.stdin.write(this.#initializedLine);
      }
    }
    if (!done.init) {
      return;
    }
    while (done.sessionLines < this.#sessionLines.length) {
      const line = this.#sessionLines[done.sessionLines++];
      await this.#internalRequest(child, peekJsonRpc(line)?.method ?? '', undefined, line);
    }
  }

  /** Waits until `child` answered every client request, or `drainMs` passed. */
  async #drain(child: Child): Promise<void> {
    const deadline = Date.now() + this.#drainMs;
    while (child.pending.size > 0 && child.alive && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async #stop(child: Child): Promise<void> {
    if (!child.alive) {
      return;
    }
    child.stdin.flush();
    child.proc.stdin?.end();
    const gone = await Promise.race([
      child.exited.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), STOP_GRACE_MS)),
    ]);
    if (!gone) {
      child.proc.kill('SIGTERM');
      const termed = await Promise.race([
        child.exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), STOP_GRACE_MS)),
      ]);
      if (!termed) {
        child.proc.kill('SIGKILL');
        await child.exited;
      }
    }
  }

  #failPending(child: Child, message: string): void {
    const error = JSON.stringify({ code: RESTARTED_ERROR_CODE, message });
    for (const id of child.pending) {
      // `id` is the id's canonical JSON text: the same bytes JSON.stringify would write.
      this.#toClient(Buffer.from(`{"jsonrpc":"2.0","id":${id},"error":${error}}\n`));
    }
    child.pending.clear();
    for (const [key, origin] of this.#childRequests) {
      if (origin === child) {
        this.#childRequests.delete(key);
      }
    }
  }

  #endChildInput(): void {
    const child = this.#child;
    if (child?.alive) {
      child.stdin.flush();
      child.proc.stdin?.end();
    } else {
      this.#finish(0);
    }
  }

  #finish(code: number): void {
    if (this.#finished) {
      return;
    }
    this.#finished = true;
    this.#out.flush();
    this.#resolveDone(code);
  }

  /** Stops the current child (signal forwarding and shutdown). */
  kill(signal: NodeJS.Signals): void {
    const child = this.#child;
    if (child?.alive) {
      child.proc.kill(signal);
    }
  }
}
