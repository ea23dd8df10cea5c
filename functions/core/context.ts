/** What every engine operation needs, built once per invocation from the runtime config. */
import type { ComponentName, GroupName, RuntimeSources } from '../../config/types';
import type { Logger } from '../components/types';
import { InvalidInputError } from './errors';
import { authenticatorFor, type ManifestAuthenticator } from './manifest-mac';
import type { RuntimeConfig, VaultRuntimeConfig } from './runtime-config';
import { BackupVault, createS3Client } from './storage';
import { setting } from '../../config/environment';

export interface EngineContext {
  readonly config: RuntimeConfig;
  readonly vault: BackupVault;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  /** Where this code runs, recorded in manifests: "lambda", "fargate" or "cli". */
  readonly runner: string;
  readonly now: () => Date;
  /**
   * MACs and verifies manifests. Built from the runtime config when absent (authenticatorFor), so every
   * context verifies whether or not its builder set it.
   */
  readonly authenticator?: ManifestAuthenticator;
}

const built = new WeakMap<EngineContext, ManifestAuthenticator>();

/** The context's manifest authenticator: its own, or the one its runtime config names, built once. */
export function authenticatorOf(ctx: EngineContext): ManifestAuthenticator {
  if (ctx.authenticator) return ctx.authenticator;
  let authenticator = built.get(ctx);
  if (!authenticator) {
    authenticator = authenticatorFor(ctx.config, ctx.env);
    built.set(ctx, authenticator);
  }
  return authenticator;
}

export function vaultFor(config: VaultRuntimeConfig, env: NodeJS.ProcessEnv = process.env): BackupVault {
  // NCA_S3_ENDPOINT points local runs at an S3-compatible server; unset in AWS.
  const client = createS3Client({ region: config.region, endpoint: setting(env, 's3Endpoint') });
  return new BackupVault(client, { bucket: config.bucket, prefix: config.prefix, kmsKeyId: config.kmsKeyId });
}

/** The configured component's group and source, or a clear error naming what is configured. */
export function configuredComponent(
  config: RuntimeConfig,
  component: string,
): { name: ComponentName; group: GroupName; source: RuntimeSources[ComponentName] } {
  // Own keys only: "toString" or "__proto__" must not find Object.prototype's members.
  const components = config.components as Record<string, RuntimeConfig['components'][ComponentName]>;
  const entry = Object.prototype.hasOwnProperty.call(components, component) ? components[component] : undefined;
  if (!entry || typeof entry !== 'object') {
    const configured = Object.keys(config.components).join(', ') || 'none';
    throw new InvalidInputError(`component '${component}' is not configured in backup.yaml sources.`, {
      hint: `Configured components: ${configured}.`,
    });
  }
  return { name: component as ComponentName, group: entry.group, source: entry.source };
}
