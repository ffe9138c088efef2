/**
 * {@link MetadataStore} over `<dir>/metadata.json`: cached, revalidated with a `stat` on every
 * read, updated under a cross-process lock (`<dir>/metadata.lock`) and written atomically.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { StoreError } from '../errors';
import { type KeyringMetadata, emptyMetadata } from '../model';
import { type Disposable, type Logger, type MetadataStore, NULL_LOGGER } from '../ports';
import { ensurePrivateDir, removeOrphanTempFiles } from './atomicFile';
import { CachedJsonFile } from './cachedJsonFile';
import { type FileLockOptions, withFileLock } from './fileLock';
import { formatZodError } from './schemas';

export const METADATA_FILE = 'metadata.json';
export const METADATA_LOCK = 'metadata.lock';

const str = z.string();
const strList = z.array(z.string());
const VersionShape = z.looseObject({
  version: z.number().int().positive(),
  created_at: str,
  rotated_by: str,
});
const CredentialShape = z.looseObject({
  name: str,
  description: str,
  allowed_scopes: strList,
  allowed_agents: strList,
  ttl_seconds: z.number(),
  allowed_hosts: strList.optional(),
  rotation_agents: strList.optional(),
  rotation: z.looseObject({}).optional(),
  // Absent in files written before reveal modes, scope rules and placement: read as allow / no rules / anywhere.
  reveal: z
    .enum(['allow', 'approve', 'never'], { error: 'must be "allow", "approve" or "never"' })
    .optional(),
  reveal_overrides: z
    .record(
      z.string(),
      z.enum(['allow', 'approve', 'never'], { error: 'must be "allow", "approve" or "never"' }),
    )
    .optional(),
  scope_rules: z.record(z.string(), strList).optional(),
  placement: strList.optional(),
  version: z.number().int().positive(),
  versions: z.array(VersionShape).min(1),
  previous_valid_until: str.optional(),
  created_at: str,
});
const AgentShape = z.looseObject({
  id: str,
  label: str,
  token_sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits'),
  created_at: str,
  last_seen_at: str.optional(),
  active_hours: str.optional(),
  revoked_at: str.optional(),
  first_used: z.record(z.string(), str).optional(),
});
/** Loose shape check on load: catches hand edits and corruption, tolerates extra fields. */
const MetadataShape = z
  .looseObject({
    schema: z.literal(1),
    credentials: z.record(z.string(), CredentialShape),
    agents: z.record(z.string(), AgentShape),
  })
  .superRefine((doc, ctx) => {
    for (const [k, c] of Object.entries(doc.credentials)) {
      if (c.name !== k) {
        ctx.addIssue({
          code: 'custom',
          path: ['credentials', k, 'name'],
          message: 'must equal the key it is stored under',
        });
      }
    }
    for (const [k, a] of Object.entries(doc.agents)) {
      if (a.id !== k) {
        ctx.addIssue({
          code: 'custom',
          path: ['agents', k, 'id'],
          message: 'must equal the key it is stored under',
        });
      }
    }
  });

/** Recursively freezes a plain JSON value so a caller cannot change a cached document. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) {
      deepFreeze(v);
    }
  }
  return value;
}

export function serializeMetadata(doc: KeyringMetadata): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Parses and shape-checks metadata text; throws {@link StoreError} naming the file and what to do. */
export function parseMetadata(text: string, file: string): KeyringMetadata {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new StoreError(
      `The metadata file ${file} is not valid JSON, so Agent Keyring cannot read credentials and agents from it. It was left untouched: repair it by hand or restore it from a backup, then retry.`,
    );
  }
  const r = MetadataShape.safeParse(raw);
  if (!r.success) {
    throw new StoreError(
      `The metadata file ${file} does not have the expected shape: ${formatZodError(r.error)} It was left untouched: repair it by hand or restore it from a backup, then retry.`,
    );
  }
  // The loose shape check guarantees the fields the core reads; extra fields pass through.
  const doc: KeyringMetadata = r.data;
  return doc;
}

export interface FileStoreOptions {
  logger?: Logger;
  lock?: FileLockOptions;
}

/**
 * The metadata document in `<dir>/metadata.json`.
 *
 * Guarantees: `read()` returns a deep-frozen document that is current as of the call (another
 * process's committed change is seen on the very next read) and is the same object while the
 * file is unchanged. `update()` is serialised within the process and across processes; a
 * throwing mutator writes nothing; a crash leaves the old or the new file, never a mix.
 * A missing file reads as empty metadata; a corrupt file is never reset (reads and updates throw
 * a {@link StoreError} naming it).
 */
export class FileMetadataStore implements MetadataStore, Disposable {
  readonly file: string;
  private readonly doc: CachedJsonFile<KeyringMetadata>;
  private readonly lockDir: string;
  private readonly logger: Logger;

  constructor(
    readonly dir: string,
    private readonly opts: FileStoreOptions = {},
  ) {
    this.file = path.join(dir, METADATA_FILE);
    this.lockDir = path.join(dir, METADATA_LOCK);
    this.logger = opts.logger ?? NULL_LOGGER;
    this.doc = new CachedJsonFile(
      this.file,
      (text) => deepFreeze(parseMetadata(text, this.file)),
      () => deepFreeze(emptyMetadata()),
      this.logger,
    );
  }

  /** @throws StoreError when the file is corrupt or unreadable. */
  read(): Promise<KeyringMetadata> {
    return this.doc.read();
  }

  /**
   * Read-modify-write under the metadata lock. The mutator gets a private mutable copy of the
   * freshest document; if it changes nothing, nothing is written.
   * @throws whatever the mutator throws (nothing written); StoreError for lock or file failures.
   */
  async update<T>(mutator: (draft: KeyringMetadata) => T | Promise<T>): Promise<T> {
    await ensurePrivateDir(this.dir);
    return withFileLock(
      this.lockDir,
      async (guard) => {
        // Under the lock, every write: a writer killed mid-write leaves its temp file behind.
        await removeOrphanTempFiles(this.dir, METADATA_FILE);
        const fresh = await this.doc.load();
        const before = serializeMetadata(fresh);
        const draft = structuredClone<KeyringMetadata>(fresh);
        const result = await mutator(draft);
        const after = serializeMetadata(draft);
        if (after !== before) {
          // Cache a frozen copy, so an object the mutator returned cannot alias the cache.
          await this.doc.write(deepFreeze(structuredClone(draft)), after, () => guard.assertHeld());
        }
        return result;
      },
      this.opts.lock,
    );
  }

  /** Fires after this or another process changed the document (debounced for other processes). */
  onDidChange(listener: () => void): Disposable {
    return this.doc.onDidChange(() => listener());
  }

  dispose(): void {
    this.doc.dispose();
  }
}
