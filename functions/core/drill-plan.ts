/**
 * The drill workflow's first step (state-machines/restore-test.asl.json): which components are drilled,
 * the recovery point each one restores and the runner it runs on (Lambda, or Fargate for a backup too large
 * for Lambda's 15 minutes, as a restore would). Reads manifests only; drills nothing.
 */
import { DEFAULT_VERIFICATION, runtimeVerification, type RuntimeVerification } from '../../config/verification';
import type { ComponentName, GroupName } from '../../config/types';
import { newBackupId, isSafetyBackupId } from './backup-id';
import { listBackups } from './catalog';
import { configuredComponent } from './context';
import { BackupNotFoundError, InvalidInputError } from './errors';
import type { Manifest } from './manifest';
import type { ManifestAuthenticator } from './manifest-mac';
import { chooseRunner, type RunnerKind } from './runner';
import type { RuntimeConfig, WorkerRef } from './runtime-config';
import type { BackupVault } from './storage';
import { executionSuffix, objectInput, type ExecutionEnvelope } from './workflow-input';

/** One component's drill as planned: its recovery point (absent when there is none: the drill fails saying so). */
export interface PlannedDrill {
  readonly component: ComponentName;
  /** null when the component has no usable recovery point (kept in the plan so the state machine's paths resolve). */
  readonly backupId: string | null;
  readonly totalBytes?: number;
  readonly runner: RunnerKind;
  readonly worker?: WorkerRef;
}

export interface DrillPlan {
  readonly drillId: string;
  readonly drills: readonly PlannedDrill[];
}

/** `backup.verification` as deployed; a stack deployed before drills carries none, and the defaults apply. */
export function verificationOf(config: RuntimeConfig): RuntimeVerification {
  if (config.verification) return config.verification;
  const components = Object.entries(config.components).map(([name, c]) => ({ name: name as ComponentName, group: c!.group }));
  return runtimeVerification(DEFAULT_VERIFICATION, components, {});
}

/** The recovery point of a drill: the newest trusted backup, or one at random among those completed in the last `windowDays`. */
export async function pickRecoveryPoint(
  vault: BackupVault,
  authenticator: ManifestAuthenticator,
  component: { readonly name: ComponentName; readonly group: GroupName },
  verification: Pick<RuntimeVerification, 'recoveryPoint' | 'windowDays'>,
  now: Date,
  random: () => number = Math.random,
): Promise<Manifest> {
  const trusted = (await listBackups(vault, authenticator, component.group, component.name)).flatMap((e) =>
    e.status === 'trusted' && !isSafetyBackupId(e.backupId) ? [e.manifest] : [],
  );
  if (trusted.length === 0) throw new BackupNotFoundError('there is no trusted backup to drill.', { component: component.name, hint: `Run one with: nca-backup backup ${component.name}` });
  if (verification.recoveryPoint === 'latest') return trusted.reduce((a, b) => (a.backupId > b.backupId ? a : b));
  const since = now.getTime() - verification.windowDays * 86_400_000;
  const window = trusted.filter((m) => Date.parse(m.completedAt) >= since);
  if (window.length === 0) {
    throw new BackupNotFoundError(`no trusted backup completed within the last ${verification.windowDays} days (backup.verification.window_days).`, { component: component.name });
  }
  return window[Math.min(window.length - 1, Math.floor(random() * window.length))];
}

/** The components an input names (`{"components": [...]}`), or every configured one; an unknown name is refused before anything runs. */
export function drillComponents(config: RuntimeConfig, input: unknown): ComponentName[] {
  const { components } = objectInput(input ?? {}, ['components']);
  if (components === undefined) return Object.keys(config.components) as ComponentName[];
  if (!Array.isArray(components) || components.length === 0 || components.some((c) => typeof c !== 'string')) {
    throw new InvalidInputError('components must be a non-empty list of component names (or absent: every configured component).');
  }
  return [...new Set(components.map((name: string) => configuredComponent(config, name).name))];
}

/**
 * Plans a drill execution. The drill id derives from the execution (its start and name), so a retried plan
 * step plans the same drill. A component without a usable recovery point is still planned: its drill fails
 * with the reason, in its record and on the scorecard, instead of vanishing from them.
 */
export async function planDrills(
  config: RuntimeConfig,
  deps: { readonly vault: BackupVault; readonly authenticator: ManifestAuthenticator; readonly random?: () => number },
  envelope: ExecutionEnvelope<unknown>,
): Promise<DrillPlan> {
  const names = drillComponents(config, envelope.input);
  const started = new Date(envelope.startTime);
  const drillId = newBackupId(Number.isNaN(started.getTime()) ? new Date() : started, executionSuffix(envelope.executionName));
  const verification = verificationOf(config);
  const drills: PlannedDrill[] = [];
  for (const name of names) {
    const { group } = configuredComponent(config, name);
    const worker = config.components[name]?.worker;
    let manifest: Manifest | undefined;
    try {
      manifest = await pickRecoveryPoint(deps.vault, deps.authenticator, { name, group }, verification, started, deps.random);
    } catch (error) {
      if (!(error instanceof BackupNotFoundError)) throw error;
    }
    drills.push({
      component: name,
      backupId: manifest?.backupId ?? null,
      ...(manifest ? { totalBytes: manifest.totalBytes } : {}),
      runner: chooseRunner(manifest?.totalBytes ?? 0, config.runner),
      ...(worker ? { worker } : {}),
    });
  }
  return { drillId, drills };
}
