/**
 * `agent-keyring serve`: the credential server without an editor. Opens the encrypted file store,
 * loads `policy.json` (anomaly rules), listens on 127.0.0.1 (or, with a certificate, HTTPS on any
 * address) and prints how to connect an agent.
 * Headless there is no human to ask, so rules whose action is `approve` deny (`approval_denied`).
 * Stops cleanly on SIGINT/SIGTERM: server closed, audit flushed, exit 0.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadAttachSecret } from '../../core/attach/attachKey';
import { deriveProofKey } from '../../core/attach/attachProof';
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
import { startDemoUpstream, type DemoUpstream } from '../demoUpstream';
import { claudeCommand, headersHelperCommand, shellQuote, tokenEnvVar } from '../../core/connect/clients';
import { version } from '../../../package.json';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);
/** `host` or `host:port`: a DNS name, an IPv4 address or a bracketed IPv6 address. */
const PUBLIC_NAME =
  /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/**
 * The bind address, TLS files and public names of `serve`, checked before anything is opened.
 * @throws UsageError for a non-loopback address without TLS, one TLS file without the other, or a
 *   malformed public name; ConfigError when a TLS file cannot be read.
 */
export function resolveListenOptions(values: {
  host?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
  'public-name'?: string[];
}): { host: string; tls?: { cert: Buffer; key: Buffer }; publicNames: string[] } {
  const host = values.host ?? DEFAULT_HOST;
  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError(
      '--tls-cert and --tls-key go together: give the certificate (PEM) and its private key (PEM).',
    );
  }
  const isLoopback = LOOPBACK_HOSTS.has(host) || /^127(\.\d{1,3}){3}$/.test(host);
  if (!isLoopback && certFile === undefined) {
    throw new UsageError(
      `--host '${clip(host, 40)}' is not a loopback address: agents would send their tokens over the network in clear text. Serve it over TLS with --tls-cert FILE --tls-key FILE, or bind 127.0.0.1.`,
    );
  }
  const publicNames = values['public-name'] ?? [];
  for (const name of publicNames) {
    if (!PUBLIC_NAME.test(name) || (/:(\d+)$/.test(name) && Number(/:(\d+)$/.exec(name)?.[1]) > 65_535)) {
      throw new UsageError(
        `--public-name '${clip(name, 60)}' is not a host name or host:port (e.g. keyring.example.com or keyring.example.com:8443).`,
      );
    }
  }
  if (certFile === undefined || keyFile === undefined) {
    return { host, publicNames };
  }
  const read = (file: string, what: string): Buffer => {
    let data: Buffer;
    try {
      data = fs.readFileSync(file);
    } catch (e) {
      throw new ConfigError(
        `cannot read the TLS ${what} ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'}); check the path and its permissions`,
      );
    }
    if (!data.includes('-----BEGIN ')) {
      throw new ConfigError(`the TLS ${what} ${file} is not PEM (no -----BEGIN line); give a PEM file`);
    }
    return data;
  };
  return { host, publicNames, tls: { cert: read(certFile, 'certificate'), key: read(keyFile, 'key') } };
}

/** The seed scenario `--demo` creates in an empty store. */
export const DEMO = {
  credential: 'scavio_api_key',
  agent: 'research-agent',
  scopes: ['search_read', 'publish'],
  /** The demo upstream (demoUpstream.ts) listens on the server's port + 1 (any free port with --port 0). */
  upstreamPortOffset: 1,
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
async function seedDemo(
  k: Keyring,
  logger: Logger,
  hostEntry: string,
): Promise<{ created: boolean; token?: string }> {
  if ((await k.admin.listCredentials()).length > 0) {
    await pointDemoAt(k, hostEntry, logger);
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
      allowed_hosts: [hostEntry],
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

/**
 * A demo store from an earlier run: the demo credential's allowed hosts follow the demo upstream
 * to its port of this run (an earlier demo's unresolvable `api.scavio.example` is replaced too).
 */
async function pointDemoAt(k: Keyring, hostEntry: string, logger: Logger): Promise<void> {
  const cred = await k.admin.getCredential(DEMO.credential);
  if (!cred || !cred.allowed_agents.includes(DEMO.agent)) {
    return;
  }
  const hosts = cred.allowed_hosts ?? [];
  const kept = hosts.filter((h) => !/^127\.0\.0\.1:\d+$/.test(h) && h !== 'api.scavio.example');
  const next = [...kept, hostEntry];
  if (next.length !== hosts.length || next.some((h, i) => h !== hosts[i])) {
    await k.admin.updateCredential(DEMO.credential, { allowed_hosts: next }, 'demo', {
      reason: `allowed hosts follow the demo upstream to ${hostEntry}`,
    });
    logger.info(`Demo: '${DEMO.credential}' may now be sent to the demo upstream ${hostEntry}.`);
  }
}

/**
 * What to paste to connect an agent (`agent`: the demo agent, already made; else a new `my-agent`).
 * Every `${AGENT_KEYRING_TOKEN_…}` stays unexpanded when a shell runs these lines (single quotes),
 * so the token never lands in a client's config file; each agent has its own variable.
 */
export function connectHelp(url: string, store: string, agent?: string): string {
  const id = agent ?? 'my-agent';
  const variable = tokenEnvVar(id);
  const storeFlag = ` --store ${shellQuote(store)}`;
  const json = JSON.stringify(
    {
      mcpServers: {
        'agent-keyring': { type: 'http', url, headers: { Authorization: `Bearer \${${variable}}` } },
      },
    },
    null,
    2,
  );
  const helper = headersHelperCommand(['agent-keyring'], id, store);
  return [
    agent
      ? `Connect '${id}' (each agent has its own token and its own variable, ${variable}):`
      : 'Connect an agent (each agent gets its own token and its own variable):',
    ...(agent
      ? []
      : [
          `  agent-keyring agent add ${id}${storeFlag}     # prints the token once`,
          `  agent-keyring credential edit NAME --agents ${id}${storeFlag}`,
        ]),
    `  export ${variable}=<the token>`,
    '',
    'Claude Code:',
    `  ${claudeCommand(url, id)}`,
    '',
    'Any MCP client with a JSON config (e.g. .mcp.json):',
    ...json.split('\n').map((l) => `  ${l}`),
    '',
    `No token in a shell profile: save it (agent-keyring agent rotate-token ${id} --save-token${storeFlag};`,
    'OS keyring, else a 0600 file in the store folder), then in Claude Code use instead of "headers":',
    `  "headersHelper": ${JSON.stringify(helper)}`,
    '',
    'Clients that only speak stdio:',
    `  agent-keyring bridge --url ${url} --agent ${id}${storeFlag}     # ${variable}, else the saved token`,
  ].join('\n');
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the credential server headless (MCP over HTTP on 127.0.0.1)',
  usage: `Usage: agent-keyring serve [--port N] [--host 127.0.0.1] [--demo] [--store DIR]
                           [--tls-cert FILE --tls-key FILE] [--public-name HOST[:PORT]]…

Runs the credential server without VS Code: Streamable HTTP MCP at http://127.0.0.1:PORT/mcp,
secrets in an encrypted file store, anomaly rules from <store>/${POLICY_FILE}. With
--store postgres://user@host:port/db, a team store shared by several servers (run
'agent-keyring store upgrade' first; policy.json and the audit log are then in
$AGENT_KEYRING_STATE_DIR, else ~/.agent-keyring/team/<user@host_port_db>). With no human to
ask, requests that need approval are denied (approval_denied). Ctrl+C stops it.

Options:
  --port N        port to listen on (default ${DEFAULT_PORT})
  --host H        address to bind (default ${DEFAULT_HOST}); an address other than loopback
                  only with --tls-cert and --tls-key
  --tls-cert FILE serve HTTPS with this certificate chain (PEM)
  --tls-key FILE  ... and this private key (PEM)
  --public-name N a name (host or host:port) agents reach this server by, e.g. behind a load
                  balancer; accepted by the Host and Origin checks (repeatable)
  --demo          in an empty store, create the demo: credential '${DEMO.credential}' for agent
                  '${DEMO.agent}', whose token is printed once; and start a stand-in for its API
                  on 127.0.0.1 (port N+1, any free port with --port 0) that http_request may use
  --json          print the ready line as one JSON line ({url, store, demo}) instead of
                  the banner (the demo token, when one is made, is its "token")
${STORE_HELP}
${HELP_HELP}

GET /healthz answers {"status":"ok"} (200) or {"status":"degraded"} (503, the team store is
unreachable) without a token, for a load balancer.

Logs go to stderr; set AGENT_KEYRING_LOG=debug for more.`,
  async run(argv, globals) {
    const { values } = parseCommand(
      argv,
      {
        ...COMMON_OPTIONS,
        port: { type: 'string' },
        host: { type: 'string' },
        demo: { type: 'boolean' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'public-name': { type: 'string', multiple: true },
        ...JSON_OPTION,
      },
      0,
    );
    const port = values.port === undefined ? DEFAULT_PORT : parseInteger(values.port, '--port', 0, 65_535);
    const listenOn = resolveListenOptions(values);
    const host = listenOn.host;
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
    let upstream: DemoUpstream | undefined;
    try {
      if (values.demo) {
        upstream = await startDemoUpstream(
          keyring,
          DEMO.credential,
          port === 0 ? 0 : (port + DEMO.upstreamPortOffset) % 65_536,
          logger,
        );
        demo = await seedDemo(keyring, logger, upstream.hostEntry);
      }
      // Loaded here, not at the top: the MCP SDK is only needed by serve, and every other command
      // starts faster without it.
      const { startHttpHost } = await import('../../core/mcp/http.js');
      const { StoreHealth } = await import('../../core/mcp/storeHealth.js');
      server = await startHttpHost({
        api: keyring.service,
        port,
        host,
        tls: listenOn.tls,
        publicNames: listenOn.publicNames,
        health: keyring.storeProbe
          ? new StoreHealth({ probe: keyring.storeProbe, display: dir, logger })
          : undefined,
        logger,
        serverInfo: { name: 'agent-keyring', version },
        // VS Code windows on this same store folder attach to this server only after it proves it
        // holds the folder's attach key (README.md, "In VS Code").
        attachProofKey: deriveProofKey(await loadAttachSecret(localDirOf(dir))),
      });
    } catch (e) {
      await upstream?.close();
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
      `Store ${dir}; anomaly rules from ${policy.config ? policy.file : 'defaults'}; audit log ${keyring.auditSource.where}`,
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
        lines.push(`  export ${tokenEnvVar(DEMO.agent)}=${demo.token}`);
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
    if (
      upstream &&
      (await keyring.admin.getCredential(DEMO.credential))?.allowed_hosts?.includes(upstream.hostEntry)
    ) {
      lines.push(
        `Demo upstream (a stand-in for the Scavio API) at ${upstream.origin}: '${DEMO.agent}' can use the key without seeing it —`,
      );
      lines.push(`  http_request ${JSON.stringify(demoRequest(upstream.origin))}`);
      lines.push('');
    }
    lines.push(connectHelp(server.url, dir, demo ? DEMO.agent : undefined));
    lines.push('');
    lines.push('Press Ctrl+C to stop.');
    if (!values.json) {
      out(lines.join('\n'));
    }

    await stop;
    logger.info('Stopping: closing the server and flushing the audit log.');
    try {
      await server.close();
      await upstream?.close();
    } finally {
      await keyring.close();
    }
    logger.info('Stopped.');
    return 0;
  },
};

/** The brokered call the demo banner shows (the arguments of `http_request`). */
export function demoRequest(origin: string): Record<string, unknown> {
  return {
    credential: DEMO.credential,
    scope: 'search_read',
    method: 'GET',
    url: `${origin}/api/v1/search?q=model+context+protocol`,
    headers: { Authorization: 'Bearer {{credential}}' },
  };
}

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
