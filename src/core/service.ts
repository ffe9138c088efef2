/**
 * KeyringService: the one place where a request for a credential is decided.
 *
 * Order for every credential request (get_credential, http_request):
 *   identity (bearer token → agent) → policy (agent, scope) → anomaly rules → approval if held
 *   → durable audit line (fail-closed) → hand-over.
 * Denials are audited too and feed the probing rule. Values travel as {@link SecretValue} and are
 * revealed only at the hand-over (the tool result, or the upstream request of http_request).
 */
import { createHash, randomUUID } from 'node:crypto';
import type {
  CallContext,
  CredentialListing,
  GetCredentialArgs,
  GetCredentialResult,
  HttpRequestArgs,
  HttpRequestResult,
  InjectRequest,
  InjectedCredential,
  KeyringApi,
  RotateArgs,
  RotateResult,
} from './api';
import { AuditLog } from './audit/auditLog';
import { buildSecretMatcher, maskTrailingPrefix, redact } from './audit/redact';
import { RepeatAggregator } from './audit/repeatAggregator';
import { UpstreamClient } from './upstreamClient';
import {
  AuditUnavailableError,
  CredentialNotFoundError,
  InvalidInputError,
  KeyringError,
  NoGeneratorError,
  PolicyDeniedError,
  StoreError,
  UnauthorizedError,
  UpstreamError,
} from './errors';
import {
  CREDENTIAL_PLACEHOLDER,
  DEFAULT_GRACE_SECONDS,
  SecretValue,
  type AgentMeta,
  type AnomalyRuleId,
  type ApprovalOutcome,
  type AuditDecision,
  type AuditEventInput,
  type ClientInfo,
  type CredentialMeta,
  type CredentialName,
  type KeyringMetadata,
  type Lease,
  type RevealMode,
} from './model';
import {
  NO_APPROVER,
  type AlertSink,
  type Approver,
  type Clock,
  type Disposable,
  type Logger,
} from './ports';
import { MAX_GRACE_SECONDS, MAX_UPSTREAM_BODY_BYTES } from './limits';
import { AnomalyEngine, type Assessment, type RateCheck } from './policy/anomalyEngine';
import { ApprovalGrants, SESSION_GRANT } from './policy/approvalGrants';
import { canSee, checkAccess, checkHost, checkRotate } from './policy/policyEngine';
import { checkPlacement, checkRequestRules, findPlacements } from './policy/requestRules';
import { effectiveRevealMode, mustMaskOutput, revealDenied } from './policy/revealMode';
import type { CredentialStore } from './store/credentialStore';
import { type LeaseFilter, type LeaseStore, MemoryLeaseStore } from './store/leaseStore';

const HOUR_MS = 3_600_000;
const UPSTREAM_TIMEOUT_MS = 30_000;
/** Agent-supplied `reason` is kept in the audit log, bounded. */
const MAX_REASON_CHARS = 500;
/** Each field of an agent's client info (name, version, conversation id) is cut to this length. */
const MAX_CLIENT_FIELD_CHARS = 128;
/** Repeated refusals and failed authentications are aggregated per kind over this window. */
const AGGREGATE_WINDOW_MS = 60_000;
/** Kinds of repeated events tracked per window (bounded memory and lines). */
const MAX_AGGREGATE_KEYS = 1000;

/** Why a bearer token was refused, for {@link KeyringService.recordAuthFailure}. */
export type AuthFailureKind = 'unknown' | 'revoked';

export interface KeyringServiceDeps {
  store: CredentialStore;
  audit: AuditLog;
  anomaly: AnomalyEngine;
  clock: Clock;
  logger: Logger;
  /** Asks the human; headless there is none, so `approve` rules deny with `approval_denied`. */
  approver?: Approver;
  /** Told about `alert`/`deny`/`approve` outcomes of anomaly rules. */
  alerts?: AlertSink;
  /** Grants remembered from "Allow for 1 hour"; shared with the editor's UI. */
  grants?: ApprovalGrants;
  /** Where leases are kept (default: this process's memory). */
  leases?: LeaseStore;
  /** For http_request; injectable for tests. Without it: node:http(s) with keep-alive (upstreamClient.ts). */
  fetch?: typeof fetch;
  /** How long http_request waits for the upstream's answer, body included (default 30 s). */
  upstreamTimeoutMs?: number;
}

/** What #decide checks besides policy and anomaly rules, for one kind of request. */
interface DecideOptions {
  /**
   * get_credential (`true`): the value is handed to the agent, so the reveal mode applies in full;
   * an in-process `agent-keyring run` (`'inject'`): `never` is allowed (output masked), `approve` asks.
   */
  reveal?: boolean | 'inject';
  /** Request-specific checks (host, method/path rules, placement) run before any approval is asked. */
  precheck?: (cred: CredentialMeta) => void;
  /** What will happen, for the approval prompt (never a value). */
  action: string;
}

/** Who made a change, as the audit log names it: `cli`, `vscode-user`, or an agent id. */
export type Actor = string;

interface Decided {
  agent: AgentMeta;
  cred: CredentialMeta;
  decision: AuditDecision;
  rules: AnomalyRuleId[];
  /** Set when the request was held for approval: how it was allowed. */
  approval?: ApprovalOutcome;
}

export class KeyringService implements KeyringApi, Disposable {
  readonly #store: CredentialStore;
  readonly #audit: AuditLog;
  readonly #anomaly: AnomalyEngine;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #approver: Approver;
  readonly #alerts: AlertSink | undefined;
  readonly #grants: ApprovalGrants;
  readonly #fetch: typeof fetch | undefined;
  readonly #upstream = new UpstreamClient();
  readonly #upstreamTimeoutMs: number;
  readonly #leases: LeaseStore;
  readonly #rotateListeners = new Set<(name: CredentialName) => void>();
  readonly #revokeListeners = new Set<(agentId: string) => void>();
  /** Last version seen per credential, to notice rotations made by other processes/windows. */
  #knownVersions = new Map<CredentialName, { created: string; version: number }>();
  readonly #disposables: Disposable[] = [];
  /** Refusals (of authenticated agents) and failed authentications, aggregated per kind and window. */
  readonly #denials: RepeatAggregator;
  readonly #authFailures: RepeatAggregator;
  /** Current value of every credential, by name, as of {@link #valuesDoc} (for redaction only). */
  #values = new Map<CredentialName, { version: number; value: string }>();
  #valuesDoc: KeyringMetadata | undefined;
  #knownValuesFor: Map<CredentialName, { version: number; value: string }> | undefined;
  #knownValuesList: readonly string[] = [];
  #valuesMatcher:
    { values: Map<CredentialName, { version: number; value: string }>; re: RegExp | undefined } | undefined;

  constructor(deps: KeyringServiceDeps) {
    this.#store = deps.store;
    this.#audit = deps.audit;
    this.#anomaly = deps.anomaly;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#approver = deps.approver ?? NO_APPROVER;
    this.#alerts = deps.alerts;
    this.#grants = deps.grants ?? new ApprovalGrants(deps.clock);
    this.#leases = deps.leases ?? new MemoryLeaseStore(deps.clock);
    this.#fetch = deps.fetch;
    this.#disposables.push({ dispose: () => this.#upstream.dispose() });
    this.#upstreamTimeoutMs = deps.upstreamTimeoutMs ?? UPSTREAM_TIMEOUT_MS;
    this.#disposables.push(this.#store.onDidChange(() => void this.#noticeRotations()));
    this.#disposables.push(this.#store.onDidChange(() => void this.#dropStaleGrants()));
    const write = async (e: AuditEventInput): Promise<void> => {
      await this.#auditBestEffort(e);
    };
    this.#denials = new RepeatAggregator({
      clock: deps.clock,
      logger: deps.logger,
      windowMs: AGGREGATE_WINDOW_MS,
      maxKeys: MAX_AGGREGATE_KEYS,
      write,
      overflowEvent: (count, first, last) => ({
        ...blankEvent('refusals', 'deny'),
        code: 'aggregated',
        reason: `${count} more refusals of other kinds from ${iso(first)} to ${iso(last)} (too many kinds to list one by one).`,
      }),
    });
    this.#authFailures = new RepeatAggregator({
      clock: deps.clock,
      logger: deps.logger,
      windowMs: AGGREGATE_WINDOW_MS,
      maxKeys: MAX_AGGREGATE_KEYS,
      write,
      overflowEvent: (count, first, last) => ({
        ...blankEvent('auth', 'deny'),
        code: 'unauthorized',
        reason: `${count} more refused bearer tokens from ${iso(first)} to ${iso(last)} (too many different tokens to list one by one).`,
      }),
    });
    this.#disposables.push(this.#denials, this.#authFailures);
  }

  /** Writes the pending summaries of aggregated refusals (call before closing the audit log). */
  async flushAggregated(): Promise<void> {
    await Promise.all([this.#denials.flush(), this.#authFailures.flush()]);
  }

  /**
   * Records a request refused for its bearer token (the HTTP host's 401), so an operator sees a
   * revoked or unknown agent still knocking. Never the token: a token of a revoked agent is
   * recorded under that agent's id, any other under the first 12 hex digits of its SHA-256.
   * Aggregated: one line per token (or agent) and kind per minute, with a count. Never throws.
   * @param remote the peer address, for the line's reason (e.g. `127.0.0.1`).
   */
  async recordAuthFailure(kind: AuthFailureKind, token: string | undefined, remote?: string): Promise<void> {
    try {
      let agentId: string | null = null;
      let who = 'no token';
      if (typeof token === 'string' && token !== '') {
        const found = await this.#store.agentForToken(token);
        if (found) {
          agentId = found.id;
          kind = found.revoked_at ? 'revoked' : kind;
          who = `the ${kind === 'revoked' ? 'revoked ' : ''}token of agent '${found.id}'`;
        } else {
          who = `a token with SHA-256 prefix ${tokenFingerprint(token)}`;
        }
      }
      const from = remote ? ` from ${String(remote).slice(0, 64)}` : '';
      const event: AuditEventInput = {
        ...blankEvent('auth', 'deny'),
        agent_id: agentId,
        code: 'unauthorized',
        reason: `Refused ${who} (${kind})${from}.`,
      };
      await this.#authFailures.record(`${kind}\0${agentId ?? who}`, event);
    } catch (e) {
      this.#logger.warn('Could not record a refused bearer token', e);
    }
  }

  /** Call once after construction: remembers current versions so foreign rotations are noticed. */
  async init(): Promise<void> {
    const meta = await this.#store.snapshot();
    this.#knownVersions = new Map(
      Object.values(meta.credentials).map((c) => [c.name, { created: c.created_at, version: c.version }]),
    );
  }

  dispose(): void {
    for (const d of this.#disposables.splice(0)) {
      d.dispose();
    }
    this.#rotateListeners.clear();
    this.#revokeListeners.clear();
  }

  onDidChangeMetadata(listener: () => void): Disposable {
    return this.#store.onDidChange(listener);
  }

  onDidRotate(listener: (name: CredentialName) => void): Disposable {
    this.#rotateListeners.add(listener);
    return { dispose: () => this.#rotateListeners.delete(listener) };
  }

  onDidRevokeAgent(listener: (agentId: string) => void): Disposable {
    this.#revokeListeners.add(listener);
    return { dispose: () => this.#revokeListeners.delete(listener) };
  }

  // ---------------------------------------------------------------- agents' API (MCP tools)

  async authenticate(token: string): Promise<AgentMeta | undefined> {
    const agent = await this.#store.authenticate(token);
    if (agent) {
      void this.#store
        .markSeen(agent.id, this.#clock.now())
        .catch((e: unknown) => this.#logger.warn('Could not record last_seen_at', e));
    }
    return agent;
  }

  async getCredential(ctx: CallContext, args: GetCredentialArgs): Promise<GetCredentialResult> {
    // `agent-keyring run` through the server asks with get_credential and says so in `_meta`. Over
    // the wire that is still a reveal (any holder of the token could send the same `_meta`), so the
    // reveal mode applies in full; only an in-process run (injectCredentials) may inject a `never` key.
    const tool = ctx.run ? 'run' : 'get_credential';
    const d = await this.#decide(ctx, tool, args.name, args.scope, args.agent_id, args.reason, {
      reveal: true,
      action: ctx.run
        ? `start '${ctx.run.command}' with the value of '${args.name}' in its environment (agent-keyring run)`
        : `hand the value of '${args.name}' to the agent (get_credential)`,
    });
    return this.#release(ctx, tool, d, args);
  }

  /**
   * `agent-keyring run` (in-process, with the local store): every key goes through the same
   * decision as get_credential, audited as `tool: run` with the command's name. All or nothing:
   * every key is decided before any is released, so a refusal of one releases none (and the
   * caller never starts the command). A key whose reveal mode is `never` may be injected, with the
   * command's output masked whatever the flags say (`mustMask`); `approve` asks as for a reveal.
   * @throws the first refusal (a {@link KeyringError}), after auditing it.
   */
  async injectCredentials(
    ctx: CallContext,
    requests: readonly InjectRequest[],
    opts: { command: string },
  ): Promise<InjectedCredential[]> {
    const runCtx: CallContext = { ...ctx, run: { command: opts.command } };
    const decided: Array<{ d: Decided; req: InjectRequest }> = [];
    for (const req of requests) {
      decided.push({
        d: await this.#decide(runCtx, 'run', req.name, req.scope, undefined, undefined, {
          reveal: 'inject',
          action: `start '${opts.command}' with the value of '${req.name}' in its environment (agent-keyring run)`,
        }),
        req,
      });
    }
    const out: InjectedCredential[] = [];
    for (const { d, req } of decided) {
      const r = await this.#release(runCtx, 'run', d, { name: req.name, scope: req.scope });
      out.push({
        name: r.name,
        scope: r.scope,
        value: r.value,
        version: r.version,
        lease_id: r.lease_id,
        mustMask: mustMaskOutput(d.cred, d.agent.id),
      });
    }
    return out;
  }

  /** The hand-over after a positive decision: value, lease, fail-closed audit line. */
  async #release(
    ctx: CallContext,
    tool: string,
    d: Decided,
    args: GetCredentialArgs,
  ): Promise<GetCredentialResult> {
    const value = await this.#readCurrentValue(d.cred);
    const now = this.#clock.now();
    const lease = this.#issueLease(d.agent.id, d.cred, args.scope, now);
    const reason = ctx.run
      ? `run ${boundedCommand(ctx.run.command)}${args.reason ? `: ${args.reason}` : ''}`
      : args.reason;
    await this.#auditRelease({
      agent_id: d.agent.id,
      claimed_agent_id: args.agent_id ?? null,
      credential: d.cred.name,
      scope: args.scope,
      tool,
      decision: d.decision,
      code: null,
      reason: this.#cleanReason(reason, value),
      lease_id: lease.lease_id,
      version: d.cred.version,
      value_fingerprint: await this.#audit.fingerprint(value),
      client: this.#client(ctx),
      rules: d.rules,
      ...(d.approval ? { approval: d.approval } : {}),
    });
    // After the audit line (the record of the hand-out) is durable; a team store writes it batched.
    this.#leases.add(lease);
    await this.#afterRelease(d.agent, d.cred, now);
    return {
      name: d.cred.name,
      scope: args.scope,
      value,
      version: d.cred.version,
      lease_id: lease.lease_id,
      expires_in: d.cred.ttl_seconds,
      expires_at: lease.expires_at,
    };
  }

  async listCredentials(ctx: CallContext): Promise<CredentialListing[]> {
    const agent = await this.#requireAgent(ctx.agentId);
    const meta = await this.#store.snapshot();
    // Before anything is audited: agent-supplied text is redacted against the current values.
    if (this.#valuesDoc !== meta) {
      await this.#refreshValues(meta);
    }
    const listing = Object.values(meta.credentials)
      .filter((c) => canSee(c, agent.id))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((c) => ({
        name: c.name,
        description: c.description,
        scopes: [...c.allowed_scopes],
        version: c.version,
        rotated_at: c.versions[c.versions.length - 1]?.created_at ?? c.created_at,
      }));
    await this.#auditBestEffort({
      ...blankEvent('list_credentials', 'listed'),
      agent_id: agent.id,
      client: this.#client(ctx),
    });
    return listing;
  }

  async toolsFor(agentId: string): Promise<ReadonlySet<string>> {
    const meta = await this.#store.snapshot();
    const tools = new Set<string>(['list_credentials']);
    for (const c of Object.values(meta.credentials)) {
      if (!canSee(c, agentId)) {
        continue;
      }
      if (effectiveRevealMode(c, agentId) !== 'never') {
        tools.add('get_credential');
      }
      if (c.allowed_hosts?.length) {
        tools.add('http_request');
      }
      if (c.rotation_agents?.includes(agentId)) {
        tools.add('rotate_credential');
      }
    }
    return tools;
  }

  async describeCredential(agentId: string, name: CredentialName): Promise<CredentialMeta | undefined> {
    const cred = await this.#store.getCredential(name);
    return cred && canSee(cred, agentId) ? structuredClone(cred) : undefined;
  }

  /**
   * An agent rotating a credential: only those listed in `rotation_agents`, after the rate rules
   * (burst, probing lockout) as for a reveal. Fail-closed like a reveal: the decision is durable in
   * the audit log before the rotation happens.
   */
  async rotateCredential(ctx: CallContext, args: RotateArgs): Promise<RotateResult> {
    const meta = await this.#store.snapshot();
    const agent = await this.#requireAgent(ctx.agentId, meta);
    // Before anything is audited: agent-supplied text is redacted against the current values.
    if (this.#valuesDoc !== meta) {
      await this.#refreshValues(meta);
    }
    const rate = this.#anomaly.checkRate(agent.id);
    if (rate.assessment.action === 'deny') {
      await this.#refuseByRate(rate, ctx, agent, 'rotate_credential', args.name, null, null);
    }
    const cred = ownEntry(meta.credentials, args.name);
    try {
      if (!cred || !canSee(cred, agent.id)) {
        throw new CredentialNotFoundError(args.name);
      }
      checkRotate(cred, agent.id);
      if (!args.new_value && !cred.rotation?.generator) {
        throw new NoGeneratorError(args.name);
      }
    } catch (e) {
      await this.#recordDenial(agent.id, null, args.name, null, 'rotate_credential', e, ctx);
      throw e;
    }
    await this.#auditRelease({
      ...blankEvent('rotate_credential', 'allow'),
      agent_id: agent.id,
      credential: cred.name,
      version: cred.version,
      reason: `rotation of version ${cred.version} requested by agent '${agent.id}'`,
      client: this.#client(ctx),
    });
    this.#anomaly.recordDecision(agent.id, false);
    return this.rotate(
      args.name,
      { value: args.new_value, graceSeconds: args.grace_seconds, actor: agent.id },
      ctx,
    );
  }

  async httpRequest(ctx: CallContext, args: HttpRequestArgs): Promise<HttpRequestResult> {
    // Where the placeholder may go: the URL's path/query and header values — never the host.
    const probe = parseHttpUrl(args.url.split(CREDENTIAL_PLACEHOLDER).join('placeholder'));
    if (probe.host.includes('placeholder')) {
      throw new InvalidInputError(
        `The ${CREDENTIAL_PLACEHOLDER} placeholder may appear in the URL's path or query or in a header value, not in the host.`,
      );
    }
    const placements = findPlacements(args.url, args.headers);
    const d = await this.#decide(
      ctx,
      'http_request',
      args.credential,
      args.scope,
      args.agent_id,
      args.reason,
      {
        // Host, method/path and placement are checked before anyone is asked to approve.
        precheck: (cred) => {
          checkHost(cred, probe);
          checkPlacement(cred, placements);
          checkRequestRules(cred, args.scope, args.method, probe, this.#anomaly.config.sensitive_scopes);
        },
        action: `${args.method} ${boundedText(args.url, 300)}`,
      },
    );
    const value = await this.#readCurrentValue(d.cred);
    const raw = value.reveal();
    const url = args.url.split(CREDENTIAL_PLACEHOLDER).join(encodeURIComponent(raw));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(args.headers ?? {})) {
      headers[k] = v.split(CREDENTIAL_PLACEHOLDER).join(raw);
    }
    if (Object.values(headers).some((v) => /[\r\n\0]/.test(v))) {
      throw new InvalidInputError(
        `Credential '${d.cred.name}' cannot go into a header: its value contains a line break. Use get_credential instead.`,
      );
    }
    const now = this.#clock.now();
    // Fail-closed: the audit line is durable before the value leaves the process.
    await this.#auditRelease({
      agent_id: d.agent.id,
      claimed_agent_id: args.agent_id ?? null,
      credential: d.cred.name,
      scope: args.scope,
      tool: 'http_request',
      decision: d.decision,
      code: null,
      reason: this.#cleanReason(
        args.reason ? `${args.method} ${probe.host}: ${args.reason}` : `${args.method} ${probe.host}`,
        value,
      ),
      lease_id: null,
      version: d.cred.version,
      value_fingerprint: await this.#audit.fingerprint(value),
      client: this.#client(ctx),
      rules: d.rules,
      ...(d.approval ? { approval: d.approval } : {}),
    });
    await this.#afterRelease(d.agent, d.cred, now);
    const secrets = [raw];
    const failed = (e: unknown): UpstreamError => {
      const cause =
        e instanceof Error ? ((e.cause as { code?: string } | undefined)?.code ?? e.name) : 'unknown error';
      return new UpstreamError(
        `The request to ${probe.host} failed (${redact(String(cause), secrets)}). Check that the service is reachable and answers within ${Math.round(this.#upstreamTimeoutMs / 1000)} s, then retry.`,
      );
    };
    const requestBody =
      args.body === undefined || args.method === 'GET' || args.method === 'HEAD' ? undefined : args.body;
    // Read past the cut by more than any encoded form of the key is long, so a key straddling the
    // cut is redacted whole before the cut is made.
    const slack = 6 * Buffer.byteLength(raw) + 64;
    let answer: {
      status: number;
      headers: Array<[string, string]>;
      body: Awaited<ReturnType<typeof readBounded>>;
    };
    if (this.#fetch) {
      let response: Response;
      try {
        response = await this.#fetch(url, {
          method: args.method,
          headers,
          body: requestBody,
          redirect: 'manual',
          signal: AbortSignal.timeout(this.#upstreamTimeoutMs),
        });
      } catch (e) {
        throw failed(e);
      }
      let body: Awaited<ReturnType<typeof readBounded>>;
      try {
        body = await readBounded(response, MAX_UPSTREAM_BODY_BYTES, slack);
      } catch (e) {
        // A stalled or broken body (timeout, reset) is the upstream's failure, not ours.
        throw failed(e);
      }
      const list: Array<[string, string]> = [];
      response.headers.forEach((v, k) => list.push([k, v]));
      answer = { status: response.status, headers: list, body };
    } else {
      try {
        answer = await this.#upstream.request({
          url,
          method: args.method,
          headers,
          body: requestBody,
          timeoutMs: this.#upstreamTimeoutMs,
          maxBytes: MAX_UPSTREAM_BODY_BYTES,
          slack,
        });
      } catch (e) {
        // Unreachable, refused, reset, or a stalled answer (timeout): the upstream's failure.
        throw failed(e);
      }
    }
    const outHeaders: Record<string, string> = {};
    for (const [k, v] of answer.headers) {
      let name = redact(k, secrets);
      while (Object.hasOwn(outHeaders, name)) {
        name = `${name}_`;
      }
      outHeaders[name] = redact(v, secrets);
    }
    return { status: answer.status, headers: outHeaders, body: cutRedacted(answer.body, secrets) };
  }

  // ---------------------------------------------------------------- the human's API (CLI, editor)

  /**
   * Rotates `name` to `value` (or a generated one). The new version is current at once; the
   * previous one stays valid for `graceSeconds`. Audited as `rotated`; listeners are told.
   */
  async rotate(
    name: CredentialName,
    opts: { value?: SecretValue; graceSeconds?: number; actor: Actor },
    ctx?: CallContext,
  ): Promise<RotateResult & { audit_warning?: string }> {
    const cred = await this.#store.getCredential(name);
    if (!cred) {
      throw new CredentialNotFoundError(name);
    }
    let value = opts.value;
    if (!value) {
      if (!cred.rotation?.generator) {
        throw new NoGeneratorError(name);
      }
      value = this.#store.generateValue(cred.rotation.generator);
    }
    const graceSeconds = opts.graceSeconds ?? DEFAULT_GRACE_SECONDS;
    if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_GRACE_SECONDS) {
      throw new InvalidInputError(
        `grace_seconds must be a whole number of seconds from 0 to ${MAX_GRACE_SECONDS} (30 days).`,
      );
    }
    const result = await this.#store.rotate(name, { value, graceSeconds, actor: opts.actor });
    // Listeners hear of the new version from the one source of rotation events (the store's
    // change), which is awaited here so they are told before this returns.
    await this.#noticeRotations();
    // An agent's rotation was made durable (fail-closed) before it happened; this line records the
    // outcome. A human's rotation is best effort: it happens, and the caller is warned.
    const audited = await this.#auditBestEffort({
      ...blankEvent(ctx ? 'rotate_credential' : 'rotate', 'rotated'),
      agent_id: ctx?.agentId ?? null,
      credential: name,
      version: result.version,
      reason: `rotated by ${opts.actor}; previous version ${result.previous_version} valid until ${result.previous_valid_until ?? 'now'}`,
      // Best effort like the rest of this line: without the audit key the rotation is still recorded.
      value_fingerprint: await this.#audit.fingerprint(value).catch(() => null),
      client: ctx ? this.#client(ctx) : { name: opts.actor },
    });
    if (!audited && !ctx) {
      const warning = `'${name}' was rotated to version ${result.version}, but the audit log could not record it. Check the disk and the audit file's permissions.`;
      this.#logger.warn(warning);
      return { ...result, audit_warning: warning };
    }
    return result;
  }

  /**
   * Revokes an agent: its token stops working, its leases are marked revoked, and it is removed
   * from every credential's `allowed_agents` and `rotation_agents` (re-adding the id starts with no
   * grants). @returns the credentials it was removed from.
   */
  async revokeAgent(id: string, actor: Actor): Promise<{ removedFrom: CredentialName[] }> {
    const revoked = await this.#store.revokeAgent(id);
    const removedFrom = revoked.removed_from ?? [];
    const now = new Date(this.#clock.now()).toISOString();
    // The token is already refused everywhere; a lease list that cannot be marked is logged, not fatal.
    await this.#leases
      .revokeAgent(id, now)
      .catch((e: unknown) => this.#logger.warn(`Could not mark the leases of '${id}' revoked`, e));
    this.#grants.revokeAgent(id);
    for (const listener of [...this.#revokeListeners]) {
      try {
        listener(id);
      } catch (e) {
        this.#logger.warn('A revocation listener failed', e);
      }
    }
    await this.#auditBestEffort({
      ...blankEvent('revoke_agent', 'agent_revoked'),
      agent_id: id,
      reason:
        `revoked by ${actor}` +
        (removedFrom.length > 0 ? `; removed from the grants of ${removedFrom.join(', ')}` : ''),
    });
    return { removedFrom };
  }

  /**
   * Leases handed out (oldest first), for views and the CLI: this process's with a file store,
   * every server's with a team store.
   * @throws StoreError when a team store cannot be read.
   */
  leases(filter?: LeaseFilter): Promise<Lease[]> {
    return this.#leases.list(filter);
  }

  /** Records a human's administrative action (credential added, agent added …) in the audit log. */
  async recordAdmin(
    tool: string,
    decision: AuditDecision,
    fields: { credential?: string; agent_id?: string; version?: number; reason?: string; actor: Actor },
  ): Promise<void> {
    await this.#auditBestEffort({
      ...blankEvent(tool, decision),
      agent_id: fields.agent_id ?? null,
      credential: fields.credential ?? null,
      version: fields.version ?? null,
      reason: fields.reason ?? `by ${fields.actor}`,
      client: { name: fields.actor },
    });
  }

  // ---------------------------------------------------------------- internals

  /** @param meta a snapshot already taken for this request (one store revalidation per request). */
  async #requireAgent(agentId: string, meta?: KeyringMetadata): Promise<AgentMeta> {
    const agent = meta ? ownEntry(meta.agents, agentId) : await this.#store.getAgent(agentId);
    if (!agent || agent.revoked_at) {
      throw new UnauthorizedError(
        `Agent '${agentId}' is unknown or revoked. Ask the user for a new token (Connect Agent… in VS Code, or 'agent-keyring agent add').`,
      );
    }
    return agent;
  }

  /** Policy, then anomaly rules, then approval. Throws (after auditing) on any refusal. */
  async #decide(
    ctx: CallContext,
    tool: string,
    name: CredentialName,
    scope: string,
    claimedAgentId: string | undefined,
    reason: string | undefined,
    opts: DecideOptions,
  ): Promise<Decided> {
    const meta = await this.#store.snapshot();
    const agent = await this.#requireAgent(ctx.agentId, meta);
    // Before anything is audited: agent-supplied text is redacted against the current values.
    if (this.#valuesDoc !== meta) {
      await this.#refreshValues(meta);
    }
    // Rate rules first: a hammering or locked-out agent is refused whatever it asks for.
    const rate = this.#anomaly.checkRate(agent.id);
    if (rate.assessment.action === 'deny') {
      await this.#refuseByRate(rate, ctx, agent, tool, name, scope, claimedAgentId ?? null);
    }
    const cred = ownEntry(meta.credentials, name);
    let revealMode: RevealMode = 'allow';
    try {
      const c = checkAccess(cred, name, agent.id, scope);
      if (opts.reveal) {
        revealMode = effectiveRevealMode(c, agent.id);
        if (revealMode === 'never' && opts.reveal !== 'inject') {
          throw revealDenied(c, scope);
        }
      }
      opts.precheck?.(c);
    } catch (e) {
      await this.#recordDenial(agent.id, claimedAgentId ?? null, name, scope, tool, e, ctx);
      // A credential granted to others answers exactly like one that does not exist (no oracle);
      // the audit line above keeps the true reason for the operator.
      throw e instanceof KeyringError && e.code === 'agent_denied' ? new CredentialNotFoundError(name) : e;
    }
    const c = cred as CredentialMeta;
    const assessment = this.#anomaly.assess(
      { agent, credential: c, scope, claimedAgentId: claimedAgentId ?? null },
      rate,
    );
    const rules = assessment.fired.map((f) => f.rule);
    // The reveal mode `approve` holds the request like an `approve` rule does (one prompt for both).
    const action = revealMode === 'approve' && assessment.action !== 'deny' ? 'approve' : assessment.action;
    switch (action) {
      case 'allow':
        return { agent, cred: c, decision: 'allow', rules };
      case 'alert':
        this.#notify(agent.id, c.name, scope, assessment, 'alert');
        return { agent, cred: c, decision: 'allow', rules };
      case 'deny': {
        this.#notify(agent.id, c.name, scope, assessment, 'deny');
        const err = new PolicyDeniedError(
          assessment.code ?? 'anomaly_denied',
          assessment.message ?? describeFired(assessment),
          {
            credential: c.name,
            scope,
            rules,
            ...(assessment.retry_after_seconds !== undefined
              ? { retry_after_seconds: assessment.retry_after_seconds }
              : {}),
          },
        );
        await this.#recordDenial(agent.id, claimedAgentId ?? null, c.name, scope, tool, err, ctx, rules);
        throw err;
      }
      case 'approve': {
        if (this.#grants.has(agent.id, c.name, scope, tool)) {
          return { agent, cred: c, decision: 'approved', rules, approval: 'grant' };
        }
        const byReveal = revealMode === 'approve';
        const why = [
          ...(byReveal
            ? [`'${c.name}' asks the user before each reveal (reveal mode approve) for this agent.`]
            : []),
          ...(assessment.action === 'approve' ? [describeFired(assessment)] : []),
        ].join(' ');
        if (assessment.action === 'approve' || assessment.action === 'alert') {
          // A reveal held only by its mode is not an anomaly; rules that fired are still told.
          this.#notify(agent.id, c.name, scope, assessment, assessment.action);
        }
        const statedReason = reason === undefined ? null : this.#redactAll(reason.slice(0, MAX_REASON_CHARS));
        const headless = this.#approver === NO_APPROVER;
        const answer = await this.#approver.ask({
          agent_id: agent.id,
          agent_label: agent.label,
          credential: c.name,
          scope,
          at: this.#clock.now(),
          reason: statedReason,
          rules,
          tool,
          action: opts.action,
          ...(byReveal ? { because: 'reveal mode approve' } : {}),
        });
        if (answer === 'deny' || answer === 'timeout') {
          const change = byReveal
            ? `to change the reveal mode of '${c.name}' (agent-keyring credential edit ${c.name} --reveal-for ${agent.id}=allow), or use http_request instead`
            : approvalRuleChange(assessment.fired.filter((f) => f.action === 'approve').map((f) => f.rule));
          const err = new PolicyDeniedError(
            'approval_denied',
            headless
              ? `'${scope}' on '${c.name}' needs the user's approval (${why}), and this server has no one to ask. Ask the user to run the request from VS Code, or ${change}.`
              : `The user denied '${scope}' on '${c.name}' (or did not answer in time). Do not retry without asking the user.`,
            { credential: c.name, scope, rules },
          );
          await this.#recordDenial(agent.id, claimedAgentId ?? null, c.name, scope, tool, err, ctx, rules, {
            statedReason,
            approval: headless ? 'no_approver' : answer,
          });
          throw err;
        }
        if (answer === 'hour') {
          this.#grants.grant(agent.id, c.name, scope, this.#clock.now() + HOUR_MS, tool);
        } else if (answer === 'session') {
          this.#grants.grant(agent.id, c.name, scope, SESSION_GRANT, tool);
        }
        return { agent, cred: c, decision: 'approved', rules, approval: answer };
      }
    }
  }

  /** Refuses a request the rate rules (burst, probing lockout) deny: audits (aggregated), then throws. */
  async #refuseByRate(
    rate: RateCheck,
    ctx: CallContext,
    agent: AgentMeta,
    tool: string,
    name: string,
    scope: string | null,
    claimedAgentId: string | null,
  ): Promise<never> {
    const a = rate.assessment;
    this.#notify(agent.id, name, scope ?? '', a, 'deny');
    const err = new PolicyDeniedError(a.code ?? 'anomaly_denied', a.message ?? describeFired(a), {
      credential: name,
      ...(scope !== null ? { scope } : {}),
      rules: a.fired.map((f) => f.rule),
      ...(a.retry_after_seconds !== undefined ? { retry_after_seconds: a.retry_after_seconds } : {}),
    });
    await this.#recordDenial(
      agent.id,
      claimedAgentId,
      name,
      scope,
      tool,
      err,
      ctx,
      a.fired.map((f) => f.rule),
    );
    throw err;
  }

  /** @param cred from the request's snapshot (taken in #decide): the metadata is not re-read. */
  async #readCurrentValue(cred: CredentialMeta): Promise<SecretValue> {
    const value = await this.#store.readVersionValue(cred.name, cred.version);
    if (!value) {
      throw new StoreError(
        `The value of '${cred.name}' (version ${cred.version}) is missing from the secret store. Ask the user to rotate it to set a new value.`,
      );
    }
    return value;
  }

  #issueLease(agentId: string, cred: CredentialMeta, scope: string, now: number): Lease {
    return {
      lease_id: `lease_${randomUUID()}`,
      agent_id: agentId,
      credential: cred.name,
      version: cred.version,
      scope,
      issued_at: new Date(now).toISOString(),
      expires_at: new Date(now + cred.ttl_seconds * 1000).toISOString(),
    };
  }

  async #afterRelease(agent: AgentMeta, cred: CredentialMeta, now: number): Promise<void> {
    this.#anomaly.recordDecision(agent.id, false);
    this.#anomaly.observe(agent.id, now);
    if (!agent.first_used?.[cred.name]) {
      await this.#store
        .recordFirstUse(agent.id, cred.name, now)
        .catch((e: unknown) => this.#logger.warn('Could not record first use', e));
    }
  }

  /** Fail-closed write: if the line is not durable, the caller must not release anything. */
  async #auditRelease(event: AuditEventInput): Promise<void> {
    try {
      await this.#audit.append(event);
    } catch (e) {
      this.#logger.error(
        `Audit write failed; credential '${event.credential}' not released.`,
        e instanceof KeyringError ? e.code : e,
      );
      throw new AuditUnavailableError();
    }
  }

  /** @returns whether the line was written. */
  async #auditBestEffort(event: AuditEventInput): Promise<boolean> {
    try {
      await this.#audit.append(event);
      return true;
    } catch (e) {
      this.#logger.error(
        `Audit write failed for a '${event.decision}' event.`,
        e instanceof KeyringError ? e.code : e,
      );
      return false;
    }
  }

  /**
   * Audits a refusal (aggregated: repeats of the same refusal within a minute become one summary
   * line with a count; a person's `approval_denied` is always written in full) and feeds the probing rule — except `rate_limited`, which is not probing (a
   * client that retries on it must not lock itself out).
   */
  async #recordDenial(
    agentId: string,
    claimed: string | null,
    credential: string,
    scope: string | null,
    tool: string,
    e: unknown,
    ctx: CallContext,
    rules: AnomalyRuleId[] = [],
    held?: { statedReason: string | null; approval: ApprovalOutcome },
  ): Promise<void> {
    const code = e instanceof KeyringError ? e.code : 'internal_error';
    const refusal = e instanceof KeyringError ? this.#redactAll(e.message.slice(0, MAX_REASON_CHARS)) : null;
    if (code !== 'rate_limited') {
      this.#anomaly.recordDecision(agentId, true);
    }
    const event: AuditEventInput = {
      ...blankEvent(tool, 'deny'),
      agent_id: agentId,
      claimed_agent_id: claimed === null ? null : this.#redactAll(claimed),
      credential: this.#redactAll(credential),
      scope: scope === null ? null : this.#redactAll(scope),
      code,
      // A request held for approval keeps the agent's stated reason; the refusal text moves to
      // `refusal` (other denials: `reason` is the refusal text, as on older lines).
      reason: held?.statedReason ?? refusal,
      ...(held?.statedReason && refusal !== null ? { refusal } : {}),
      ...(held ? { approval: held.approval } : {}),
      client: this.#client(ctx),
      rules,
    };
    if (code === 'approval_denied') {
      // A person's answer (or its timeout): each one is recorded in full, never aggregated.
      await this.#auditBestEffort(event);
      return;
    }
    // Rate refusals are one kind whatever was asked; others are per credential and scope.
    const rated = code === 'rate_limited' || rules.includes('probing');
    const key = rated
      ? `${agentId}\0${tool}\0${code}`
      : `${agentId}\0${tool}\0${code}\0${event.credential}\0${event.scope}\0${claimed}`;
    await this.#denials.record(key, event);
  }

  #notify(
    agentId: string,
    credential: string,
    scope: string,
    a: Assessment,
    action: 'alert' | 'deny' | 'approve',
  ): void {
    try {
      this.#alerts?.alert({
        agent_id: agentId,
        credential,
        scope,
        rules: a.fired.map((f) => f.rule),
        action,
        message: describeFired(a),
      });
    } catch (e) {
      this.#logger.warn('Alert sink failed', e);
    }
  }

  #cleanReason(reason: string | undefined, value: SecretValue): string | null {
    if (reason === undefined) {
      return null;
    }
    return this.#redactAll(redact(reason.slice(0, MAX_REASON_CHARS), [value.reveal()]));
  }

  /**
   * Agent-supplied text with every current credential value (raw, URL-encoded, base64) replaced
   * by `[REDACTED]`: an agent's reason, client info or a name it asked for may carry another
   * credential's value, which must not reach the audit log or its exports.
   */
  #redactAll(text: string): string {
    const cache = this.#valuesMatcher;
    let re: RegExp | undefined;
    if (cache?.values === this.#values) {
      re = cache.re;
    } else {
      re = buildSecretMatcher([...this.#values.values()].map((v) => v.value));
      this.#valuesMatcher = { values: this.#values, re };
    }
    if (!re) {
      return text;
    }
    re.lastIndex = 0;
    return re.test(text)
      ? redact(
          text,
          [...this.#values.values()].map((v) => v.value),
        )
      : text;
  }

  /** The caller's client info, bounded and with every current value redacted. */
  #client(ctx: CallContext): ClientInfo | null {
    const c = ctx.client;
    if (!c) {
      return null;
    }
    const out: ClientInfo = {};
    for (const k of ['name', 'version', 'conversation_id'] as const) {
      const v = c[k];
      if (v !== undefined && v !== null) {
        out[k] = this.#redactAll(String(v).slice(0, MAX_CLIENT_FIELD_CHARS));
      }
    }
    return out;
  }

  /**
   * Keeps {@link #values} in step with the metadata snapshot: only credentials whose version
   * changed are read (the secret backend caches decrypted values), and nothing at all while the
   * snapshot is the one already seen — so the request path pays no extra read per call.
   */
  async #refreshValues(meta: KeyringMetadata): Promise<void> {
    if (this.#valuesDoc === meta) {
      return;
    }
    const next = new Map<CredentialName, { version: number; value: string }>();
    let changed = this.#values.size !== Object.keys(meta.credentials).length;
    for (const c of Object.values(meta.credentials)) {
      const known = this.#values.get(c.name);
      if (known && known.version === c.version) {
        next.set(c.name, known);
        continue;
      }
      changed = true;
      try {
        const v = await this.#store.readVersionValue(c.name, c.version);
        if (v) {
          next.set(c.name, { version: c.version, value: v.reveal() });
        }
      } catch (e) {
        this.#logger.warn(`Could not read the value of '${c.name}' for redaction`, e);
      }
    }
    if (changed) {
      this.#values = next;
    }
    this.#valuesDoc = meta;
  }

  /**
   * Current values of every credential (as last refreshed), for the audit log's known-secrets
   * guard. The same array while the values are unchanged (the guard caches its matcher on it).
   */
  knownValues(): readonly string[] {
    if (this.#knownValuesFor !== this.#values) {
      this.#knownValuesFor = this.#values;
      this.#knownValuesList = [...this.#values.values()].map((v) => v.value);
    }
    return this.#knownValuesList;
  }

  /**
   * The one source of rotation events: after any store change (this process's rotation, an
   * agent's, or another process's noticed by the store's watcher) compares each credential's
   * version with the last one announced and tells listeners once per new version. Versions only
   * grow, so a snapshot read before a newer one (two changes in flight) announces nothing twice
   * and nothing backwards.
   */
  async #noticeRotations(): Promise<void> {
    try {
      const meta = await this.#store.snapshot();
      for (const c of Object.values(meta.credentials)) {
        const known = this.#knownVersions.get(c.name);
        // The same credential (not one removed and added again under its name) at a newer version.
        const same = known?.created === c.created_at;
        if (same && c.version <= known.version) {
          continue;
        }
        this.#knownVersions.set(c.name, { created: c.created_at, version: c.version });
        if (same) {
          this.#emitRotated(c.name);
        }
      }
    } catch (e) {
      this.#logger.warn('Could not re-read the store after a change', e);
    }
  }

  /** After any change (through any server): grants on removed credentials or of revoked agents go. */
  async #dropStaleGrants(): Promise<void> {
    if (this.#grants.size === 0) {
      return;
    }
    try {
      const meta = await this.#store.snapshot();
      this.#grants.dropStale(
        (name) => ownEntry(meta.credentials, name) !== undefined,
        (id) => {
          const a = ownEntry(meta.agents, id);
          return a !== undefined && !a.revoked_at;
        },
      );
    } catch (e) {
      this.#logger.warn('Could not re-read the store to drop stale approval grants', e);
    }
  }

  #emitRotated(name: CredentialName): void {
    for (const l of this.#rotateListeners) {
      try {
        l(name);
      } catch (e) {
        this.#logger.warn('A rotation listener failed', e);
      }
    }
  }
}

/** Longest command name an audit line carries. */
const MAX_COMMAND_CHARS = 64;

/** A command's name as the audit line names it: its basename, printable, bounded. */
export function boundedCommand(command: string): string {
  const base = command.split(/[\\/]/).pop() ?? command;
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, '');
  return (clean.length > MAX_COMMAND_CHARS ? clean.slice(0, MAX_COMMAND_CHARS) : clean) || '?';
}

/** `record[key]` if it is the record's own entry (a name like `constructor` is not). */
function ownEntry<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function blankEvent(tool: string, decision: AuditDecision): AuditEventInput {
  return {
    agent_id: null,
    claimed_agent_id: null,
    credential: null,
    scope: null,
    tool,
    decision,
    code: null,
    reason: null,
    lease_id: null,
    version: null,
    value_fingerprint: null,
    client: null,
    rules: [],
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** First 12 hex digits of the token's SHA-256: tells tokens apart in the audit log, never reveals one. */
function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 12);
}

/**
 * How to let a held request through without a human, naming the setting of each rule that asked:
 * `"actions.<rule>"` in the server's `policy.json` (README.md, "`<store>/policy.json`"), or
 * `agentKeyring.anomaly.actions` in VS Code.
 */
function approvalRuleChange(rules: readonly AnomalyRuleId[]): string {
  const keys = (rules.length > 0 ? [...new Set(rules)] : ['sensitive_scope']).map((r) => `"actions.${r}"`);
  return `to set ${keys.join(' and ')} to "alert" in the server's policy.json (in its store folder; restart agent-keyring serve after the change) or in VS Code's agentKeyring.anomaly.actions setting`;
}

function describeFired(a: Assessment): string {
  return a.fired.map((f) => f.message).join(' ') || 'An anomaly rule fired.';
}

function parseHttpUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidInputError(
      'url is not a valid absolute URL. Give a full https:// URL such as https://api.example.com/v1/search.',
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InvalidInputError(`url must use https:// (or http://); '${url.protocol}' is not allowed.`);
  }
  if (url.username || url.password) {
    throw new InvalidInputError(
      'url must not carry a user name or password; put the credential in a header with the {{credential}} placeholder.',
    );
  }
  return url;
}

/**
 * The body as text: at most `maxBytes + slack` bytes are read (the rest is cancelled); whether
 * more came is reported, so the caller redacts the whole read text before cutting it to `maxBytes`.
 * @throws whatever the stream throws (timeout, reset).
 */
async function readBounded(
  response: Response,
  maxBytes: number,
  slack: number,
): Promise<{ text: string; truncated: boolean; maxBytes: number }> {
  if (!response.body) {
    return { text: '', truncated: false, maxBytes };
  }
  const limit = maxBytes + slack;
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
    if (done || !value) {
      break;
    }
    if (size + value.byteLength > limit) {
      chunks.push(value.subarray(0, limit - size));
      size = limit;
      truncated = true;
      await reader.cancel().catch(() => undefined);
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated: truncated || size > maxBytes, maxBytes };
}

/**
 * Redacts the whole read body, then cuts it to its byte limit, masking a trailing piece that is the
 * start of a key form (the cut could otherwise hand out a key's prefix).
 */
function cutRedacted(
  body: { text: string; truncated: boolean; maxBytes: number },
  secrets: string[],
): string {
  const redacted = redact(body.text, secrets);
  if (!body.truncated && Buffer.byteLength(redacted) <= body.maxBytes) {
    return redacted;
  }
  const cut = Buffer.from(redacted, 'utf8').subarray(0, body.maxBytes).toString('utf8');
  return `${maskTrailingPrefix(cut, secrets)}\n[truncated at ${body.maxBytes} bytes]`;
}

function boundedText(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
