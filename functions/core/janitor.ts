/**
 * The janitor: removes backup attempts that never got a manifest, and old Fargate step results. It is the
 * only code whose role may delete backup objects (workers write once and never delete), so it deletes
 * nothing else:
 * - an attempt is `<component prefix><backup id>/` with no `manifest.json`, whose newest object is older
 *   than the minimum age (S3's LastModified, which the writer cannot choose), and whose backup does not
 *   hold the component's operation lock;
 * - a step result is `<component prefix>_steps/<step>.json` older than the minimum age (a workflow reads its
 *   step result right after the task stops), and likewise a scratch copy under `<component prefix>_staging/`
 *   (a models backup deletes its own; one that failed may leave some);
 * - a content-addressed blob no backup references, past its grace period (core/blob-prune.ts, under the
 *   component's operation lock), for the components that store blobs.
 * A key that is not under a backup id (the lock, anything unexpected) is left alone. In a versioned vault a
 * delete only adds a delete marker; the version itself goes when lifecycle expires non-current versions
 * (and, with Object Lock, not before its retention ends). Delete markers are not replicated, so nothing
 * done here reaches the recovery vault.
 */
import type { ComponentName } from '../../config/types';
import type { Logger } from '../components/types';
import { isBackupId } from './backup-id';
import type { LockRecord } from './operation-lock';
import type { VaultRuntimeConfig } from './runtime-config';
import type { BackupVault } from './storage';
import { componentPrefix, lockKey, manifestKey, stagingPrefix, stepResultsPrefix } from '../../config/vault-layout';
import { storesBlobs } from '../../config/components';
import { pruneBlobs, type PruneReport } from './blob-prune';
import type { ManifestAuthenticator } from './manifest-mac';

/** Attempts and step results younger than this are left alone: a backup may still be writing them. */
export const JANITOR_MIN_AGE_HOURS = 24;

export interface JanitorOptions {
  readonly now?: () => Date;
  readonly minAgeHours?: number;
  readonly log: Logger;
  /** Keys per listing page; smaller only to exercise paging. */
  readonly listPageSize?: number;
  /** Verifies the manifests a blob prune reads (which blobs they reference). Without it, blobs are not pruned. */
  readonly authenticator?: ManifestAuthenticator;
  /** A blob's grace period (core/blob-prune.ts BLOB_GRACE_HOURS); shorter only in tests. */
  readonly blobGraceHours?: number;
}

export interface RemovedAttempt {
  readonly component: ComponentName;
  readonly backupId: string;
  readonly keys: number;
}

export interface JanitorReport {
  readonly removedAttempts: RemovedAttempt[];
  readonly removedStepResults: number;
  /** Attempts without a manifest that were kept, and why (too young, their backup holds the lock). */
  readonly keptAttempts: { readonly component: ComponentName; readonly backupId: string; readonly reason: string }[];
  /** Blob prunes of the components that store blobs. */
  readonly prunedBlobs: PruneReport[];
}

/** The backup id an unexpired lock was taken for by a backup ("backup-<id>"), if any. */
async function lockedBackupId(vault: BackupVault, config: VaultRuntimeConfig, component: ComponentName, now: Date): Promise<string | undefined> {
  const group = config.components[component]!.group;
  const lock = await vault.getJson<LockRecord>(lockKey(group, component));
  if (!lock || typeof lock.owner !== 'string' || !lock.owner.startsWith('backup-')) return undefined;
  return Date.parse(lock.expiresAt) > now.getTime() ? lock.owner.slice('backup-'.length) : undefined;
}

/** Sweeps one component's key space; see the module comment for what is removed. */
async function sweepComponent(vault: BackupVault, config: VaultRuntimeConfig, component: ComponentName, options: JanitorOptions, report: JanitorReport): Promise<void> {
  const now = (options.now ?? (() => new Date()))();
  const cutoff = now.getTime() - (options.minAgeHours ?? JANITOR_MIN_AGE_HOURS) * 3600_000;
  const group = config.components[component]!.group;
  const prefix = componentPrefix(group, component);
  const stepResults = stepResultsPrefix(group, component);
  const staging = stagingPrefix(group, component);
  const attempts = new Map<string, { keys: string[]; newest: number; complete: boolean }>();
  const oldStepResults: string[] = [];
  for (const object of await vault.listObjects(prefix, options.listPageSize)) {
    if (object.key.startsWith(stepResults) || object.key.startsWith(staging)) {
      if (object.lastModified.getTime() < cutoff) oldStepResults.push(object.key);
      continue;
    }
    const rest = object.key.slice(prefix.length);
    const slash = rest.indexOf('/');
    const backupId = slash > 0 ? rest.slice(0, slash) : undefined;
    if (!backupId || !isBackupId(backupId)) continue;
    const attempt = attempts.get(backupId) ?? { keys: [], newest: 0, complete: false };
    attempt.keys.push(object.key);
    attempt.newest = Math.max(attempt.newest, object.lastModified.getTime());
    if (object.key === manifestKey(group, component, backupId)) attempt.complete = true;
    attempts.set(backupId, attempt);
  }
  const locked = await lockedBackupId(vault, config, component, now);
  for (const [backupId, attempt] of attempts) {
    if (attempt.complete) continue;
    if (attempt.newest >= cutoff) {
      report.keptAttempts.push({ component, backupId, reason: `written less than ${options.minAgeHours ?? JANITOR_MIN_AGE_HOURS} hours ago` });
      continue;
    }
    if (backupId === locked) {
      report.keptAttempts.push({ component, backupId, reason: 'its backup still holds the operation lock' });
      continue;
    }
    await vault.deleteKeys(attempt.keys);
    report.removedAttempts.push({ component, backupId, keys: attempt.keys.length });
    options.log.info('removed an attempt that never got a manifest', { component, backupId, keys: attempt.keys.length });
  }
  if (oldStepResults.length > 0) {
    await vault.deleteKeys(oldStepResults);
    (report as { removedStepResults: number }).removedStepResults += oldStepResults.length;
  }
}

/**
 * Sweeps every configured component. A component that fails does not stop the others; the first failure
 * is thrown at the end (a typed S3 error), so the invocation fails and its alarm fires.
 */
export async function sweepIncompleteAttempts(config: VaultRuntimeConfig, vault: BackupVault, options: JanitorOptions): Promise<JanitorReport> {
  const report: JanitorReport = { removedAttempts: [], removedStepResults: 0, keptAttempts: [], prunedBlobs: [] };
  const failures: Error[] = [];
  for (const component of Object.keys(config.components) as ComponentName[]) {
    try {
      await sweepComponent(vault, config, component, options, report);
      if (options.authenticator && storesBlobs(component)) {
        report.prunedBlobs.push(
          await pruneBlobs(vault, { group: config.components[component]!.group, component, authenticator: options.authenticator, log: options.log, now: options.now, graceHours: options.blobGraceHours }),
        );
      }
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      options.log.warn('janitor could not sweep a component', { component, error: err.message });
      failures.push(err);
    }
  }
  if (failures.length > 0) throw failures[0];
  return report;
}
