/**
 * The RuntimeConfig the stacks hand to every deployed function and task: built from backup.yaml plus
 * deploy-time names (key ARN, worker function names, task definition ARNs). Names and ARNs only, never a
 * secret. Values may be CDK tokens. It never goes into a Lambda environment (4 KB in all, which a large
 * configuration exceeds): the state machines pass it in each Lambda task's payload (`runtimeEscapedJson` as a
 * definition substitution), the janitor's schedule in its input (`vaultRuntimeConfig`), the Fargate task
 * definition in NCA_RUNTIME_CONFIG (`Stack.toJsonString`).
 */
import { COMPONENT_GROUP, type BackupConfig, type ComponentName } from '../config/types';
import { runtimeSource } from '../config/sources';
import { runtimeVerification } from '../config/verification';
import { restorePlaneConfig } from '../config/recovery';
import type { ComponentRuntime, RuntimeConfig, VaultRuntimeConfig, WorkerRef } from '../config/runtime-config';

export interface DeployedNames {
  /** Key id/ARN the functions send as SSEKMSKeyId. */
  readonly kmsKeyId: string;
  /** ARN of the HMAC key manifests are signed with (ManifestKey). */
  readonly manifestKeyId?: string;
  /** The deployed worker of each component: given to the control plane, omitted for the workers themselves. */
  readonly workers?: Partial<Record<ComponentName, WorkerRef>>;
  /** Deploy-time names a component's runtime source gets besides backup.yaml's (the configuration component's envelope key). */
  readonly sourceAdditions?: Partial<Record<ComponentName, Readonly<Record<string, string>>>>;
}

/** The components configured under `sources`, in a stable order. */
export function configuredComponents(config: BackupConfig): ComponentName[] {
  return (Object.keys(COMPONENT_GROUP) as ComponentName[]).filter((name) => config.sources[name] !== undefined);
}

export function deployedRuntimeConfig(config: BackupConfig, names: DeployedNames): RuntimeConfig {
  const components: Record<string, ComponentRuntime> = {};
  for (const name of configuredComponents(config)) {
    const worker = names.workers?.[name];
    components[name] = {
      group: COMPONENT_GROUP[name],
      source: { ...runtimeSource(config, name, { keepUrls: false })!, ...names.sourceAdditions?.[name] },
      ...(worker ? { worker } : {}),
    };
  }
  const { lambdaMaxBytes, force, maxConcurrency } = config.runner;
  return {
    bucket: config.storage.primary.bucket,
    prefix: config.storage.primary.prefix,
    region: config.storage.primary.region,
    kmsKeyId: names.kmsKeyId,
    ...(names.manifestKeyId ? { manifestKey: { kmsKeyId: names.manifestKeyId } } : {}),
    runner: { lambdaMaxBytes, ...(force ? { force } : {}), maxConcurrency },
    components: components as RuntimeConfig['components'],
    ...(config.restore ? { protectedTargets: config.restore.protectedTargets } : {}),
    verification: runtimeVerification(
      config.verification,
      Object.keys(components).map((name) => ({ name: name as ComponentName, group: COMPONENT_GROUP[name as ComponentName] })),
      config.schedule,
    ),
  };
}

/**
 * The runtime config of the recovery stack's restore plane: that of restorePlaneConfig(config), i.e. the recovery
 * vault (storage.secondary's bucket and region, the primary's prefix), the components of backup.recovery.sources
 * with their recovery-region connections. `names` are the recovery region's (the replica key, the manifest key's
 * replica). Safety backups go where every write goes: into the recovery vault.
 */
export function recoveryRuntimeConfig(config: BackupConfig, names: DeployedNames): RuntimeConfig {
  const plane = restorePlaneConfig(config);
  if (!plane) throw new Error('backup.recovery is not configured: the recovery stack deploys no restore plane');
  return deployedRuntimeConfig(plane, names);
}

/** The janitor's part: the vault and each component's group, without the sources (which have no length limit). */
export function vaultRuntimeConfig(runtime: RuntimeConfig): VaultRuntimeConfig {
  const { bucket, prefix, region, kmsKeyId, manifestKey } = runtime;
  const components = Object.fromEntries(Object.entries(runtime.components).map(([name, c]) => [name, { group: c!.group }]));
  return { bucket, prefix, ...(region !== undefined ? { region } : {}), kmsKeyId, ...(manifestKey ? { manifestKey } : {}), components };
}

/**
 * The runtime configuration as JSON text escaped to sit between the quotes of a JSON string: the value of a
 * definition substitution written `"runtimeConfig": "${Name}"` in an ASL file, which keeps the file valid JSON.
 * CDK tokens (ARNs, ids) pass through as tokens; what they resolve to needs no escaping (no quote, backslash or
 * control character can occur in an ARN or a resource id).
 */
export function runtimeEscapedJson(runtime: RuntimeConfig): string {
  return JSON.stringify(JSON.stringify(runtime)).slice(1, -1);
}
