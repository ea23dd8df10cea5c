/**
 * Every environment variable nca-backup reads, in one place: its name and what it is for. A deployed
 * worker gets NCA_COMPONENT from its stack, the configuration change function NCA_BACKUP_STATE_MACHINE_ARN, the Fargate task also NCA_RUNTIME_CONFIG (Lambda functions get
 * their runtime config in each event: config/runtime-config.ts); `cdk synth` reads NCA_BACKUP_CONFIG
 * and NCA_PG_MAJOR; the others are for local runs (the CLI, the demo, the tests). Code reads them through `setting`, never `env.NAME` directly, so this table
 * is the whole list (README "The command line" documents them for operators).
 */
import { RUNTIME_CONFIG_ENV } from './runtime-config';

export const ENVIRONMENT = {
  /** The deployment's runtime configuration in a Fargate task or a local run (JSON; names and ARNs, never a secret). */
  runtimeConfig: RUNTIME_CONFIG_ENV,
  /** The component a deployed worker serves. */
  component: 'NCA_COMPONENT',
  /** info (default), warn or silent. */
  logLevel: 'NCA_LOG_LEVEL',
  /** A local S3-compatible endpoint (s3rver in tests and the demo). */
  s3Endpoint: 'NCA_S3_ENDPOINT',
  /** A local Parameter Store endpoint (the tests' substitute), for the configuration component. */
  ssmEndpoint: 'NCA_SSM_ENDPOINT',
  /** A local Secrets Manager endpoint (the tests' substitute), for the configuration component's secrets. */
  secretsManagerEndpoint: 'NCA_SECRETS_MANAGER_ENDPOINT',
  /** A local CloudWatch Logs endpoint (the tests' substitute), for the logs component. */
  logsEndpoint: 'NCA_LOGS_ENDPOINT',
  /** A local CloudWatch metrics endpoint (the tests' substitute), for the logs component's metric sets. */
  metricsEndpoint: 'NCA_METRICS_ENDPOINT',
  /** `on` (set by the stack on the finalize function): the backup workflow publishes each backup's size and duration (NcaBackup/BackupBytes, BackupDurationSeconds). */
  backupMetrics: 'NCA_BACKUP_METRICS',
  /** Events per FilterLogEvents page of the logs component (default 10,000, the most); smaller only to exercise paging. */
  logsPageLimit: 'NCA_LOGS_PAGE_LIMIT',
  /** The largest model file copied with one CopyObject (default S3's 5 GiB); smaller only to exercise multipart copies. */
  modelsCopyLimitBytes: 'NCA_MODELS_COPY_LIMIT_BYTES',
  /** The part size of a multipart model copy (default 512 MiB). */
  modelsPartBytes: 'NCA_MODELS_PART_BYTES',
  /** The KMS key a local run seals configuration exports with (deployed workers get the stack's). */
  configEnvelopeKey: 'NCA_CONFIG_ENVELOPE_KEY',
  /** A local KMS endpoint (the tests' KMS substitute). */
  kmsEndpoint: 'NCA_KMS_ENDPOINT',
  /** The backup state machine the configuration change function starts (an ARN, set by the stack). */
  backupStateMachineArn: 'NCA_BACKUP_STATE_MACHINE_ARN',
  /** A local Step Functions endpoint (the tests' substitute), for the configuration change function. */
  stepFunctionsEndpoint: 'NCA_STEP_FUNCTIONS_ENDPOINT',
  /** The audit function's settings (JSON: vault bucket, prefix, key, region, audited state machines and roles), set by the stack. */
  auditSettings: 'NCA_AUDIT_SETTINGS',
  /** A local EventBridge endpoint (the tests' substitute) audit records are sent to. */
  eventsEndpoint: 'NCA_EVENTS_ENDPOINT',
  /** The backup.yaml of `cdk synth` and of a local run when --config is not given (default: ./backup.yaml). */
  backupConfig: 'NCA_BACKUP_CONFIG',
  /** The vault bucket of a local run, instead of backup.yaml's. */
  bucket: 'NCA_BUCKET',
  /** The SSE-KMS key of a local run, instead of backup.yaml's. */
  kmsKeyId: 'NCA_KMS_KEY_ID',
  /** The local manifest key file (default ~/.config/nca-backup/manifest.key). */
  manifestKeyFile: 'NCA_MANIFEST_KEY_FILE',
  postgresUrl: 'NCA_POSTGRES_URL',
  /** libpq's own variable: the password for a URL without one. */
  pgPassword: 'PGPASSWORD',
  /** The PostgreSQL major version of the client tools in the worker image (`cdk synth`; default: the Dockerfile's). */
  pgMajor: 'NCA_PG_MAJOR',
  /** Where pg_dump and pg_restore are (default: PATH). */
  pgBinDir: 'NCA_PG_BIN_DIR',
  /** How long a backup waits behind an application's table lock (default 60). */
  pgLockTimeoutSeconds: 'NCA_PG_LOCK_TIMEOUT_SECONDS',
  /** The database size from which a backup dumps table by table (default: functions/components/postgres/dump-layout.ts). */
  pgParallelMinBytes: 'NCA_PG_PARALLEL_MIN_BYTES',
  /** The CA bundle PostgreSQL server certificates are verified with (default: the image's RDS bundle). */
  pgTlsCaFile: 'NCA_PG_TLS_CA_FILE',
  redisUrl: 'NCA_REDIS_URL',
  /** redis-cli's own variable: the password for a URL without one. */
  redisAuth: 'REDISCLI_AUTH',
  mongodbUrl: 'NCA_MONGODB_URL',
  /** The CA bundle for MongoDB/DocumentDB TLS (default: the image's RDS bundle, which DocumentDB's CAs are in). */
  mongodbTlsCaFile: 'NCA_MONGODB_TLS_CA_FILE',
  /** The vector store's server (default: NCA_POSTGRES_URL's). */
  vectorUrl: 'NCA_VECTOR_URL',
  /** Parallel streams a component may use (default: the runner's cores, at most 8; functions/core/streams.ts). */
  streams: 'NCA_STREAMS',
  home: 'HOME',
  path: 'PATH',
  /** Set by ECS in every Fargate task: how the command line knows it runs as a worker task. */
  ecsContainerMetadata: 'ECS_CONTAINER_METADATA_URI_V4',
} as const;

export type Setting = keyof typeof ENVIRONMENT;

/** A setting's value; undefined when it is unset or empty. */
export function setting(env: NodeJS.ProcessEnv, name: Setting): string | undefined {
  const value = env[ENVIRONMENT[name]];
  return value === undefined || value === '' ? undefined : value;
}
