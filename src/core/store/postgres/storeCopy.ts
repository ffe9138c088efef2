/**
 * Moves a keyring between stores (`agent-keyring store copy`): a personal folder into a team
 * store on PostgreSQL, or back. Credentials with every stored version, agents with their token
 * hashes (so agents' tokens keep working) and the audit fingerprint key are copied; values go from
 * one backend's decryption to the other's encryption in memory and are never printed.
 */
import { StoreError } from '../../errors';
import { AUDIT_KEY_SECRET, type KeyringMetadata, secretKey } from '../../model';
import type { MetadataStore, SecretBackend } from '../../ports';

export interface StoreSide {
  metadata: MetadataStore;
  secrets: SecretBackend;
}

export interface CopyResult {
  credentials: number;
  agents: number;
  values: number;
}

/**
 * Copies everything in `from` into `to`, which must hold no credentials and no agents.
 * Values are written first, then the metadata in one update that re-checks, under the
 * destination's lock, that it is still empty; so the destination either gets the whole keyring or
 * keeps no metadata (at worst unreferenced values, overwritten by a later copy).
 * @throws StoreError when the destination is not empty, or a value the source's metadata names
 * cannot be read (the message names the entry, never a value).
 */
export async function copyStore(from: StoreSide, to: StoreSide, toName: string): Promise<CopyResult> {
  const source: KeyringMetadata = structuredClone(await from.metadata.read());
  const target = await to.metadata.read();
  assertEmpty(target, toName);
  // Read everything first: a missing current value stops the copy before anything is written.
  const values = new Map<string, string>();
  for (const c of Object.values(source.credentials)) {
    for (const v of c.versions) {
      const key = secretKey(c.name, v.version);
      const value = await from.secrets.get(key);
      if (value !== undefined) {
        values.set(key, value);
      } else if (v.version === c.version) {
        throw new StoreError(
          `The current value of '${c.name}' (version ${c.version}) is missing from the source store, so nothing was copied. Rotate it there first, then retry.`,
        );
      }
      // Versions older than the previous one have no stored value any more: nothing to copy.
    }
  }
  const auditKey = await from.secrets.get(AUDIT_KEY_SECRET);
  if (auditKey !== undefined) {
    values.set(AUDIT_KEY_SECRET, auditKey);
  }
  for (const [key, value] of values) {
    await to.secrets.store(key, value);
  }
  await to.metadata.update((draft) => {
    assertEmpty(draft, toName);
    Object.assign(draft, structuredClone(source));
  });
  return {
    credentials: Object.keys(source.credentials).length,
    agents: Object.keys(source.agents).length,
    values: values.size - (auditKey === undefined ? 0 : 1),
  };
}

function assertEmpty(doc: KeyringMetadata, name: string): void {
  const c = Object.keys(doc.credentials).length;
  const a = Object.keys(doc.agents).length;
  if (c > 0 || a > 0) {
    throw new StoreError(
      `The destination ${name} already holds ${c} credential(s) and ${a} agent(s); store copy only fills an empty store. Pick an empty folder or database (run 'agent-keyring store upgrade' on a new database first).`,
    );
  }
}
