/**
 * Registers every tool on an `McpServer` and wraps each handler once. The server is bound to one
 * agent, handed down at registration; each request's {@link CallContext} is built from it (no
 * identity check here: the gate made the one check) and passed to the tool. The wrapper is the
 * only place where results are shaped:
 *
 * - arguments are parsed with the tool's strict schema → on failure an `invalid_input` refusal that
 *   names the fields and the rule they broke, never the values (a supplied string is never echoed;
 *   unknown field names are cut to 64 characters);
 * - success → `structuredContent` (checked against the tool's output schema) + a JSON text copy;
 * - a {@link KeyringError} → `isError: true`, `structuredContent: { code, message, ...details }` and
 *   a text with the sentence and the JSON copy;
 * - anything else → a generic internal error with a reference id; the detail goes to the Logger
 *   with every known secret scrubbed, never to the agent.
 */
import { randomUUID } from 'node:crypto';
import type { McpServer, RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Protocol } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  ListToolsRequestSchema,
  type CallToolResult,
  type ListToolsResult,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { CallContext, KeyringApi } from '../../api';
import { isKeyringError, type KeyringError } from '../../errors';
import { SecretValue, type AgentId } from '../../model';
import type { Logger } from '../../ports';
import { callContextOf, type RequestExtra } from '../callContext';
import { getCredentialTool } from './getCredential';
import { httpRequestTool } from './httpRequest';
import { listCredentialsTool } from './listCredentials';
import { rotateCredentialTool } from './rotateCredential';
import { listingInputSchema, listingOutputSchema, type AnyToolDefinition } from './toolDefinition';

export type ToolExtra = RequestExtra;

/** Every tool the server offers, in `tools/list` order. */
export const TOOLS: readonly AnyToolDefinition[] = [
  getCredentialTool,
  listCredentialsTool,
  rotateCredentialTool,
  httpRequestTool,
];

export interface ToolHost {
  api: KeyringApi;
  logger: Logger;
  /** The agent every request to this server comes from (the caller the gate admitted). */
  agentId: AgentId;
}

/** Longest piece of agent-supplied text (a field name) that an error message repeats. */
const MAX_ECHO_CHARS = 64;
/** Unknown field names repeated back verbatim: short and identifier-like (a secret rarely is). */
const FIELD_LIKE = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;
/** Issues listed in one `invalid_input` refusal. */
const MAX_ISSUES = 8;

const TOOLS_BY_NAME = new Map(TOOLS.map((def) => [def.name, def]));

/** `tools/call` with any params: they are checked by the handler, which says clearly what is wrong. */
const LooseCallToolRequestSchema = z.looseObject({ method: z.literal('tools/call'), params: z.unknown() });

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Registers {@link TOOLS} on `server`. Each handler never throws: it always resolves with a
 * `CallToolResult` (see the module comment for the shapes).
 *
 * `tools/list` is McpServer's (names, JSON Schemas, annotations). `tools/call` is answered by our
 * own handler, which goes straight to {@link runTool}: McpServer's handler would validate the
 * arguments and the output a second time with the listing schemas (two more zod passes and async
 * hops per call) — runTool already parses the arguments with the tool's strict schema and checks
 * the output against its output schema. An unknown tool name is an `isError` result, as with
 * McpServer, but with our refusal shape (`not_found`, the list of tools).
 */
export function registerTools(server: McpServer, host: ToolHost): RegisteredTool[] {
  const contextOf = (extra: ToolExtra): CallContext =>
    callContextOf(host.agentId, extra, server.server.getClientVersion());
  const registered = TOOLS.map((def) =>
    server.registerTool(
      def.name,
      {
        title: def.title,
        description: def.description,
        inputSchema: listingInputSchema(def.input),
        outputSchema: listingOutputSchema(def.output),
        annotations: def.annotations,
      },
      (args: unknown, extra: ToolExtra) => runTool(def, args, contextOf(extra), host),
    ),
  );
  // Both registered after McpServer installed its own (it installs them once, on the first registerTool).
  // tools/list: the tools this agent can use (schemas converted once per process, filtered per request).
  server.server.setRequestHandler(ListToolsRequestSchema, async (): Promise<ListToolsResult> => {
    const shown = await visibleTools(host);
    return {
      tools: TOOLS.filter((def, i) => registered[i].enabled && shown.includes(def.name)).map(listedTool),
    };
  });
  // tools/call through Protocol's setRequestHandler, not Server's: Server's wraps the handler in a
  // parse of CallToolRequestSchema whose failure goes back as zod's raw JSON; ours parses loosely and
  // answers malformed params as a clear invalid_input refusal.
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with .call(server.server) below
  const setRawHandler = Protocol.prototype.setRequestHandler as (
    this: unknown,
    schema: typeof LooseCallToolRequestSchema,
    handler: (
      request: z.infer<typeof LooseCallToolRequestSchema>,
      extra: ToolExtra,
    ) => Promise<CallToolResult>,
  ) => void;
  setRawHandler.call(server.server, LooseCallToolRequestSchema, async (request, extra) => {
    const ctx = contextOf(extra);
    const params = request.params;
    const name = isRecord(params) ? params.name : undefined;
    const args = isRecord(params) ? params.arguments : undefined;
    if (typeof name !== 'string' || (args !== undefined && !isRecord(args))) {
      return refusal({
        code: 'invalid_input',
        message: `Invalid tools/call request: params must be an object with 'name' (the tool's name, a string: one of ${TOOLS.map((t) => t.name).join(', ')}) and optionally 'arguments' (an object). Fix the request and call again.`,
        details: {
          issues: [
            ...(typeof name !== 'string' ? [{ field: 'params.name', problem: 'must be a string' }] : []),
            ...(args !== undefined && !isRecord(args)
              ? [{ field: 'params.arguments', problem: 'must be an object' }]
              : []),
          ],
        },
      });
    }
    const def = TOOLS_BY_NAME.get(name);
    if (!def || !registered[TOOLS.indexOf(def)].enabled) {
      const shown = await visibleTools(host).catch(() => TOOLS.map((t) => t.name));
      return unknownTool(name, shown);
    }
    const result = await runTool(def, args, ctx, host);
    // A tool hidden from this agent answers like an unknown one. Only a refusal is checked (a hidden
    // tool cannot succeed), so a successful call pays nothing for it.
    if (result.isError) {
      const shown = await visibleTools(host).catch(() => TOOLS.map((t) => t.name));
      if (!shown.includes(def.name)) {
        return unknownTool(name, shown);
      }
    }
    return result;
  });
  return registered;
}

function unknownTool(name: string, shown: readonly string[]): CallToolResult {
  return refusal({
    code: 'not_found',
    message: `There is no tool ${JSON.stringify(echo(name))}. The tools are ${shown.join(', ')}; call one of them.`,
    details: { tool: echo(name) },
  });
}

/** Names of the tools the caller can use, in {@link TOOLS} order; every tool if the API cannot tell. */
async function visibleTools(host: ToolHost): Promise<string[]> {
  const all = TOOLS.map((t) => t.name);
  if (!host.api.toolsFor) {
    return all;
  }
  const usable = await host.api.toolsFor(host.agentId);
  return all.filter((n) => usable.has(n));
}

// The `tools/list` entry of each tool, as McpServer would list it (same JSON Schema conversion),
// built once per process.
const LISTED = new Map<string, Tool>();

function listedTool(def: AnyToolDefinition): Tool {
  let t = LISTED.get(def.name);
  if (!t) {
    t = {
      name: def.name,
      title: def.title,
      description: def.description,
      inputSchema: z.toJSONSchema(listingInputSchema(def.input), {
        target: 'draft-7',
        io: 'input',
      }) as Tool['inputSchema'],
      outputSchema: z.toJSONSchema(listingOutputSchema(def.output), {
        target: 'draft-7',
        io: 'output',
      }) as Tool['outputSchema'],
      annotations: def.annotations,
    };
    LISTED.set(def.name, t);
  }
  return t;
}

/** Runs one call of `ctx`'s agent through validation, the core and result shaping. Never throws. */
export async function runTool(
  def: AnyToolDefinition,
  rawArgs: unknown,
  ctx: CallContext,
  host: Pick<ToolHost, 'api' | 'logger'>,
): Promise<CallToolResult> {
  const secrets: string[] = [];
  try {
    const parsed = def.input.safeParse(rawArgs ?? {});
    if (!parsed.success) {
      return refusal(invalidInput(def.name, parsed.error));
    }
    collectSecrets(parsed.data, secrets);
    const output: Record<string, unknown> = await def.run(host.api, ctx, parsed.data);
    for (const field of def.secretOutputFields ?? []) {
      if (typeof output[field] === 'string') {
        secrets.push(output[field]);
      }
    }
    const checked = def.output.safeParse(output);
    if (!checked.success) {
      // Our own bug: say where, never what (the output may hold a value).
      const where = checked.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.code}`).join('; ');
      throw new Error(`Output of ${def.name} does not match its schema (${where})`);
    }
    const structured = checked.data;
    return {
      content: [{ type: 'text', text: JSON.stringify(structured, null, 2) }],
      structuredContent: structured,
    };
  } catch (e) {
    if (isKeyringError(e)) {
      return refusal(scrubError(e, secrets));
    }
    return internalError(def.name, e, secrets, host.logger);
  }
}

// ------------------------------------------------------------------ result shapes

interface Refusal {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

function refusal(r: Refusal): CallToolResult {
  const structured: Record<string, unknown> = { ...(r.details ?? {}), code: r.code, message: r.message };
  // JSON round-trip: a SecretValue in details prints as "[redacted]"; odd values (functions, bigint) drop out.
  const safe = toPlainJson(structured);
  return {
    isError: true,
    content: [{ type: 'text', text: `${r.message}\n\n${JSON.stringify(safe, null, 2)}` }],
    structuredContent: safe,
  };
}

function scrubError(e: KeyringError, secrets: readonly string[]): Refusal {
  // Core messages never carry values by contract; scrubbing what we know is the belt to those braces.
  return {
    code: e.code,
    message: scrub(e.message, secrets),
    details: scrubDeep(toPlainJson(e.details), secrets) as Record<string, unknown>,
  };
}

function internalError(tool: string, e: unknown, secrets: readonly string[], logger: Logger): CallToolResult {
  const reference = randomUUID().slice(0, 8);
  const detail = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  logger.error(`Tool ${tool} failed (reference ${reference}): ${scrub(detail, secrets)}`);
  // The stack only at debug: at the default level a log line says what failed, not where in our code.
  if (e instanceof Error && e.stack) {
    logger.debug(`Stack of reference ${reference}: ${scrub(e.stack, secrets)}`);
  }
  return refusal({
    code: 'internal_error',
    message: `Internal error (reference ${reference}) — retry; if it persists ask the user to check the Agent Keyring log.`,
    details: { reference },
  });
}

function invalidInput(tool: string, error: z.ZodError): Refusal {
  const issues = error.issues
    .slice(0, MAX_ISSUES)
    .map((i) => ({ field: fieldName(i.path), problem: problemOf(i) }));
  const more = error.issues.length > MAX_ISSUES ? ` (and ${error.issues.length - MAX_ISSUES} more)` : '';
  const list = issues.map((i) => (i.field ? `${i.field} ${i.problem}` : i.problem)).join('; ');
  return {
    code: 'invalid_input',
    message: `Invalid arguments for ${tool}: ${list}${more}. Fix the arguments (see the tool's input schema) and call again.`,
    details: { tool, issues },
  };
}

function problemOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys': {
      // The keys are agent-supplied text (an agent may even paste a secret as a key): repeat only
      // short, identifier-like names.
      const shown = issue.keys.filter((k) => FIELD_LIKE.test(k)).slice(0, 5);
      const hidden = issue.keys.length - shown.length;
      const names = [
        ...shown.map((k) => `'${k}'`),
        ...(hidden > 0
          ? [`${hidden} ${shown.length > 0 ? 'more' : 'field name' + (hidden > 1 ? 's' : '')} not shown`]
          : []),
      ];
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${names.join(', ')}: remove ${issue.keys.length > 1 ? 'them' : 'it'}`;
    }
    case 'invalid_type':
      return issue.message.endsWith('received undefined')
        ? 'is required'
        : `must be ${article(issue.expected)}`;
    case 'invalid_key':
      return 'has an invalid name: names must be HTTP tokens (letters, digits, - and a few symbols)';
    default:
      // zod's own messages and ours describe the rule, never the input; bound them anyway.
      return issue.message.length > 300 ? `${issue.message.slice(0, 300)}…` : issue.message;
  }
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : echo(String(p)))).join('.');
}

// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Agent-supplied text made safe to repeat: control characters escaped, at most 64 characters. */
function echo(s: string): string {
  const clean = s.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return clean.length > MAX_ECHO_CHARS ? `${clean.slice(0, MAX_ECHO_CHARS)}…` : clean;
}

// ------------------------------------------------------------------ secrets

function collectSecrets(value: unknown, out: string[]): void {
  if (value instanceof SecretValue) {
    out.push(value.reveal());
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) {
      collectSecrets(v, out);
    }
  }
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (s.length > 0) {
      out = out.split(s).join('[REDACTED]');
    }
  }
  return out;
}

function scrubDeep(value: unknown, secrets: readonly string[]): unknown {
  if (typeof value === 'string') {
    return scrub(value, secrets);
  }
  if (Array.isArray(value)) {
    return value.map((v) => scrubDeep(v, secrets));
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [scrub(k, secrets), scrubDeep(v, secrets)]),
    );
  }
  return value;
}

function toPlainJson(value: Record<string, unknown>): Record<string, unknown> {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    return {};
  }
}
