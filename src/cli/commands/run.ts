/**
 * `agent-keyring run`: starts a command with keys from the keyring in its environment (README.md, "Run tools and MCP servers with keys").
 *
 *   run --env VAR=credential[:scope] … [--env-file FILE] -- cmd args…      a process
 *   run --mcp --env … -- cmd args…                                        a stdio MCP server, restarted on rotation
 *   run --mcp --upstream URL --credential NAME[:scope] --header 'H=…{{credential}}…'   a remote MCP server
 *       [--listen 127.0.0.1:PORT]                                                     … as a local HTTP endpoint
 *
 * Every key goes through the decision of get_credential (policy, anomaly rules, approval,
 * fail-closed audit) as `tool: run` with the command's name; through a running server with
 * `--url`/AGENT_KEYRING_URL, else in-process with the local store. Exit codes: see exitCodes.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isKeyringError } from '../../core/errors';
import {
  LocalCredentialSource,
  type CredentialSource,
  type InjectedVariable,
} from '../../core/inject/credentialSource';
import {
  buildChildEnv,
  mergeSpecs,
  parseEnvSpec,
  parseEnvTemplate,
  type EnvSpec,
} from '../../core/inject/envSpec';
import { startHttpFront, type HttpFront } from '../../core/inject/httpFront';
import { McpWrapper } from '../../core/inject/mcpWrapper';
import { commandProblem, runProcess } from '../../core/inject/runProcess';
import { CREDENTIAL_PLACEHOLDER, type CredentialMeta } from '../../core/model';
import type { Logger } from '../../core/ports';
import { checkHost } from '../../core/policy/policyEngine';
import { tokenEnvVar } from '../../core/connect/clients';
import { CliError, UsageError, clip, parseCommand, parseInteger } from '../args';
import { HELP_HELP, STORE_HELP, type Command, type GlobalFlags } from '../command';
import { localDirOf, makeLogger, openStore, resolveStoreDir, storeExists } from '../context';
import { err, rememberSecret, scrub } from '../io';
import { EXIT_DENIED, EXIT_UNAVAILABLE, EXIT_USAGE } from '../run/exitCodes';
import { checkServerOfStore } from '../run/storeProof';
import { runBridge } from './bridge';
import { findAgentToken } from './token';

const OPTIONS = {
  env: { type: 'string', multiple: true },
  'env-file': { type: 'string', multiple: true },
  url: { type: 'string' },
  'token-env': { type: 'string' },
  agent: { type: 'string' },
  'no-mask': { type: 'boolean' },
  mcp: { type: 'boolean' },
  upstream: { type: 'string' },
  credential: { type: 'string' },
  header: { type: 'string', multiple: true },
  listen: { type: 'string' },
  'drain-ms': { type: 'string' },
  store: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const DEFAULT_TOKEN_VARIABLE = 'AGENT_KEYRING_TOKEN';

const USAGE = `Usage: agent-keyring run [options] --env VAR=credential[:scope] [--env …] -- command [args…]
       agent-keyring run --mcp [options] --env VAR=credential[:scope] … -- mcp-server-command [args…]
       agent-keyring run --mcp --upstream URL --credential NAME[:scope] --header 'Name=…{{credential}}…'
                         [--listen 127.0.0.1:PORT]

Starts a command with keys from the keyring in its environment. Each key is decided like
get_credential (policy, anomaly rules, approval) and audited as tool 'run' with the command's name.
The command gets exactly the variables asked for on top of the inherited environment, never the
keyring's token. Values it prints on stdout/stderr are replaced by [REDACTED] (raw, URL-encoded and
base64 forms, also across chunks); when run's output is a terminal, the command gets FORCE_COLOR=1.

With --mcp, run is a stdio MCP server that forwards to the command verbatim and restarts it with
the new value when a key rotates; the client's session survives. With --upstream, run is a stdio
MCP server for a remote (Streamable HTTP) one, adding the header with the current value to every
request, only if the URL's host is in the credential's allowed hosts. With --listen, that front is
a local HTTP MCP endpoint (http://127.0.0.1:PORT/mcp) instead of stdio; clients must send
'Authorization: Bearer <the agent token run was started with>'.

Options:
  --env VAR=CRED[:SCOPE]  set VAR to the credential's value (repeatable). Without :SCOPE, the
                          credential's only scope; a credential with several needs one.
  --env-file FILE         more VAR=CRED[:SCOPE] lines (# comments and blank lines skipped)
  --url URL               get the keys through a running server (default: $AGENT_KEYRING_URL);
                          without it, from the local store (--store)
  --token-env NAME        read the agent token from variable NAME (default: AGENT_KEYRING_TOKEN),
                          e.g. --token-env AGENT_KEYRING_TOKEN_RESEARCH
  --agent ID              instead: agent ID's token from AGENT_KEYRING_TOKEN_<ID>, else the token
                          saved for ID ('agent rotate-token ID --save-token'), else
                          AGENT_KEYRING_TOKEN; with --url, a saved token goes only to a
                          server that proves it serves the --store keyring
  --no-mask               pass the command's output through untouched (binary output)
  --mcp                   run a stdio MCP server (restarted on rotation)
  --drain-ms N            with --mcp: on rotation, how long requests in flight may take before
                          the old server is stopped and they are answered with a retry error
                          (default 5000)
  --upstream URL          with --mcp: front a remote MCP server at URL instead of a command
  --credential NAME[:S]   with --upstream: the credential {{credential}} stands for
  --header 'NAME=VALUE'   with --upstream: a header sent on every request (repeatable)
  --listen HOST:PORT      with --upstream: serve HTTP on loopback (127.0.0.1, ::1 or localhost;
                          port 0 = any free one) instead of stdio; runs until SIGINT/SIGTERM
${STORE_HELP}
${HELP_HELP}

Exit codes (when the command did not run):
  2   bad usage (unknown flag, malformed --env, no command, a scope needed)
  77  refused: no or unknown token, credential not found, scope/agent/anomaly/approval denial
  69  the server (--url) is not reachable
  126 / 127  the command cannot be executed / was not found (checked before any key is asked for)
  1   anything else (e.g. the audit log cannot be written: nothing is released)
Otherwise run exits with the command's code (128+n if signal n ended it). SIGINT, SIGTERM and
SIGHUP are passed on to the command.`;

interface RunConfig {
  specs: EnvSpec[];
  command: string[];
  mask: boolean;
  mcp: boolean;
  upstream: URL | undefined;
  upstreamCredential: EnvSpec | undefined;
  headers: Array<[string, string]>;
  listen: { host: string; port: number } | undefined;
  url: URL | undefined;
  tokenVariable: string;
  /** `--agent ID`: the token is resolved for this agent (its variable, its saved token, the shared one). */
  agent: string | undefined;
  drainMs: number;
}

function parseRunArgs(argv: string[]): { config: RunConfig; store: string | undefined } {
  const dd = argv.indexOf('--');
  const own = dd >= 0 ? argv.slice(0, dd) : argv;
  const command = dd >= 0 ? argv.slice(dd + 1) : [];
  const { values, positionals } = parseCommand(own, OPTIONS, 0);
  void positionals;
  const specs: EnvSpec[] = [];
  try {
    for (const raw of values.env ?? []) {
      specs.push(parseEnvSpec(raw));
    }
    for (const file of values['env-file'] ?? []) {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (e) {
        throw new UsageError(
          `cannot read --env-file '${clip(file, 80)}' (${(e as NodeJS.ErrnoException).code ?? 'error'}); check the path`,
        );
      }
      specs.push(...parseEnvTemplate(text, path.basename(file)));
    }
  } catch (e) {
    throw isKeyringError(e) ? new UsageError(e.message) : e;
  }
  let merged: EnvSpec[];
  try {
    merged = mergeSpecs(specs);
  } catch (e) {
    throw isKeyringError(e) ? new UsageError(e.message) : e;
  }
  const mcp = values.mcp ?? false;
  const upstreamRaw = values.upstream;
  let upstream: URL | undefined;
  let upstreamCredential: EnvSpec | undefined;
  const headers: Array<[string, string]> = [];
  if (values.listen !== undefined && upstreamRaw === undefined) {
    throw new UsageError('--listen goes with --mcp --upstream URL (a local HTTP front for a remote server)');
  }
  if (upstreamRaw !== undefined) {
    if (!mcp) {
      throw new UsageError('--upstream needs --mcp (run --mcp --upstream URL …)');
    }
    if (command.length > 0) {
      throw new UsageError('--upstream fronts a remote server: leave out the command after --');
    }
    upstream = parseUrl(upstreamRaw, '--upstream');
    if (!values.credential) {
      throw new UsageError(
        '--upstream needs --credential NAME[:scope] (the credential {{credential}} stands for)',
      );
    }
    try {
      upstreamCredential = parseEnvSpec(`UPSTREAM=${values.credential}`, '--credential');
    } catch (e) {
      throw isKeyringError(e) ? new UsageError(e.message.replace(' (for UPSTREAM)', '')) : e;
    }
    for (const raw of values.header ?? []) {
      const eq = raw.indexOf('=');
      const name = eq > 0 ? raw.slice(0, eq).trim() : '';
      if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) {
        throw new UsageError(
          `--header '${clip(raw, 40)}' must look like Name=value (e.g. 'Authorization=Bearer {{credential}}')`,
        );
      }
      headers.push([name, raw.slice(eq + 1)]);
    }
    if (!headers.some(([, v]) => v.includes(CREDENTIAL_PLACEHOLDER))) {
      throw new UsageError(
        `no --header uses ${CREDENTIAL_PLACEHOLDER}; add e.g. --header 'Authorization=Bearer ${CREDENTIAL_PLACEHOLDER}'`,
      );
    }
    if (merged.length > 0) {
      throw new UsageError('--env has no effect with --upstream (there is no command); leave it out');
    }
  } else {
    if (values.credential !== undefined || values.header !== undefined) {
      throw new UsageError('--credential and --header go with --mcp --upstream URL');
    }
    if (command.length === 0 || command[0] === '') {
      throw new UsageError(
        'missing the command: put it after --, e.g. agent-keyring run --env K=cred -- node app.js',
      );
    }
    if (merged.length === 0) {
      throw new UsageError('no keys asked for: add --env VAR=credential[:scope] (or --env-file FILE)');
    }
  }
  const urlRaw = values.url ?? (process.env.AGENT_KEYRING_URL?.trim() || undefined);
  if (values.agent !== undefined && values['token-env'] !== undefined) {
    throw new UsageError('give --agent ID or --token-env NAME, not both');
  }
  const agent = values.agent?.trim() || undefined;
  const tokenVariable =
    values['token-env'] ?? (agent !== undefined ? tokenEnvVar(agent) : DEFAULT_TOKEN_VARIABLE);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(tokenVariable)) {
    throw new UsageError(`--token-env '${clip(tokenVariable, 40)}' is not a variable name`);
  }
  return {
    config: {
      specs: merged,
      command,
      mask: !(values['no-mask'] ?? false),
      mcp,
      upstream,
      upstreamCredential,
      headers,
      listen: values.listen !== undefined ? parseListen(values.listen) : undefined,
      url: urlRaw !== undefined ? parseUrl(urlRaw, '--url') : undefined,
      tokenVariable,
      agent,
      drainMs:
        values['drain-ms'] !== undefined ? parseInteger(values['drain-ms'], '--drain-ms', 0, 600_000) : 5_000,
    },
    store: values.store,
  };
}

/** `--listen HOST:PORT`: loopback only, so no other machine can reach a front that adds a key. */
function parseListen(raw: string): { host: string; port: number } {
  const m = /^(\[[^\]]*\]|[^:]*):(\d{1,5})$/.exec(raw.trim());
  if (!m || Number(m[2]) > 65535) {
    throw new UsageError(`--listen must be HOST:PORT such as 127.0.0.1:47100 (got '${clip(raw, 60)}')`);
  }
  const host = m[1].replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (host !== '127.0.0.1' && host !== '::1' && host !== 'localhost') {
    throw new UsageError(
      `--listen binds loopback only (127.0.0.1, ::1 or localhost), so no other machine can use the key; got '${clip(m[1], 60)}'`,
    );
  }
  return { host: host === 'localhost' ? '127.0.0.1' : host, port: Number(m[2]) };
}

function parseUrl(raw: string, flag: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(
      `${flag} must be an absolute URL such as http://127.0.0.1:47017/mcp (got '${clip(raw, 60)}')`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${flag} must start with http:// or https://`);
  }
  return url;
}

/** A refusal or failure of the keyring as run's one line and exit code. */
function asCliError(e: unknown): unknown {
  if (!isKeyringError(e)) {
    return e;
  }
  switch (e.code) {
    case 'invalid_input':
      return new CliError(e.message, EXIT_USAGE);
    case 'audit_unavailable':
    case 'store_error':
    case 'internal_error':
      return new CliError(e.message, 1);
    default:
      return new CliError(e.message, EXIT_DENIED);
  }
}

async function openSource(
  config: RunConfig,
  globals: GlobalFlags,
  store: string | undefined,
  logger: Logger,
): Promise<CredentialSource> {
  const found =
    config.agent !== undefined
      ? await findAgentToken({
          agent: config.agent,
          store: store ?? globals.store,
          missingExit: EXIT_DENIED,
        })
      : undefined;
  const token = found ? found.token : process.env[config.tokenVariable]?.trim();
  if (!token) {
    throw new CliError(
      `${config.tokenVariable} is not set: set it to this agent's token (create one with 'agent-keyring agent add ID')${config.tokenVariable === DEFAULT_TOKEN_VARIABLE ? ', or name another variable with --token-env' : ''}`,
      EXIT_DENIED,
    );
  }
  rememberSecret(token);
  if (config.url) {
    if (found?.saved) {
      // A saved token goes only to the server of the store it was saved in.
      await checkServerOfStore(config.url, localDirOf(resolveStoreDir(store ?? globals.store)));
    }
    // Loaded on demand: the MCP SDK client is not evaluated for commands that do not need it.
    const { RemoteCredentialSource } = await import('../run/remoteSource.js');
    return RemoteCredentialSource.open(config.url, token);
  }
  const dir = resolveStoreDir(store ?? globals.store);
  if (!storeExists(dir)) {
    throw new CliError(
      `no keyring at ${dir}: pass --store DIR (or AGENT_KEYRING_STORE), or --url to use a running server`,
      EXIT_UNAVAILABLE,
    );
  }
  const keyring = await openStore(dir, { logger });
  try {
    return await LocalCredentialSource.open(keyring.service, token, () => keyring.close());
  } catch (e) {
    await keyring.close();
    throw e;
  }
}

function valuesOf(vars: readonly InjectedVariable[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of vars) {
    const raw = v.credential.value.reveal();
    rememberSecret(raw);
    out[v.spec.variable] = raw;
  }
  return out;
}

function commandName(command: string): string {
  return path.basename(command);
}

async function runPlain(config: RunConfig, source: CredentialSource): Promise<number> {
  const [cmd, ...args] = config.command;
  let vars: InjectedVariable[];
  try {
    vars = await source.fetch(config.specs, commandName(cmd));
  } finally {
    // The audit lines are flushed before the command starts; nothing keeps the store open.
    await source.close();
  }
  const mustMask = vars.some((v) => v.credential.mustMask);
  const mask = config.mask || mustMask;
  if (!config.mask && mustMask) {
    err("agent-keyring: --no-mask ignored: a credential's policy requires masking");
  }
  const injected = valuesOf(vars);
  const tty = Boolean(process.stdout.isTTY || process.stderr.isTTY);
  return runProcess({
    command: cmd,
    args,
    env: buildChildEnv(process.env, injected, {
      tokenVariable: config.tokenVariable,
      forceColor: mask && tty,
    }),
    mask: mask ? Object.values(injected) : undefined,
    onSpawnError: (message) => err(`agent-keyring: ${message}`),
  });
}

async function runMcp(config: RunConfig, source: CredentialSource, logger: Logger): Promise<number> {
  const [cmd, ...args] = config.command;
  const name = commandName(cmd);
  let vars = await source.fetch(config.specs, name);
  const wrapper = new McpWrapper({
    command: cmd,
    args,
    env: () => buildChildEnv(process.env, valuesOf(vars), { tokenVariable: config.tokenVariable }),
    maskValues: () =>
      config.mask || vars.some((v) => v.credential.mustMask)
        ? vars.map((v) => v.credential.value.reveal())
        : undefined,
    input: process.stdin,
    output: process.stdout,
    stderr: process.stderr,
    logger,
    drainMs: config.drainMs,
  });
  let chain = Promise.resolve();
  let queued = false;
  const onRotated = (): void => {
    if (queued) {
      return;
    }
    queued = true;
    chain = chain.then(async () => {
      queued = false;
      let next: InjectedVariable[];
      try {
        next = await source.fetch(config.specs, name);
      } catch (e) {
        logger.error(
          `run --mcp: could not get the rotated keys (${e instanceof Error ? e.message : String(e)}); '${name}' keeps running with the keys it has.`,
        );
        return;
      }
      if (next.every((v, i) => v.credential.version === vars[i]?.credential.version)) {
        return;
      }
      vars = next;
      await wrapper.restart();
      logger.info(`run --mcp: restarted '${name}' with rotated keys (restart ${wrapper.restarts}).`);
    });
  };
  const watcher = await source.watch([...new Set(config.specs.map((s) => s.credential))], onRotated);
  const forward = (signal: NodeJS.Signals): void => wrapper.kill(signal);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(s, forward);
  }
  wrapper.start();
  const code = await wrapper.done;
  watcher.dispose();
  await chain;
  await source.close();
  return code;
}

async function runUpstream(config: RunConfig, source: CredentialSource, logger: Logger): Promise<number> {
  const url = config.upstream as URL;
  const spec = config.upstreamCredential as EnvSpec;
  const meta = await source.describe(spec.credential);
  if (meta) {
    // The same host rule as http_request: the value goes only to the credential's allowed hosts.
    checkHost({ name: spec.credential, allowed_hosts: meta.allowed_hosts } as CredentialMeta, url);
  }
  let vars = await source.fetch([spec], url.host);
  const watcher = await source.watch([spec.credential], () => {
    source.fetch([spec], url.host).then(
      (next) => {
        vars = next;
        rememberSecret(next[0].credential.value.reveal());
        logger.info(
          `run --upstream: '${spec.credential}' rotated; the next request uses version ${next[0].credential.version}.`,
        );
      },
      (e: unknown) =>
        logger.error(
          `run --upstream: could not get the rotated '${spec.credential}' (${e instanceof Error ? e.message : String(e)}).`,
        ),
    );
  });
  rememberSecret(vars[0].credential.value.reveal());
  const upstreamHeaders = (): Record<string, string> => {
    const raw = vars[0].credential.value.reveal();
    return Object.fromEntries(config.headers.map(([k, v]) => [k, v.split(CREDENTIAL_PLACEHOLDER).join(raw)]));
  };
  try {
    if (config.listen) {
      return await serveFront(config.listen, url, upstreamHeaders, config.tokenVariable, logger);
    }
    return await runBridge({
      url,
      logger,
      unauthorizedHint: `${url.host} refused the request (HTTP 401): check that '${spec.credential}' holds a key it accepts and that --header puts it where it expects it`,
      headers: upstreamHeaders,
    });
  } finally {
    watcher.dispose();
    await source.close();
  }
}

/** `--listen`: the local HTTP front, until SIGINT/SIGTERM/SIGHUP (exit 0). */
async function serveFront(
  listen: { host: string; port: number },
  upstream: URL,
  headers: () => Record<string, string>,
  tokenVariable: string,
  logger: Logger,
): Promise<number> {
  let front: HttpFront;
  try {
    front = await startHttpFront({
      host: listen.host,
      port: listen.port,
      upstream,
      // openSource checked that it is set.
      token: process.env[tokenVariable]?.trim() ?? '',
      headers,
      logger,
      scrub,
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'EADDRINUSE'
        ? `--listen: ${listen.host}:${listen.port} is already in use by another program; pick another port (or 0 for any free one)`
        : `--listen: cannot listen on ${listen.host}:${listen.port} (${code ?? 'error'})`,
      1,
    );
  }
  err(
    `agent-keyring run: serving ${front.url} for ${upstream.host} (clients send Authorization: Bearer $${tokenVariable})`,
  );
  await new Promise<void>((resolve) => {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(s, () => resolve());
    }
  });
  await front.close();
  return 0;
}

export const runCommand: Command = {
  name: 'run',
  summary: 'start a command or MCP server with keys from the keyring in its environment',
  usage: USAGE,
  async run(argv, globals) {
    const { config, store } = parseRunArgs(argv);
    // A command that cannot start is reported before any key is asked for (nothing released).
    const problem = config.command.length > 0 ? commandProblem(config.command[0]) : undefined;
    if (problem) {
      throw new CliError(problem[1], problem[0]);
    }
    const logger = makeLogger('warn');
    let source: CredentialSource;
    try {
      source = await openSource(config, globals, store, logger);
    } catch (e) {
      throw asCliError(e);
    }
    try {
      if (config.upstream) {
        return await runUpstream(config, source, logger);
      }
      return config.mcp ? await runMcp(config, source, logger) : await runPlain(config, source);
    } catch (e) {
      await source.close().catch(() => undefined);
      throw asCliError(e);
    }
  },
};
