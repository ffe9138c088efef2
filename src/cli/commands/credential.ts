/**
 * `agent-keyring credential add|rotate|list|remove|edit`: the human's side of credentials.
 * Values come from stdin (or `--generate`), never from argv; policy input is validated with the
 * store's zod schemas, so a bad flag value is a one-line `invalid_input` (exit 2).
 */
import { parseInput, CredentialInputSchema, DEFAULT_ALPHABET } from '../../core/store/schemas';
import { AlreadyExistsError, KeyringError } from '../../core/errors';
import {
  DEFAULT_REVEAL_MODE,
  type CredentialMeta,
  type RotationPolicy,
  type SecretValue,
} from '../../core/model';
import { describeRevealModes } from '../../core/admin';
import type { Keyring } from '../../core/keyring';
import {
  DEFAULT_GENERATED_LENGTH,
  MAX_GENERATED_LENGTH,
  MAX_GRACE_SECONDS,
  MAX_TTL_SECONDS,
  MIN_GENERATED_LENGTH,
} from '../../core/limits';
import {
  COMMON_OPTIONS,
  JSON_OPTION,
  UsageError,
  parseCommand,
  parseInteger,
  parseList,
  requirePositional,
} from '../args';
import { HELP_HELP, JSON_HELP, STORE_HELP, type Command, type CommandGroup } from '../command';
import { makeLogger, resolveStoreDir, storeExists, withKeyring } from '../context';
import { err, out, printResult, readSecret, rememberSecret, shortTime, table } from '../io';

const ACTOR = 'cli';
const DAY_MS = 86_400_000;

const POLICY_OPTIONS = {
  scopes: { type: 'string' },
  agents: { type: 'string' },
  ttl: { type: 'string' },
  hosts: { type: 'string' },
  'rotation-agents': { type: 'string' },
  description: { type: 'string' },
  'max-age-days': { type: 'string' },
  reveal: { type: 'string' },
  'reveal-for': { type: 'string', multiple: true },
  'scope-rule': { type: 'string', multiple: true },
  placement: { type: 'string' },
} as const;

const POLICY_HELP = `  --scopes a,b            scopes it may be used for (e.g. search_read,publish)
  --agents x,y|*          agent ids that may use it, or * for every agent (default: none yet)
  --ttl SEC               lease lifetime in seconds (default 3600)
  --hosts h1,h2           hosts http_request may send it to (e.g. api.example.com)
  --rotation-agents x     agents that may rotate it themselves (default: nobody)
  --description TEXT      what it is for
  --max-age-days N        rotation is due after N days
  --reveal MODE           allow (default) | approve (ask each time) | never (used, never read:
                          get_credential refuses; http_request and 'run' still use it)
  --reveal-for AGENT=MODE that agent's own reveal mode (repeatable; edit: AGENT=default removes it)
  --scope-rule 'SCOPE=METHOD /path*'
                          what http_request may do under SCOPE (repeatable, e.g.
                          'search_read=GET /api/v1/search*', methods * or GET|HEAD); a scope
                          without rules may only GET/HEAD/OPTIONS unless it is sensitive
                          (edit: replaces that scope's rules; 'SCOPE=' removes them)
  --placement P1,P2       where http_request may put it: header:Authorization, header:X-Api-Key,
                          header:*, query:api_key, path (default anywhere; edit: '' removes)`;

// ------------------------------------------------------------------ add

const add: Command = {
  name: 'add',
  summary: 'add a credential (value from stdin, or --generate)',
  usage: `Usage: agent-keyring credential add NAME --scopes a,b [options] < value-file
       printf '%s' "$VALUE" | agent-keyring credential add NAME --scopes a,b
       agent-keyring credential add NAME --scopes a,b --generate [--length N]

Adds a credential. The value is read from stdin (one trailing newline is dropped); at a
terminal you are prompted and nothing is echoed. It is never taken from the command line.

Options:
${POLICY_HELP}
  --generate              make a random value instead of reading one (and keep the generator
                          so 'credential rotate NAME --generate' works later)
  --length N              length of generated values (16-256, default ${DEFAULT_GENERATED_LENGTH})
${JSON_HELP}
${STORE_HELP}
${HELP_HELP}`,
  async run(argv, globals) {
    const { values, positionals } = parseCommand(
      argv,
      {
        ...COMMON_OPTIONS,
        ...JSON_OPTION,
        ...POLICY_OPTIONS,
        generate: { type: 'boolean' },
        length: { type: 'string' },
      },
      1,
    );
    const name = requirePositional(positionals, 0, 'credential NAME');
    if (values.scopes === undefined) {
      throw new UsageError('missing --scopes (e.g. --scopes search_read,publish)');
    }
    if (values.length !== undefined && !values.generate) {
      throw new UsageError('--length only applies with --generate');
    }
    const length =
      values.length === undefined
        ? undefined
        : parseInteger(values.length, '--length', MIN_GENERATED_LENGTH, MAX_GENERATED_LENGTH);
    const rotation: RotationPolicy = {};
    if (values['max-age-days'] !== undefined) {
      rotation.max_age_days = parseInteger(values['max-age-days'], '--max-age-days', 1, 3650);
    }
    if (values.generate) {
      rotation.generator = { length: length ?? DEFAULT_GENERATED_LENGTH };
    }
    const input = parseInput(
      CredentialInputSchema,
      {
        name,
        ...(values.description !== undefined ? { description: values.description } : {}),
        allowed_scopes: parseList(values.scopes),
        ...(values.agents !== undefined ? { allowed_agents: parseList(values.agents) } : {}),
        ...(values.ttl !== undefined
          ? { ttl_seconds: parseInteger(values.ttl, '--ttl', 1, MAX_TTL_SECONDS) }
          : {}),
        ...(values.hosts !== undefined ? { allowed_hosts: parseList(values.hosts) } : {}),
        ...(values['rotation-agents'] !== undefined
          ? { rotation_agents: parseList(values['rotation-agents']) }
          : {}),
        ...(Object.keys(rotation).length > 0 ? { rotation } : {}),
        ...(values.reveal !== undefined ? { reveal: values.reveal } : {}),
        ...(values['reveal-for'] ? { reveal_overrides: parseRevealFor(values['reveal-for'], false) } : {}),
        ...(values['scope-rule'] ? { scope_rules: parseScopeRules(values['scope-rule'], false) } : {}),
        ...(values.placement !== undefined ? { placement: parseList(values.placement) } : {}),
      },
      'credential',
    );
    const dir = resolveStoreDir(values.store ?? globals.store);
    const logger = makeLogger('warn');
    return withKeyring(dir, logger, async (k) => {
      // Checked before asking for the value, so nobody types a secret only to hear the name is taken.
      if (await k.admin.getCredential(name)) {
        throw new AlreadyExistsError('credential', name);
      }
      await warnUnknownAgents(k, input.allowed_agents, input.rotation_agents);
      const secret = values.generate
        ? generate(k, rotation.generator?.length ?? DEFAULT_GENERATED_LENGTH)
        : await readSecret(`the value of '${name}'`, ', or use --generate');
      const meta = await k.admin.addCredential(input, secret, ACTOR);
      printResult(
        values.json,
        { ...toRow(meta), added: true, generated: values.generate === true },
        `Added credential '${name}' (version ${meta.version}; scopes ${meta.allowed_scopes.join(', ')}; agents ${describeAgents(meta)}; reveal ${describeRevealModes(meta)}).` +
          (values.generate
            ? '\nIts value was generated and is stored encrypted; agents get it with get_credential.'
            : ''),
      );
      return 0;
    });
  },
};

function notFound(name: string, dir: string): KeyringError {
  return new KeyringError(
    'not_found',
    `No credential named '${name}' in ${dir}. Run 'agent-keyring credential list' to see the names.`,
    {
      credential: name,
    },
  );
}

function generate(k: Keyring, length: number, alphabet = DEFAULT_ALPHABET): SecretValue {
  const v = k.admin.generateValue({ length, alphabet });
  rememberSecret(v.reveal());
  return v;
}

/**
 * `--reveal-for AGENT=MODE` (repeated) → overrides. With `allowDefault` (edit), `AGENT=default`
 * maps to null: remove that agent's own mode.
 */
function parseRevealFor(items: string[], allowDefault: boolean): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const item of items) {
    const m = /^([^=]+)=(.*)$/.exec(item);
    if (!m) {
      throw new UsageError(`--reveal-for takes AGENT=MODE (e.g. --reveal-for research-agent=never)`);
    }
    const [, agent, mode] = m;
    if (allowDefault && mode === 'default') {
      out[agent] = null;
    } else {
      out[agent] = mode;
    }
  }
  return out;
}

/** `--scope-rule 'SCOPE=METHOD /path'` (repeated) → rules per scope; with `allowEmpty`, `SCOPE=` → null. */
function parseScopeRules(items: string[], allowEmpty: boolean): Record<string, string[] | null> {
  const out: Record<string, string[] | null> = {};
  for (const item of items) {
    const m = /^([^=\s]+)=(.*)$/.exec(item);
    if (!m) {
      throw new UsageError(
        `--scope-rule takes SCOPE=RULE (e.g. --scope-rule 'search_read=GET /api/v1/search*')`,
      );
    }
    const [, scope, rule] = m;
    if (rule.trim() === '') {
      if (!allowEmpty) {
        throw new UsageError(`--scope-rule '${scope}=' needs a rule such as 'GET /api/v1/search*'`);
      }
      out[scope] = null;
      continue;
    }
    const list = out[scope] ?? [];
    list.push(rule.trim());
    out[scope] = list;
  }
  return out;
}

function describeAgents(meta: CredentialMeta): string {
  return meta.allowed_agents.length === 0 ? 'none yet (grant with --agents)' : meta.allowed_agents.join(', ');
}

// ------------------------------------------------------------------ rotate

const rotate: Command = {
  name: 'rotate',
  summary: 'make a new version of a credential (value from stdin, or --generate)',
  usage: `Usage: agent-keyring credential rotate NAME [--grace SEC] < new-value-file
       agent-keyring credential rotate NAME --generate [--length N] [--grace SEC]

Makes a new version current at once; every agent gets it on its next request. The previous
version stays valid upstream for --grace seconds (default 0).

Options:
  --grace SEC     keep the previous version valid for SEC seconds (0-${MAX_GRACE_SECONDS})
  --generate      make a random value (with the credential's generator, else letters and digits)
  --length N      length of the generated value (16-256)
${JSON_HELP}
${STORE_HELP}
${HELP_HELP}`,
  async run(argv, globals) {
    const { values, positionals } = parseCommand(
      argv,
      {
        ...COMMON_OPTIONS,
        ...JSON_OPTION,
        grace: { type: 'string' },
        generate: { type: 'boolean' },
        length: { type: 'string' },
      },
      1,
    );
    const name = requirePositional(positionals, 0, 'credential NAME');
    if (values.length !== undefined && !values.generate) {
      throw new UsageError('--length only applies with --generate');
    }
    const length =
      values.length === undefined
        ? undefined
        : parseInteger(values.length, '--length', MIN_GENERATED_LENGTH, MAX_GENERATED_LENGTH);
    const graceSeconds =
      values.grace === undefined ? undefined : parseInteger(values.grace, '--grace', 0, MAX_GRACE_SECONDS);
    const dir = resolveStoreDir(values.store ?? globals.store);
    const logger = makeLogger('warn');
    return withKeyring(dir, logger, async (k) => {
      const cred = await k.admin.getCredential(name);
      if (!cred) {
        throw notFound(name, dir);
      }
      let value = values.generate
        ? undefined
        : await readSecret(`the new value of '${name}'`, ', or use --generate');
      if (!value) {
        const gen = cred.rotation?.generator;
        value = generate(k, length ?? gen?.length ?? DEFAULT_GENERATED_LENGTH, gen?.alphabet);
      }
      const r = await k.admin.rotateCredential(name, { value, graceSeconds }, ACTOR);
      const grace = r.previous_valid_until
        ? ` (version ${r.previous_version} stays valid until ${r.previous_valid_until})`
        : '';
      printResult(
        values.json,
        {
          name,
          version: r.version,
          previous_version: r.previous_version,
          previous_valid_until: r.previous_valid_until,
          audit_warning: r.audit_warning ?? null,
        },
        `${name}: version ${r.previous_version} → ${r.version}${grace}`,
      );
      if (r.audit_warning) {
        err(`Warning: ${r.audit_warning}`);
      }
      return 0;
    });
  },
};

// ------------------------------------------------------------------ list

interface CredentialRow {
  name: string;
  scopes: string[];
  agents: string[];
  version: number;
  rotated: string;
  /** When rotation is due (`max_age_days` after the last rotation), or null without a policy. */
  due: string | null;
  /** Reveal mode for every agent, and agents' own modes. */
  reveal: string;
  reveal_overrides: Record<string, string>;
  /** Method/path rules of http_request per scope (scopes without rules: safe methods only). */
  scope_rules: Record<string, string[]>;
  /** Where http_request may place the value; null = anywhere. */
  placement: string[] | null;
}

function toRow(c: CredentialMeta): CredentialRow {
  const rotated = c.versions[c.versions.length - 1]?.created_at ?? c.created_at;
  const maxAge = c.rotation?.max_age_days;
  return {
    name: c.name,
    scopes: [...c.allowed_scopes],
    agents: [...c.allowed_agents],
    version: c.version,
    rotated,
    due: maxAge ? new Date(Date.parse(rotated) + maxAge * DAY_MS).toISOString() : null,
    reveal: c.reveal ?? DEFAULT_REVEAL_MODE,
    reveal_overrides: { ...c.reveal_overrides },
    scope_rules: structuredClone(c.scope_rules ?? {}),
    placement: c.placement ? [...c.placement] : null,
  };
}

const list: Command = {
  name: 'list',
  summary: 'list credentials (never values)',
  usage: `Usage: agent-keyring credential list [--json]

Lists credentials: name, scopes, agents, version, when last rotated, when rotation is due and
the reveal mode (with agents' own modes). --json adds scope rules and placement. Values are
never shown.

Options:
  --json          print a JSON array instead of a table
${STORE_HELP}
${HELP_HELP}`,
  async run(argv, globals) {
    const { values } = parseCommand(argv, { ...COMMON_OPTIONS, ...JSON_OPTION }, 0);
    const dir = resolveStoreDir(values.store ?? globals.store);
    if (!storeExists(dir)) {
      out(
        values.json
          ? '[]'
          : `No keyring at ${dir} yet. Add a credential with: agent-keyring credential add NAME --scopes SCOPE`,
      );
      return 0;
    }
    return withKeyring(dir, makeLogger('warn'), async (k) => {
      const rows = (await k.admin.listCredentials()).map(toRow).sort((a, b) => a.name.localeCompare(b.name));
      if (values.json) {
        out(JSON.stringify(rows, null, 2));
        return 0;
      }
      if (rows.length === 0) {
        out(`No credentials in ${dir} yet. Add one with: agent-keyring credential add NAME --scopes SCOPE`);
        return 0;
      }
      const now = Date.now();
      out(
        table(
          ['name', 'scopes', 'agents', 'version', 'rotated', 'due', 'reveal'],
          rows.map((r) => [
            r.name,
            r.scopes.join(','),
            r.agents.length ? r.agents.join(',') : '-',
            String(r.version),
            shortTime(r.rotated),
            r.due ? `${shortTime(r.due)}${Date.parse(r.due) <= now ? ' (overdue)' : ''}` : '-',
            describeRevealRow(r),
          ]),
        ),
      );
      return 0;
    });
  },
};

function describeRevealRow(r: CredentialRow): string {
  const own = Object.entries(r.reveal_overrides).map(([a, m]) => `${a}=${m}`);
  return own.length ? `${r.reveal} (${own.join(',')})` : r.reveal;
}

// ------------------------------------------------------------------ remove

const remove: Command = {
  name: 'remove',
  // It deletes (there is nothing to revoke); the old name keeps working for scripts.
  aliases: ['revoke'],
  summary: 'remove a credential and its values',
  usage: `Usage: agent-keyring credential remove NAME

Removes the credential, every stored version of its value, and its policy. Agents asking for
it get not_found from then on.

Options:
${JSON_HELP}
${STORE_HELP}
${HELP_HELP}`,
  async run(argv, globals) {
    const { values, positionals } = parseCommand(argv, { ...COMMON_OPTIONS, ...JSON_OPTION }, 1);
    const name = requirePositional(positionals, 0, 'credential NAME');
    const dir = resolveStoreDir(values.store ?? globals.store);
    return withKeyring(dir, makeLogger('warn'), async (k) => {
      if (!(await k.admin.getCredential(name))) {
        throw notFound(name, dir);
      }
      const removed = await k.admin.removeCredential(name, ACTOR);
      printResult(
        values.json,
        { name, removed: true, versions: removed.versions.length },
        `Removed credential '${name}'.`,
      );
      return 0;
    });
  },
};

// ------------------------------------------------------------------ edit

const edit: Command = {
  name: 'edit',
  summary: "change a credential's scopes, agents, TTL, hosts or rotation policy",
  usage: `Usage: agent-keyring credential edit NAME [options]

Changes a credential's policy; the value and version stay as they are. Give at least one option.
An empty list (--hosts '' or --rotation-agents '') removes that setting.

Options:
${POLICY_HELP}
${JSON_HELP}
${STORE_HELP}
${HELP_HELP}`,
  async run(argv, globals) {
    const { values, positionals } = parseCommand(
      argv,
      { ...COMMON_OPTIONS, ...JSON_OPTION, ...POLICY_OPTIONS },
      1,
    );
    const name = requirePositional(positionals, 0, 'credential NAME');
    const patch: Record<string, unknown> = {};
    if (values.scopes !== undefined) {
      patch.allowed_scopes = parseList(values.scopes);
    }
    if (values.agents !== undefined) {
      patch.allowed_agents = parseList(values.agents);
    }
    if (values.ttl !== undefined) {
      patch.ttl_seconds = parseInteger(values.ttl, '--ttl', 1, MAX_TTL_SECONDS);
    }
    if (values.hosts !== undefined) {
      const hosts = parseList(values.hosts);
      patch.allowed_hosts = hosts.length ? hosts : null;
    }
    if (values['rotation-agents'] !== undefined) {
      const agents = parseList(values['rotation-agents']);
      patch.rotation_agents = agents.length ? agents : null;
    }
    if (values.description !== undefined) {
      patch.description = values.description;
    }
    if (values.reveal !== undefined) {
      patch.reveal = values.reveal;
    }
    if (values.placement !== undefined) {
      const placement = parseList(values.placement);
      patch.placement = placement.length ? placement : null;
    }
    const revealFor = values['reveal-for'] ? parseRevealFor(values['reveal-for'], true) : undefined;
    const scopeRules = values['scope-rule'] ? parseScopeRules(values['scope-rule'], true) : undefined;
    const maxAge =
      values['max-age-days'] === undefined
        ? undefined
        : parseInteger(values['max-age-days'], '--max-age-days', 1, 3650);
    if (Object.keys(patch).length === 0 && maxAge === undefined && !revealFor && !scopeRules) {
      throw new UsageError(
        'nothing to change: give at least one of --scopes, --agents, --ttl, --hosts, --rotation-agents, --description, --max-age-days, --reveal, --reveal-for, --scope-rule, --placement',
      );
    }
    const dir = resolveStoreDir(values.store ?? globals.store);
    return withKeyring(dir, makeLogger('warn'), async (k) => {
      const cred = await k.admin.getCredential(name);
      if (!cred) {
        throw notFound(name, dir);
      }
      await warnUnknownAgents(
        k,
        patch.allowed_agents as string[] | undefined,
        patch.rotation_agents as string[] | null | undefined,
      );
      if (maxAge !== undefined) {
        // The patch replaces `rotation` whole: keep the generator that is already there.
        patch.rotation = { ...cred.rotation, max_age_days: maxAge };
      }
      // The patch replaces these whole too: merge the named agents / scopes into what is there.
      if (revealFor) {
        patch.reveal_overrides = mergeEntries(cred.reveal_overrides, revealFor);
      }
      if (scopeRules) {
        patch.scope_rules = mergeEntries(cred.scope_rules, scopeRules);
      }
      const meta = await k.admin.updateCredential(name, patch, ACTOR);
      printResult(
        values.json,
        { ...toRow(meta), ttl_seconds: meta.ttl_seconds, updated: true },
        `Updated credential '${name}': scopes ${meta.allowed_scopes.join(', ')}; agents ${describeAgents(meta)}; ttl ${meta.ttl_seconds}s; reveal ${describeRevealModes(meta)}.`,
      );
      return 0;
    });
  },
};

/** `base` with `changes` applied (a null value removes that key); null when nothing is left. */
function mergeEntries<T>(
  base: Record<string, T> | undefined,
  changes: Record<string, T | null>,
): Record<string, T> | null {
  const merged: Record<string, T> = { ...base };
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) {
      delete merged[k];
    } else {
      merged[k] = v;
    }
  }
  return Object.keys(merged).length ? merged : null;
}

export const credentialGroup: CommandGroup = {
  name: 'credential',
  summary: 'add, rotate, list, edit and remove credentials',
  usage: `Usage: agent-keyring credential <command> [options]

Commands:
  add NAME --scopes a,b     add a credential (value from stdin, or --generate)
  rotate NAME               make a new version (value from stdin, or --generate)
  list                      list credentials (never values)
  edit NAME [options]       change scopes, agents, TTL, hosts, rotation policy, reveal mode,
                            scope rules, placement
  remove NAME               remove a credential and its values

Run 'agent-keyring credential <command> --help' for a command's options.`,
  subcommands: [add, rotate, list, edit, remove],
};

/**
 * Warns (stderr) when a grant names an agent that does not exist or is revoked: usually a typo, which
 * would grant nobody now and, later, whoever is added under that id. Granting ahead of `agent add`
 * stays possible on purpose.
 */
async function warnUnknownAgents(
  k: Keyring,
  agents: readonly string[] | undefined,
  rotationAgents: readonly string[] | null | undefined,
): Promise<void> {
  const live = new Set((await k.admin.listAgents()).filter((a) => !a.revoked_at).map((a) => a.id));
  const unknown = [...new Set([...(agents ?? []), ...(rotationAgents ?? [])])].filter(
    (id) => id !== '*' && !live.has(id),
  );
  if (unknown.length > 0) {
    const known = [...live].sort();
    err(
      `agent-keyring: warning: no agent ${unknown.map((id) => `'${id}'`).join(', ')} (agents: ${known.length ? known.join(', ') : 'none yet'}); ` +
        `the grant takes effect once it is added with: agent-keyring agent add ${unknown[0]}`,
    );
  }
}
