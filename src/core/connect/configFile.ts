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

/** Clients whose config Agent Keyring writes to a file. */
export type FileClient = 'claude' | 'codex' | 'cursor' | 'vscode';

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
): Promise<{ outcome: EditOutcome }> {
  const { text, mode } = await readText(file);
  const label = file;
  let result;
  switch (client) {
    case 'codex':
      result = upsertTomlEntry(text, SERVER_ENTRY, codexEntry(url), label);
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
    case 'cursor':
      result = upsertJsonEntry(
        text,
        {
          rootKey: 'mcpServers',
          name: SERVER_ENTRY,
          entry: client === 'claude' ? claudeEntry(url) : cursorEntry(url),
          jsonc: false,
        },
        label,
      );
      break;
  }
  if (result.outcome !== 'unchanged') {
    await writeText(file, result.text, mode);
  }
  return { outcome: result.outcome as EditOutcome };
}

/**
 * Removes the Agent Keyring entry for `client` from `file` (and nothing else).
 * @returns `removed`, or `absent` when the file or the entry is gone already.
 * @throws InvalidInputError when the file does not parse (untouched); StoreError on I/O.
 */
export async function removeClientConfig(client: FileClient, file: string): Promise<'removed' | 'absent'> {
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
            : { rootKey: 'mcpServers', name: SERVER_ENTRY, jsonc: false },
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
  client: z.enum(['claude', 'codex', 'cursor', 'vscode']),
  file: z.string(),
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
    await this.#update((rs) => [...rs.filter((r) => !(r.agent === record.agent && same(r, record))), record]);
  }

  /** Drops the records of `agent` for these files. */
  async remove(agent: string, which: Pick<ConnectionRecord, 'file' | 'entry'>[]): Promise<void> {
    await this.#update((rs) => rs.filter((r) => !(r.agent === agent && which.some((w) => same(r, w)))));
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

function same(
  a: Pick<ConnectionRecord, 'file' | 'entry'>,
  b: Pick<ConnectionRecord, 'file' | 'entry'>,
): boolean {
  return path.resolve(a.file) === path.resolve(b.file) && a.entry === b.entry;
}

/** The Codex config file: `$CODEX_HOME/config.toml`, else `~/.codex/config.toml`. */
export function codexConfigPath(env: NodeJS.ProcessEnv, home: string): string {
  const codexHome = env.CODEX_HOME;
  if (codexHome !== undefined && codexHome !== '' && !path.isAbsolute(codexHome)) {
    throw new InvalidInputError('CODEX_HOME must be an absolute path. Fix the variable, then try again.');
  }
  return path.join(codexHome || path.join(home, '.codex'), 'config.toml');
}
