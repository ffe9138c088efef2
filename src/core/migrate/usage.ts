/**
 * Which MCP servers use which credential, as migrate recorded it: `migrate/usage.json` in the state
 * folder (the store folder; VS Code: its global storage), no values. The Credentials view shows it.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { readText, writeText } from '../connect/configFile';
import { StoreError } from '../errors';

const UsageSchema = z.object({
  credential: z.string(),
  client: z.string(),
  agent: z.string(),
  file: z.string(),
  server: z.string(),
  field: z.string(),
  migration: z.string(),
  at: z.string(),
});
export type UsageRecord = z.infer<typeof UsageSchema>;
const FileSchema = z.object({ schema: z.literal(1), records: z.array(UsageSchema) });

export class UsageRecords {
  readonly file: string;
  constructor(stateDir: string) {
    this.file = path.join(stateDir, 'migrate', 'usage.json');
  }

  /** Every record. @throws StoreError when the file exists but is damaged. */
  async list(): Promise<UsageRecord[]> {
    const { text } = await readText(this.file);
    if (text.trim() === '') {
      return [];
    }
    let parsed;
    try {
      parsed = FileSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      throw new StoreError(`${this.file} is damaged. Delete it to forget where credentials are used.`);
    }
    return parsed.data.records;
  }

  /** Records for one credential. */
  async forCredential(name: string): Promise<UsageRecord[]> {
    return (await this.list()).filter((r) => r.credential === name);
  }

  /** Adds records (one per credential + file + server + field; newer replaces older). */
  async add(records: readonly UsageRecord[]): Promise<void> {
    const key = (r: UsageRecord): string => `${r.credential}\0${r.file}\0${r.server}\0${r.field}`;
    const fresh = new Set(records.map(key));
    const next = [...(await this.list()).filter((r) => !fresh.has(key(r))), ...records];
    await this.#write(next);
  }

  /** Drops the records one migration made (its undo). */
  async removeMigration(id: string): Promise<void> {
    await this.#write((await this.list()).filter((r) => r.migration !== id));
  }

  async #write(records: UsageRecord[]): Promise<void> {
    await writeText(this.file, JSON.stringify({ schema: 1, records }, null, 2) + '\n', 0o600);
  }
}
