/**
 * `rotate_credential` — makes a new version of a credential current (from `new_value`, or made by
 * the credential's generator) and keeps the previous version valid for `grace_seconds`.
 * No scope: only agents listed in the credential's `rotation_agents` may rotate it (default:
 * nobody — humans rotate in the editor). `new_value` is a secret: it is wrapped in a
 * `SecretValue` the moment it is parsed and never echoed, logged or audited.
 */
import { z } from 'zod';
import { MAX_GRACE_SECONDS as GRACE_BOUND } from '../../limits';
import { SecretValue } from '../../model';
import { credentialNameField, defineTool } from './toolDefinition';

/** Longest grace period: 30 days (the core enforces the same bound). */
export const MAX_GRACE_SECONDS = GRACE_BOUND;
/** Longest value accepted (PEM keys and JSON service-account keys fit comfortably). */
export const MAX_NEW_VALUE_CHARS = 65_536;

export const rotateCredentialTool = defineTool({
  name: 'rotate_credential',
  title: 'Rotate credential',
  description: [
    'Rotates a credential: a new version becomes current for every agent at once, and the previous value keeps working for grace_seconds so nothing breaks mid-flight.',
    'Only allowed for credentials that name you as a rotation agent (otherwise rotate_denied: ask the user to rotate it in Agent Keyring).',
    'Leave out new_value to let Agent Keyring generate one (no_generator if the credential has no generator).',
    'Use this after you have created a new key upstream, or when asked to rotate; it cannot be undone.',
  ].join(' '),
  input: z
    .strictObject({
      name: credentialNameField().describe('Name of the credential to rotate.'),
      new_value: z
        .string()
        .min(1, 'must not be empty; leave it out to let Agent Keyring generate a value')
        .max(MAX_NEW_VALUE_CHARS, `must be at most ${MAX_NEW_VALUE_CHARS} characters`)
        .transform((s) => new SecretValue(s))
        .optional()
        .describe('Optional new secret value. Leave out to have Agent Keyring generate one.'),
      grace_seconds: z
        .number()
        .int('must be a whole number of seconds')
        .min(0, 'must be 0 or more')
        .max(MAX_GRACE_SECONDS, `must be at most ${MAX_GRACE_SECONDS} (30 days)`)
        .optional()
        .describe(
          `Seconds the previous value stays valid upstream after the rotation (0 to ${MAX_GRACE_SECONDS}; default 0).`,
        ),
    })
    .describe('Which credential to rotate and how.'),
  output: z.strictObject({
    name: z.string().describe('The credential name.'),
    version: z.number().int().describe('The new current version.'),
    previous_version: z.number().int().describe('The version that was current before.'),
    previous_valid_until: z
      .string()
      .nullable()
      .describe('Until when the previous value still works (ISO-8601, UTC), or null if it stopped at once.'),
  }),
  annotations: {
    title: 'Rotate credential',
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: false,
    openWorldHint: false,
  },
  async run(api, ctx, args) {
    const r = await api.rotateCredential(ctx, {
      name: args.name,
      new_value: args.new_value,
      grace_seconds: args.grace_seconds,
    });
    return {
      name: r.name,
      version: r.version,
      previous_version: r.previous_version,
      previous_valid_until: r.previous_valid_until,
    };
  },
});
