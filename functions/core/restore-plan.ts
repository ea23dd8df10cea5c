/**
 * The first step of every restore: validates the operator's input, turns "latest" into an id and reads
 * the manifest. Fails here, before any step touches the target, on an unknown component or backup id.
 */
import { backupPrefix, resolveBackupId } from './catalog';
import { parseManifest, MANIFEST_FILE } from './manifest';
import { BackupNotFoundError } from './errors';
import { chooseRunner, type RunnerKind } from './runner';
import type { RuntimeConfig, WorkerRef } from './runtime-config';
import { parseRestoreInput, safetyBackupIdFor, type ExecutionEnvelope } from './workflow-input';
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
  /** Absent for local (CLI) runs, which have no deployed workers. */
  readonly worker?: WorkerRef;
}

export async function resolveRestore(config: RuntimeConfig, vault: BackupVault, event: ExecutionEnvelope<unknown>): Promise<ResolvedRestore> {
  const input = parseRestoreInput(config, event.input);
  const group = config.components[input.component]!.group;
  const backupId = await resolveBackupId(vault, group, input.component, input.backupId);
  const raw = await vault.getJson<unknown>(backupPrefix(group, input.component, backupId) + MANIFEST_FILE);
  if (raw === undefined) throw new BackupNotFoundError(`backup ${backupId} disappeared while resolving.`, { component: input.component, backupId });
  const manifest = parseManifest(raw, { component: input.component, backupId });
  return {
    request: {
      component: input.component,
      backupId,
      requestedBackupId: input.backupId,
      targetDatabase: input.targetDatabase ?? manifest.source.database,
      skipSafetyBackup: input.skipSafetyBackup,
      safetyBackupId: safetyBackupIdFor(event),
      options: input.options,
    },
    backup: { createdAt: manifest.completedAt, bytes: manifest.totalBytes, artifacts: manifest.artifacts.length, sourceDatabase: manifest.source.database },
    runner: chooseRunner(manifest.totalBytes, config.runner),
    worker: config.components[input.component]!.worker,
  };
}

