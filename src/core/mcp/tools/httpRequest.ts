/**
 * `http_request` — sends one HTTP request on the agent's behalf with a credential filled in
 * server-side: `{{credential}}` in a header value or in the URL's path/query is replaced by the
 * value, and every occurrence of the value in the response is replaced by `[REDACTED]`, so the
 * agent uses the key without ever seeing it. Needs the same grants as `get_credential` (scope,
 * agent, anomaly rules) plus the URL's host in the credential's `allowed_hosts`.
 * This file only validates the arguments and maps the result; fetching, substitution and
 * redaction happen in the core (`KeyringApi.httpRequest`).
 */
import { z } from 'zod';
import { CREDENTIAL_PLACEHOLDER } from '../../model';
import { agentIdField, credentialNameField, defineTool, reasonField, scopeField } from './toolDefinition';

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;
export const MAX_URL_CHARS = 8192;
export const MAX_BODY_BYTES = 1_048_576;
export const MAX_HEADERS = 50;
export const MAX_HEADER_VALUE_CHARS = 8192;
/** RFC 9110 token: what a header name may be made of. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
/** Set by the HTTP client itself; letting the agent set them could smuggle requests or retarget the Host. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'proxy-authorization',
  'proxy-connection',
]);
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

function urlProblem(raw: string): string | undefined {
  if (CONTROL_CHARS.test(raw) || /\s/.test(raw)) {
    return 'must not contain spaces, line breaks or other control characters (percent-encode them)';
  }
  let url: URL;
  try {
    // The placeholder is not valid in every URL position; judge the URL as it will be sent.
    url = new URL(raw.split(CREDENTIAL_PLACEHOLDER).join('placeholder'));
  } catch {
    return 'must be an absolute http:// or https:// URL such as https://api.example.com/v1/search';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return 'must use https:// (or http://); other schemes such as file: are not allowed';
  }
  if (url.username || url.password) {
    return `must not carry a user name or password; put the credential in a header with the ${CREDENTIAL_PLACEHOLDER} placeholder`;
  }
  return undefined;
}

export const httpRequestTool = defineTool({
  name: 'http_request',
  title: 'HTTP request with a credential',
  description: [
    `Sends an HTTP request with a stored credential filled in for you, so you never see the key. Put the placeholder ${CREDENTIAL_PLACEHOLDER} where the key belongs: in a header value (e.g. "Authorization": "Bearer ${CREDENTIAL_PLACEHOLDER}") or in the URL's path or query (e.g. ?api_key=${CREDENTIAL_PLACEHOLDER}).`,
    'The response (status, headers, body up to 1 MiB) comes back with every occurrence of the key replaced by [REDACTED].',
    'Prefer this over get_credential whenever the key is only needed for an HTTP call.',
    'Refusals come back as errors with a code: as for get_credential (not_found, scope_denied, anomaly_denied, approval_denied, rate_limited, invalid_input), plus host_denied (the URL host, or plain http://, is not allowed for this credential), request_denied (the method/path rules of the scope, or the placement rules of the credential, do not allow this request; the message says what is allowed) and upstream_error (the service could not be reached or did not answer in time).',
  ].join(' '),
  input: z
    .strictObject({
      credential: credentialNameField().describe(
        'Name of the credential to fill in, as shown by list_credentials.',
      ),
      scope: scopeField(),
      method: z
        .enum(HTTP_METHODS, { error: `must be one of ${HTTP_METHODS.join(', ')} (upper case)` })
        .describe('HTTP method: GET, POST, PUT, PATCH, DELETE or HEAD.'),
      url: z
        .string()
        .max(MAX_URL_CHARS, `must be at most ${MAX_URL_CHARS} characters`)
        .superRefine((s, ctx) => {
          const problem = s.length <= MAX_URL_CHARS ? urlProblem(s) : undefined;
          if (problem) {
            ctx.addIssue({ code: 'custom', message: problem });
          }
        })
        .describe(
          `Absolute http(s) URL. May contain ${CREDENTIAL_PLACEHOLDER} in the path or query; the host must be one the credential allows.`,
        ),
      headers: z
        .record(
          z
            .string()
            .regex(HEADER_NAME, 'header names must be HTTP tokens (letters, digits, - and a few symbols)'),
          z
            .string()
            .max(MAX_HEADER_VALUE_CHARS, `header values must be at most ${MAX_HEADER_VALUE_CHARS} characters`)
            .refine(
              (v) => !CONTROL_CHARS.test(v.replace(/\t/g, '')),
              'header values must not contain line breaks or control characters',
            ),
        )
        .superRefine((h, ctx) => {
          const names = Object.keys(h);
          if (names.length > MAX_HEADERS) {
            ctx.addIssue({ code: 'custom', message: `at most ${MAX_HEADERS} headers` });
          }
          for (const n of names) {
            if (RESERVED_HEADERS.has(n.toLowerCase())) {
              ctx.addIssue({
                code: 'custom',
                path: [n],
                message: 'this header is set by the HTTP client and cannot be given',
              });
            }
          }
        })
        .optional()
        .describe(
          `Request headers as name → value strings. Use ${CREDENTIAL_PLACEHOLDER} in a value to insert the credential.`,
        ),
      body: z
        .string()
        .refine(
          (b) => Buffer.byteLength(b, 'utf8') <= MAX_BODY_BYTES,
          `must be at most ${MAX_BODY_BYTES} bytes (1 MiB)`,
        )
        .optional()
        .describe(
          'Request body as text (e.g. JSON); not allowed with GET or HEAD. Set a Content-Type header to match.',
        ),
      agent_id: agentIdField(),
      reason: reasonField(),
    })
    .superRefine((a, ctx) => {
      if (a.body !== undefined && (a.method === 'GET' || a.method === 'HEAD')) {
        ctx.addIssue({
          code: 'custom',
          path: ['body'],
          message: `is not allowed with ${a.method}; use POST, PUT or PATCH to send a body`,
        });
      }
    })
    .describe('The request to send and the credential to fill in.'),
  output: z.strictObject({
    status: z.number().int().describe('HTTP status code of the upstream response.'),
    headers: z.record(z.string(), z.string()).describe('Response headers (lower-case names), key redacted.'),
    body: z
      .string()
      .describe('Response body as text (up to 1 MiB), every occurrence of the key replaced by [REDACTED].'),
  }),
  annotations: {
    title: 'HTTP request with a credential',
    // The request can be anything the upstream API allows, including changes and deletions.
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: false,
    openWorldHint: true,
  },
  async run(api, ctx, args) {
    const r = await api.httpRequest(ctx, {
      credential: args.credential,
      scope: args.scope,
      method: args.method,
      url: args.url,
      headers: args.headers,
      body: args.body,
      agent_id: args.agent_id,
      reason: args.reason,
    });
    return { status: r.status, headers: { ...r.headers }, body: r.body };
  },
});
