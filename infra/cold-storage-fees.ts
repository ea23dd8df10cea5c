/**
 * Early-deletion fees of cold storage: S3 bills an object in STANDARD_IA or a Glacier class for a minimum
 * number of days, so a group whose backups move there and are deleted sooner pays for days it never stored.
 * The stacks warn at synth (the choice is legal, just paid for nothing).
 */
import { Annotations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { GROUPS, type ColdStorageConfig, type GroupName } from '../config/types';
import { NONCURRENT_VERSION_DAYS } from './constructs/backup-vault';

/** Id of the synth warning. */
export const EARLY_DELETION_WARNING = 'nca-backup:cold-storage-early-deletion';

/** Minimum storage duration in days per storage class (S3 pricing); INTELLIGENT_TIERING has none. */
export const MINIMUM_STORAGE_DAYS: Readonly<Record<string, number>> = {
  STANDARD_IA: 30,
  GLACIER_IR: 90,
  GLACIER: 90,
  DEEP_ARCHIVE: 180,
};

export interface EarlyDeletion {
  readonly group: GroupName;
  /** Days a backup of the group spends in the class: from the transition to its deletion as a noncurrent version. */
  readonly daysInClass: number;
  readonly minimumDays: number;
}

/** The groups whose backups move to the cold class and leave it before its minimum storage duration. */
export function earlyDeletions(retention: Readonly<Record<GroupName, number>>, cold: ColdStorageConfig | undefined): EarlyDeletion[] {
  const minimumDays = cold ? MINIMUM_STORAGE_DAYS[cold.storageClass] : undefined;
  if (!cold || minimumDays === undefined) return [];
  return GROUPS.flatMap((group) => {
    // A group that expires before the transition never moves (see lifecycleRules); one that moves is deleted
    // for good NONCURRENT_VERSION_DAYS after it expires.
    if (cold.afterDays >= retention[group]) return [];
    const daysInClass = retention[group] - cold.afterDays + NONCURRENT_VERSION_DAYS;
    return daysInClass < minimumDays ? [{ group, daysInClass, minimumDays }] : [];
  });
}

/** The warning for `deletions` (not empty): which groups, how many days they pay for, and what to change. */
export function earlyDeletionWarning(cold: ColdStorageConfig, deletions: readonly EarlyDeletion[]): string {
  const minimum = deletions[0].minimumDays;
  const groups = deletions.map((d) => `${d.group} (${d.daysInClass} days)`).join(', ');
  return (
    `backup.storage.cold_storage: backups of ${groups} move to ${cold.storageClass} after ${cold.afterDays} days and are deleted before ` +
    `its ${minimum}-day minimum storage duration, so S3 bills the remaining days as early-deletion fees in both vaults. ` +
    `Raise after_days to at least the retention of those groups (they then stay in S3 Standard), lower it so that ` +
    `retention + ${NONCURRENT_VERSION_DAYS} - after_days reaches ${minimum}, or use INTELLIGENT_TIERING, which has no minimum.`
  );
}

/** Warns on `vault` when some group would pay early-deletion fees. */
export function warnOfEarlyDeletion(vault: IConstruct, retention: Readonly<Record<GroupName, number>>, cold: ColdStorageConfig | undefined): void {
  const deletions = earlyDeletions(retention, cold);
  if (cold && deletions.length > 0) Annotations.of(vault).addWarningV2(EARLY_DELETION_WARNING, earlyDeletionWarning(cold, deletions));
}
