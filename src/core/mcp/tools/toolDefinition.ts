/**
 * The shape every tool file exports, the input fields the tools share, and the two schema tricks
 * that keep validation in our hands:
 *
 * - **Input.** `McpServer` validates arguments against the registered `inputSchema` and, on
 *   failure, sends zod's message back as free text — without our `invalid_input` code, and for some
 *   issues (unknown keys) echoing what the agent sent. So each tool keeps a *strict* zod schema
 *   that `tools/index.ts` applies itself, and registers {@link listingInputSchema}: an object schema
 *   that accepts any object (so the SDK passes the raw arguments through untouched) but whose JSON
 *   Schema in `tools/list` is exactly the strict schema's.
 * - **Output.** The SDK `Client` validates `structuredContent` against `outputSchema` even on
 *   `isError` results, so a refusal `{ code, message }` must be allowed by the declared schema.
 *   {@link listingOutputSchema} declares `anyOf: [success, refusal]`; the success shape is still
 *   enforced strictly by `tools/index.ts` before anything is sent.
 */
import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { CallContext, KeyringApi } from '../../api';
import { ID_PATTERN, SCOPE_PATTERN } from '../../model';

/** One MCP tool: metadata for `tools/list`, strict schemas, and the call into the core. */
export interface ToolDefinition<I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject> {
  /** snake_case, verb first (STYLE §3). */
  name: string;
  title: string;
  /** Written for an LLM: what it does, when to use it, what refusals mean. */
  description: string;
  /** Strict: unknown keys, wrong types and out-of-range values are all `invalid_input`. */
  input: I;
  /** Shape of a successful `structuredContent`. */
  output: O;
  annotations: ToolAnnotations;
  /** Fields of the success output that hold secret values (scrubbed from any log line). */
  secretOutputFields?: readonly string[];
  /** Calls the core. Throws {@link KeyringError}s on refusal; anything else is an internal error. */
  run(api: KeyringApi, ctx: CallContext, args: z.output<I>): Promise<z.input<O>>;
}

export type AnyToolDefinition = ToolDefinition;

/** Identity function that keeps the generic parameters inferred from the literal. */
export function defineTool<I extends z.ZodObject, O extends z.ZodObject>(
  def: ToolDefinition<I, O>,
): ToolDefinition<I, O> {
  return def;
}

// ------------------------------------------------------------------ shared input fields

export const credentialNameField = () =>
  z
    .string()
    .regex(
      ID_PATTERN,
      "must be a credential name such as 'github_token': lowercase ASCII letters, digits, '_', '.', '-', at most 64 characters. Call list_credentials to see the names you may use",
    );

export const scopeField = () =>
  z
    .string()
    .regex(
      SCOPE_PATTERN,
      "must be a scope such as 'search_read' or 'repo:write': lowercase ASCII letters, digits, '_', '.', ':', '-', at most 64 characters. list_credentials shows each credential's scopes",
    )
    .describe(
      'The permission you need, one of the scopes list_credentials shows for this credential (e.g. "search_read").',
    );

export const agentIdField = () =>
  z
    .string()
    .regex(
      ID_PATTERN,
      'must be an agent id (lowercase ASCII letters, digits, _ . -, at most 64 characters); better, leave it out',
    )
    .optional()
    .describe(
      'Optional, for compatibility only: your agent id. Your identity comes from your bearer token; a value that does not match it is refused as an anomaly. Leave it out.',
    );

/** Longest `reason` accepted; the core keeps it (bounded) in the audit log. */
export const MAX_REASON_CHARS = 500;

// eslint-disable-next-line no-control-regex
const CONTROL_EXCEPT_TAB_LF = /[\u0000-\u0008\u000b-\u001f\u007f]/;

export const reasonField = () =>
  z
    .string()
    .max(MAX_REASON_CHARS, `must be at most ${MAX_REASON_CHARS} characters`)
    .refine((s) => !CONTROL_EXCEPT_TAB_LF.test(s), 'must not contain control characters')
    .optional()
    .describe(
      'Optional short note on why you need it (e.g. "search for release notes"). Recorded in the audit log and shown to the user if the request needs approval. Never put secrets here.',
    );

// ------------------------------------------------------------------ refusal shape

/** What a refused or failed call carries in `structuredContent` (plus code-specific details). */
export const refusalSchema = z
  .looseObject({
    code: z
      .string()
      .describe(
        'Stable reason code: not_found, scope_denied, anomaly_denied, approval_denied, rate_limited, invalid_input, rotate_denied, no_generator, host_denied, reveal_denied, request_denied, upstream_error, unauthorized, audit_unavailable, store_error, internal_error.',
      ),
    message: z.string().describe('What was wrong and what to do next.'),
  })
  .describe('Returned with isError: true when the call was refused or failed.');

// ------------------------------------------------------------------ schemas registered with the SDK

function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io, target: 'draft-7' }) as Record<string, unknown>;
  delete json.$schema;
  if ('$defs' in json || 'definitions' in json) {
    // Sub-schemas are embedded elsewhere; a $ref to the root's $defs would dangle.
    throw new Error('Tool schemas must not produce $defs; build each field with a fresh schema instance.');
  }
  return json;
}

/**
 * The `inputSchema` handed to `McpServer.registerTool`: parses any object unchanged (so the SDK
 * never rejects arguments itself) and lists as the strict schema's JSON Schema.
 */
export function listingInputSchema(strict: z.ZodObject): z.ZodType {
  return memo(listingInputs, strict, () => z.looseObject({}).meta(jsonSchemaOf(strict, 'input')));
}

/** The `outputSchema` handed to the SDK: the success shape or the refusal shape. */
export function listingOutputSchema(success: z.ZodObject): z.ZodType {
  return memo(listingOutputs, success, () =>
    z.looseObject({}).meta({
      type: 'object',
      anyOf: [jsonSchemaOf(success, 'output'), jsonSchemaOf(refusalSchema, 'output')],
    }),
  );
}

// Every MCP session registers the tools on its own McpServer; the JSON Schema conversion (~1 ms a
// tool) is done once per process instead. zod schemas are immutable, so sharing them is safe.
const listingInputs = new WeakMap<z.ZodObject, z.ZodType>();
const listingOutputs = new WeakMap<z.ZodObject, z.ZodType>();

function memo(cache: WeakMap<z.ZodObject, z.ZodType>, key: z.ZodObject, make: () => z.ZodType): z.ZodType {
  let v = cache.get(key);
  if (!v) {
    v = make();
    cache.set(key, v);
  }
  return v;
}
