/**
 * The audit hash chain: canonical JSON, the per-line hash and the field order of a written line.
 * Shared by the writer ({@link AuditLog}), `verifyAuditFile` and the reader, so all three agree
 * byte for byte.
 */
import { createHash, createHmac } from 'node:crypto';
import type { AuditEvent, AuditEventInput, ClientInfo } from '../model';

/** `prev_hash` of the first line of a chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** Field order of a written line (as in {@link AuditEvent}); `hash` is always last. */
export const AUDIT_FIELDS = [
  'ts',
  'agent_id',
  'claimed_agent_id',
  'credential',
  'scope',
  'tool',
  'decision',
  'code',
  'reason',
  'lease_id',
  'version',
  'value_fingerprint',
  'client',
  'rules',
  'approval',
  'refusal',
  'chain',
  'prev_hash',
  'hash',
] as const;

/**
 * `chain` of a keyed line: `hmac-sha256:<key id>`. Such a line's `hash` is an HMAC-SHA256 under the
 * chain key (derived from the audit key, which lives in the secret backend), so only a holder of
 * that key can write a line that verifies. Lines without `chain` are the older plain SHA-256 format.
 */
export const KEYED_CHAIN_PREFIX = 'hmac-sha256:';

/** The key that seals keyed lines, and its public id (first 16 hex digits of its SHA-256). */
export interface ChainKey {
  id: string;
  key: Buffer;
}

/** The chain key for an audit key: HMAC-SHA256(auditKey, a fixed label), so it needs no storage of its own. */
export function deriveChainKey(auditKey: Buffer): ChainKey {
  const key = createHmac('sha256', auditKey).update('agent-keyring audit chain v1', 'utf8').digest();
  return { id: createHash('sha256').update(key).digest('hex').slice(0, 16), key };
}

/**
 * The hash of a keyed line under `key` (`hmacsha256hex(prev_hash + '\n' + canonicalJson(event
 * without hash))`), for verify.
 */
export function computeKeyedEventHash(event: Record<string, unknown>, key: Buffer): string {
  const prev = typeof event.prev_hash === 'string' ? event.prev_hash : '';
  return createHmac('sha256', key)
    .update(prev + '\n' + canonical(event, 'hash'), 'utf8')
    .digest('hex');
}

const HEX64 = /^[0-9a-f]{64}$/;

/** True for a lowercase 64-hex-digit SHA-256. */
export function isHash(v: unknown): v is string {
  return typeof v === 'string' && HEX64.test(v);
}

/**
 * JSON with object keys sorted recursively (code-unit order) and no whitespace. Like
 * `JSON.stringify`, it drops `undefined` object members and writes non-finite numbers as `null`,
 * so an event and the same event parsed back from its line give the same text.
 */
export function canonicalJson(value: unknown): string {
  return canonical(value, undefined);
}

function canonical(value: unknown, skipTopKey: string | undefined): string {
  if (value === null || value === undefined) {
    return 'null';
  }
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'object': {
      if (Array.isArray(value)) {
        return '[' + value.map((v) => (v === undefined ? 'null' : canonical(v, undefined))).join(',') + ']';
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      let out = '';
      for (const k of keys) {
        const v = obj[k];
        if (k === skipTopKey || v === undefined || typeof v === 'function') {
          continue;
        }
        out += (out === '' ? '' : ',') + JSON.stringify(k) + ':' + canonical(v, undefined);
      }
      return '{' + out + '}';
    }
    default:
      // bigint, symbol, function: not representable in an audit line.
      return 'null';
  }
}

/** `sha256hex(prev_hash + '\n' + canonicalJson(event without hash))`. */
export function computeEventHash(event: Omit<AuditEvent, 'hash'> | Record<string, unknown>): string {
  const obj = event as Record<string, unknown>;
  const prev = typeof obj.prev_hash === 'string' ? obj.prev_hash : '';
  return createHash('sha256')
    .update(prev + '\n' + canonical(obj, 'hash'), 'utf8')
    .digest('hex');
}

function normalizeClient(client: ClientInfo | null | undefined): ClientInfo | null {
  if (client === null || client === undefined) {
    return null;
  }
  const out: ClientInfo = {};
  if (client.name !== undefined && client.name !== null) {
    out.name = String(client.name);
  }
  if (client.version !== undefined && client.version !== null) {
    out.version = String(client.version);
  }
  if (client.conversation_id !== undefined && client.conversation_id !== null) {
    out.conversation_id = String(client.conversation_id);
  }
  return out;
}

/**
 * The event in written field order without its hash: members outside {@link AuditEvent} are
 * dropped, missing nullable members become `null`.
 */
export function orderEvent(
  input: AuditEventInput & { ts: string },
  prevHash: string,
  chain?: string,
): Omit<AuditEvent, 'hash'> {
  return {
    ts: input.ts,
    agent_id: input.agent_id ?? null,
    claimed_agent_id: input.claimed_agent_id ?? null,
    credential: input.credential ?? null,
    scope: input.scope ?? null,
    tool: input.tool,
    decision: input.decision,
    code: input.code ?? null,
    reason: input.reason ?? null,
    lease_id: input.lease_id ?? null,
    version: input.version ?? null,
    value_fingerprint: input.value_fingerprint ?? null,
    client: normalizeClient(input.client),
    ...(Array.isArray(input.rules) ? { rules: input.rules.map(String) } : {}),
    // Optional and absent unless set, so lines without them hash exactly as before.
    ...(input.approval !== undefined ? { approval: input.approval } : {}),
    ...(input.refusal !== undefined ? { refusal: String(input.refusal) } : {}),
    ...(chain !== undefined ? { chain } : {}),
    prev_hash: prevHash,
  };
}

/**
 * {@link orderEvent}, then `hash` filled in: the event exactly as it is written. With `chainKey`
 * the line is keyed (`chain` set, `hash` an HMAC under the key); without it, plain SHA-256.
 */
export function sealEvent(
  input: AuditEventInput & { ts: string },
  prevHash: string,
  chainKey?: ChainKey,
): AuditEvent {
  const unsealed = orderEvent(input, prevHash, chainKey ? KEYED_CHAIN_PREFIX + chainKey.id : undefined);
  const text = prevHash + '\n' + canonicalOrdered(unsealed);
  const hash = (chainKey ? createHmac('sha256', chainKey.key) : createHash('sha256'))
    .update(text, 'utf8')
    .digest('hex');
  return { ...unsealed, hash };
}

/**
 * {@link canonicalJson} of an event built by {@link orderEvent}, without the generic recursive
 * sort: that shape is fixed, so the keys are written in code-unit order by hand and one
 * `JSON.stringify` does the rest (it drops `undefined` and writes non-finite numbers as `null`, as
 * `canonical` does). The write path hashes every event; verify keeps using the generic form, and
 * the tests check both agree.
 */
export function canonicalOrdered(e: Omit<AuditEvent, 'hash'>): string {
  const c = e.client;
  return JSON.stringify({
    agent_id: e.agent_id,
    approval: e.approval,
    chain: e.chain,
    claimed_agent_id: e.claimed_agent_id,
    client: c === null ? null : { conversation_id: c.conversation_id, name: c.name, version: c.version },
    code: e.code,
    credential: e.credential,
    decision: e.decision,
    lease_id: e.lease_id,
    prev_hash: e.prev_hash,
    reason: e.reason,
    refusal: e.refusal,
    rules: e.rules,
    scope: e.scope,
    tool: e.tool,
    ts: e.ts,
    value_fingerprint: e.value_fingerprint,
    version: e.version,
  });
}

/** The line as written (no trailing newline): fields in {@link AUDIT_FIELDS} order. */
export function eventLine(event: AuditEvent): string {
  // Object literal order from sealEvent is already AUDIT_FIELDS order; JSON.stringify keeps it.
  return JSON.stringify(event);
}
