/**
 * `agent-keyring token --agent ID [--header-json]`: prints the token saved for an agent (by `agent
 * add --save-token`, `agent rotate-token --save-token` or Connect Agent) and nothing else, for a
 * client to call at start-up — Claude Code's `headersHelper` wants `--header-json`. Also the one
 * place that decides which token `bridge` and `run` use ({@link resolveAgentToken}).
 */
import { tokenEnvVar, TOKEN_ENV_VAR } from '../../core/connect/clients';
import { SavedTokens, describeLocation, type TokenLocation } from '../../core/connect/savedTokens';
import { toolKeyring } from '../../core/connect/toolKeyring';
import { SecretValue } from '../../core/model';
import { COMMON_OPTIONS, CliError, UsageError, parseCommand } from '../args';
import { HELP_HELP, STORE_HELP, type Command } from '../command';
import { localDirOf, resolveStoreDir } from '../context';
import { err, rememberSecret } from '../io';

/** The saved tokens of the store folder `store` (a flag value, else the usual default). */
export function savedTokensOf(store: string | undefined, env: NodeJS.ProcessEnv = process.env): SavedTokens {
  const keyring = env.AGENT_KEYRING_NO_KEYRING === '1' ? null : toolKeyring({ env });
  return new SavedTokens(localDirOf(resolveStoreDir(store, env), env), { keyring });
}

/** Saves a token just made for `agentId` and says where on stderr (never the token). */
export async function saveAgentToken(
  store: string | undefined,
  agentId: string,
  token: SecretValue,
): Promise<TokenLocation> {
  const location = await savedTokensOf(store).save(agentId, token);
  err(
    `Saved the token of '${agentId}' in ${describeLocation(location)}. A client gets it with: agent-keyring token --agent ${agentId}${store ? ` --store ${store}` : ''} [--header-json]`,
  );
  return location;
}

/**
 * After `agent rotate-token` (without --save-token) or `agent revoke`: a token saved for the agent
 * is replaced by `next` or removed, so a client's helper never hands out a dead token. Nothing
 * happens when none was saved.
 */
export async function updateSavedAgentToken(
  store: string | undefined,
  agentId: string,
  next: SecretValue | undefined,
): Promise<void> {
  const tokens = savedTokensOf(store);
  if (!(await tokens.load(agentId).catch(() => undefined))) {
    return;
  }
  if (next) {
    await tokens.save(agentId, next);
    err(`The token saved for '${agentId}' was replaced by the new one.`);
  } else {
    await tokens.remove(agentId);
    err(`The token saved for '${agentId}' was removed.`);
  }
}

/**
 * The token an agent process should present. `--token-env NAME`: that variable only. `--agent ID`:
 * `AGENT_KEYRING_TOKEN_<ID>`, else the token saved for ID, else `AGENT_KEYRING_TOKEN`. Neither:
 * `AGENT_KEYRING_TOKEN`.
 * @throws UsageError when both flags are given; CliError (`missingExit`) when no token is found.
 */
export async function resolveAgentToken(
  opts: { agent?: string; tokenEnv?: string; store?: string; missingExit: number },
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  return (await findAgentToken(opts, env)).token;
}

/**
 * {@link resolveAgentToken}, and whether the token is the one saved in the store folder (`run`
 * sends a saved token only to a server that proves it serves that store).
 */
export async function findAgentToken(
  opts: { agent?: string; tokenEnv?: string; store?: string; missingExit: number },
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ token: string; saved: boolean }> {
  if (opts.agent !== undefined && opts.tokenEnv !== undefined) {
    throw new UsageError('give --agent ID or --token-env NAME, not both');
  }
  const fromEnv = (name: string): string | undefined => env[name]?.trim() || undefined;
  let token: string | undefined;
  let saved = false;
  let missing: string;
  if (opts.tokenEnv !== undefined) {
    token = fromEnv(opts.tokenEnv);
    missing = `${opts.tokenEnv} is not set: set it to this agent's token (create one with 'agent-keyring agent add ID')`;
  } else if (opts.agent !== undefined) {
    const variable = tokenEnvVar(opts.agent);
    token = fromEnv(variable);
    if (token === undefined) {
      token = (await savedTokensOf(opts.store, env).load(opts.agent))?.token.reveal();
      saved = token !== undefined;
    }
    token ??= fromEnv(TOKEN_ENV_VAR);
    missing = `no token for agent '${opts.agent}': set ${variable}, or save one with 'agent-keyring agent rotate-token ${opts.agent} --save-token'`;
  } else {
    token = fromEnv(TOKEN_ENV_VAR);
    missing = `${TOKEN_ENV_VAR} is not set: set it to this agent's token (create one with 'agent-keyring agent add ID'), or pass --agent ID to use AGENT_KEYRING_TOKEN_<ID> or the token saved for it`;
  }
  if (token === undefined) {
    throw new CliError(missing, opts.missingExit);
  }
  rememberSecret(token);
  return { token, saved };
}

export const tokenCommand: Command = {
  name: 'token',
  summary: "print an agent's saved token (for a client's start-up helper)",
  usage: `Usage: agent-keyring token --agent ID [--header-json] [--store DIR]

Prints the token saved for agent ID — by 'agent add ID --save-token', 'agent rotate-token ID
--save-token' or Connect Agent in VS Code — on stdout and nowhere else, so a client can fetch it
when it starts instead of reading it from a shell profile. Saved tokens are in the OS keyring
where one answers, else in <store>/agent-tokens/ID.token (mode 0600: a plain file on disk).

  export AGENT_KEYRING_TOKEN_RESEARCH_AGENT="$(agent-keyring token --agent research-agent)"

Claude Code (.mcp.json or ~/.claude.json), instead of "headers":
  "headersHelper": "agent-keyring token --agent claude-code --header-json"

Options:
  --agent ID      the agent whose token to print (required)
  --header-json   print {"Authorization": "Bearer <token>"} instead of the bare token
${STORE_HELP}
${HELP_HELP}

Exit codes: 0 printed, 1 no token saved for ID (the message says how to save one), 2 bad usage.`,
  async run(argv, globals) {
    const { values } = parseCommand(
      argv,
      { ...COMMON_OPTIONS, agent: { type: 'string' }, 'header-json': { type: 'boolean' } },
      0,
    );
    if (values.agent === undefined || values.agent.trim() === '') {
      throw new UsageError('missing --agent ID (the agent whose saved token to print)');
    }
    const agent = values.agent.trim();
    const store = values.store ?? globals.store;
    const saved = await savedTokensOf(store).load(agent);
    if (!saved) {
      const tokens = savedTokensOf(store);
      throw new CliError(
        `no token saved for agent '${agent}' (looked in the OS keyring and ${tokens.fileOf(agent)}). Save one with: agent-keyring agent rotate-token ${agent} --save-token${store ? ` --store ${store}` : ''}`,
        1,
      );
    }
    const raw = saved.token.reveal();
    rememberSecret(raw);
    // Written directly: the one place this token is printed, and only on stdout.
    process.stdout.write(
      values['header-json'] ? `${JSON.stringify({ Authorization: `Bearer ${raw}` })}\n` : `${raw}\n`,
    );
    return 0;
  },
};
