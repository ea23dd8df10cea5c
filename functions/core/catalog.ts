/**
 * Which backups exist: a backup exists only when its manifest does. Ids sort by time, so `latest` is
 * the greatest id with a manifest. Safety backups (taken before a restore overwrote its target) are
 * listed but never chosen as `latest`: restoring `latest` twice must not bring back the damaged state.
 */
import { GROUP_PREFIX, type ComponentName, type GroupName } from '../../infra/config/types';
import { BackupNotFoundError, InvalidInputError } from './errors';
import { MANIFEST_FILE } from './manifest';
import type { BackupVault } from './storage';

/** The component's operation lock (core/operation-lock.ts) sits beside its backups; never a backup id. */
export const LOCK_FILE = '_lock.json';

const BACKUP_ID = /^\d{8}T\d{6}Z-[0-9a-z]{4,12}(-safety)?$/;

export function isBackupId(value: string): boolean {
  return BACKUP_ID.test(value);
}

export function isSafetyBackupId(value: string): boolean {
  return value.endsWith('-safety');
}

/** "20261123T020000Z-7f3a": UTC time to the second plus a suffix that keeps concurrent runs apart. */
export function newBackupId(at: Date, suffix: string, options: { safety?: boolean } = {}): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  const clean = suffix.toLowerCase().replace(/[^0-9a-z]/g, '').slice(0, 12).padEnd(4, '0');
  return `${stamp}-${clean}${options.safety ? '-safety' : ''}`;
}

/** `<group prefix>/<component>/`, relative to the vault prefix. */
export function componentPrefix(group: GroupName, component: ComponentName): string {
  return `${GROUP_PREFIX[group]}/${component}/`;
}

export function backupPrefix(group: GroupName, component: ComponentName, backupId: string): string {
  return `${componentPrefix(group, component)}${backupId}/`;
}

/** Backup ids that have a manifest, newest first. */
export async function listBackupIds(vault: BackupVault, group: GroupName, component: ComponentName): Promise<string[]> {
  const prefix = componentPrefix(group, component);
  const keys = await vault.listKeys(prefix);
  const ids = keys
    .filter((key) => key.endsWith(`/${MANIFEST_FILE}`))
    .map((key) => key.slice(prefix.length, -(MANIFEST_FILE.length + 1)))
    .filter(isBackupId);
  return ids.sort().reverse();
}

/** Turns "latest" or an explicit id into an id that has a manifest, or fails naming what exists. */
export async function resolveBackupId(
  vault: BackupVault,
  group: GroupName,
  component: ComponentName,
  requested: string,
): Promise<string> {
  if (requested !== 'latest' && !isBackupId(requested)) {
    throw new InvalidInputError(`backupId '${requested}' is neither "latest" nor a backup id like 20261123T020000Z-7f3a.`, {
      component,
      hint: `List the backups with: nca-backup list ${component}`,
    });
  }
  const ids = await listBackupIds(vault, group, component);
  if (requested === 'latest') {
    const latest = ids.find((id) => !isSafetyBackupId(id));
    if (!latest) {
      throw new BackupNotFoundError(`there is no completed backup yet under ${vault.key(componentPrefix(group, component))}.`, {
        component,
        hint: 'Run a backup first (start the backup state machine with {"group": "' + group + '"}).',
      });
    }
    return latest;
  }
  if (!ids.includes(requested)) {
    const recent = ids.slice(0, 5).join(', ') || 'none';
    throw new BackupNotFoundError(`backup ${requested} does not exist or never completed (it has no manifest).`, {
      component,
      hint: `Most recent backups: ${recent}.`,
    });
  }
  return requested;
}
