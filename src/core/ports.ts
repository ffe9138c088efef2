/**
 * Ports: what the core needs from the world. VS Code implements them over `context.secrets`,
 * a metadata file in global storage and a LogOutputChannel; the headless server over an
 * encrypted file store; unit tests over in-memory fakes.
 */
import type { AgentId, AnomalyRuleId, CredentialName, KeyringMetadata, Scope } from './model';

export interface Disposable {
  dispose(): void;
}

/** Where secret values live (VS Code SecretStorage, or the encrypted file store). */
export interface SecretBackend {
  get(key: string): Promise<string | undefined>;
  store(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
  /** Fires when another process or window changed a key. */
  onDidChange(listener: (key: string) => void): Disposable;
}

/**
 * The metadata document (credentials, agents, versions; never values).
 * `read()` must be cheap and current: implementations cache and revalidate (a `stat`), so a
 * change made by another process is seen on the very next call.
 */
export interface MetadataStore {
  read(): Promise<KeyringMetadata>;
  /**
   * Read-modify-write under an exclusive lock (across processes), written atomically
   * (temp file + fsync + rename). The mutator edits the draft in place and may return a result.
   * If it throws, nothing is written.
   */
  update<T>(mutator: (draft: KeyringMetadata) => T | Promise<T>): Promise<T>;
  /** Fires after this or another process changed the document. */
  onDidChange(listener: () => void): Disposable;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Local-time hour and minute for `active_hours` (fakes pin a time zone). */
  localTime(ms: number): { hour: number; minute: number };
  setTimeout(fn: () => void, ms: number): Disposable;
}

export interface Logger {
  trace(message: string, ...args: unknown[]): void;
  debug(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  error(message: string | Error, ...args: unknown[]): void;
}

export interface ApprovalRequest {
  agent_id: AgentId;
  agent_label: string;
  credential: CredentialName;
  scope: Scope;
  /** Milliseconds since the epoch when the request arrived. */
  at: number;
  reason: string | null;
  rules: AnomalyRuleId[];
  tool: string;
  /**
   * What will happen if allowed, in words for the person: `GET https://api.example.com/v1/search`
   * for an http_request, `reveal the value to the agent` for get_credential, the command of a run.
   * Never holds a value (the URL is the agent's, with the `{{credential}}` placeholder unfilled).
   */
  action?: string;
  /** Why the person is asked, when it is not (only) an anomaly rule, e.g. the reveal mode `approve`. */
  because?: string;
}

/**
 * `once`: this request only; `hour`: this agent, credential, scope and kind of use for an hour;
 * `session`: the same until the server process (or editor session) ends; `deny`: the person said
 * no; `timeout`: nobody answered in time (refused like `deny`, audited as a timeout).
 */
export type ApprovalAnswer = 'once' | 'hour' | 'session' | 'deny' | 'timeout';

/** Asks the human. Headless there is none: `approve` then means deny (`approval_denied`). */
export interface Approver {
  /** Resolves with the human's answer; must resolve `deny` on its own timeout. */
  ask(request: ApprovalRequest): Promise<ApprovalAnswer>;
}

/** Told about `alert` and `deny` anomaly outcomes (VS Code shows a notification). */
export interface AlertSink {
  alert(event: {
    agent_id: AgentId;
    credential: CredentialName;
    scope: Scope;
    rules: AnomalyRuleId[];
    action: 'alert' | 'deny' | 'approve';
    message: string;
  }): void;
}

export const NO_APPROVER: Approver = { ask: async () => 'deny' };

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  localTime: (ms) => {
    const d = new Date(ms);
    return { hour: d.getHours(), minute: d.getMinutes() };
  },
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { dispose: () => clearTimeout(t) };
  },
};

export const NULL_LOGGER: Logger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
