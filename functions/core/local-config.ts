/**
 * The runtime config of a local run (CLI, demo, tests): backup.yaml plus NCA_* environment variables,
 * the same shape the stacks hand to deployed functions, minus the deployed workers.
 */
import { COMPONENT_GROUP, type BackupConfig, type ComponentName } from '../../config/types';
import { runtimeSource } from '../../config/sources';
import { runtimeVerification } from '../../config/verification';
import type { ComponentRuntime, RuntimeConfig } from './runtime-config';
import { setting } from '../../config/environment';

/** Used when backup.yaml names no key: SSE-KMS with the account's default S3 key alias. */
export const DEFAULT_KMS_KEY = 'alias/aws/s3';

export function localRuntimeConfig(config: BackupConfig, env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const components: Record<string, ComponentRuntime> = {};
  for (const name of Object.keys(config.sources) as ComponentName[]) {
    const source = runtimeSource(config, name, { keepUrls: true });
    if (source) components[name] = { group: COMPONENT_GROUP[name], source };
  }
  return {
    bucket: setting(env, 'bucket') ?? config.storage.primary.bucket,
    prefix: config.storage.primary.prefix,
    region: config.storage.primary.region,
    kmsKeyId: setting(env, 'kmsKeyId') ?? config.encryption.kmsKeyId ?? DEFAULT_KMS_KEY,
    runner: { lambdaMaxBytes: config.runner.lambdaMaxBytes, force: config.runner.force, maxConcurrency: config.runner.maxConcurrency },
    components: components as RuntimeConfig['components'],
    ...(config.restore ? { protectedTargets: config.restore.protectedTargets } : {}),
    verification: runtimeVerification(
      config.verification,
      Object.keys(components).map((name) => ({ name: name as ComponentName, group: COMPONENT_GROUP[name as ComponentName] })),
      config.schedule,
    ),
  };
}
