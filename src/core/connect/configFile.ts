/**
 * Writes and removes Agent Keyring's entry in a client's config file on disk: read, edit the text
 * (jsonConfig / tomlConfig), write atomically keeping the file's mode. A file that does not parse
 * is never written. Also remembers which agent had which entry written where, so revoking the
 * agent can offer to remove exactly those entries.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { InvalidInputError, StoreError } from '../errors';
import { writeFileAtomic } from '../store/atomicFile';
import {
  SERVER_ENTRY,
  VSCODE_TOKEN_INPUT,
  claudeEntry,
  codexEntry,
  cursorEntry,
  vscodeEntry,
  vscodeInput,
} from './clients';
import { removeJsonEntry, upsertJsonEntry, type EditOutcome } from './jsonConfig';
import { removeTomlEntry, upsertTomlEntry } from './tomlConfig';

/**
 * Clients whose config Agent Keyring writes to a file. `claude-local`: Claude Code's own
 * `~/.claude.json`, section `projects.<folder>.mcpServers` (what `claude mcp add` writes in its
 * default "local" scope) — VS Code does not read that file, so VS Code's MCP list keeps one Agent
 * Keyring. `claude`: the project's `.mcp.json`, which VS Code also reads (it lists every server
 * there next to its own); only entries written by earlier versions are still removed from it.
 */
export type FileClient = 'claude' | 'claude-local' | 'codex' | 'cursor' | 'vscode';

/** How a client's entry reaches the token (beyond the agent id). */
export interface EntryOptions {
  /** `claude-local`: the project folder whose section gets the entry. */
  project?: string;
  /** `claude`/`claude-local`: a `headersHelper` command instead of a `${…}` header. */
  helper?: string;
}

/** Reads a text file; '' when it does not exist. */
export async function readText(file: string): Promise<{ text: string; mode?: number }> {
  try {
    const st = await fs.promises.stat(file);
    return { text: await fs.promises.readFile(file, 'utf8'), mode: st.mode & 0o777 };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return { text: '' };
    }
    throw new StoreError(
      `Cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'}). Check that it is a readable file.`,
    );
  }
}

/** Atomic replace; keeps the existing mode, new files get 0644 (they hold no secret). */
export async function writeText(file: string, text: string, mode?: number): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, text, { mode: mode ?? 0o644 });
  if (mode !== undefined) {
    // open(…, mode) is filtered by the umask: put the old mode back exactly.
    await fs.promises.chmod(file, mode);
  }
}

/**
 * Adds (or updates) the Agent Keyring entry for `client` in `file`, merging with what is there.
 * Idempotent: writing the same entry again leaves the file untouched (`unchanged`).
 * @throws InvalidInputError when the file does not parse (the file is untouched); StoreError on I/O.
 */
export async function writeClientConfig(
  client: FileClient,
  file: string,
  url: string,
  agentId: string,
  opts: EntryOptions = {},
): Promise<{ outcome: EditOutcome }> {
  const { text, mode } = await readText(file);
  const label = file;
  let result;
  switch (client) {
    case 'codex':
      result = upsertTomlEntry(text, SERVER_ENTRY, codexEntry(url, agentId), label);
      break;
    case 'vscode':
      result = upsertJsonEntry(
        text,
        {
          rootKey: 'servers',
          name: SERVER_ENTRY,
          entry: vscodeEntry(url),
          input: vscodeInput(agentId),
          jsonc: true,
        },
        label,
      );
      break;
    case 'claude':
    case 'claude-local':
    case 'cursor':
      result = upsertJsonEntry(
        text,
        {
          rootKey: 'mcpServers',
          ...(client === 'claude-local'
            ? { parent: ['projects', claudeProjectKey(requireProject(opts))] }
            : {}),
          name: SERVER_ENTRY,
          entry: client === 'cursor' ? cursorEntry(url, agentId) : claudeEntry(url, agentId, opts.helper),
          jsonc: false,
        },
        label,
      );
      break;
  }
  if (result.outcome !== 'unchanged') {
    // ~/.claude.json holds Claude Code's account state: a new one is private to the user.
    await writeText(file, result.text, mode ?? (client === 'claude-local' ? 0o600 : undefined));
  }
  return { outcome: result.outcome as EditOutcome };
}

function requireProject(opts: EntryOptions): string {
  if (!opts.project) {
    throw new InvalidInputError('Claude Code (local scope) needs the project folder the entry is for.');
  }
  return opts.project;
}

/**
 * The key of a project in `~/.claude.json`'s `projects`: its absolute path (Claude Code keys a
 * project by the folder it was started in; on Windows with forward slashes).
 */
export function claudeProjectKey(folder: string): string {
  const abs = path.resolve(folder);
  return process.platform === 'win32' ? abs.replaceAll('\\', '/') : abs;
}

/** Claude Code's user config: `$CLAUDE_CONFIG_DIR/.claude.json`, else `~/.claude.json`. */
export function claudeUserConfigPath(env: NodeJS.ProcessEnv, home: string): string {
  const dir = env.CLAUDE_CONFIG_DIR?.trim();
  if (dir && !path.isAbsolute(dir)) {
    throw new InvalidInputError(
      'CLAUDE_CONFIG_DIR must be an absolute path. Fix the variable, then try again.',
    );
  }
  return path.join(dir || home, '.claude.json');
}

/**
 * Removes the Agent Keyring entry for `client` from `file` (and nothing else).
 * @returns `removed`, or `absent` when the file or the entry is gone already.
 * @throws InvalidInputError when the file does not parse (untouched); StoreError on I/O.
 */
export async function removeClientConfig(
  client: FileClient,
  file: string,
  opts: Pick<EntryOptions, 'project'> = {},
): Promise<'removed' | 'absent'> {
  const { text, mode } = await readText(file);
  if (text === '') {
    return 'absent';
  }
  const result =
    client === 'codex'
      ? removeTomlEntry(text, SERVER_ENTRY, file)
      : removeJsonEntry(
          text,
          client === 'vscode'
            ? { rootKey: 'servers', name: SERVER_ENTRY, jsonc: true, inputId: VSCODE_TOKEN_INPUT }
            : {
                rootKey: 'mcpServers',
                ...(client === 'claude-local'
                  ? { parent: ['projects', claudeProjectKey(requireProject(opts))] }
                  : {}),
                name: SERVER_ENTRY,
                jsonc: false,
              },
          file,
        );
  if (result.outcome === 'removed') {
    await writeText(file, result.text, mode);
    return 'removed';
  }
  return 'absent';
}

// ---------------------------------------------------------------- records

const RecordSchema = z.object({
  agent: z.string(),
  client: z.enum(['claude', 'claude-local', 'codex', 'cursor', 'vscode']),
  file: z.string(),
  /** `claude-local`: the project folder whose section of `~/.claude.json` holds the entry. */
  project: z.string().optional(),
  entry: z.string(),
  written_at: z.string(),
});
export type ConnectionRecord = z.infer<typeof RecordSchema>;
const RecordsSchema = z.object({ schema: z.literal(1), records: z.array(RecordSchema) });

/**
 * Which config entries Connect Agent wrote, per agent: a small JSON file (no secrets) next to the
 * keyring metadata. Serialises its own writes; a damaged file is reported, not silently reset.
 */
export class ConnectionRecords {
  #queue: Promise<unknown> = Promise.resolve();
  constructor(readonly file: string) {}

  /** Every record. @throws StoreError when the file exists but is damaged. */
  async list(): Promise<ConnectionRecord[]> {
    const { text } = await readText(this.file);
    if (text.trim() === '') {
      return [];
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new StoreError(
        `${this.file} is damaged (not JSON). Delete it to forget which configs were written.`,
      );
    }
    const parsed = RecordsSchema.safeParse(json);
    if (!parsed.success) {
      throw new StoreError(
        `${this.file} is damaged (unexpected shape). Delete it to forget which configs were written.`,
      );
    }
    return parsed.data.records;
  }

  async forAgent(agent: string): Promise<ConnectionRecord[]> {
    return (await this.list()).filter((r) => r.agent === agent);
  }

  /** Adds a record (one per agent + file + entry). */
  async add(record: ConnectionRecord): Promise<void> {
    await this.#update((rs) => [
      ...rs.filter((r) => !(r.agent === record.agent && sameEntry(r, record))),
      record,
    ]);
  }

  /** Drops the records of `agent` for these files. */
  async remove(agent: string, which: Pick<ConnectionRecord, 'file' | 'entry' | 'project'>[]): Promise<void> {
    await this.#update((rs) => rs.filter((r) => !(r.agent === agent && which.some((w) => sameEntry(r, w)))));
  }

  #update(change: (rs: ConnectionRecord[]) => ConnectionRecord[]): Promise<void> {
    const run = this.#queue.then(async () => {
      const next = change(await this.list());
      await writeText(this.file, JSON.stringify({ schema: 1, records: next }, null, 2) + '\n', 0o600);
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/** The same entry: one file, one entry name and (in `~/.claude.json`) one project. */
export function sameEntry(
  a: Pick<ConnectionRecord, 'file' | 'entry' | 'project'>,
  b: Pick<ConnectionRecord, 'file' | 'entry' | 'project'>,
): boolean {
  return (
    path.resolve(a.file) === path.resolve(b.file) &&
    a.entry === b.entry &&
    (a.project === undefined ? '' : path.resolve(a.project)) ===
      (b.project === undefined ? '' : path.resolve(b.project))
  );
}

/** The Codex config file: `$CODEX_HOME/config.toml`, else `~/.codex/config.toml`. */
export function codexConfigPath(env: NodeJS.ProcessEnv, home: string): string {
  const codexHome = env.CODEX_HOME;
  if (codexHome !== undefined && codexHome !== '' && !path.isAbsolute(codexHome)) {
    throw new InvalidInputError('CODEX_HOME must be an absolute path. Fix the variable, then try again.');
  }
  return path.join(codexHome || path.join(home, '.codex'), 'config.toml');
}
