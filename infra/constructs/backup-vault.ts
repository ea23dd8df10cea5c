/**
 * One region's backup vault: the versioned, SSE-KMS bucket with one lifecycle rule per retention group,
 * a policy that refuses plain HTTP and objects written without SSE-KMS, server access logs in a separate
 * bucket, optional Object Lock and cold-storage transitions, and (primary only) replication to the other region.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { GROUPS, GROUP_PREFIX, type ColdStorageConfig, type GroupName, type ObjectLockConfig } from '../config/types';

/** Days a replaced or expired object version is kept before lifecycle deletes it (undo window). */
export const NONCURRENT_VERSION_DAYS = 7;
/** Days after which an unfinished multipart upload (an interrupted backup) is aborted. */
export const ABORT_MULTIPART_DAYS = 1;
/** Days server access logs are kept. */
export const ACCESS_LOG_DAYS = 365;
/** Id of the replication rule; the replication alarm's RuleId dimension. */
export const REPLICATION_RULE_ID = 'replicate-all-to-recovery-region';

const COLD_STORAGE_CLASS: Record<ColdStorageConfig['storageClass'], s3.StorageClass> = {
  GLACIER: s3.StorageClass.GLACIER,
  GLACIER_IR: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
  DEEP_ARCHIVE: s3.StorageClass.DEEP_ARCHIVE,
  STANDARD_IA: s3.StorageClass.INFREQUENT_ACCESS,
  INTELLIGENT_TIERING: s3.StorageClass.INTELLIGENT_TIERING,
};

export interface VaultReplication {
  /** Role S3 assumes to replicate (see ReplicationRole). */
  readonly role: iam.IRole;
  readonly destination: s3.IBucket;
  /** Key of the destination region that re-encrypts the replicas. */
  readonly replicaKey: kms.IKey;
}

export interface BackupVaultProps {
  readonly bucketName: string;
  /** Normalised key prefix every backup lives under: "" or "backups/". */
  readonly prefix: string;
  readonly retentionDays: Record<GroupName, number>;
  readonly encryptionKey: kms.IKey;
  readonly coldStorage?: ColdStorageConfig;
  readonly objectLock?: ObjectLockConfig;
  readonly replication?: VaultReplication;
}

/** `<prefix><group prefix>/`, e.g. "backups/database/": the key space one group's backups live in. */
export function groupKeyPrefix(prefix: string, group: GroupName): string {
  return `${prefix}${GROUP_PREFIX[group]}/`;
}

export function lifecycleRules(props: Pick<BackupVaultProps, 'prefix' | 'retentionDays' | 'coldStorage'>): s3.LifecycleRule[] {
  const perGroup = GROUPS.map((group): s3.LifecycleRule => {
    const days = props.retentionDays[group];
    const cold = props.coldStorage;
    // S3 rejects a transition that is not earlier than the expiration; such a group simply stays in its class.
    const transitions =
      cold && cold.afterDays < days
        ? [{ storageClass: COLD_STORAGE_CLASS[cold.storageClass], transitionAfter: Duration.days(cold.afterDays) }]
        : undefined;
    return {
      id: `retention-${GROUP_PREFIX[group]}`,
      prefix: groupKeyPrefix(props.prefix, group),
      expiration: Duration.days(days),
      noncurrentVersionExpiration: Duration.days(NONCURRENT_VERSION_DAYS),
      transitions,
    };
  });
  return [
    ...perGroup,
    {
      id: 'abort-incomplete-uploads',
      abortIncompleteMultipartUploadAfter: Duration.days(ABORT_MULTIPART_DAYS),
      expiredObjectDeleteMarker: true,
    },
  ];
}

export class BackupVault extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;

  constructor(scope: Construct, id: string, props: BackupVaultProps) {
    super(scope, id);

    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      // S3 server access logging cannot deliver to an SSE-KMS bucket. (cdk-nag's S1 accepts a log target unlogged.)
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      lifecycleRules: [
        { id: 'expire-access-logs', expiration: Duration.days(ACCESS_LOG_DAYS), abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const lock = props.objectLock;
    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName: props.bucketName,
      versioned: true,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: props.encryptionKey,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: `${props.bucketName}/`,
      lifecycleRules: lifecycleRules(props),
      objectLockEnabled: lock ? true : undefined,
      objectLockDefaultRetention: lock
        ? lock.mode === 'COMPLIANCE'
          ? s3.ObjectLockRetention.compliance(Duration.days(lock.days))
          : s3.ObjectLockRetention.governance(Duration.days(lock.days))
        : undefined,
      replicationRole: props.replication?.role,
      replicationRules: props.replication
        ? [
            {
              id: REPLICATION_RULE_ID,
              priority: 1,
              destination: props.replication.destination,
              kmsKey: props.replication.replicaKey,
              sseKmsEncryptedObjects: true,
              deleteMarkerReplication: true,
              replicationTimeControl: s3.ReplicationTimeValue.FIFTEEN_MINUTES,
              metrics: s3.ReplicationTimeValue.FIFTEEN_MINUTES,
            },
          ]
        : undefined,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Every object must be written with SSE-KMS: a wrong header and a missing header are both refused.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyIncorrectEncryptionHeader',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' } },
      }),
    );
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyUnencryptedObjectUploads',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { Null: { 's3:x-amz-server-side-encryption': 'true' } },
      }),
    );
  }
}
