/**
 * Which backups exist: a backup exists only when its manifest does, and counts only when that manifest
 * is authentic (its MAC verifies, core/manifest-mac.ts) and valid. Ids sort by time, so `latest` is the
 * greatest id with a trusted manifest. Safety backups (taken before a restore overwrote its target) are
 * listed but never chosen as `latest`: restoring `latest` twice must not bring back the damaged state.
 * Every manifest is read here, in one way: read, JSON, MAC, then its contents checked like user input.
 */
import type { ComponentName, GroupName } from '../../config/types';
import { isBackupId, isSafetyBackupId } from './backup-id';
import { BackupNotFoundError, IntegrityError, InvalidInputError } from './errors';
import { parseManifest, type Manifest } from './manifest';
import type { ManifestAuthenticator } from './manifest-mac';
import type { ArtifactSource } from '../components/types';
import { blobStoreOf } from './blobs';
import type { BackupVault } from './storage';
import { backupPrefix, componentPrefix, MANIFEST_FILE, manifestKey } from '../../config/vault-layout';

// Keys the engine's steps look up with the catalog; the vault layout defines them.
export { backupPrefix, componentPrefix, manifestKey } from '../../config/vault-layout';

/** Ids that have a manifest object, newest first: not yet read, so not yet trusted. */
export async function listBackupIds(vault: BackupVault, group: GroupName, component: ComponentName): Promise<string[]> {
  const prefix = componentPrefix(group, component);
  const keys = await vault.listKeys(prefix);
  const ids = keys
    .filter((key) => key.endsWith(`/${MANIFEST_FILE}`))
    .map((key) => key.slice(prefix.length, -(MANIFEST_FILE.length + 1)))
    .filter(isBackupId);
  return ids.sort().reverse();
}

/**
 * What a manifest is worth. trusted: authentic and valid. untrusted: no MAC, or one that does not verify
 * (forged, altered, or copied from another backup id). damaged: not JSON, or authentic but invalid.
 */
export type BackupStatus = 'trusted' | 'untrusted' | 'damaged';

export type BackupEntry =
  | { readonly backupId: string; readonly status: 'trusted'; readonly manifest: Manifest }
  | { readonly backupId: string; readonly status: 'untrusted' | 'damaged'; readonly problem: string; readonly key: string }
  | { readonly backupId: string; readonly status: 'missing'; readonly key: string };

interface BackupRef {
  readonly group: GroupName;
  readonly component: ComponentName;
  readonly backupId: string;
}

/** Reads one manifest and judges it; only the vault failing (network, permissions) or KMS failing throws. */
export async function inspectBackup(vault: BackupVault, authenticator: ManifestAuthenticator, ref: BackupRef): Promise<BackupEntry> {
  const relative = manifestKey(ref.group, ref.component, ref.backupId);
  const key = `s3://${vault.bucket}/${vault.key(relative)}`;
  let raw: unknown;
  try {
    raw = await vault.getJson<unknown>(relative);
  } catch (error) {
    if (error instanceof IntegrityError) return { backupId: ref.backupId, status: 'damaged', problem: 'it is not valid JSON', key };
    throw error;
  }
  if (raw === undefined) return { backupId: ref.backupId, status: 'missing', key };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { backupId: ref.backupId, status: 'damaged', problem: 'it is not a JSON object', key };
  // The MAC first: nothing in a manifest is interpreted before it is known to come from nca-backup.
  const verdict = await authenticator.verify(relative, raw);
  if (!verdict.valid) return { backupId: ref.backupId, status: 'untrusted', problem: verdict.reason, key };
  try {
    return { backupId: ref.backupId, status: 'trusted', manifest: parseManifest(raw, { ...ref, key }) };
  } catch (error) {
    if (error instanceof IntegrityError) return { backupId: ref.backupId, status: 'damaged', problem: (error as IntegrityError & { problem?: string }).problem ?? error.message, key };
    throw error;
  }
}

/** The error for a backup that cannot be used, naming its manifest's key. */
function unusable(entry: Exclude<BackupEntry, { status: 'trusted' }>, component: ComponentName): Error {
  if (entry.status === 'missing') {
    return new BackupNotFoundError(`backup ${entry.backupId} has no manifest (${entry.key}).`, {
      component,
      backupId: entry.backupId,
      hint: `List backups with: nca-backup list ${component}`,
    });
  }
  const what = entry.status === 'untrusted' ? `is not trusted: ${entry.problem}` : `is damaged: ${entry.problem}`;
  return new IntegrityError(`manifest ${entry.key} ${what}.`, {
    component,
    backupId: entry.backupId,
    hint:
      `Do not use this backup: pick another id from \`nca-backup list ${component}\`.` +
      (entry.status === 'untrusted'
        ? ' nca-backup never writes a manifest without a valid MAC: unless the manifest key was changed, someone with write access to the vault wrote or altered it.'
        : ''),
  });
}

/** The manifest of a trusted entry; for any other, the typed error naming its key. */
export function usableManifest(entry: BackupEntry, component: ComponentName): Manifest {
  if (entry.status !== 'trusted') throw unusable(entry, component);
  return entry.manifest;
}

/** The one way to read a manifest for use: trusted and valid, or a typed error naming its key. */
export async function readManifest(vault: BackupVault, authenticator: ManifestAuthenticator, ref: BackupRef): Promise<Manifest> {
  return usableManifest(await inspectBackup(vault, authenticator, ref), ref.component);
}

/** Every backup with its status, newest first; one damaged or untrusted manifest never hides the others. */
export async function listBackups(vault: BackupVault, authenticator: ManifestAuthenticator, group: GroupName, component: ComponentName): Promise<BackupEntry[]> {
  const entries: BackupEntry[] = [];
  for (const backupId of await listBackupIds(vault, group, component)) {
    const entry = await inspectBackup(vault, authenticator, { group, component, backupId });
    // Deleted between the listing and the read: no longer a backup.
    if (entry.status !== 'missing') entries.push(entry);
  }
  return entries;
}

/** Turns "latest" or an explicit id into that backup's trusted manifest, or fails naming what exists. */
export async function resolveBackup(
  vault: BackupVault,
  authenticator: ManifestAuthenticator,
  group: GroupName,
  component: ComponentName,
  requested: string,
): Promise<Manifest> {
  if (requested !== 'latest' && !isBackupId(requested)) {
    throw new InvalidInputError(`backupId '${requested}' is neither "latest" nor a backup id like 20261123T020000Z-7f3a.`, {
      component,
      hint: `List the backups with: nca-backup list ${component}`,
    });
  }
  const ids = await listBackupIds(vault, group, component);
  if (requested === 'latest') {
    // Newest first, each read and verified until one is trusted: a planted manifest never becomes latest.
    for (const backupId of ids.filter((id) => !isSafetyBackupId(id))) {
      const entry = await inspectBackup(vault, authenticator, { group, component, backupId });
      if (entry.status === 'trusted') return entry.manifest;
    }
    throw new BackupNotFoundError(`there is no completed backup yet under ${vault.key(componentPrefix(group, component))} (none with a trusted manifest).`, {
      component,
      hint: ids.length > 0
        ? `Manifests were found but none is trusted: see nca-backup list ${component}.`
        : 'Run a backup first (start the backup state machine with {"group": "' + group + '"}).',
    });
  }
  if (!ids.includes(requested)) {
    const recent = ids.slice(0, 5).join(', ') || 'none';
    throw new BackupNotFoundError(`backup ${requested} does not exist or never completed (it has no manifest).`, {
      component,
      hint: `Most recent backups: ${recent}.`,
    });
  }
  return readManifest(vault, authenticator, { group, component, backupId: requested });
}

/**
 * A trusted manifest's artifacts, read back through SHA-256 verification, and its component's blobs; with
 * the authenticator, also the chain of the component's trusted backups up to this one.
 */
export function artifactSource(vault: BackupVault, manifest: Manifest, authenticator?: ManifestAuthenticator): ArtifactSource {
  const prefix = backupPrefix(manifest.group, manifest.component, manifest.backupId);
  return {
    ...(authenticator ? { chain: () => backupChain(vault, authenticator, manifest) } : {}),
    artifacts: manifest.artifacts,
    backup: { backupId: manifest.backupId, fingerprint: manifest.fingerprint, source: manifest.source },
    blobs: blobStoreOf(vault, manifest.group, manifest.component, manifest.backupId),
    open: (name: string) => {
      const artifact = manifest.artifacts.find((a) => a.name === name);
      if (!artifact) throw new BackupNotFoundError(`artifact ${name} is not in the manifest.`, { component: manifest.component, backupId: manifest.backupId });
      return vault.openVerified(prefix + name, artifact, { component: manifest.component, backupId: manifest.backupId });
    },
  };
}

/**
 * The component's backups a restore of `manifest` may read besides it: every trusted one with an id up to
 * its own (ids sort by time), oldest first. A damaged or untrusted manifest in between is left out, so the
 * component sees the hole it leaves (the logs component refuses a restore across a gap); safety backups
 * hold a restore target, not the source, and are never part of it.
 */
async function backupChain(vault: BackupVault, authenticator: ManifestAuthenticator, manifest: Manifest): Promise<ArtifactSource[]> {
  const ids = (await listBackupIds(vault, manifest.group, manifest.component)).filter((id) => !isSafetyBackupId(id) && id <= manifest.backupId).sort();
  const chain: ArtifactSource[] = [];
  for (const backupId of ids) {
    if (backupId === manifest.backupId) {
      chain.push(artifactSource(vault, manifest));
      continue;
    }
    const entry = await inspectBackup(vault, authenticator, { group: manifest.group, component: manifest.component, backupId });
    if (entry.status === 'trusted') chain.push(artifactSource(vault, entry.manifest));
  }
  return chain;
}
