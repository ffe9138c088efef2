/**
 * Anomaly rules (README.md, "Security model"). They run after the policy check has allowed a request and decide
 * whether it goes through (`allow`), goes through with a notice (`alert`), waits for the human
 * (`approve`) or is refused (`deny`). Each rule's action is configurable, `off` included; the
 * strongest action of the rules that fired wins (deny > approve > alert > allow).
 *
 * State is per agent and bounded: a burst window of at most `burst_per_minute + 1` timestamps,
 * at most `probing_denials` recent denials, a lockout deadline and a 24-bucket hour histogram.
 */
import { z } from 'zod';
import { InvalidInputError } from '../errors';
import {
  DEFAULT_ANOMALY_CONFIG,
  ID_PATTERN,
  SCOPE_PATTERN,
  type AgentId,
  type AgentMeta,
  type AnomalyConfig,
  type AnomalyRuleId,
  type CredentialMeta,
  type RuleAction,
  type Scope,
} from '../model';
import type { Clock } from '../ports';
import {
  formatLocalTime,
  isWithinActiveHours,
  parseActiveHours,
  type ActiveHoursWindow,
} from './activeHours';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
/** The burst rule's window. */
export const BURST_WINDOW_MS = MINUTE_MS;
const MAX_CACHED_WINDOWS = 256;

export type AssessmentAction = 'allow' | 'alert' | 'approve' | 'deny';

/** One rule that fired, with the action configured for it (never `off`: those don't fire). */
export interface FiredRule {
  rule: AnomalyRuleId;
  action: Exclude<RuleAction, 'off'>;
  message: string;
}

export interface Assessment {
  /** The strongest action among `fired`; `allow` when nothing fired. */
  action: AssessmentAction;
  /** Set when `action` is `deny`: `rate_limited` when only the burst rule denies, else `anomaly_denied`. */
  code?: 'anomaly_denied' | 'rate_limited';
  /** Every rule that fired, in rule order. */
  fired: FiredRule[];
  /** The messages of the rules that decided `action` (absent when `allow`). Says what to do next. */
  message?: string;
  /** When a deny is time-bound (burst, probing lockout): seconds until a retry can succeed. */
  retry_after_seconds?: number;
}

/** The outcome of {@link AnomalyEngine.checkRate}: the rate rules that fired, and their combination. */
export interface RateCheck {
  fired: FiredRule[];
  retryAfter: Partial<Record<AnomalyRuleId, number>>;
  assessment: Assessment;
}

export interface AssessInput {
  agent: Pick<AgentMeta, 'id' | 'active_hours' | 'first_used'>;
  credential: Pick<CredentialMeta, 'name'>;
  scope: Scope;
  /** The `agent_id` tool argument, if the agent sent one. */
  claimedAgentId?: string | null;
}

/** What {@link AnomalyEngine.loadHistory} reads from each audit event. */
export interface HistoryEvent {
  agent_id: string | null;
  /** ISO time or epoch ms. */
  ts: string | number;
  decision: string;
  /**
   * A `rate_limited` refusal does not count as probing (a client retrying on it is not probing),
   * nor does a refused bearer token (`unauthorized`: not a request of the agent's live token).
   */
  code?: string | null;
}

/** Audit decisions that mean "the agent was served" (they feed the learned-hours histogram). */
const SERVED_DECISIONS: ReadonlySet<string> = new Set(['allow', 'approved', 'alert', 'http']);

const RANK: Record<AssessmentAction, number> = { allow: 0, alert: 1, approve: 2, deny: 3 };

export const ANOMALY_RULE_IDS = Object.keys(DEFAULT_ANOMALY_CONFIG.actions) as AnomalyRuleId[];

/** The rate check of a request no rate rule fired for (shared: never mutated). */
const NOTHING_FIRED: RateCheck = Object.freeze({
  fired: [],
  retryAfter: {},
  assessment: { action: 'allow', fired: [] },
}) as RateCheck;

const RULE_ORDER = Object.fromEntries(ANOMALY_RULE_IDS.map((id, i) => [id, i])) as Record<
  AnomalyRuleId,
  number
>;

interface AgentState {
  /** Assessed requests within the last minute, oldest first; capped at burst_per_minute + 1. */
  requests: number[];
  /** Denials within the probing window, oldest first. */
  denials: number[];
  /** Epoch ms until which the agent is locked out (0: not locked). */
  lockedUntil: number;
  /** Served requests per local hour of day. */
  hours: number[];
  /** Earliest served request seen (start of the learning period). */
  firstSeen?: number;
}

/**
 * One counted event of the rate rules, shared between servers of one team store so that an agent
 * cannot escape the burst limit or a probing lockout by reaching another replica: a request counted
 * for the burst rule, or a denial counted for the probing rule (epoch ms).
 */
export interface RateEvent {
  agent: AgentId;
  kind: 'request' | 'denial';
  at: number;
}

export class AnomalyEngine {
  #config: AnomalyConfig;
  #share: ((e: RateEvent) => void) | undefined;
  readonly #clock: Clock;
  readonly #agents = new Map<AgentId, AgentState>();
  readonly #windows = new Map<string, ActiveHoursWindow | null>();

  constructor(deps: { config?: AnomalyConfig; clock: Clock }) {
    this.#config = deps.config ?? DEFAULT_ANOMALY_CONFIG;
    this.#clock = deps.clock;
  }

  get config(): AnomalyConfig {
    return this.#config;
  }

  /**
   * Hands every request and denial this engine counts to `publish` (for other servers), from now
   * until the returned handle is disposed. `publish` must not throw or block: it is called on the
   * hot path (a team store batches the events into one notification every few milliseconds).
   */
  shareRateState(publish: (e: RateEvent) => void): { dispose(): void } {
    this.#share = publish;
    return {
      dispose: () => {
        if (this.#share === publish) {
          this.#share = undefined;
        }
      },
    };
  }

  /**
   * Counts a request or denial another server counted (see {@link shareRateState}): the burst
   * window and the probing rule then see the agent's requests on every server. Never throws;
   * malformed events are ignored.
   */
  applyRemote(e: RateEvent): void {
    if (typeof e?.agent !== 'string' || !Number.isFinite(e.at)) {
      return;
    }
    if (e.kind === 'request') {
      const st = this.#state(e.agent);
      const cap = Math.max(1, Math.floor(this.#config.burst_per_minute)) + 1;
      pruneBefore(st.requests, this.#clock.now() - BURST_WINDOW_MS);
      // Kept in time order: a remote request may be older than the newest local one.
      let i = st.requests.length;
      while (i > 0 && st.requests[i - 1] > e.at) {
        i--;
      }
      st.requests.splice(i, 0, e.at);
      if (st.requests.length > cap) {
        st.requests.splice(0, st.requests.length - cap);
      }
    } else if (e.kind === 'denial') {
      this.#countDenial(e.agent, e.at);
    }
  }

  /** Replaces the configuration; learned state (windows, lockouts, histogram) is kept. */
  setConfig(config: AnomalyConfig): void {
    this.#config = config;
  }

  /**
   * Runs every rule for one request that passed the policy check, and counts it for the burst
   * rule (whatever the outcome). Never throws; an `active_hours` that does not parse counts as
   * outside active hours (fail-closed).
   */
  assess(input: AssessInput, rate: RateCheck = this.checkRate(input.agent.id)): Assessment {
    const { agent, credential, scope } = input;
    const cfg = this.#config;
    const now = this.#clock.now();
    const local = this.#clock.localTime(now);
    const st = this.#state(agent.id);
    const fired: FiredRule[] = [];
    const retryAfter: Partial<Record<AnomalyRuleId, number>> = { ...rate.retryAfter };
    const fire = (rule: AnomalyRuleId, message: string): void => {
      const action = cfg.actions[rule];
      if (action !== 'off') {
        fired.push({ rule, action, message });
      }
    };

    // Outside the agent's active hours.
    if (agent.active_hours !== undefined && agent.active_hours !== '') {
      const window = this.#window(agent.active_hours);
      if (!window) {
        fire(
          'outside_active_hours',
          `Agent '${agent.id}' has an active_hours setting that cannot be read, so its requests count as outside active hours. Ask the user to fix active_hours for '${agent.id}' in Agent Keyring (format HH:MM-HH:MM, e.g. 08:00-20:00).`,
        );
      } else if (!isWithinActiveHours(window, local)) {
        fire(
          'outside_active_hours',
          `Agent '${agent.id}' asked at ${formatLocalTime(local)} local time, outside its active hours (${window.text}). Retry within those hours, or ask the user to widen active_hours for '${agent.id}' in Agent Keyring.`,
        );
      }
    }

    // agent_id argument that names someone else.
    const claimed = typeof input.claimedAgentId === 'string' ? input.claimedAgentId.trim() : '';
    if (claimed !== '' && claimed !== agent.id) {
      const named = ID_PATTERN.test(claimed) ? `'${claimed}'` : 'a different agent id';
      fire(
        'agent_id_mismatch',
        `The agent_id argument (${named}) does not match this connection's agent '${agent.id}'; identity comes from the bearer token. Omit agent_id or pass '${agent.id}'.`,
      );
    }

    // Sensitive scope.
    if (cfg.sensitive_scopes.includes(scope)) {
      fire(
        'sensitive_scope',
        `Scope '${scope}' on '${credential.name}' is sensitive, so the user decides on it in Agent Keyring. If refused, ask the user to approve the request or use a read-only scope.`,
      );
    }

    // First use of this credential by this agent.
    if (!agent.first_used || !Object.prototype.hasOwnProperty.call(agent.first_used, credential.name)) {
      fire(
        'first_use',
        `First use of '${credential.name}' by agent '${agent.id}'; the user is notified. Nothing to do unless the user objects.`,
      );
    }

    // Outside the agent's learned usual hours (only after the learning period).
    if (
      st.firstSeen !== undefined &&
      now - st.firstSeen >= cfg.learning_days * DAY_MS &&
      st.hours[local.hour] === 0
    ) {
      const from = formatLocalTime({ hour: local.hour, minute: 0 });
      const to = formatLocalTime({ hour: (local.hour + 1) % 24, minute: 0 });
      fire(
        'unusual_hours',
        `Agent '${agent.id}' has never been active between ${from} and ${to} local time before. If this run is expected, nothing to do; otherwise ask the user to set active_hours for '${agent.id}' in Agent Keyring.`,
      );
    }

    if (rate.fired.length > 0) {
      fired.push(...rate.fired);
      fired.sort((a, b) => RULE_ORDER[a.rule] - RULE_ORDER[b.rule]);
    }
    return combine(fired, retryAfter);
  }

  /**
   * The rate rules alone — burst and the probing lockout — for one request of `agentId`, counting
   * it for the burst rule (whatever the outcome). The service runs them BEFORE the policy check, so
   * a hammering or locked-out agent is refused cheaply whatever it asks for (an unknown name
   * included), and passes the result on to {@link assess} (which then does not count the request
   * twice). Never throws.
   */
  checkRate(agentId: AgentId): RateCheck {
    const cfg = this.#config;
    const now = this.#clock.now();
    const st = this.#state(agentId);
    const agent = { id: agentId };
    const fired: FiredRule[] = [];
    const retryAfter: Partial<Record<AnomalyRuleId, number>> = {};
    const fire = (rule: AnomalyRuleId, message: string): void => {
      const action = cfg.actions[rule];
      if (action !== 'off') {
        fired.push({ rule, action, message });
      }
    };

    // Burst: every assessed request counts, refused ones too (a client hammering stays limited).
    const limit = Math.max(1, Math.floor(cfg.burst_per_minute));
    pruneBefore(st.requests, now - BURST_WINDOW_MS);
    st.requests.push(now);
    this.#share?.({ agent: agentId, kind: 'request', at: now });
    if (st.requests.length > limit + 1) {
      st.requests.splice(0, st.requests.length - (limit + 1));
    }
    if (st.requests.length > limit && cfg.actions.burst !== 'off') {
      // A retry succeeds once the two oldest kept requests have left the window.
      const seconds = Math.max(1, Math.ceil((st.requests[1] + BURST_WINDOW_MS - now) / 1000));
      retryAfter.burst = seconds;
      fire(
        'burst',
        `Agent '${agent.id}' sent more than ${limit} requests in the last minute. Slow down and retry after ${seconds} s; fetch a credential once and reuse it until it expires.`,
      );
    }

    // Probing lockout.
    if (st.lockedUntil > now && cfg.actions.probing !== 'off') {
      const seconds = Math.ceil((st.lockedUntil - now) / 1000);
      retryAfter.probing = seconds;
      fire(
        'probing',
        `Agent '${agent.id}' is locked out until ${new Date(st.lockedUntil).toISOString()} (about ${Math.ceil(seconds / 60)} min) after ${cfg.probing_denials} refused requests within ${cfg.probing_window_minutes} minutes. Stop retrying; ask the user to check the Audit view and this agent's grants in Agent Keyring.`,
      );
    } else if (st.lockedUntil !== 0 && st.lockedUntil <= now) {
      st.lockedUntil = 0;
    }

    return fired.length === 0
      ? NOTHING_FIRED
      : { fired, retryAfter, assessment: combine([...fired], retryAfter) };
  }

  /**
   * Records the outcome of a decision (the service calls it after each one). Denials feed the
   * probing rule: once `probing_denials` fall within `probing_window_minutes`, the agent is locked
   * out for `probing_lockout_minutes`. Denials during a lockout do not extend it, and the count
   * starts afresh when it ends. No-op while the probing rule is `off`. Never throws.
   */
  recordDecision(agentId: AgentId, denied: boolean, atMs: number = this.#clock.now()): void {
    if (!denied || this.#config.actions.probing === 'off') {
      return;
    }
    this.#share?.({ agent: agentId, kind: 'denial', at: atMs });
    this.#countDenial(agentId, atMs);
  }

  #countDenial(agentId: AgentId, atMs: number): void {
    if (this.#config.actions.probing === 'off') {
      return;
    }
    const cfg = this.#config;
    const st = this.#state(agentId);
    if (st.lockedUntil > atMs) {
      return;
    }
    pruneBefore(st.denials, atMs - cfg.probing_window_minutes * MINUTE_MS);
    st.denials.push(atMs);
    if (st.denials.length >= cfg.probing_denials) {
      st.lockedUntil = atMs + cfg.probing_lockout_minutes * MINUTE_MS;
      st.denials = [];
    }
  }

  /**
   * Feeds the learned-hours histogram with one served request (call it for every allowed
   * request). The earliest observation starts the learning period. Never throws.
   */
  observe(agentId: AgentId, atMs: number = this.#clock.now()): void {
    if (!Number.isFinite(atMs)) {
      return;
    }
    const st = this.#state(agentId);
    st.hours[this.#clock.localTime(atMs).hour] += 1;
    if (st.firstSeen === undefined || atMs < st.firstSeen) {
      st.firstSeen = atMs;
    }
  }

  /**
   * Rebuilds learned state from audit events, oldest first (as the audit log stores them):
   * served decisions (`allow`, `approved`, `alert`, `http`) feed the hour histogram, `deny`
   * replays the probing rule at the event's time, so a lockout survives a restart. Events without
   * an agent or with an unreadable `ts` are skipped. The burst window is not rebuilt.
   */
  loadHistory(events: Iterable<HistoryEvent>): void {
    for (const e of events) {
      if (!e || typeof e.agent_id !== 'string' || e.agent_id === '') {
        continue;
      }
      const at = typeof e.ts === 'number' ? e.ts : Date.parse(e.ts);
      if (!Number.isFinite(at)) {
        continue;
      }
      if (SERVED_DECISIONS.has(e.decision)) {
        this.observe(e.agent_id, at);
      } else if (e.decision === 'deny' && e.code !== 'rate_limited' && e.code !== 'unauthorized') {
        // Replayed, not shared: every server replays its own log.
        this.#countDenial(e.agent_id, at);
      }
    }
  }

  /** Epoch ms until which the agent is locked out by the probing rule, or undefined. */
  lockedUntil(agentId: AgentId): number | undefined {
    const until = this.#agents.get(agentId)?.lockedUntil ?? 0;
    return until > this.#clock.now() && this.#config.actions.probing !== 'off' ? until : undefined;
  }

  /** Drops everything learned about an agent (e.g. after it is revoked). */
  forgetAgent(agentId: AgentId): void {
    this.#agents.delete(agentId);
  }

  #state(agentId: AgentId): AgentState {
    let st = this.#agents.get(agentId);
    if (!st) {
      st = { requests: [], denials: [], lockedUntil: 0, hours: new Array<number>(24).fill(0) };
      this.#agents.set(agentId, st);
    }
    return st;
  }

  #window(text: string): ActiveHoursWindow | null {
    let w = this.#windows.get(text);
    if (w === undefined) {
      try {
        w = parseActiveHours(text);
      } catch {
        w = null;
      }
      if (this.#windows.size >= MAX_CACHED_WINDOWS) {
        this.#windows.clear();
      }
      this.#windows.set(text, w);
    }
    return w;
  }
}

function combine(fired: FiredRule[], retryAfter: Partial<Record<AnomalyRuleId, number>>): Assessment {
  let action: AssessmentAction = 'allow';
  for (const f of fired) {
    if (RANK[f.action] > RANK[action]) {
      action = f.action;
    }
  }
  if (action === 'allow') {
    return { action, fired };
  }
  const deciding = fired.filter((f) => f.action === action);
  const result: Assessment = { action, fired, message: deciding.map((f) => f.message).join(' ') };
  if (action === 'deny') {
    result.code = deciding.every((f) => f.rule === 'burst') ? 'rate_limited' : 'anomaly_denied';
    const waits = deciding.map((f) => retryAfter[f.rule]).filter((s): s is number => s !== undefined);
    // Only time-bound if every denying rule is: a lockout plus a mismatch has no useful retry time.
    if (waits.length === deciding.length) {
      result.retry_after_seconds = Math.max(...waits);
    }
  }
  return result;
}

/** Removes leading entries `<= cutoff` from an ascending array. */
function pruneBefore(times: number[], cutoff: number): void {
  let i = 0;
  while (i < times.length && times[i] <= cutoff) {
    i++;
  }
  if (i > 0) {
    times.splice(0, i);
  }
}

// ---------------------------------------------------------------------------------------------
// Configuration (VS Code settings, policy.json)
// ---------------------------------------------------------------------------------------------

const ACTION_VALUES = ['alert', 'approve', 'deny', 'off'] as const;

const actionSchema = z.enum(ACTION_VALUES).nullish();

function intSchema(min: number, max: number) {
  return z.number().int().min(min).max(max).nullish();
}

const configSchema = z.strictObject({
  actions: z
    .strictObject(
      Object.fromEntries(ANOMALY_RULE_IDS.map((id) => [id, actionSchema])) as Record<
        AnomalyRuleId,
        typeof actionSchema
      >,
    )
    .nullish(),
  sensitive_scopes: z.array(z.string().regex(SCOPE_PATTERN)).max(256).nullish(),
  burst_per_minute: intSchema(1, 100_000),
  probing_denials: intSchema(1, 1000),
  probing_window_minutes: intSchema(1, 24 * 60),
  probing_lockout_minutes: intSchema(1, 7 * 24 * 60),
  learning_days: intSchema(1, 365),
});

const FIELD_HINTS: Record<string, string> = {
  sensitive_scopes: 'a list of scopes such as ["publish", "write"] (lowercase letters, digits, _ . : -)',
  burst_per_minute: 'a whole number from 1 to 100000',
  probing_denials: 'a whole number from 1 to 1000',
  probing_window_minutes: 'a whole number of minutes from 1 to 1440',
  probing_lockout_minutes: 'a whole number of minutes from 1 to 10080',
  learning_days: 'a whole number of days from 1 to 365',
  actions: `an object mapping rules (${ANOMALY_RULE_IDS.join(', ')}) to an action`,
};

/**
 * Validates anomaly settings and merges them over {@link DEFAULT_ANOMALY_CONFIG}: every field is
 * optional (absent or `null` keeps the default), `actions` may name only some rules. Keys that
 * start with `$` (such as `$schema` in `policy.json`) are ignored.
 *
 * @param source names where the input came from, for the error message (e.g. `policy.json`).
 * @throws InvalidInputError listing every bad field with what it expects; `details.fields` holds
 *   their paths.
 */
export function parseAnomalyConfig(input: unknown, source = 'anomaly settings'): AnomalyConfig {
  if (input === undefined || input === null) {
    return cloneConfig(DEFAULT_ANOMALY_CONFIG);
  }
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidInputError(
      `Invalid ${source}: expected an object such as {"actions": {"first_use": "off"}, "burst_per_minute": 120}, got ${Array.isArray(input) ? 'an array' : `a ${typeof input}`}. Fix ${source} and reload.`,
      { fields: [] },
    );
  }
  const cleaned = Object.fromEntries(Object.entries(input).filter(([k]) => !k.startsWith('$')));
  const parsed = configSchema.safeParse(cleaned);
  if (!parsed.success) {
    const problems: string[] = [];
    const fields: string[] = [];
    for (const issue of parsed.error.issues) {
      const path = issue.path.map(String).join('.');
      if (issue.code === 'unrecognized_keys') {
        const where = path === '' ? '' : `${path}.`;
        const known = path === 'actions' ? ANOMALY_RULE_IDS : Object.keys(configSchema.shape);
        for (const key of issue.keys) {
          fields.push(`${where}${key}`);
          problems.push(`'${where}${key}' is not a known setting (known: ${known.join(', ')})`);
        }
        continue;
      }
      fields.push(path);
      problems.push(`'${path}' ${describeExpected(issue.path)}`);
    }
    throw new InvalidInputError(`Invalid ${source}: ${problems.join('; ')}. Fix ${source} and reload.`, {
      fields,
    });
  }
  const v = parsed.data;
  const actions = { ...DEFAULT_ANOMALY_CONFIG.actions };
  for (const id of ANOMALY_RULE_IDS) {
    const a = v.actions?.[id];
    if (a !== undefined && a !== null) {
      actions[id] = a;
    }
  }
  return {
    actions,
    sensitive_scopes: [...new Set(v.sensitive_scopes ?? DEFAULT_ANOMALY_CONFIG.sensitive_scopes)],
    burst_per_minute: v.burst_per_minute ?? DEFAULT_ANOMALY_CONFIG.burst_per_minute,
    probing_denials: v.probing_denials ?? DEFAULT_ANOMALY_CONFIG.probing_denials,
    probing_window_minutes: v.probing_window_minutes ?? DEFAULT_ANOMALY_CONFIG.probing_window_minutes,
    probing_lockout_minutes: v.probing_lockout_minutes ?? DEFAULT_ANOMALY_CONFIG.probing_lockout_minutes,
    learning_days: v.learning_days ?? DEFAULT_ANOMALY_CONFIG.learning_days,
  };
}

function describeExpected(path: PropertyKey[]): string {
  const [top, second] = path;
  if (top === 'actions' && second !== undefined) {
    return `must be one of ${ACTION_VALUES.map((a) => `'${a}'`).join(', ')}`;
  }
  if (top === 'sensitive_scopes' && second !== undefined) {
    return 'must be a scope: lowercase letters, digits and _ . : - (up to 64 characters)';
  }
  const hint = typeof top === 'string' ? FIELD_HINTS[top] : undefined;
  return hint ? `must be ${hint}` : 'is not valid';
}

function cloneConfig(c: AnomalyConfig): AnomalyConfig {
  return { ...c, actions: { ...c.actions }, sensitive_scopes: [...c.sensitive_scopes] };
}
