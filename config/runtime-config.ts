/**
 * What a deployed function knows about its deployment. It holds names and ARNs only, never a secret. The
 * stack hands it over outside the Lambda environment (whose 4 KB limit a large configuration exceeds): the
 * state machines put it into every Lambda task's payload (`runtimeConfig`, a definition substitution), the
 * janitor's schedule into its input, and the Fargate task definition into the task's environment variable
 * NCA_RUNTIME_CONFIG (ECS has no such limit). Always as JSON text. The CLI builds the same object from
 * backup.yaml plus the NCA_* environment variables of a local run.
 */
import type { ComponentName, GroupName, RuntimeSources } from './types';
import type { RuntimeVerification } from './verification';

export interface WorkerRef {
  /** Lambda function (name or ARN) that runs this component's operations. */
  readonly functionName: string;
  /** Fargate task definition ARN and its container name, for runs too large for Lambda. */
  readonly taskDefinitionArn: string;
  readonly containerName: string;
  /** awsvpc network of the Fargate task: the configured subnets and security groups. */
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
}

export interface ComponentRuntime<N extends ComponentName = ComponentName> {
  readonly group: GroupName;
  /** Connection settings from backup.yaml `sources.<component>`; secret ARNs, never a password. */
  readonly source: RuntimeSources[N];
  /** Present for the control plane (plan, resolve); absent inside the workers themselves. */
  readonly worker?: WorkerRef;
}

/**
 * The vault and the configured components' groups: all the janitor needs. Its schedule's input is limited to
 * 8 KB, and the components' sources (key patterns, collection lists) have no length limit, so it gets this part.
 */
export interface VaultRuntimeConfig {
  readonly bucket: string;
  /** Key prefix from storage.primary.path, normalised ("" or "backups/"). */
  readonly prefix: string;
  readonly region?: string;
  /** KMS key used for SSE-KMS of every object written. */
  readonly kmsKeyId: string;
  /**
   * The HMAC KMS key (HMAC_256, GENERATE_VERIFY_MAC) that MACs every manifest. Absent in local runs, which
   * use the local key file instead (core/manifest-mac.ts).
   */
  readonly manifestKey?: { readonly kmsKeyId: string };
  readonly components: { readonly [N in ComponentName]?: { readonly group: GroupName } };
}

export interface RuntimeConfig extends VaultRuntimeConfig {
  readonly runner: { readonly lambdaMaxBytes: number; readonly force?: 'lambda' | 'fargate'; readonly maxConcurrency: number };
  readonly components: { readonly [N in ComponentName]?: ComponentRuntime<N> };
  /** Restore targets refused besides each component's system databases (backup.yaml backup.restore.protected_targets). */
  readonly protectedTargets?: readonly string[];
  /** backup.verification for drills and the scorecard; absent in a configuration deployed before drills existed (the defaults apply). */
  readonly verification?: RuntimeVerification;
}

/** The Fargate task's environment variable (and a local run's, to stand in for a deployment). */
export const RUNTIME_CONFIG_ENV = 'NCA_RUNTIME_CONFIG';
/** The field of a Lambda event (state machine payload, janitor schedule input) that carries it. */
export const RUNTIME_CONFIG_FIELD = 'runtimeConfig';
