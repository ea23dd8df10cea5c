/**
 * The validated, normalised form of backup.yaml, produced by `loadBackupConfig` (config/load.ts). config/
 * is the configuration model the stacks (infra/) and the functions (functions/) share, and neither owns:
 * consumed by the CDK stacks at synth time and by the CLI at run time. Field names are the runbook's,
 * camel-cased; the YAML keys are documented in README.md.
 */

export { GROUPS, GROUP_PREFIX, type GroupName } from './groups';
import type { GroupName } from './groups';

export { COMPONENT_GROUP, type ComponentName, type RuntimeSources, type SourcesConfig } from './components';
import type { SourcesConfig } from './components';

import type { VerificationConfig } from './verification';
import type { AuditConfig } from './audit';

export interface ScheduleConfig {
  /** The five-field Unix cron as written in backup.yaml, e.g. "0 2 * * *". */
  readonly cron: string;
  /** The same schedule as an EventBridge Scheduler expression, e.g. "cron(0 2 * * ? *)". */
  readonly expression: string;
}

export interface StorageLocation {
  readonly type: 's3';
  readonly bucket: string;
  readonly region: string;
  /** Key prefix every backup lives under, normalised: "" or "backups/" (no leading slash, one trailing slash). */
  readonly prefix: string;
  /**
   * `exact_name: true`: the stacks create the bucket under `bucket` as written. Absent: they suffix it with the
   * account and region (and a non-default installation), see config/bucket-names.ts. Local runs always use
   * `bucket` as written.
   */
  readonly exactName?: true;
}

/**
 * Classes a restore reads from directly. GLACIER and DEEP_ARCHIVE are refused by the loader: their objects
 * need a RestoreObject before any read, which nothing here issues.
 */
export type ColdStorageClass = 'GLACIER_IR' | 'STANDARD_IA' | 'INTELLIGENT_TIERING';

export interface ColdStorageConfig {
  readonly storageClass: ColdStorageClass;
  readonly afterDays: number;
}

/**
 * S3 Object Lock default retention of both vaults. The vaults are always created with Object Lock enabled
 * (CloudFormation cannot enable it on an existing bucket); this is only their default retention. On by
 * default (GOVERNANCE for the shortest retention); `object_lock: false` in backup.yaml removes the default
 * retention, and then `storage.objectLock` is absent.
 */
export interface ObjectLockConfig {
  readonly mode: 'GOVERNANCE' | 'COMPLIANCE';
  readonly days: number;
}

/** backup.installation when backup.yaml names none: today's stack names, key aliases and role name. */
export const DEFAULT_INSTALLATION = 'nca-backup';

/** Name of the break-glass role the stack creates when backup.yaml names none: `<installation>-break-glass`. */
export function defaultBreakGlassRole(installation: string): string {
  return `${installation}-break-glass`;
}

/** The default installation's break-glass role name. */
export const DEFAULT_BREAK_GLASS_ROLE = defaultBreakGlassRole(DEFAULT_INSTALLATION);

export interface EncryptionConfig {
  /** Always true: backups are never written unencrypted. */
  readonly enabled: true;
  readonly keyManagement: 'kms';
  /** Key ARN, alias ARN or key id of an existing key in the primary region; absent: the stack creates one. */
  readonly kmsKeyId?: string;
}

export interface NetworkConfig {
  readonly vpcId: string;
  readonly subnetIds: readonly string[];
  readonly availabilityZones: readonly string[];
  readonly securityGroupIds: readonly string[];
}

/** Traffic the created VPC's flow logs record: every flow, rejected flows only, or none. */
export type FlowLogTraffic = 'ALL' | 'REJECT' | 'OFF';

/**
 * The paid parts of the VPC the stack creates when `network` names no vpc_id (README, "Costs"). Each field
 * is absent when backup.yaml leaves it out; the stack's defaults (infra/constructs/network.ts) apply.
 */
export interface CreatedNetworkConfig {
  /** Interface endpoints (KMS, Secrets Manager, ECR, Logs) so the workers there reach AWS without a NAT gateway. */
  readonly interfaceEndpoints?: boolean;
  readonly flowLogs?: FlowLogTraffic;
}

export interface RunnerConfig {
  /** Estimated bytes above which a component runs on Fargate instead of Lambda. */
  readonly lambdaMaxBytes: number;
  /** Force every component onto one runner; absent: chosen per run from the estimate. */
  readonly force?: 'lambda' | 'fargate';
  /** How many components one backup execution runs at once (Map MaxConcurrency). */
  readonly maxConcurrency: number;
  readonly lambda: { readonly memoryMiB: number; readonly timeoutMinutes: number };
  readonly fargate: {
    readonly cpu: number;
    readonly memoryMiB: number;
    readonly ephemeralStorageGiB: number;
    /** ECS Container Insights on the workers' cluster (paid per metric); absent: off. */
    readonly containerInsights?: boolean;
  };
}

export interface NotificationsConfig {
  readonly emails: readonly string[];
  readonly snsTopicArn?: string;
  /**
   * Neither e-mail nor topic: subscriptions to the stack's alarm topic (output AlarmTopicArn) are made by
   * hand after the deploy, a choice written down rather than forgotten. @default false: synth warns
   */
  readonly subscribeLater?: true;
}

/** How restores are guarded (backup.restore). */
export interface RestoreConfig {
  /**
   * Databases no restore may write to, besides each component's system databases: refused for every
   * component, whether named as the target or reached as the backed-up database.
   */
  readonly protectedTargets: readonly string[];
}

export interface BackupConfig {
  /**
   * Name of this installation (backup.installation, default DEFAULT_INSTALLATION): prefixes the stack names,
   * the KMS aliases, the default break-glass role and (when not the default) the default bucket names, so
   * that two installations can share an account.
   */
  readonly installation: string;
  readonly schedule: Partial<Record<GroupName, ScheduleConfig>>;
  /** IANA time zone the schedules are read in, e.g. "UTC" or "Europe/Berlin". */
  readonly timeZone: string;
  readonly storage: {
    readonly primary: StorageLocation;
    readonly secondary: StorageLocation;
    readonly coldStorage?: ColdStorageConfig;
    readonly objectLock?: ObjectLockConfig;
    /**
     * The break-glass role, the only principal besides the janitor the vault policies let delete, and the
     * only one that may change their policy or lifecycle: a role name (the stack creates it) or a role ARN
     * (an existing role, referenced only). Absent: defaultBreakGlassRole(installation), created.
     */
    readonly breakGlassRole?: string;
    /** S3 Replication Time Control on the replication rule (paid per GB replicated); absent: off. */
    readonly replicationTimeControl?: boolean;
  };
  /** Retention in days per group. */
  readonly retention: Record<GroupName, number>;
  readonly encryption: EncryptionConfig;
  readonly sources: SourcesConfig;
  readonly network?: NetworkConfig;
  /** Choices for the VPC the stack creates; absent with an imported `network`, or when backup.yaml makes none. */
  readonly createdNetwork?: CreatedNetworkConfig;
  readonly runner: RunnerConfig;
  readonly notifications: NotificationsConfig;
  /** Absent when backup.yaml has no backup.restore section (or lists no protected target). */
  readonly restore?: RestoreConfig;
  /** Restore drills and RPOs (config/verification.ts); the defaults when backup.yaml has no section. */
  readonly verification: VerificationConfig;
  /** The restore plane of the recovery region (config/recovery.ts); absent: the recovery stack holds the vault and its key only. */
  readonly recovery?: RecoveryConfig;
  /** Audit trail and operator access (config/audit.ts); absent: DEFAULT_AUDIT. */
  readonly audit?: AuditConfig;
}

/** backup.recovery, as parsed by config/recovery.ts: the restore plane of the recovery region. */
export interface RecoveryConfig {
  /**
   * The components restorable in the recovery region: each one's backup.sources section with its connection
   * fields replaced by those of backup.recovery.sources.<component>.
   */
  readonly sources: SourcesConfig;
  /** The recovery workers' VPC (backup.recovery.network with a vpc_id); absent: the stack creates one. */
  readonly network?: NetworkConfig;
  /** Choices for the VPC the recovery stack creates; absent with an imported network or none made. */
  readonly createdNetwork?: CreatedNetworkConfig;
}
