/**
 * `migrate`: moves literal keys out of MCP client configs into the keyring (README.md, "Migrate MCP
 * configs"). {@link planMigration} scans and decides (nothing written); {@link applyMigration}
 * creates the credentials and agents, writes a backup WITHOUT values, and rewrites each server to
 * start through `agent-keyring run --mcp` (stdio) or `run --mcp --upstream` (remote);
 * {@link undoMigration} puts the files back byte for byte, taking the values from the keyring.
 *
 * Values are compared only by an HMAC under a key made for this run, and never leave the process
 * except into the keyring and (on undo) back into the file they came from.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { JsonValue } from '../connect/clients';
import { readText, writeText } from '../connect/configFile';
import { isKeyringError, InvalidInputError, StoreError } from '../errors';
import { freeName, suggestName, suggestScopes } from '../importEnv/suggest';
import { CREDENTIAL_PLACEHOLDER, DEFAULT_SENSITIVE_SCOPES, SecretValue } from '../model';
import type { CredentialMeta } from '../model';
import type { KeyringAdmin } from '../admin';
import type { CredentialStore } from '../store/credentialStore';
import { tokenVariableOf, type ClientFile, type MigrateClient } from './clientFiles';
import { findLiteralKeys, type LiteralKey, type ServerKeys } from './findKeys';
import { rewriteConfig, type ServerRewrite } from './rewrite';
import { UsageRecords } from './usage';

// ---------------------------------------------------------------- keyring port

/** What migrate changes in the keyring: kept in one adapter ({@link keyringAdapter}). */
export interface MigrateKeyring {
  listCredentials(): Promise<CredentialMeta[]>;
  currentValue(name: string): Promise<{ version: number; value: SecretValue } | undefined>;
  versionValue(name: string, version: number): Promise<SecretValue | undefined>;
  agentExists(id: string): Promise<boolean>;
  addAgent(id: string, label: string): Promise<SecretValue>;
  addCredential(
    input: {
      name: string;
      description: string;
      scopes: string[];
      agents: string[];
      hosts: string[];
      ttl: number;
    },
    value: SecretValue,
  ): Promise<CredentialMeta>;
  /** Adds agents and hosts to an existing credential (an agent list of `*` stays as it is). */
  grant(name: string, agents: string[], hosts: string[]): Promise<void>;
}

/**
 * The keyring's existing methods (the ones Import from .env and `credential add` use), each change
 * audited as tool `migrate`. The one place to swap for an admin service.
 */
export function keyringAdapter(
  k: { store: CredentialStore; admin: KeyringAdmin },
  actor: string,
): MigrateKeyring {
  // Values are read from the store (the core's own access); every change goes through the admin,
  // which validates and audits it.
  return {
    listCredentials: () => k.admin.listCredentials(),
    currentValue: async (name) => {
      try {
        return await k.store.readCurrentValue(name);
      } catch {
        return undefined;
      }
    },
    versionValue: (name, version) => k.store.readVersionValue(name, version),
    agentExists: async (id) => (await k.admin.getAgent(id)) !== undefined,
    addAgent: async (id, label) => (await k.admin.addAgent({ id, label }, actor)).token,
    addCredential: (input, value) =>
      k.admin.addCredential(
        {
          name: input.name,
          description: input.description,
          allowed_scopes: input.scopes,
          allowed_agents: input.agents,
          ttl_seconds: input.ttl,
          ...(input.hosts.length > 0 ? { allowed_hosts: input.hosts } : {}),
        },
        value,
        actor,
        { tool: 'migrate', reason: input.description },
      ),
    grant: async (name, agents, hosts) => {
      const meta = await k.admin.getCredential(name);
      if (!meta) {
        throw new InvalidInputError(`Credential '${name}' is gone. Run migrate again.`);
      }
      const nextAgents = meta.allowed_agents.includes('*')
        ? meta.allowed_agents
        : [...new Set([...meta.allowed_agents, ...agents])];
      const nextHosts = [...new Set([...(meta.allowed_hosts ?? []), ...hosts])];
      if (
        nextAgents.length === meta.allowed_agents.length &&
        nextHosts.length === (meta.allowed_hosts ?? []).length
      ) {
        return;
      }
      await k.admin.updateCredential(
        name,
        { allowed_agents: nextAgents, ...(nextHosts.length > 0 ? { allowed_hosts: nextHosts } : {}) },
        actor,
        { reason: `granted to ${agents.join(', ')} by migrate` },
      );
    },
  };
}

// ---------------------------------------------------------------- plan

/** The agent id of each client's servers. */
export const AGENT_OF: Record<MigrateClient, string> = {
  'claude-code': 'claude-code',
  cursor: 'cursor',
  'vscode-copilot': 'vscode-copilot',
  codex: 'codex',
  'claude-desktop': 'claude-desktop',
};

export interface PlannedKey {
  /** `env.GITHUB_TOKEN` or `headers.Authorization`. */
  field: string;
  reason: string;
  credential: string;
  /** Scope written into the `--env` / `--credential` flag, when the credential has several. */
  scope?: string;
}

export interface PlannedServer {
  file: string;
  client: MigrateClient;
  agent: string;
  server: string;
  transport: ServerKeys['transport'];
  keys: PlannedKey[];
  /** Why it is left alone (then nothing of it changes). */
  skipped?: string;
}

export interface PlannedCredential {
  name: string;
  /** False: an existing credential holds the same value and is reused. */
  new: boolean;
  scopes: string[];
  agents: string[];
  hosts: string[];
  /** Where it was found: `file: server field`. */
  found_in: string[];
}

/** A scan and its decisions. JSON-safe: it holds no value (those stay in a private map). */
export interface MigrationPlan {
  files: {
    file: string;
    client: MigrateClient;
    status: 'keys' | 'no keys' | 'missing' | 'error';
    problem?: string;
  }[];
  servers: PlannedServer[];
  credentials: PlannedCredential[];
  agents: { id: string; new: boolean; token_variable: string }[];
}

interface Internal {
  plan: MigrationPlan;
  values: Map<string, SecretValue>; // credential name → value (new and reused)
  texts: Map<string, { text: string; mode?: number; cf: ClientFile }>;
  found: Map<PlannedServer, ServerKeys>;
}

const internals = new WeakMap<MigrationPlan, Internal>();

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function credentialBase(k: LiteralKey, server: string): string {
  return k.group === 'env' ? k.name : `${server}_${/^authorization$/i.test(k.name) ? 'token' : k.name}`;
}

/**
 * Scans `files` and decides what migrate would do: one credential per distinct value (compared by
 * a keyed fingerprint; an existing credential with the same value is reused), one agent per
 * client. Writes nothing. A file that cannot be read or parsed is reported in `files` and skipped.
 */
export async function planMigration(
  keyring: MigrateKeyring,
  files: readonly ClientFile[],
): Promise<MigrationPlan> {
  const runKey = randomBytes(32);
  const fp = (v: SecretValue): string => createHmac('sha256', runKey).update(v.reveal()).digest('hex');
  const plan: MigrationPlan = { files: [], servers: [], credentials: [], agents: [] };
  const internal: Internal = { plan, values: new Map(), texts: new Map(), found: new Map() };

  const existing = await keyring.listCredentials();
  const taken = new Set(existing.map((c) => c.name));
  const byPrint = new Map<string, PlannedCredential>();
  for (const c of existing) {
    const cur = await keyring.currentValue(c.name);
    if (cur) {
      byPrint.set(fp(cur.value), {
        name: c.name,
        new: false,
        scopes: [...c.allowed_scopes],
        agents: [],
        hosts: [],
        found_in: [],
      });
    }
  }

  for (const cf of files) {
    let text: string;
    let mode: number | undefined;
    try {
      ({ text, mode } = await readText(cf.file));
    } catch (e) {
      plan.files.push({ file: cf.file, client: cf.client, status: 'error', problem: errorText(e) });
      continue;
    }
    if (text === '' && !fs.existsSync(cf.file)) {
      plan.files.push({ file: cf.file, client: cf.client, status: 'missing' });
      continue;
    }
    let found: ServerKeys[];
    try {
      found = findLiteralKeys(text, cf);
    } catch (e) {
      plan.files.push({ file: cf.file, client: cf.client, status: 'error', problem: errorText(e) });
      continue;
    }
    plan.files.push({ file: cf.file, client: cf.client, status: found.length > 0 ? 'keys' : 'no keys' });
    internal.texts.set(cf.file, { text, mode, cf });
    const agent = AGENT_OF[cf.client];
    for (const s of found) {
      const server: PlannedServer = {
        file: cf.file,
        client: cf.client,
        agent,
        server: s.label,
        transport: s.transport,
        keys: [],
      };
      const usable =
        s.transport === 'stdio'
          ? s.keys.filter((k) => k.group === 'env')
          : s.keys.filter((k) => k.group !== 'env');
      server.skipped = skipReason(s, usable, text, fp);
      for (const k of s.keys) {
        const print = fp(k.value);
        let cred = byPrint.get(print);
        if (!cred) {
          const base = credentialBase(k, s.server);
          const name = freeName(suggestName(base), (n) => taken.has(n));
          taken.add(name);
          cred = { name, new: true, scopes: suggestScopes(base).scopes, agents: [], hosts: [], found_in: [] };
          byPrint.set(print, cred);
          plan.credentials.push(cred);
        }
        internal.values.set(cred.name, k.value);
        cred.found_in.push(`${cf.file}: ${s.label} ${k.group}.${k.name}`);
        const key: PlannedKey = { field: `${k.group}.${k.name}`, reason: k.reason, credential: cred.name };
        const scope = pickScope(cred.scopes);
        if (scope !== undefined) {
          key.scope = scope;
        }
        server.keys.push(key);
        if (!server.skipped && usable.includes(k)) {
          if (!cred.agents.includes(agent)) {
            cred.agents.push(agent);
          }
          if (s.transport === 'remote') {
            const host = hostOf(s.entry.url);
            if (host && !cred.hosts.includes(host)) {
              cred.hosts.push(host);
            }
          }
          if (!cred.new && !plan.credentials.includes(cred)) {
            plan.credentials.push(cred);
          }
        }
      }
      plan.servers.push(server);
      internal.found.set(server, s);
    }
  }
  const clients = [...new Set(plan.servers.filter((s) => !s.skipped).map((s) => s.agent))];
  for (const id of clients) {
    plan.agents.push({ id, new: !(await keyring.agentExists(id)), token_variable: tokenVariableOf(id) });
  }
  internals.set(plan, internal);
  return plan;
}

/** With several scopes the flag must name one: the first that is not sensitive (else the first). */
function pickScope(scopes: readonly string[]): string | undefined {
  if (scopes.length <= 1) {
    return undefined;
  }
  return scopes.find((s) => !DEFAULT_SENSITIVE_SCOPES.includes(s)) ?? scopes[0];
}

function hostOf(url: unknown): string | undefined {
  try {
    return typeof url === 'string' ? new URL(url).host : undefined;
  } catch {
    return undefined;
  }
}

function skipReason(
  s: ServerKeys,
  usable: LiteralKey[],
  text: string,
  fp: (v: SecretValue) => string,
): string | undefined {
  if (s.transport === 'unknown') {
    return 'neither a command nor a url: not a server entry migrate can rewrite';
  }
  if (usable.length === 0) {
    return s.transport === 'stdio'
      ? 'its keys are in headers of a stdio entry; move them by hand'
      : 'its keys are in env of a remote entry; move them by hand';
  }
  if (usable.length < s.keys.length) {
    return 'keys in both env and headers; move them by hand';
  }
  if (s.transport === 'stdio') {
    const args = s.entry.args;
    if (args !== undefined && !(Array.isArray(args) && args.every((a) => typeof a === 'string'))) {
      return '"args" is not a list of strings';
    }
  } else {
    if (new Set(usable.map((k) => fp(k.value))).size > 1) {
      return 'its headers hold more than one key (run --upstream injects one credential)';
    }
    if (!hostOf(s.entry.url)) {
      return '"url" is not an absolute URL';
    }
  }
  if (usable.some((k) => !text.includes(k.value.reveal()))) {
    return 'a key is written with escape sequences; move it by hand';
  }
  return undefined;
}

// ---------------------------------------------------------------- apply

export interface MigrateOptions {
  /** How the rewritten entry starts the CLI: `{ command: '/usr/bin/node', args: ['/…/cli.js'] }`. */
  launcher: { command: string; args: string[] };
  /** Extra `run` flags: `['--store', DIR]` or `['--url', URL]`. */
  runArgs: string[];
  /** Where backups and usage records go (the store folder; VS Code: its global storage). */
  stateDir: string;
  ttlSeconds: number;
  now: () => Date;
}

export interface ServerOutcome {
  file: string;
  server: string;
  agent: string;
  status: 'rewritten' | 'skipped' | 'failed';
  transport?: ServerKeys['transport'];
  reason?: string;
  /** The entry as written (holds no value), for the start check. */
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  token_variable?: string;
}

export interface MigrationReport {
  plan: MigrationPlan;
  servers: ServerOutcome[];
  files: { file: string; status: 'written' | 'unchanged' | 'failed'; reason?: string }[];
  /** New agents' tokens (shown once, by the caller). */
  tokens: { agent: string; variable: string; token: SecretValue }[];
  backup?: string;
}

function buildRewrite(
  s: ServerKeys,
  p: PlannedServer,
  opts: MigrateOptions,
): { rewrite: ServerRewrite; entry: ServerOutcome } {
  // `--agent`: the agent's own variable (AGENT_KEYRING_TOKEN_<ID>), else its saved token.
  const head = [...opts.launcher.args, 'run', '--mcp', ...opts.runArgs, '--agent', p.agent];
  const flag = (k: PlannedKey): string => `${k.credential}${k.scope ? `:${k.scope}` : ''}`;
  let args: string[];
  const remove: string[][] = [];
  const set: Record<string, JsonValue> = { command: opts.launcher.command };
  if (s.transport === 'stdio') {
    const envFlags = p.keys.flatMap((k) => ['--env', `${k.field.slice('env.'.length)}=${flag(k)}`]);
    const orig = (s.entry.args as string[] | undefined) ?? [];
    args = [...head, ...envFlags, '--', s.entry.command as string, ...orig];
    for (const k of s.keys) {
      remove.push(['env', k.name]);
    }
  } else {
    const group = s.keys[0].group;
    const headers = (s.entry[group] ?? {}) as Record<string, unknown>;
    const secret = new Map(s.keys.map((k) => [k.name, k]));
    const headerFlags = Object.entries(headers).flatMap(([name, v]) => {
      const k = secret.get(name);
      return ['--header', `${name}=${k ? `${k.prefix}${CREDENTIAL_PLACEHOLDER}` : String(v)}`];
    });
    args = [...head, '--upstream', s.entry.url as string, '--credential', flag(p.keys[0]), ...headerFlags];
    remove.push(['url'], [group]);
    if (s.layout === 'toml' && s.entry.bearer_token_env_var !== undefined) {
      remove.push(['bearer_token_env_var']);
    }
    if (typeof s.entry.type === 'string') {
      set.type = 'stdio';
    }
  }
  set.args = args;
  const left = Object.fromEntries(
    Object.entries((s.entry.env ?? {}) as Record<string, unknown>).filter(
      ([k, v]) => typeof v === 'string' && !s.keys.some((x) => x.group === 'env' && x.name === k),
    ),
  ) as Record<string, string>;
  return {
    rewrite: { path: s.path, set, remove },
    entry: {
      file: p.file,
      server: p.server,
      agent: p.agent,
      status: 'rewritten',
      transport: s.transport,
      command: opts.launcher.command,
      args,
      env: left,
      token_variable: tokenVariableOf(p.agent),
    },
  };
}

/** A backup: each file's original text with every migrated value cut out, and what goes back in. */
interface BackupFile {
  file: string;
  mode?: number;
  /** SHA-256 of the text migrate wrote (holds no value): undo refuses a file changed since. */
  written_sha256: string;
  /** The original text: plain pieces, and `{credential, version}` where a value was. */
  template: (string | { credential: string; version: number })[];
}

interface Backup {
  schema: 1;
  id: string;
  created_at: string;
  files: BackupFile[];
}

function template(
  text: string,
  values: readonly { credential: string; version: number; value: string }[],
): BackupFile['template'] {
  let parts: BackupFile['template'] = [text];
  for (const v of [...values].sort((a, b) => b.value.length - a.value.length)) {
    parts = parts.flatMap((p) => {
      if (typeof p !== 'string') {
        return [p];
      }
      const pieces = p.split(v.value);
      return pieces.flatMap((piece, i) =>
        i === 0 ? [piece] : [{ credential: v.credential, version: v.version }, piece],
      );
    });
  }
  return parts.filter((p) => p !== '');
}

export function backupDir(stateDir: string): string {
  return path.join(stateDir, 'migrate', 'backups');
}

/**
 * Carries out a plan (a caller that lets the person pick sets `skipped` on the servers not picked):
 * re-reads every file (one changed since the scan is refused and left alone),
 * computes the rewritten texts (a file whose rewrite cannot be verified is left alone), then
 * creates agents and credentials and grants, writes the backup (0600, no values) and writes each
 * file atomically with its mode kept. Per-server and per-file outcomes say what happened.
 * @throws KeyringError when the keyring refuses a change (no file has been written then).
 */
export async function applyMigration(
  keyring: MigrateKeyring,
  plan: MigrationPlan,
  opts: MigrateOptions,
): Promise<MigrationReport> {
  const internal = internals.get(plan);
  if (!internal) {
    throw new InvalidInputError('This plan was not made by planMigration. Scan again.');
  }
  const report: MigrationReport = { plan, servers: [], files: [], tokens: [] };
  const writes: { file: string; mode?: number; original: string; text: string; servers: PlannedServer[] }[] =
    [];
  for (const [file, { text, mode, cf }] of internal.texts) {
    const servers = plan.servers.filter((s) => s.file === file);
    for (const s of servers.filter((x) => x.skipped)) {
      report.servers.push({ file, server: s.server, agent: s.agent, status: 'skipped', reason: s.skipped });
    }
    const todo = servers.filter((s) => !s.skipped);
    if (todo.length === 0) {
      continue;
    }
    const fail = (reason: string): void => {
      report.files.push({ file, status: 'failed', reason });
      for (const s of todo) {
        report.servers.push({ file, server: s.server, agent: s.agent, status: 'failed', reason });
      }
    };
    let now: string;
    try {
      now = (await readText(file)).text;
    } catch (e) {
      fail(errorText(e));
      continue;
    }
    if (now !== text) {
      fail(`${file} changed since it was scanned; run migrate again`);
      continue;
    }
    const built = todo.map((p) => buildRewrite(internal.found.get(p) as ServerKeys, p, opts));
    try {
      const next = rewriteConfig(
        text,
        cf.layout,
        built.map((b) => b.rewrite),
        file,
      );
      writes.push({ file, mode, original: text, text: next, servers: todo });
      report.servers.push(...built.map((b) => b.entry));
    } catch (e) {
      fail(errorText(e));
    }
  }
  if (writes.length === 0) {
    return report;
  }

  // The keyring first: a file only ever names credentials and agents that exist.
  const used = new Set(writes.flatMap((w) => w.servers.flatMap((s) => s.keys.map((k) => k.credential))));
  const agentsUsed = new Set(writes.flatMap((w) => w.servers.map((s) => s.agent)));
  for (const a of plan.agents.filter((x) => agentsUsed.has(x.id))) {
    if (a.new && !(await keyring.agentExists(a.id))) {
      const token = await keyring.addAgent(a.id, `${a.id} (MCP servers migrated by agent-keyring migrate)`);
      report.tokens.push({ agent: a.id, variable: a.token_variable, token });
    }
  }
  // Grants follow what is written (a server left alone or unpicked grants nothing).
  const grants = new Map<string, { agents: Set<string>; hosts: Set<string> }>();
  for (const w of writes) {
    for (const s of w.servers) {
      const host = s.transport === 'remote' ? hostOf(internal.found.get(s)?.entry.url) : undefined;
      for (const k of s.keys) {
        const g = grants.get(k.credential) ?? { agents: new Set<string>(), hosts: new Set<string>() };
        g.agents.add(s.agent);
        if (host) {
          g.hosts.add(host);
        }
        grants.set(k.credential, g);
      }
    }
  }
  const versions = new Map<string, number>();
  for (const c of plan.credentials.filter((x) => used.has(x.name))) {
    const value = internal.values.get(c.name) as SecretValue;
    const g = grants.get(c.name) ?? { agents: new Set<string>(), hosts: new Set<string>() };
    if (c.new) {
      const meta = await keyring.addCredential(
        {
          name: c.name,
          description: `Migrated from ${c.found_in.length} MCP config entr${c.found_in.length === 1 ? 'y' : 'ies'}`,
          scopes: c.scopes,
          agents: [...g.agents],
          hosts: [...g.hosts],
          ttl: opts.ttlSeconds,
        },
        value,
      );
      versions.set(c.name, meta.version);
    } else {
      await keyring.grant(c.name, [...g.agents], [...g.hosts]);
      const cur = await keyring.currentValue(c.name);
      versions.set(c.name, cur?.version ?? 1);
    }
  }

  const id = opts.now().toISOString().replace(/[:.]/g, '-');
  const backup: Backup = { schema: 1, id, created_at: opts.now().toISOString(), files: [] };
  for (const w of writes) {
    const names = [...new Set(w.servers.flatMap((s) => s.keys.map((k) => k.credential)))];
    backup.files.push({
      file: w.file,
      mode: w.mode,
      written_sha256: sha256(w.text),
      template: template(
        w.original,
        names.map((n) => ({
          credential: n,
          version: versions.get(n) ?? 1,
          value: (internal.values.get(n) as SecretValue).reveal(),
        })),
      ),
    });
  }
  const backupFile = path.join(backupDir(opts.stateDir), `${id}.json`);
  // Only this user may read the backups and usage records (no values, but file paths and names).
  await fs.promises.mkdir(backupDir(opts.stateDir), { recursive: true, mode: 0o700 });
  await fs.promises.chmod(path.dirname(backupDir(opts.stateDir)), 0o700);
  await writeText(backupFile, JSON.stringify(backup, null, 2) + '\n', 0o600);
  report.backup = backupFile;

  const records = new UsageRecords(opts.stateDir);
  for (const w of writes) {
    try {
      const { text: latest } = await readText(w.file);
      if (latest !== w.original) {
        throw new StoreError(`${w.file} changed while migrate ran; run migrate again`);
      }
      await writeText(w.file, w.text, w.mode);
      report.files.push({ file: w.file, status: 'written' });
      await records.add(
        w.servers.flatMap((s) =>
          s.keys.map((k) => ({
            credential: k.credential,
            client: s.client,
            agent: s.agent,
            file: s.file,
            server: s.server,
            field: k.field,
            migration: id,
            at: opts.now().toISOString(),
          })),
        ),
      );
    } catch (e) {
      report.files.push({ file: w.file, status: 'failed', reason: errorText(e) });
      for (const o of report.servers.filter((x) => x.file === w.file && x.status === 'rewritten')) {
        o.status = 'failed';
        o.reason = errorText(e);
      }
    }
  }
  // The backup lists only what was written.
  const written = new Set(report.files.filter((f) => f.status === 'written').map((f) => f.file));
  backup.files = backup.files.filter((f) => written.has(f.file));
  await writeText(backupFile, JSON.stringify(backup, null, 2) + '\n', 0o600);
  return report;
}

// ---------------------------------------------------------------- undo

export interface UndoReport {
  backup?: string;
  files: { file: string; status: 'restored' | 'unchanged' | 'failed'; reason?: string }[];
}

function readBackup(file: string): Backup {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    throw new StoreError(`${file} is not a readable migrate backup. Restore the configs by hand.`);
  }
  const b = json as Backup;
  if (b?.schema !== 1 || !Array.isArray(b.files)) {
    throw new StoreError(`${file} is not a migrate backup this version knows. Restore the configs by hand.`);
  }
  return b;
}

/** Backups not undone yet, newest last. */
export function listBackups(stateDir: string): string[] {
  const dir = backupDir(stateDir);
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.json') && !f.endsWith('.undone.json'))
      .sort()
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

/**
 * Restores the files of the newest migration not undone yet, byte for byte: the backup's text with
 * each value read back from the keyring at the version migrate recorded. A file changed since
 * migrate wrote it, or whose value version is gone (rotated twice since), is refused and left as it
 * is. Credentials and agents stay in the keyring. The backup is renamed `*.undone.json` when every
 * file is back.
 */
export async function undoMigration(keyring: MigrateKeyring, stateDir: string): Promise<UndoReport> {
  const file = listBackups(stateDir).pop();
  if (!file) {
    return { files: [] };
  }
  const backup = readBackup(file);
  const report: UndoReport = { backup: file, files: [] };
  for (const f of backup.files) {
    try {
      const { text } = await readText(f.file);
      const parts: string[] = [];
      for (const p of f.template) {
        if (typeof p === 'string') {
          parts.push(p);
          continue;
        }
        const v = await keyring.versionValue(p.credential, p.version);
        if (!v) {
          throw new StoreError(
            `version ${p.version} of '${p.credential}' is no longer in the keyring (rotated since?), so ${f.file} cannot be restored exactly; edit it by hand`,
          );
        }
        parts.push(v.reveal());
      }
      const original = parts.join('');
      if (text === original) {
        report.files.push({ file: f.file, status: 'unchanged' });
        continue;
      }
      if (sha256(text) !== f.written_sha256) {
        throw new StoreError(
          `${f.file} was changed after migrate wrote it; undo would lose those edits. Edit it by hand`,
        );
      }
      await writeText(f.file, original, f.mode);
      report.files.push({ file: f.file, status: 'restored' });
    } catch (e) {
      report.files.push({ file: f.file, status: 'failed', reason: errorText(e) });
    }
  }
  if (report.files.every((x) => x.status !== 'failed')) {
    fs.renameSync(file, file.replace(/\.json$/, '.undone.json'));
    await new UsageRecords(stateDir).removeMigration(backup.id);
  }
  return report;
}

function errorText(e: unknown): string {
  if (isKeyringError(e)) {
    return e.message;
  }
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code ? `file error ${code}` : 'unexpected error';
}
