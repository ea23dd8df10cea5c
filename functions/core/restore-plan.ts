/**
 * The first step of every restore: validates the operator's input, turns "latest" into an id and reads
 * the manifest, then takes the component's operation lock. Fails here, before any step touches the target,
 * on an unknown component or backup id, or when another backup or restore of the component is running.
 */
import { resolveBackup } from './catalog';
import type { Manifest } from './manifest';
import { authenticatorFor, type ManifestAuthenticator } from './manifest-mac';
import { chooseRunner, type RunnerKind } from './runner';
import { acquireLock } from './operation-lock';
import type { RuntimeConfig, WorkerRef } from './runtime-config';
import { parseRestoreInput, restoreTarget, safetyBackupIdFor, type ExecutionEnvelope } from './workflow-input';
import type { BackupVault } from './storage';

export interface ResolvedRestore {
  readonly request: {
    readonly component: string;
    readonly backupId: string;
    readonly requestedBackupId: string;
    readonly targetDatabase: string;
    readonly skipSafetyBackup: boolean;
    readonly safetyBackupId: string;
    readonly options: Record<string, unknown>;
  };
  readonly backup: { readonly createdAt: string; readonly bytes: number; readonly artifacts: number; readonly sourceDatabase: string };
  readonly runner: RunnerKind;
  /** The component's operation lock, taken here for the whole restore (owner: the execution name). */
  readonly lock: { readonly owner: string; readonly expiresAt: string };
  /** Absent for local (CLI) runs, which have no deployed workers. */
  readonly worker?: WorkerRef;
}

/** `authenticator` defaults to the one the runtime config names (the deployed resolve function passes none). */
export async function resolveRestore(
  config: RuntimeConfig,
  vault: BackupVault,
  event: ExecutionEnvelope<unknown>,
  authenticator: ManifestAuthenticator = authenticatorFor(config),
): Promise<ResolvedRestore> {
  return (await resolveRestoreWithManifest(config, vault, event, authenticator)).resolved;
}

/**
 * resolveRestore, with the trusted manifest it read: the steps that run in the same process (the CLI) use
 * it instead of reading it again. The workflow's steps run elsewhere and read it themselves.
 */
export async function resolveRestoreWithManifest(
  config: RuntimeConfig,
  vault: BackupVault,
  event: ExecutionEnvelope<unknown>,
  authenticator: ManifestAuthenticator,
): Promise<{ resolved: ResolvedRestore; manifest: Manifest }> {
  const input = parseRestoreInput(config, event.input);
  const group = config.components[input.component]!.group;
  // Only a trusted manifest resolves: its source.database may become the restore target below.
  const manifest = await resolveBackup(vault, authenticator, group, input.component, input.backupId);
  const backupId = manifest.backupId;
  // The backed-up database as the default target passes the same refusals as a named one.
  const targetDatabase = restoreTarget(config, input.component, input.targetDatabase, manifest.source.database);
  // Last, after every check that can refuse the request: a refused request leaves no lock behind.
  const lock = await acquireLock(vault, { group, component: input.component, owner: event.executionName, operation: 'restore' });
  const resolved: ResolvedRestore = {
    request: {
      component: input.component,
      backupId,
      requestedBackupId: input.backupId,
      targetDatabase,
      skipSafetyBackup: input.skipSafetyBackup,
      safetyBackupId: safetyBackupIdFor(event),
      options: input.options,
    },
    backup: { createdAt: manifest.completedAt, bytes: manifest.totalBytes, artifacts: manifest.artifacts.length, sourceDatabase: manifest.source.database },
    runner: chooseRunner(manifest.totalBytes, config.runner),
    lock: { owner: lock.record.owner, expiresAt: lock.record.expiresAt },
    worker: config.components[input.component]!.worker,
  };
  return { resolved, manifest };
}

