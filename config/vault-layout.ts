/**
 * Where things live in a vault (DESIGN.md "Storage layout"), in one place for the engine and for the
 * infrastructure's grants, lifecycle rules and vault policy, so a key the code writes is always a key its
 * role may write:
 *
 *   <vault prefix><group prefix>/<component>/<backup id>/<artifact>      the backup's artifacts
 *   <vault prefix><group prefix>/<component>/<backup id>/manifest.json   written last: the backup exists
 *   <vault prefix><group prefix>/<component>/_lock.json                  the operation lock
 *   <vault prefix><group prefix>/<component>/_steps/<step id>.json       Fargate step results
 *   <vault prefix><group prefix>/<component>/_staging/<backup id>/<name>  a backup's scratch copies (models)
 *   <vault prefix>reports/drills/<drill id>/<component>.json             a restore drill's record
 *   <vault prefix>reports/drills/<drill id>/scorecard.html               the scorecard as that drill left it
 *   <vault prefix>reports/scorecard.html                                 the scorecard, newest
 *   <vault prefix>system/<system id>/manifest.json                       a system recovery point's index
 *                                                                         (group all), written last; not
 *                                                                         trusted: restore-all checks it
 *                                                                         against the components' manifests
 *   <vault prefix>reports/restore-all/<restore id>.json                  a restore-all's report
 *   <vault prefix>blobs/<component>/<algorithm>/<digest>                  content-addressed blobs a component
 *                                                                         shares across its backups (models);
 *                                                                         outside the group prefix, so the
 *                                                                         group's lifecycle expiry never reaches
 *                                                                         them: the janitor prunes them
 *
 * Keys here are relative to the vault prefix ("" or "backups/", storage.primary.path), which the engine's
 * BackupVault and the infrastructure each put in front. Pure: no SDK, so the CDK app imports it too. The
 * lock and the step results start with "_", which no backup id does, so a listing never takes them for a
 * backup.
 */
import { GROUP_PREFIX, type ComponentName, type GroupName } from './types';

export const MANIFEST_FILE = 'manifest.json';
export const LOCK_FILE = '_lock.json';
export const STEP_RESULTS_DIR = '_steps/';
export const STAGING_DIR = '_staging/';
/** Content-addressed blobs, per component, shared by its backups. */
export const BLOBS_DIR = 'blobs/';

/** `<group prefix>/`, e.g. "database/": one retention group's key space (its lifecycle rule). */
export function groupPrefix(group: GroupName): string {
  return `${GROUP_PREFIX[group]}/`;
}

/** `<group prefix>/<component>/`: the only key space a component's worker may touch. */
export function componentPrefix(group: GroupName, component: ComponentName): string {
  return `${groupPrefix(group)}${component}/`;
}

export function backupPrefix(group: GroupName, component: ComponentName, backupId: string): string {
  return `${componentPrefix(group, component)}${backupId}/`;
}

/** The manifest's key: what its MAC binds. */
export function manifestKey(group: GroupName, component: ComponentName, backupId: string): string {
  return `${backupPrefix(group, component, backupId)}${MANIFEST_FILE}`;
}

/** The component's operation lock (core/operation-lock.ts), beside its backups. */
export function lockKey(group: GroupName, component: ComponentName): string {
  return `${componentPrefix(group, component)}${LOCK_FILE}`;
}

/** Where the Fargate task of a component leaves its step results (core/operations.ts). */
export function stepResultsPrefix(group: GroupName, component: ComponentName): string {
  return `${componentPrefix(group, component)}${STEP_RESULTS_DIR}`;
}

/** Where a backup leaves scratch copies it deletes itself (the janitor removes what a failed one left). */
export function stagingPrefix(group: GroupName, component: ComponentName): string {
  return `${componentPrefix(group, component)}${STAGING_DIR}`;
}

export function stagingKey(group: GroupName, component: ComponentName, backupId: string, name: string): string {
  return `${stagingPrefix(group, component)}${backupId}/${name}`;
}

export function stepResultKey(group: GroupName, component: ComponentName, stepId: string): string {
  return `${stepResultsPrefix(group, component)}${stepId}.json`;
}

/** The component a key belongs to (`<group prefix>/<component>/…`), for error messages; undefined if none. */
export function componentOfKey(relativeKey: string): string | undefined {
  return relativeKey.split('/')[1] || undefined;
}

/** `blobs/<component>/`: a component's content-addressed blobs (models), apart from its group's lifecycle. */
export function blobPrefix(component: ComponentName): string {
  return `${BLOBS_DIR}${component}/`;
}

/** A blob's key: its content's digest under the algorithm that produced it (e.g. "sha256" and hex). */
export function blobKey(component: ComponentName, algorithm: string, digest: string): string {
  return `${blobPrefix(component)}${algorithm}/${digest}`;
}

/** Reports the engine writes about itself (restore drills), outside every group's lifecycle rule. */
export const REPORTS_DIR = 'reports/';

/** Every restore drill's folder: its records and its copy of the scorecard. */
export const DRILL_REPORTS_PREFIX = `${REPORTS_DIR}drills/`;

/** A restore drill's record of one component (core/drill.ts). */
export function drillRecordKey(drillId: string, component: ComponentName): string {
  return `${DRILL_REPORTS_PREFIX}${drillId}/${component}.json`;
}

/** The scorecard of all drills and backup ages (core/scorecard.ts), replaced each time it is built. */
export const SCORECARD_KEY = `${REPORTS_DIR}scorecard.html`;

/** The scorecard as it stood when a drill finished, kept beside that drill's records. */
export function drillScorecardKey(drillId: string): string {
  return `${DRILL_REPORTS_PREFIX}${drillId}/scorecard.html`;
}

/** System recovery points (backup group all): one index per point, beside no component's key space. */
export const SYSTEM_DIR = 'system/';

/** A system recovery point's index, written last by the backup's Finalize step. */
export function systemIndexKey(systemId: string): string {
  return `${SYSTEM_DIR}${systemId}/${MANIFEST_FILE}`;
}

/** Where restore-all reports go. */
export const RESTORE_ALL_REPORTS_PREFIX = `${REPORTS_DIR}restore-all/`;

export function restoreAllReportKey(restoreId: string): string {
  return `${RESTORE_ALL_REPORTS_PREFIX}${restoreId}.json`;
}
