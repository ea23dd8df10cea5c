/**
 * The RuntimeConfig the stacks hand to every deployed function and task (env NCA_RUNTIME_CONFIG): built from
 * backup.yaml plus deploy-time names (key ARN, worker function names, task definition ARNs). Names and ARNs
 * only, never a secret. Values may be CDK tokens; serialise with `Stack.toJsonString`.
 */
import { COMPONENT_GROUP, type BackupConfig, type ComponentName } from '../config/types';
import { runtimeSource } from '../config/sources';
import type { ComponentRuntime, RuntimeConfig, WorkerRef } from '../config/runtime-config';

export interface DeployedNames {
  /** Key id/ARN the functions send as SSEKMSKeyId. */
  readonly kmsKeyId: string;
  /** ARN of the HMAC key manifests are signed with (ManifestKey). */
  readonly manifestKeyId?: string;
  /** The deployed worker of each component: given to the control plane, omitted for the workers themselves. */
  readonly workers?: Partial<Record<ComponentName, WorkerRef>>;
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
      source: runtimeSource(config, name, { keepUrls: false })!,
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
  };
}
