/**
 * Small file helpers shared by the file-backed stores: atomic replace, stat signatures for cheap
 * cache revalidation, and a private store directory.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Identity of one version of a file: changes whenever the file is replaced or rewritten. */
export type FileSignature = string;

/** `ino:size:mtimeMs:ctimeMs`, or `missing` when the file does not exist. */
export async function fileSignature(file: string): Promise<FileSignature> {
  try {
    const st = await fs.promises.stat(file);
    return signatureOf(st);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return 'missing';
    }
    throw e;
  }
}

export function signatureOf(st: fs.Stats): FileSignature {
  return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/**
 * Reads a file and its signature together (the signature is taken from the open file handle, so
 * it belongs to exactly the bytes read). Returns `undefined` when the file does not exist.
 */
export async function readWithSignature(
  file: string,
): Promise<{ text: string; signature: FileSignature } | undefined> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw e;
  }
  try {
    const st = await fh.stat();
    const text = await fh.readFile({ encoding: 'utf8' });
    return { text, signature: signatureOf(st) };
  } finally {
    await fh.close();
  }
}

/**
 * Replaces `file` atomically: writes a temp file in the same directory, fsyncs it, renames it over
 * the target and fsyncs the directory. A crash at any moment leaves either the old or the new
 * content, never a mix. `beforeRename` runs last (e.g. to check the lock is still held); if it
 * throws, the temp file is removed and the target is untouched.
 */
export async function writeFileAtomic(
  file: string,
  data: string,
  opts: { mode?: number; beforeRename?: () => Promise<void> } = {},
): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(
    dir,
    `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`,
  );
  const fh = await fs.promises.open(tmp, 'wx', opts.mode ?? 0o600);
  let renamed = false;
  try {
    try {
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await opts.beforeRename?.();
    await fs.promises.rename(tmp, file);
    renamed = true;
  } finally {
    if (!renamed) {
      await fs.promises.rm(tmp, { force: true });
    }
  }
  await fsyncDir(dir);
}

/** fsync a directory so a rename in it survives a power loss (a no-op where unsupported). */
export async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') {
    return;
  }
  const fh = await fs.promises.open(dir, 'r');
  try {
    await fh.sync();
  } catch (e) {
    // Some file systems refuse fsync on directories; the rename itself is still atomic.
    if (!['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP'].includes((e as NodeJS.ErrnoException).code ?? '')) {
      throw e;
    }
  } finally {
    await fh.close();
  }
}

/** Creates `dir` (and parents) with mode 0700 if missing. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
}

/**
 * Removes temp files (`.<base>.<pid>.<rand>.tmp`) that a killed process left behind, when that
 * process is gone. Best effort.
 */
export async function removeOrphanTempFiles(dir: string, base: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch {
    return;
  }
  const re = new RegExp(`^\\.${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.[0-9a-f]+\\.tmp$`);
  for (const n of names) {
    const m = re.exec(n);
    if (m && !isProcessAlive(Number(m[1]))) {
      await fs.promises.rm(path.join(dir, n), { force: true }).catch(() => undefined);
    }
  }
}

/** Whether a process with this pid exists on this machine (EPERM counts as alive). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) {
    return false;
  }
  if (pid === process.pid) {
    return true;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
