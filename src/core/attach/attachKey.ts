/**
 * The store's attach secret (README.md, "In VS Code" and "Security model"): 32 random bytes in
 * `<store>/attach.key` (mode 0600, in the 0700 store folder), created by whichever process opens
 * the store first. Windows and `agent-keyring serve` that use the same store folder read the same
 * file, so only they can answer each other's attach challenge (`attachProof.ts`).
 *
 * Why a file of its own and not the values' key or the audit key: a VS Code window keeps those in
 * SecretStorage, which another process cannot read, while `serve` keeps its own in the OS keyring
 * or `master.key`. What every holder of one store really shares is the store folder (metadata,
 * audit log), which is owner-checked like OpenSSH's StrictModes; the secret lives there.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StoreError } from '../errors';
import { ensurePrivateDir, fsyncDir } from '../store/atomicFile';

export const ATTACH_KEY_FILE = 'attach.key';
const SECRET_BYTES = 32;

/**
 * Reads `<dir>/attach.key`, creating it (atomically, never overwriting one another process made)
 * when missing.
 * @throws StoreError when the file is malformed or readable by group/others (says how to fix it).
 * Messages never contain key material.
 */
export async function loadAttachSecret(dir: string): Promise<Buffer> {
  const file = path.join(path.resolve(dir), ATTACH_KEY_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      return await readSecret(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 0) {
        throw e;
      }
    }
    await createSecret(file);
  }
}

async function readSecret(file: string): Promise<Buffer> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const st = await fh.stat();
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new StoreError(
        `The attach key ${file} is readable by group or others; anyone who reads it could pose as this keyring to its VS Code windows. Run: chmod 600 '${file}'`,
      );
    }
    const text = (await fh.readFile('utf8')).trim();
    const secret = Buffer.from(text, 'base64');
    if (secret.length !== SECRET_BYTES || secret.toString('base64') !== text) {
      throw new StoreError(
        `The attach key ${file} is malformed. Delete it: the next window or 'agent-keyring serve' on this store creates a new one (then restart the others).`,
      );
    }
    return secret;
  } finally {
    await fh.close();
  }
}

/** Writes a temp file, then links it into place: the link fails if another process was quicker. */
async function createSecret(file: string): Promise<void> {
  const dir = path.dirname(file);
  await ensurePrivateDir(dir);
  const tmp = path.join(
    dir,
    `.${ATTACH_KEY_FILE}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`,
  );
  const fh = await fs.promises.open(tmp, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(crypto.randomBytes(SECRET_BYTES).toString('base64') + '\n', 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.link(tmp, file).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') {
        throw e;
      }
    });
    await fsyncDir(dir);
  } finally {
    await fs.promises.rm(tmp, { force: true });
  }
}
