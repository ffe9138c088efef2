/**
 * `list_credentials` — the credentials the calling agent may use (name, description, scopes,
 * version, last rotation). No scope needed: an agent only ever sees the credentials whose
 * `allowed_agents` include it. Never returns a value.
 */
import { z } from 'zod';
import { defineTool } from './toolDefinition';

export const listCredentialsTool = defineTool({
  name: 'list_credentials',
  title: 'List credentials',
  description: [
    'Lists the credentials you are allowed to use: name, description, the scopes you can ask for, current version and when it was last rotated. Never returns secret values.',
    'Use it to find the right name and scope before calling http_request (preferred: the key never reaches you) or get_credential.',
  ].join(' '),
  input: z.strictObject({}).describe('No arguments.'),
  output: z.strictObject({
    credentials: z
      .array(
        z.strictObject({
          name: z.string().describe('Name to pass to get_credential / http_request.'),
          description: z.string().describe('What the credential is for.'),
          scopes: z.array(z.string()).describe('Scopes you may ask for.'),
          version: z.number().int().describe('Current version.'),
          rotated_at: z.string().describe('When the current version was made (ISO-8601, UTC).'),
        }),
      )
      .describe('Credentials available to you, sorted by name.'),
  }),
  annotations: {
    title: 'List credentials',
    readOnlyHint: true,
    idempotentHint: true,
    openWorldHint: false,
  },
  async run(api, ctx) {
    const list = await api.listCredentials(ctx);
    return {
      credentials: list.map((c) => ({
        name: c.name,
        description: c.description,
        scopes: [...c.scopes],
        version: c.version,
        rotated_at: c.rotated_at,
      })),
    };
  },
});
