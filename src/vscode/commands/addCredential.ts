/**
 * `agentKeyring.addCredential`: value (password box) → name → description → scopes → allowed
 * agents → lease TTL → allowed hosts → reveal mode, each validated as you type with the core's
 * schemas. Esc at any step stops with nothing stored.
 *
 * Args (tests, other callers): `{ name, value, description?, scopes, agents?, ttlSeconds?, hosts?, reveal? }`
 * — when `value` is given no prompt is shown. Resolves the new credential's metadata.
 */
import * as vscode from 'vscode';
import { SecretValue, type CredentialMeta, type RevealMode } from '../../core/model';
import { CredentialPatchSchema } from '../../core/store/schemas';
import {
  ACTOR,
  argObject,
  optionalNumber,
  optionalString,
  optionalStrings,
  type CommandContext,
  type CommandHandler,
} from './commandContext';
import {
  ask,
  parseList,
  pickAllowedAgents,
  pickRevealMode,
  schemaValidator,
  validateSecretValue,
  type Step,
} from './prompts';

const TITLE = 'Add Credential';
const STEPS = 8;

interface NewCredential {
  name: string;
  value: SecretValue;
  description: string;
  scopes: string[];
  agents: string[];
  ttlSeconds: number;
  hosts?: string[];
  reveal?: RevealMode;
}

export function addCredential(ctx: CommandContext): CommandHandler {
  return async (arg) => {
    const args = argObject(arg);
    const input = typeof args?.value === 'string' ? fromArgs(args, ctx) : await prompt(ctx);
    if (!input) {
      ctx.logger.info('Add Credential cancelled; nothing stored.');
      return undefined;
    }
    const meta: CredentialMeta = await ctx.keyring.admin.addCredential(
      {
        name: input.name,
        description: input.description,
        allowed_scopes: input.scopes,
        allowed_agents: input.agents,
        ttl_seconds: input.ttlSeconds,
        ...(input.hosts && input.hosts.length > 0 ? { allowed_hosts: input.hosts } : {}),
        ...(input.reveal ? { reveal: input.reveal } : {}),
      },
      input.value,
      ACTOR,
    );
    ctx.logger.info(
      `Credential '${meta.name}' added by ${ACTOR} (scopes ${meta.allowed_scopes.join(', ')}).`,
    );
    ctx.refreshViews();
    if (!args) {
      void vscode.window.showInformationMessage(
        `Agent Keyring: credential '${meta.name}' added. ${
          meta.allowed_agents.length === 0
            ? 'No agent may use it yet: allow agents with Edit Scopes….'
            : `Agents ask for it by name: get_credential("${meta.name}", "${meta.allowed_scopes[0]}").`
        }`,
      );
    }
    return meta;
  };
}

function fromArgs(args: Record<string, unknown>, ctx: CommandContext): NewCredential {
  return {
    name: optionalString(args, 'name') ?? '',
    value: new SecretValue(args.value as string),
    description: optionalString(args, 'description') ?? '',
    scopes: optionalStrings(args, 'scopes') ?? [],
    agents: optionalStrings(args, 'agents') ?? [],
    ttlSeconds: optionalNumber(args, 'ttlSeconds') ?? ctx.settings().defaultTtlSeconds,
    hosts: optionalStrings(args, 'hosts'),
    // Checked by the store's schema (a bad value is a clear invalid_input).
    reveal: optionalString(args, 'reveal') as RevealMode | undefined,
  };
}

async function prompt(ctx: CommandContext): Promise<NewCredential | undefined> {
  const step = (n: number): Step => ({ title: TITLE, step: n, totalSteps: STEPS });
  const store = ctx.keyring.admin;

  const raw = await ask(step(1), {
    prompt:
      'Paste the secret value (API key, token…). It goes to SecretStorage only and is never shown again.',
    password: true,
    validate: validateSecretValue,
  });
  if (raw === undefined) {
    return undefined;
  }
  const value = new SecretValue(raw);

  const nameSchema = schemaValidator(CredentialPatchSchema, (t) => ({ name: t }));
  const name = await ask(step(2), {
    prompt: 'Name agents will ask for, e.g. github_token or openai.prod',
    placeHolder: 'lower-case letters, digits, "_", "." or "-"',
    validate: async (t) => {
      const problem = nameSchema(t);
      if (problem) {
        return problem;
      }
      return (await store.getCredential(t))
        ? `A credential named '${t}' already exists. Pick another name, or rotate the existing one.`
        : undefined;
    },
  });
  if (name === undefined) {
    return undefined;
  }

  const description = await ask(step(3), {
    prompt: 'What is it for? (optional; agents see this in list_credentials)',
    validate: schemaValidator(CredentialPatchSchema, (t) => ({ description: t })),
  });
  if (description === undefined) {
    return undefined;
  }

  const scopesText = await ask(step(4), {
    prompt: 'Scopes agents may ask for, separated by commas, e.g. search_read, publish',
    placeHolder: 'read',
    validate: schemaValidator(CredentialPatchSchema, (t) => ({ allowed_scopes: parseList(t) })),
  });
  if (scopesText === undefined) {
    return undefined;
  }

  const agents = await pickAllowedAgents(store, step(5), []);
  if (agents === undefined) {
    return undefined;
  }

  const ttlText = await ask(step(6), {
    prompt: 'Lease lifetime in seconds (how long an answer to get_credential is good for)',
    value: String(ctx.settings().defaultTtlSeconds),
    validate: (t) =>
      /^\s*\d+\s*$/.test(t)
        ? schemaValidator(CredentialPatchSchema, (x) => ({ ttl_seconds: Number(x) }))(t)
        : 'Enter a whole number of seconds from 1 to 86400.',
  });
  if (ttlText === undefined) {
    return undefined;
  }

  const hostsText = await ask(step(7), {
    prompt: 'Hosts http_request may send it to, separated by commas (optional), e.g. api.github.com',
    validate: schemaValidator(CredentialPatchSchema, (t) => ({ allowed_hosts: parseList(t) })),
  });
  if (hostsText === undefined) {
    return undefined;
  }

  const reveal = await pickRevealMode(step(8), 'allow');
  if (reveal === undefined) {
    return undefined;
  }

  return {
    name,
    value,
    description,
    scopes: parseList(scopesText),
    agents,
    ttlSeconds: Number(ttlText.trim()),
    hosts: parseList(hostsText),
    reveal: reveal as RevealMode,
  };
}
