/**
 * `get_credential` — hands the current value of one credential to the calling agent, with a lease
 * (id, TTL, expiry). Needs the scope the agent asks for to be one of the credential's
 * `allowed_scopes`, the agent to be in its `allowed_agents`, and the anomaly rules to pass
 * (sensitive scopes such as `publish` may be held for the user's approval).
 * The value is revealed here, and only here, when the result is built.
 */
import { z } from 'zod';
import { agentIdField, credentialNameField, defineTool, reasonField, scopeField } from './toolDefinition';

export const getCredentialTool = defineTool({
  name: 'get_credential',
  title: 'Get credential',
  description: [
    'Returns the value of a stored credential (API key, token) by name and scope, with a lease that expires after expires_in seconds.',
    'Prefer http_request whenever you only need to call an HTTP API with the key: it sends the request for you and you never see the key.',
    'Use get_credential only when you must hand the value to a tool or process yourself. Do not store, print or repeat the value; ask again after expires_at.',
    'Call list_credentials first to see which names and scopes you may use.',
    'Refusals come back as errors with a code: not_found (no such credential for you), scope_denied (ask for one of its scopes), anomaly_denied, approval_denied (the user said no or was not there), reveal_denied (this key is used, never read: use http_request with it instead), rate_limited (slow down), invalid_input.',
  ].join(' '),
  input: z
    .strictObject({
      name: credentialNameField().describe(
        'Name of the credential, as shown by list_credentials (e.g. "scavio_api_key").',
      ),
      scope: scopeField(),
      agent_id: agentIdField(),
      reason: reasonField(),
    })
    .describe('Which credential you need and for what.'),
  output: z.strictObject({
    name: z.string().describe('The credential name.'),
    scope: z.string().describe('The scope the lease was granted for.'),
    value: z.string().describe('The secret value. Use it, do not store or repeat it.'),
    version: z.number().int().describe('Version of the value (increases on every rotation).'),
    lease_id: z.string().describe('Id of this lease, recorded in the audit log.'),
    expires_in: z.number().int().describe('Seconds until the lease expires; ask again afterwards.'),
    expires_at: z.string().describe('When the lease expires (ISO-8601, UTC).'),
  }),
  annotations: {
    title: 'Get credential',
    // Changes nothing the agent can observe: only the audit log and the lease table grow.
    readOnlyHint: true,
    openWorldHint: false,
  },
  secretOutputFields: ['value'],
  async run(api, ctx, args) {
    const r = await api.getCredential(ctx, args);
    return {
      name: r.name,
      scope: r.scope,
      value: r.value.reveal(),
      version: r.version,
      lease_id: r.lease_id,
      expires_in: r.expires_in,
      expires_at: r.expires_at,
    };
  },
});
