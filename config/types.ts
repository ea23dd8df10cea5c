/**
 * The validated, normalised form of backup.yaml, produced by `loadBackupConfig` (config/load.ts). config/
 * is the configuration model the stacks (infra/) and the functions (functions/) share, and neither owns:
 * consumed by the CDK stacks at synth time and by the CLI at run time. Field names are the runbook's,
 * camel-cased; the YAML keys are documented in README.md.
 */

/** Schedule groups of the runbook, as written under `backup.schedule` and `backup.retention`. */
export const GROUPS = ['database', 'memory_tiers', 'configuration', 'model_weights', 'logs'] as const;
export type GroupName = (typeof GROUPS)[number];

/** The S3 key prefix (retention class, DESIGN.md "Storage layout") each group's backups live under. */
export const GROUP_PREFIX: Record<GroupName, string> = {
  database: 'database',
  memory_tiers: 'memory',
  configuration: 'config',
  model_weights: 'models',
  logs: 'logs',
};

/** Components the engine knows, with the group whose schedule and retention they follow. */
export const COMPONENT_GROUP = {
  postgres: 'database',
  redis: 'database',
  mongodb: 'database',
  vector: 'database',
  memory: 'memory_tiers',
} as const satisfies Record<string, GroupName>;
export type ComponentName = keyof typeof COMPONENT_GROUP;

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
}

export type ColdStorageClass = 'GLACIER' | 'GLACIER_IR' | 'DEEP_ARCHIVE' | 'STANDARD_IA' | 'INTELLIGENT_TIERING';

export interface ColdStorageConfig {
  readonly storageClass: ColdStorageClass;
  readonly afterDays: number;
}

/**
 * S3 Object Lock default retention of both vaults. On by default (GOVERNANCE for the shortest retention);
 * `object_lock: false` in backup.yaml turns it off, and then `storage.objectLock` is absent.
 */
export interface ObjectLockConfig {
  readonly mode: 'GOVERNANCE' | 'COMPLIANCE';
  readonly days: number;
}

/** Name of the break-glass role the stack creates when backup.yaml names none. */
export const DEFAULT_BREAK_GLASS_ROLE = 'nca-backup-break-glass';

export interface EncryptionConfig {
  /** Always true: backups are never written unencrypted. */
  readonly enabled: true;
  readonly keyManagement: 'kms';
  /** Key ARN, alias ARN or key id of an existing key in the primary region; absent: the stack creates one. */
  readonly kmsKeyId?: string;
}

export interface PostgresSourceConfig {
  /** Secrets Manager secret with the RDS-style JSON (host, port, username, password, dbname). */
  readonly secretArn?: string;
  /** Database to back up; defaults to the secret's dbname, else "neuroca_db". */
  readonly database: string;
  /** Local runs only: a connection URL without a password (the password comes from NCA_POSTGRES_URL or PGPASSWORD). */
  readonly url?: string;
}

/** Redis (working memory). Secret JSON: {"host", "port", "username"?, "password"?, "tls"?} (ElastiCache/MemoryDB style). */
export interface RedisSourceConfig {
  readonly secretArn?: string;
  /** Local runs only: redis:// URL without a password (the password comes from NCA_REDIS_URL or REDISCLI_AUTH). */
  readonly url?: string;
  /** Logical database index backed up (SELECT n); default 0. */
  readonly db: number;
  /** Glob patterns (Redis MATCH syntax) of the keys backed up; default ["*"]: every key. */
  readonly keyPatterns: readonly string[];
}

/** MongoDB (episodic memory). Secret JSON: {"uri"} or {"host", "port", "username", "password", "ssl"?} (DocumentDB style). */
export interface MongoSourceConfig {
  readonly secretArn?: string;
  /** Local runs only: mongodb:// URL without a password (the password comes from NCA_MONGODB_URL). */
  readonly url?: string;
  /** Database backed up; default "neuroca_episodic". */
  readonly database: string;
  /** Collections backed up; absent: every collection of the database. */
  readonly collections?: readonly string[];
}

/** The vector store (semantic memory): a PostgreSQL table with pgvector (or real[]), same secret shape as postgres. */
export interface VectorSourceConfig {
  readonly secretArn?: string;
  /** Local runs only: a connection URL without a password (the password comes from NCA_VECTOR_URL or PGPASSWORD). */
  readonly url?: string;
  /** Database holding the table; default "neuroca_db". */
  readonly database: string;
  /** Schema-qualified or bare table name; default "semantic_memory" (schema public). */
  readonly table: string;
}

export const MEMORY_TIERS = ['working', 'episodic', 'semantic'] as const;
export type MemoryTier = (typeof MEMORY_TIERS)[number];

/** The source (under backup.sources) of the store each memory tier lives in. */
export const TIER_SOURCE = { working: 'redis', episodic: 'mongodb', semantic: 'vector' } as const satisfies Record<MemoryTier, string>;

/**
 * The memory-tier export (memory_tiers group). It reads each tier through the connection of its store's
 * source: working from sources.redis, episodic from sources.mongodb, semantic from sources.vector.
 */
export interface MemorySourceConfig {
  /** Tiers exported; default all three (each needs its store's source). */
  readonly tiers: readonly MemoryTier[];
  /** The {tier} part of working memory's Redis keys `memory:{tier}:{id}`; default "generic" (the NCA's). */
  readonly workingNamespace: string;
  /** MongoDB collection of episodic memories in sources.mongodb.database; default "ltm_memories" (the NCA's). */
  readonly episodicCollection: string;
}

/** What the memory component receives at run time: its own settings plus the stores it reads. */
export interface MemoryRuntimeSource extends MemorySourceConfig {
  readonly redis?: RedisSourceConfig;
  readonly mongodb?: MongoSourceConfig;
  readonly vector?: VectorSourceConfig;
}

/** The source settings each component receives at run time (names and ARNs, never a secret). */
export interface RuntimeSources {
  readonly postgres: PostgresSourceConfig;
  readonly redis: RedisSourceConfig;
  readonly mongodb: MongoSourceConfig;
  readonly vector: VectorSourceConfig;
  readonly memory: MemoryRuntimeSource;
}

export interface SourcesConfig {
  readonly postgres?: PostgresSourceConfig;
  readonly redis?: RedisSourceConfig;
  readonly mongodb?: MongoSourceConfig;
  readonly vector?: VectorSourceConfig;
  readonly memory?: MemorySourceConfig;
}

export interface NetworkConfig {
  readonly vpcId: string;
  readonly subnetIds: readonly string[];
  readonly availabilityZones: readonly string[];
  readonly securityGroupIds: readonly string[];
}

export interface RunnerConfig {
  /** Estimated bytes above which a component runs on Fargate instead of Lambda. */
  readonly lambdaMaxBytes: number;
  /** Force every component onto one runner; absent: chosen per run from the estimate. */
  readonly force?: 'lambda' | 'fargate';
  /** How many components one backup execution runs at once (Map MaxConcurrency). */
  readonly maxConcurrency: number;
  readonly lambda: { readonly memoryMiB: number; readonly timeoutMinutes: number };
  readonly fargate: { readonly cpu: number; readonly memoryMiB: number; readonly ephemeralStorageGiB: number };
}

export interface NotificationsConfig {
  readonly emails: readonly string[];
  readonly snsTopicArn?: string;
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
     * (an existing role, referenced only). Absent: DEFAULT_BREAK_GLASS_ROLE, created.
     */
    readonly breakGlassRole?: string;
  };
  /** Retention in days per group. */
  readonly retention: Record<GroupName, number>;
  readonly encryption: EncryptionConfig;
  readonly sources: SourcesConfig;
  readonly network?: NetworkConfig;
  readonly runner: RunnerConfig;
  readonly notifications: NotificationsConfig;
  /** Absent when backup.yaml has no backup.restore section (or lists no protected target). */
  readonly restore?: RestoreConfig;
}
