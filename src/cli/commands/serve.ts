/**
 * `agent-keyring serve`: the credential server without an editor. Opens the encrypted file store,
 * loads `policy.json` (anomaly rules), listens on 127.0.0.1 and prints how to connect an agent.
 * Headless there is no human to ask, so rules whose action is `approve` deny (`approval_denied`).
 * Stops cleanly on SIGINT/SIGTERM: server closed, audit flushed, exit 0.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidInputError } from '../../core/errors';
import type { Keyring } from '../../core/keyring';
import type { AnomalyConfig } from '../../core/model';
import { parseAnomalyConfig } from '../../core/policy/anomalyEngine';
import type { AlertSink, Logger } from '../../core/ports';
import { checkStorePermissions } from '../../core/store/storePermissions';
import { COMMON_OPTIONS, CliError, JSON_OPTION, UsageError, clip, parseCommand, parseInteger } from '../args';
import { HELP_HELP, STORE_HELP, type Command } from '../command';
import {
  ConfigError,
  DEFAULT_HOST,
  DEFAULT_PORT,
  POLICY_FILE,
  localDirOf,
  makeLogger,
  openStore,
  resolveStoreDir,
} from '../context';
import { out, rememberSecret } from '../io';
import { version } from '../../../package.json';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);

/** The seed scenario `--demo` creates in an empty store. */
export const DEMO = {
  credential: 'scavio_api_key',
  agent: 'research-agent',
  scopes: ['search_read', 'publish'],
  hosts: ['api.scavio.example'],
  length: 40,
} as const;

/**
 * Reads `<store>/policy.json` (anomaly rule settings). A missing file means the defaults.
 * @throws ConfigError naming the file when it is not JSON or not valid settings.
 */
export function loadPolicyFile(dir: string): { config: AnomalyConfig | undefined; file: string } {
  const file = path.join(dir, POLICY_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return { config: undefined, file };
    }
    throw new ConfigError(
      `cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'}); check its permissions`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(
      `${file} is not valid JSON (${clip(e instanceof Error ? e.message : String(e), 120)}); fix it or delete it to use the default rules`,
    );
  }
  try {
    return { config: parseAnomalyConfig(json, file), file };
  } catch (e) {
    if (e instanceof InvalidInputError) {
      throw new ConfigError(e.message);
    }
    throw e;
  }
}

function alertSink(logger: Logger): AlertSink {
  return {
    alert: (a) =>
      logger.warn(
        `anomaly (${a.action}): agent '${a.agent_id}' asked for '${a.scope}' on '${a.credential}': ${a.message}`,
      ),
  };
}

/** Seeds the demo scenario when the store has no credentials; returns the agent's token if it made one. */
async function seedDemo(k: Keyring, logger: Logger): Promise<{ created: boolean; token?: string }> {
  if ((await k.admin.listCredentials()).length > 0) {
    return { created: false };
  }
  const value = k.admin.generateValue({ length: DEMO.length });
  rememberSecret(value.reveal());
  await k.admin.addCredential(
    {
      name: DEMO.credential,
      description: 'Demo: Scavio search API key (random value)',
      allowed_scopes: [...DEMO.scopes],
      allowed_agents: [DEMO.agent],
      ttl_seconds: 3600,
      allowed_hosts: [...DEMO.hosts],
      rotation: { max_age_days: 90, generator: { length: DEMO.length } },
    },
    value,
    'cli',
  );
  const existing = (await k.admin.listAgents()).find((a) => a.id === DEMO.agent);
  if (existing) {
    logger.info(`Demo: agent '${DEMO.agent}' already exists; its token was shown when it was created.`);
    return { created: true };
  }
  // No active hours: the demo works at any time of day.
  const { token } = await k.admin.addAgent({ id: DEMO.agent, label: 'Research agent (demo)' }, 'cli');
  rememberSecret(token.reveal());
  return { created: true, token: token.reveal() };
}

/** `s` as one shell word that nothing inside expands (single quotes; a `'` as `'\''`). */
function shellWord(s: string): string {
  return /^[\w./:@%+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * What to paste to connect an agent. Every `${AGENT_KEYRING_TOKEN}` stays unexpanded when a shell
 * runs these lines (single quotes), so the token never lands in a client's config file.
 */
export function connectHelp(url: string, store: string): string {
  const storeFlag = ` --store ${shellWord(store)}`;
  const json = JSON.stringify(
    {
      mcpServers: {
        'agent-keyring': { type: 'http', url, headers: { Authorization: 'Bearer ${AGENT_KEYRING_TOKEN}' } },
      },
    },
    null,
    2,
  );
  return [
    'Connect an agent (each agent gets its own token):',
    `  agent-keyring agent add my-agent${storeFlag}     # prints the token once`,
    `  agent-keyring credential edit NAME --agents my-agent${storeFlag}`,
    '  export AGENT_KEYRING_TOKEN=<the token>',
    '',
    'Claude Code:',
    `  claude mcp add --transport http agent-keyring ${url} --header 'Authorization: Bearer \${AGENT_KEYRING_TOKEN}'`,
    '',
    'Any MCP client with a JSON config (e.g. .mcp.json):',
    ...json.split('\n').map((l) => `  ${l}`),
    '',
    'Clients that only speak stdio:',
    `  agent-keyring bridge --url ${url}     # reads AGENT_KEYRING_TOKEN`,
  ].join('\n');
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the credential server headless (MCP over HTTP on 127.0.0.1)',
  usage: `Usage: agent-keyring serve [--port N] [--host 127.0.0.1] [--demo] [--store DIR]

Runs the credential server without VS Code: Streamable HTTP MCP at http://127.0.0.1:PORT/mcp,
secrets in an encrypted file store, anomaly rules from <store>/${POLICY_FILE}. With
--store postgres://user@host:port/db, a team store shared by several servers (run
'agent-keyring store upgrade' first; policy.json and the audit log are then in
$AGENT_KEYRING_STATE_DIR, else ~/.agent-keyring/team/<user@host_port_db>). With no human to
ask, requests that need approval are denied (approval_denied). Ctrl+C stops it.

Options:
  --port N        port to listen on (default ${DEFAULT_PORT})
  --host H        loopback address to bind (default ${DEFAULT_HOST})
  --demo          in an empty store, create the demo: credential '${DEMO.credential}' for agent
                  '${DEMO.agent}', whose token is printed once
  --json          print the ready line as one JSON line ({url, store, demo}) instead of
                  the banner (the demo token, when one is made, is its "token")
${STORE_HELP}
${HELP_HELP}

Logs go to stderr; set AGENT_KEYRING_LOG=debug for more.`,
  async run(argv, globals) {
    const { values } = parseCommand(
      argv,
      {
        ...COMMON_OPTIONS,
        ...JSON_OPTION,
        port: { type: 'string' },
        host: { type: 'string' },
        demo: { type: 'boolean' },
      },
      0,
    );
    const port = values.port === undefined ? DEFAULT_PORT : parseInteger(values.port, '--port', 0, 65_535);
    const host = values.host ?? DEFAULT_HOST;
    if (!LOOPBACK_HOSTS.has(host)) {
      throw new UsageError(
        `--host must be a loopback address (127.0.0.1, ::1 or localhost), not '${clip(host, 40)}': agents connect locally`,
      );
    }
    const dir = resolveStoreDir(values.store ?? globals.store);
    const logger = makeLogger('info');
    // The folder of this machine's files (the store itself, or a team store's local state folder):
    // checked before policy.json is trusted (openStore checks again).
    checkStorePermissions(localDirOf(dir), { logger });
    const policy = loadPolicyFile(localDirOf(dir));
    // Listen for signals from the start: a SIGTERM during start-up still ends in a clean stop.
    const stop = waitForStopSignal(logger);
    const keyring = await openStore(dir, {
      logger,
      anomalyConfig: policy.config,
      alerts: alertSink(logger),
      loadHistory: true,
    });
    let server: { url: string; port: number; close(): Promise<void> };
    let demo: { created: boolean; token?: string } | undefined;
    try {
      demo = values.demo ? await seedDemo(keyring, logger) : undefined;
      // Loaded here, not at the top: the MCP SDK is only needed by serve, and every other command
      // starts faster without it.
      const { startHttpHost } = await import('../../core/mcp/http.js');
      server = await startHttpHost({
        api: keyring.service,
        port,
        host,
        logger,
        serverInfo: { name: 'agent-keyring', version },
      });
    } catch (e) {
      await keyring.close();
      if ((e as { code?: unknown }).code === 'EADDRINUSE') {
        throw new CliError(
          `Port ${port} on ${host} is already in use (another 'agent-keyring serve' or a VS Code window may be serving). Pick another with --port N.`,
          1,
        );
      }
      throw e;
    }
    logger.info(
      `Store ${dir}; anomaly rules from ${policy.config ? policy.file : 'defaults'}; audit log ${keyring.auditPath}`,
    );

    if (values.json) {
      // One line, so a script can wait for it and parse it.
      out(
        JSON.stringify({
          url: server.url,
          store: dir,
          demo: demo ? { created: demo.created, ...(demo.token ? { token: demo.token } : {}) } : null,
        }),
      );
    }
    // One write, so whoever reads stdout sees the whole banner at once.
    const lines: string[] = [];
    lines.push(`Agent Keyring is serving MCP at ${server.url}`);
    lines.push(`Store: ${dir}`);
    lines.push('');
    if (demo?.created) {
      lines.push(
        `Demo: created credential '${DEMO.credential}' (scopes ${DEMO.scopes.join(', ')}) for agent '${DEMO.agent}'.`,
      );
      if (demo.token) {
        lines.push(`The ${DEMO.agent} token is shown ONCE, here — keep it:`);
        lines.push(`  export AGENT_KEYRING_TOKEN=${demo.token}`);
      }
      lines.push('');
    } else if (demo) {
      lines.push(
        `Demo: this store already has credentials, so nothing was seeded. The ${DEMO.agent} token was shown when the demo store was created;`,
      );
      lines.push(
        `if it is lost, get a new one (the old one stops working): agent-keyring agent rotate-token ${DEMO.agent} --store ${JSON.stringify(dir)}`,
      );
      lines.push('');
    }
    lines.push(connectHelp(server.url, dir));
    lines.push('');
    lines.push('Press Ctrl+C to stop.');
    if (!values.json) {
      out(lines.join('\n'));
    }

    await stop;
    logger.info('Stopping: closing the server and flushing the audit log.');
    try {
      await server.close();
    } finally {
      await keyring.close();
    }
    logger.info('Stopped.');
    return 0;
  },
};

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once. */
function waitForStopSignal(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn(`${signal} again: exiting without waiting.`);
        process.exit(1);
      }
      stopping = true;
      logger.info(`${signal} received.`);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
