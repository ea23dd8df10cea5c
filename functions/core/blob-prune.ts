/**
 * Prunes a component's content-addressed blobs (config/vault-layout.ts `blobs/<component>/`), mark and
 * sweep, from the janitor. Why no blob a restorable backup needs is ever deleted:
 *
 * - Mark: every backup id with a manifest object counts, expired by retention or not (as long as lifecycle
 *   has not removed the manifest, someone could restore it); each one's file index is read and every blob it
 *   names is referenced. A manifest that is untrusted or damaged, or an index that cannot be read, stops the
 *   prune with its error: what is referenced is then unknown, so nothing is deleted.
 * - Sweep: a blob is deleted only when no index references it and it is older than the grace period, which
 *   is longer than any backup runs: a blob written by a backup still running (its manifest not yet written)
 *   is always younger than that.
 * - Concurrency: the prune holds the component's operation lock (operation "prune") from mark to sweep, so
 *   no backup of the component (which could decide to reference an old unreferenced blob) and no restore
 *   (which reads blobs) runs meanwhile; one that starts then gets a TransientError and is retried by its
 *   workflow. A backup that holds the lock makes the prune wait for the next janitor run.
 * - In a versioned vault a delete adds a delete marker; the blob's version stays until lifecycle expires
 *   non-current versions, and with Object Lock not before its retention ends. Nothing is deleted in the
 *   recovery vault (delete markers do not replicate).
 */
import { blobPrefix } from '../../config/vault-layout';
import type { ComponentName, GroupName } from '../../config/types';
import type { Logger } from '../components/types';
import { INDEX_ARTIFACT, readIndex } from '../components/models/index-file';
import { artifactSource, inspectBackup, listBackupIds, usableManifest } from './catalog';
import { OperationInProgressError, TransientError } from './errors';
import type { ManifestAuthenticator } from './manifest-mac';
import { acquireLock, withOperationLock } from './operation-lock';
import type { BackupVault } from './storage';

/** A blob younger than this is never deleted: longer than any backup runs (Fargate has no limit; the workflows' own timeout is 24 hours). */
export const BLOB_GRACE_HOURS = 48;
/** Blobs deleted per prune at most: keeps the lock short; the next janitor run goes on. */
export const PRUNE_MAX_DELETES = 1000;

export interface PruneReport {
  readonly component: ComponentName;
  readonly backups: number;
  readonly blobs: number;
  readonly referenced: number;
  readonly deleted: number;
  readonly deletedBytes: number;
  /** Unreferenced, but younger than the grace period. */
  readonly keptYoung: number;
  /** Why nothing was pruned, when nothing was. */
  readonly skipped?: string;
}

export interface PruneOptions {
  readonly group: GroupName;
  readonly component: ComponentName;
  readonly authenticator: ManifestAuthenticator;
  readonly log: Logger;
  readonly now?: () => Date;
  readonly graceHours?: number;
  readonly maxDeletes?: number;
}

/** Every blob key (relative to the vault prefix) a backup of the component references. */
async function referencedBlobs(vault: BackupVault, options: PruneOptions): Promise<{ keys: Set<string>; backups: number }> {
  const { group, component } = options;
  const keys = new Set<string>();
  const ids = await listBackupIds(vault, group, component);
  for (const backupId of ids) {
    // An untrusted or damaged manifest stops the prune: were the manifest key changed, every manifest would be
    // untrusted, and a prune that ignored them would delete every blob.
    const manifest = usableManifest(await inspectBackup(vault, options.authenticator, { group, component, backupId }), component);
    const source = artifactSource(vault, manifest);
    if (!manifest.artifacts.some((a) => a.name === INDEX_ARTIFACT)) continue;
    for (const file of await readIndex(source.open(INDEX_ARTIFACT), { component, backupId })) {
      keys.add(`${blobPrefix(component)}${file.checksum.algorithm}/${file.checksum.digest}`);
    }
  }
  return { keys, backups: ids.length };
}

export async function pruneBlobs(vault: BackupVault, options: PruneOptions): Promise<PruneReport> {
  const now = (options.now ?? (() => new Date()))();
  const { component, log } = options;
  const empty = { component, backups: 0, blobs: 0, referenced: 0, deleted: 0, deletedBytes: 0, keptYoung: 0 };
  const blobs = await vault.listObjects(blobPrefix(component));
  if (blobs.length === 0) return empty;
  const owner = `prune-${now.toISOString()}`;
  const lock = { group: options.group, component, owner, operation: 'prune', log };
  try {
    await acquireLock(vault, lock);
  } catch (error) {
    // Another operation (a backup, a restore, an overlapping prune) holds the lock: the next janitor run prunes.
    if (error instanceof OperationInProgressError || error instanceof TransientError) {
      log.info('blobs not pruned: another operation holds the lock; the next janitor run prunes', { component, error: error.message });
      return { ...empty, blobs: blobs.length, skipped: error.message };
    }
    throw error;
  }
  return withOperationLock(vault, lock, async () => {
    const { keys, backups } = await referencedBlobs(vault, options);
    // Listed again under the lock: a blob a backup wrote before the lock was taken is seen with its real age.
    const current = await vault.listObjects(blobPrefix(component));
    const cutoff = now.getTime() - (options.graceHours ?? BLOB_GRACE_HOURS) * 3600_000;
    const unreferenced = current.filter((b) => !keys.has(b.key));
    const old = unreferenced.filter((b) => b.lastModified.getTime() < cutoff).slice(0, options.maxDeletes ?? PRUNE_MAX_DELETES);
    await vault.deleteKeys(old.map((b) => b.key));
    const report = {
      component,
      backups,
      blobs: current.length,
      referenced: current.length - unreferenced.length,
      deleted: old.length,
      deletedBytes: old.reduce((n, b) => n + b.bytes, 0),
      keptYoung: unreferenced.filter((b) => b.lastModified.getTime() >= cutoff).length,
    };
    log.info('blobs pruned', { ...report });
    return report;
  });
}
