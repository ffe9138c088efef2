/**
 * Input schemas for credentials and agents. Every edge (CLI, MCP tools, VS Code commands and
 * webview messages, imported files) validates with these before calling the core, and turns a
 * failure into one clear sentence per problem with {@link formatZodError}.
 *
 * Messages never repeat the input: a user may paste a secret value into the wrong field.
 */
import { z } from 'zod';
import { MAX_GENERATED_LENGTH, MAX_TTL_SECONDS, MIN_GENERATED_LENGTH } from '../limits';
import { DEFAULT_TTL_SECONDS, ID_PATTERN, REVEAL_MODES, SCOPE_PATTERN } from '../model';
import { InvalidInputError } from '../errors';
import { parseScopeRule, placementProblem } from '../policy/requestRules';

/** Default alphabet of generated values: ASCII letters and digits. */
export const DEFAULT_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Control characters (C0 and DEL); `\t` and `\n` are allowed only where a field says so. */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS_EXCEPT_TAB_NEWLINE = /[\u0000-\u0008\u000b-\u001f\u007f]/;

/** Type-error message: "is required" when the field is missing, else `msg`. */
function typeError(msg: string) {
  return (issue: { input?: unknown }): string => (issue.input === undefined ? 'is required' : msg);
}

const ID_RULE =
  'must be 1–64 characters from a–z, 0–9, "_", "." and "-", starting with a letter or digit (lower-case ASCII only)';

function idField() {
  return z
    .string({ error: typeError('must be a string') })
    .max(64, 'must be at most 64 characters')
    .regex(ID_PATTERN, ID_RULE);
}

/** Credential name (`^[a-z0-9][a-z0-9_.-]{0,63}$`). */
export const CredentialNameSchema = idField().describe(
  'Credential name: lower-case letters, digits, "_", "." or "-" (max 64).',
);

/** Agent id (`^[a-z0-9][a-z0-9_.-]{0,63}$`). */
export const AgentIdSchema = idField().describe(
  'Agent id: lower-case letters, digits, "_", "." or "-" (max 64).',
);

/** One scope string (`^[a-z0-9][a-z0-9_.:-]{0,63}$`). */
export const ScopeSchema = z
  .string({ error: typeError('a scope must be a string') })
  .max(64, 'a scope must be at most 64 characters')
  .regex(
    SCOPE_PATTERN,
    'a scope must be 1–64 characters from a–z, 0–9, "_", ".", ":" and "-", starting with a letter or digit (lower-case ASCII only)',
  )
  .describe('Scope such as "search_read" or "repo:write".');

function uniqueArray<T extends z.ZodType<string>>(item: T, min: number, max: number) {
  return z
    .array(item, { error: typeError(`must be a list of strings`) })
    .min(min, min === 1 ? 'must list at least one entry' : `must list at least ${min} entries`)
    .max(max, `must list at most ${max} entries`)
    .refine((xs) => new Set(xs).size === xs.length, { message: 'must not list the same entry twice' });
}

const HOSTNAME_LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOST_PATTERN = new RegExp(
  `^(?:(?:${HOSTNAME_LABEL})(?:\\.${HOSTNAME_LABEL})*|\\[[0-9a-f:.]{2,45}\\])(?::([0-9]{1,5}))?$`,
);

/**
 * `api.example.com`, `localhost:8080`, `10.0.0.1`, `[::1]:3000`, optionally with `http://` or
 * `https://` in front (`http://` is how an operator allows cleartext to a non-loopback host);
 * no path or wildcard.
 */
export const HostSchema = z
  .string({ error: typeError('a host must be a string') })
  .max(268, 'a host must be at most 268 characters')
  .refine(
    (entry) => {
      const h = entry.replace(/^https?:\/\//, '');
      const m = HOST_PATTERN.exec(h);
      if (!m || h.replace(/:\d+$/, '').length > 253) {
        return false;
      }
      return m[1] === undefined || (Number(m[1]) >= 1 && Number(m[1]) <= 65535);
    },
    {
      message:
        'a host must be a lower-case hostname or IP address with an optional ":port" (1–65535), such as "api.example.com" or "localhost:8080", optionally after "http://" (to allow cleartext) — no path or wildcard',
    },
  )
  .describe('Host that http_request may send this credential to, e.g. "api.example.com" or "host:8443".');

const ActiveHoursSchema = z
  .string({ error: typeError('must be a string') })
  .max(11, 'must look like "08:00-20:00"')
  .regex(
    /^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/,
    'must look like "08:00-20:00" (24-hour local time, may wrap midnight: "22:00-06:00")',
  )
  .refine((s) => s.slice(0, 5) !== s.slice(6), { message: 'must not start and end at the same time' })
  .describe('Local-time window in which the agent normally works, e.g. "08:00-20:00".');

export const RotationGeneratorSchema = z
  .strictObject(
    {
      length: z
        .number({ error: typeError('must be a number') })
        .int('must be a whole number')
        .min(MIN_GENERATED_LENGTH, `must be at least ${MIN_GENERATED_LENGTH}`)
        .max(MAX_GENERATED_LENGTH, `must be at most ${MAX_GENERATED_LENGTH}`)
        .describe(`Characters in a generated value (${MIN_GENERATED_LENGTH}–${MAX_GENERATED_LENGTH}).`),
      alphabet: z
        .string({ error: typeError('must be a string') })
        .max(1024, 'must have at most 256 characters')
        .refine((a) => !CONTROL_CHARS.test(a), { message: 'must not contain control characters' })
        .refine((a) => Array.from(a).length >= 2 && Array.from(a).length <= 256, {
          message: 'must have 2–256 characters',
        })
        .refine((a) => new Set(Array.from(a)).size === Array.from(a).length, {
          message: 'must not repeat a character',
        })
        .optional()
        .describe('Characters to draw from (2–256 distinct); default letters and digits.'),
    },
    { error: 'rotation.generator must be an object like {"length": 40}' },
  )
  .describe('How rotate_credential makes a new value when none is given.');

export const RotationPolicySchema = z
  .strictObject(
    {
      max_age_days: z
        .number({ error: typeError('must be a number') })
        .int('must be a whole number')
        .min(1, 'must be at least 1')
        .max(3650, 'must be at most 3650')
        .optional()
        .describe('Rotation is due after this many days.'),
      generator: RotationGeneratorSchema.optional(),
    },
    { error: 'rotation must be an object like {"max_age_days": 90}' },
  )
  .describe('Rotation policy.');

const DescriptionSchema = z
  .string({ error: typeError('must be a string') })
  .max(500, 'must be at most 500 characters')
  .refine((s) => !CONTROL_CHARS_EXCEPT_TAB_NEWLINE.test(s), {
    message: 'must not contain control characters (other than tab and newline)',
  })
  .describe('What the credential is for (max 500 characters).');

const AllowedAgentsSchema = uniqueArray(
  z
    .string({ error: typeError('must be a string') })
    .max(64, 'must be at most 64 characters')
    .refine((s) => s === '*' || ID_PATTERN.test(s), {
      message: `must be "*" or an agent id that ${ID_RULE}`,
    }),
  0,
  256,
)
  .refine((xs) => !xs.includes('*') || xs.length === 1, {
    message: 'must be ["*"] alone when it allows every agent',
  })
  .describe('Agent ids that may use this credential, or ["*"] for every agent; empty = nobody yet.');

const TtlSchema = z
  .number({ error: typeError('must be a number') })
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(MAX_TTL_SECONDS, `must be at most ${MAX_TTL_SECONDS} (one day)`)
  .describe(`Lifetime of a lease in seconds (1–${MAX_TTL_SECONDS}, default ${DEFAULT_TTL_SECONDS}).`);

const RevealModeSchema = z
  .enum(REVEAL_MODES as ['allow', 'approve', 'never'], {
    error: 'must be "allow", "approve" or "never"',
  })
  .describe(
    'Whether get_credential may hand the value out: allow (default), approve (ask each time), never.',
  );

const RevealOverridesSchema = z
  .record(
    z
      .string()
      .max(64, 'must be at most 64 characters')
      .regex(ID_PATTERN, `keys must be agent ids that ${ID_RULE}`),
    RevealModeSchema,
    { error: 'must be an object of agent id → "allow" | "approve" | "never"' },
  )
  .refine((r) => Object.keys(r).length <= 256, { message: 'must name at most 256 agents' })
  .describe('Per-agent reveal modes that replace `reveal` for that agent.');

const ScopeRuleSchema = z
  .string({ error: typeError('a rule must be a string') })
  .max(600, 'a rule must be at most 600 characters')
  .superRefine((r, ctx) => {
    const parsed = parseScopeRule(r);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
    }
  });

const ScopeRulesSchema = z
  .record(ScopeSchema, uniqueArray(ScopeRuleSchema, 1, 32), {
    error: 'must be an object of scope → list of rules such as ["GET /api/v1/search*"]',
  })
  .refine((r) => Object.keys(r).length <= 32, { message: 'must name at most 32 scopes' })
  .describe(
    'Method and path rules of http_request per scope, e.g. {"search_read": ["GET /api/v1/search*"]}.',
  );

const PlacementSchema = uniqueArray(
  z
    .string({ error: typeError('must be a string') })
    .max(140, 'must be at most 140 characters')
    .superRefine((p, ctx) => {
      const problem = placementProblem(p);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
      }
    }),
  1,
  16,
).describe('Where http_request may place the value: header:<Name>, header:*, query:<param> or path.');

const credentialFields = {
  description: DescriptionSchema,
  allowed_scopes: uniqueArray(ScopeSchema, 1, 32).describe('Scopes this credential may be used for (1–32).'),
  allowed_agents: AllowedAgentsSchema,
  ttl_seconds: TtlSchema,
  allowed_hosts: uniqueArray(HostSchema, 0, 64).describe('Hosts http_request may send it to.'),
  rotation_agents: uniqueArray(idField(), 0, 256).describe(
    'Agents that may call rotate_credential on it (default nobody).',
  ),
  rotation: RotationPolicySchema,
  reveal: RevealModeSchema,
  reveal_overrides: RevealOverridesSchema,
  scope_rules: ScopeRulesSchema,
  placement: PlacementSchema,
};

/** Scope rules must name scopes the credential allows (a rule for another scope would never apply). */
function rulesMatchScopes(c: {
  allowed_scopes?: string[];
  scope_rules?: Record<string, string[]> | null;
}): boolean {
  if (!c.scope_rules || !c.allowed_scopes) {
    return true;
  }
  return Object.keys(c.scope_rules).every((s) => c.allowed_scopes?.includes(s));
}
const RULES_SCOPE_MESSAGE = {
  message: 'scope_rules must only name scopes listed in allowed_scopes (add the scope, or remove its rules)',
  path: ['scope_rules'],
};

const INPUT_OBJECT_ERROR = 'the input must be an object with the credential fields';

/** Everything about a credential except its value and version history. Defaults filled in. */
export const CredentialInputSchema = z
  .strictObject(
    {
      name: CredentialNameSchema,
      description: credentialFields.description.default(''),
      allowed_scopes: credentialFields.allowed_scopes,
      allowed_agents: credentialFields.allowed_agents.default([]),
      ttl_seconds: credentialFields.ttl_seconds.default(DEFAULT_TTL_SECONDS),
      allowed_hosts: credentialFields.allowed_hosts.optional(),
      rotation_agents: credentialFields.rotation_agents.optional(),
      rotation: credentialFields.rotation.optional(),
      reveal: credentialFields.reveal.optional(),
      reveal_overrides: credentialFields.reveal_overrides.optional(),
      scope_rules: credentialFields.scope_rules.optional(),
      placement: credentialFields.placement.optional(),
    },
    { error: INPUT_OBJECT_ERROR },
  )
  .refine(rulesMatchScopes, RULES_SCOPE_MESSAGE);
export type CredentialInput = z.output<typeof CredentialInputSchema>;
/** What callers may pass before parsing: fields with defaults may be left out. */
export type CredentialInputRaw = z.input<typeof CredentialInputSchema>;

/**
 * A change to a credential's policy: any subset of the fields, no defaults applied.
 * `null` removes an optional field (`allowed_hosts`, `rotation_agents`, `rotation`,
 * `reveal_overrides`, `scope_rules`, `placement`).
 */
export const CredentialPatchSchema = z
  .strictObject(
    {
      name: CredentialNameSchema.optional(),
      description: credentialFields.description.optional(),
      allowed_scopes: credentialFields.allowed_scopes.optional(),
      allowed_agents: credentialFields.allowed_agents.optional(),
      ttl_seconds: credentialFields.ttl_seconds.optional(),
      allowed_hosts: credentialFields.allowed_hosts.nullable().optional(),
      rotation_agents: credentialFields.rotation_agents.nullable().optional(),
      rotation: credentialFields.rotation.nullable().optional(),
      reveal: credentialFields.reveal.optional(),
      reveal_overrides: credentialFields.reveal_overrides.nullable().optional(),
      scope_rules: credentialFields.scope_rules.nullable().optional(),
      placement: credentialFields.placement.nullable().optional(),
    },
    { error: INPUT_OBJECT_ERROR },
  )
  .refine(rulesMatchScopes, RULES_SCOPE_MESSAGE);
export type CredentialPatch = z.output<typeof CredentialPatchSchema>;

/** A new agent. `label` defaults to the id. */
export const AgentInputSchema = z.strictObject(
  {
    id: AgentIdSchema,
    label: z
      .string({ error: typeError('must be a string') })
      .trim()
      .min(1, 'must not be empty')
      .max(100, 'must be at most 100 characters')
      .refine((s) => !CONTROL_CHARS.test(s), { message: 'must not contain control characters' })
      .optional()
      .describe('Human-readable name shown in the editor (default: the id).'),
    active_hours: ActiveHoursSchema.optional(),
  },
  { error: 'the input must be an object like {"id": "research-agent", "label": "Research agent"}' },
);
export type AgentInputRaw = z.input<typeof AgentInputSchema>;

const MAX_ISSUES = 10;
const MAX_MESSAGE = 300;

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') {
      out += `[${p}]`;
    } else {
      const key = String(p);
      const safe = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(key) ? key : JSON.stringify(key.slice(0, 40));
      out += out ? `.${safe}` : safe;
    }
  }
  return out;
}

function sentence(s: string): string {
  const t = s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE)}…` : s;
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/**
 * One clear sentence per problem: the field path and what is expected, e.g.
 * `allowed_scopes[1]: a scope must be 1–64 characters …`. Never repeats the input value.
 * Accepts anything; a non-zod error becomes a generic sentence (its message is not trusted).
 */
export function formatZodError(err: unknown): string {
  if (!(err instanceof z.ZodError)) {
    return 'The input is not valid.';
  }
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const issue of err.issues) {
    let msg: string;
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40)));
      msg = `unknown field${issue.keys.length > 1 ? 's' : ''} ${keys.join(', ')}${issue.keys.length > 5 ? ' …' : ''} (remove ${issue.keys.length > 1 ? 'them' : 'it'})`;
    } else if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
      msg = 'is required';
    } else {
      msg = issue.message;
    }
    const path = formatPath(issue.path);
    const line = sentence(path ? `${path}: ${msg}` : msg.charAt(0).toUpperCase() + msg.slice(1));
    if (!seen.has(line)) {
      seen.add(line);
      parts.push(line);
    }
  }
  if (parts.length === 0) {
    return 'The input is not valid.';
  }
  const shown = parts.slice(0, MAX_ISSUES);
  if (parts.length > MAX_ISSUES) {
    shown.push(`And ${parts.length - MAX_ISSUES} more problems.`);
  }
  return shown.join(' ');
}

/**
 * Parses `data` with `schema`, or throws an {@link InvalidInputError} whose message is
 * `formatZodError`'s sentences (prefixed with `what`, e.g. "Invalid credential:").
 */
export function parseInput<S extends z.ZodType>(schema: S, data: unknown, what: string): z.output<S> {
  const r = schema.safeParse(data);
  if (!r.success) {
    throw new InvalidInputError(`Invalid ${what}: ${formatZodError(r.error)}`);
  }
  return r.data;
}
