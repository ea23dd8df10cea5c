/**
 * The whole restore in one process, as the CLI's `restore` runs it: the steps restore.asl.json runs as Task
 * states (Resolve, VerifyArtifacts, CheckCompatibility, SafetyBackup, Restore, PostVerify, ReleaseLock),
 * the same functions in the same order, on one RestoreScope, so the manifest Resolve read and the target
 * connected once serve every step. The workflow stays the source of the order; a test reads the ASL file
 * and holds this sequence to it (test/integration/restore-sequence.test.ts).
 */
import { authenticatorOf, type EngineContext } from './context';
import { releaseRestoreLock } from './lock-release';
import { withOperationLock } from './operation-lock';
import { resolveRestoreWithManifest, type ResolvedRestore } from './restore-plan';
import {
  checkCompatibility,
  postVerify,
  restoreBackup,
  restoreScope,
  safetyBackup,
  verifyArtifacts,
  type RestoreComponent,
  type RestoreScope,
  type SafetyBackupResult,
} from './restore-steps';
import type { ExecutionEnvelope } from './workflow-input';

/** The steps by the names the workflow gives them: the worker's operation names, plus the control-plane ends. */
export type RestoreStepName = 'resolve' | 'verify-artifacts' | 'check-compatibility' | 'safety-backup' | 'restore' | 'post-verify' | 'release-lock';

/** Each step is announced before it runs, so a failure in the log follows the step it belongs to. */
function step<T>(ctx: EngineContext, name: RestoreStepName, work: () => Promise<T>): Promise<T> {
  ctx.log.info('restore step', { step: name });
  return work();
}

/**
 * Resolves the request (taking the component's operation lock, as Resolve does), runs the steps under that
 * lock, renewed while they run, and releases it at the end whatever happened, as ReleaseLock and
 * ReleaseLockAfterFailure do. A failed release is logged, never thrown: the lock expires on its own.
 * `skipReason` is what the result says when the request skips the safety backup.
 */
export async function runRestoreSequence(ctx: EngineContext, component: RestoreComponent, envelope: ExecutionEnvelope<unknown>, skipReason: string) {
  const { resolved, manifest } = await step(ctx, 'resolve', () => resolveRestoreWithManifest(ctx.config, ctx.vault, envelope, authenticatorOf(ctx)));
  const { backupId, targetDatabase, options } = resolved.request;
  const scope = restoreScope(ctx, component, { component: component.name, backupId, targetDatabase, options }, manifest);
  const lock = { group: component.group, component: component.name, owner: resolved.lock.owner, operation: 'restore', keep: true, log: ctx.log };
  try {
    return await withOperationLock(ctx.vault, lock, () => restoreSteps(scope, resolved, skipReason));
  } finally {
    await step(ctx, 'release-lock', () => releaseRestoreLock(ctx.config, ctx.vault, { input: envelope.input, owner: envelope.executionName })).catch((error: unknown) =>
      ctx.log.warn('could not release the operation lock; it expires on its own', { component: component.name, owner: lock.owner, error: (error as Error).message }),
    );
  }
}

/** The steps between Resolve and ReleaseLock, and the report the workflow's Report state shapes from them. */
async function restoreSteps(scope: RestoreScope, resolved: ResolvedRestore, skipReason: string) {
  const { ctx, request } = scope;
  const manifest = await scope.manifest();
  const verification = await step(ctx, 'verify-artifacts', () => verifyArtifacts(ctx, manifest));
  const compatibility = await step(ctx, 'check-compatibility', () => checkCompatibility(scope));
  const safety: SafetyBackupResult = resolved.request.skipSafetyBackup
    ? { skipped: true, reason: skipReason }
    : await step(ctx, 'safety-backup', () => safetyBackup(scope, resolved.request.safetyBackupId));
  const restored = await step(ctx, 'restore', () => restoreBackup(scope));
  const verified = await step(ctx, 'post-verify', () => postVerify(scope, safety.skipped ? undefined : safety.backupId));
  return {
    component: request.component,
    backupId: request.backupId,
    targetDatabase: request.targetDatabase,
    options: request.options,
    bytes: manifest.totalBytes,
    verification,
    compatibility,
    safetyBackup: safety,
    restoreDurationMs: restored.durationMs,
    replacedExisting: restored.replacedExisting,
    details: restored.details,
    fingerprintMatch: verified.fingerprintMatch,
    verifiedObjects: verified.objects,
    ...(verified.details ? { verificationDetails: verified.details } : {}),
  };
}
