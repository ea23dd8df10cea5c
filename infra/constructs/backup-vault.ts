/**
 * One region's backup vault: the versioned, SSE-KMS bucket with one lifecycle rule per retention group (and
 * one for the content-addressed blobs, which only lose their old versions),
 * a policy that refuses plain HTTP, objects written with another encryption than SSE-KMS, and deletes and
 * configuration changes by anyone but the janitor and the break-glass role; server access logs in a
 * separate bucket, Object Lock (always enabled; its default retention as configured) and cold-storage
 * transitions, and (primary only) replication to the other region without delete markers.
 */
import { DefaultStackSynthesizer, Duration, Fn, RemovalPolicy, type Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { GROUPS, GROUP_PREFIX, type ColdStorageConfig, type GroupName, type ObjectLockConfig } from '../../config/types';
import { BLOBS_DIR, groupPrefix } from '../../config/vault-layout';
import { AUDIT_DIR } from '../../config/audit';

/** Days a replaced or expired object version is kept before lifecycle deletes it (undo window). */
export const NONCURRENT_VERSION_DAYS = 7;
/** Days after which an unfinished multipart upload (an interrupted backup) is aborted. */
export const ABORT_MULTIPART_DAYS = 1;
/** Days server access logs are kept. */
export const ACCESS_LOG_DAYS = 365;
/** Id of the lifecycle rule of the content-addressed blobs. */
export const BLOB_RULE_ID = 'blobs-noncurrent-versions';
/** Id of the replication rule; the replication alarm's RuleId dimension. */
export const REPLICATION_RULE_ID = 'replicate-all-to-recovery-region';

const COLD_STORAGE_CLASS: Record<ColdStorageConfig['storageClass'], s3.StorageClass> = {
  GLACIER_IR: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
  STANDARD_IA: s3.StorageClass.INFREQUENT_ACCESS,
  INTELLIGENT_TIERING: s3.StorageClass.INTELLIGENT_TIERING,
};

export interface VaultReplication {
  /** Role S3 assumes to replicate (see ReplicationRole). */
  readonly role: iam.IRole;
  readonly destination: s3.IBucket;
  /** Key of the destination region that re-encrypts the replicas. */
  readonly replicaKey: kms.IKey;
  /**
   * S3 Replication Time Control (a 15-minute promise, paid per GB on top of replication). Replication metrics,
   * which the replication alarms read, are on either way.
   * @default false
   */
  readonly timeControl?: boolean;
}

/**
 * Who may do the destructive things on a vault; everyone else is refused by the bucket policy, whatever
 * their IAM policies say. ARNs are matched with aws:PrincipalArn (a role's sessions carry the role's ARN).
 */
export interface VaultGuard {
  /**
   * The janitor's role (primary vault only): may delete current objects, which adds delete markers.
   * @default - only the break-glass role may delete objects (the recovery vault)
   */
  readonly janitor?: string;
  /**
   * The break-glass role: may delete objects and object versions, bypass governance-mode retention and
   * change the bucket's policy, lifecycle, versioning, replication, Object Lock and encryption.
   */
  readonly breakGlass: string;
  /**
   * The CloudFormation execution role that deploys the stack: it sets the bucket's configuration on every
   * deploy, so it keeps the configuration actions (never the deletes).
   */
  readonly deployers: readonly string[];
  /**
   * Object keys (patterns, relative to the bucket) anyone with the IAM permission may delete: each
   * component's operation lock and Fargate step results. Not backups.
   */
  readonly scratchKeys: readonly string[];
}

/**
 * Delete actions the vault policy keeps for the janitor and the break-glass role. With the version actions
 * below, every s3:DeleteObject* action S3 has (DeleteObjects is authorized as s3:DeleteObject per key).
 */
export const GUARDED_DELETE_ACTIONS = ['s3:DeleteObject', 's3:DeleteObjectTagging'];
/** Actions that destroy versions or weaken retention: break-glass only. */
export const GUARDED_VERSION_ACTIONS = ['s3:DeleteObjectVersion', 's3:DeleteObjectVersionTagging', 's3:BypassGovernanceRetention', 's3:PutObjectRetention', 's3:ReplicateDelete'];
/** Id of the lifecycle rule of the audit records (config/audit.ts AUDIT_DIR). */
export const AUDIT_RULE_ID = 'audit-records';
/** Bucket configuration the vault policy keeps for the break-glass role and the deploying CloudFormation role. */
export const GUARDED_BUCKET_ACTIONS = [
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
  's3:PutLifecycleConfiguration',
  's3:PutBucketVersioning',
  's3:PutReplicationConfiguration',
  's3:PutBucketObjectLockConfiguration',
  's3:PutEncryptionConfiguration',
  's3:DeleteBucket',
];

export interface BackupVaultProps {
  readonly bucketName: string;
  /** Normalised key prefix every backup lives under: "" or "backups/". */
  readonly prefix: string;
  readonly retentionDays: Record<GroupName, number>;
  readonly encryptionKey: kms.IKey;
  /**
   * Moves each group's backups to a colder storage class after some days (a group that expires before
   * then stays where it is).
   * @default - no transition: backups stay in S3 Standard until they expire
   */
  readonly coldStorage?: ColdStorageConfig;
  /**
   * Object Lock default retention for every object written. The bucket has Object Lock enabled whatever
   * this says: CloudFormation can enable it only when it creates the bucket (a change later would replace
   * the bucket, which a named, retained bucket cannot survive), so only the default retention follows
   * backup.yaml. backup.yaml has one unless it says `object_lock: false`, which leaves this out.
   * @default - no default retention (Object Lock still enabled)
   */
  readonly objectLock?: ObjectLockConfig;
  /**
   * Replication of every object to the recovery vault, without delete markers.
   * @default - no replication (the recovery vault itself)
   */
  readonly replication?: VaultReplication;
  readonly guard: VaultGuard;
  /**
   * Days the audit records under `<prefix>audit/` are kept (backup.yaml audit.record_retention_days).
   * @default - no audit rule: nothing under audit/ expires (the recovery vault's replicas follow the primary's
   *   expiration only where its own lifecycle says so)
   */
  readonly auditRetentionDays?: number;
  /**
   * Send the bucket's events to EventBridge (the audit function's lifecycle-expiration records). Set on the
   * bucket's own NotificationConfiguration, without CDK's notifications custom resource.
   * @default false
   */
  readonly eventBridgeNotifications?: boolean;
}

/** `<prefix><group prefix>/`, e.g. "backups/database/": the key space one group's backups live in. */
export function groupKeyPrefix(prefix: string, group: GroupName): string {
  return `${prefix}${groupPrefix(group)}`;
}

export function lifecycleRules(props: Pick<BackupVaultProps, 'prefix' | 'retentionDays' | 'coldStorage' | 'auditRetentionDays'>): s3.LifecycleRule[] {
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
  const cold = props.coldStorage;
  return [
    ...perGroup,
    // Blobs (config/vault-layout.ts blobPrefix) are shared by backups of different ages, so no age says when
    // one is garbage: nothing current expires here; the janitor deletes the unreferenced ones (a delete
    // marker), and the version it leaves goes after the same undo window as a group's. They move to the cold
    // class like backups (no expiration to come before): a blob lives at least as long as the first backup
    // that references it, so the early-deletion check of its group covers it (cold-storage-fees.ts).
    {
      id: BLOB_RULE_ID,
      prefix: `${props.prefix}${BLOBS_DIR}`,
      noncurrentVersionExpiration: Duration.days(NONCURRENT_VERSION_DAYS),
      transitions: cold ? [{ storageClass: COLD_STORAGE_CLASS[cold.storageClass], transitionAfter: Duration.days(cold.afterDays) }] : undefined,
    },
    // Audit records are written once and never rewritten: the expiration ends them, the undo window is the groups'.
    ...(props.auditRetentionDays
      ? [{ id: AUDIT_RULE_ID, prefix: `${props.prefix}${AUDIT_DIR}`, expiration: Duration.days(props.auditRetentionDays), noncurrentVersionExpiration: Duration.days(NONCURRENT_VERSION_DAYS) }]
      : []),
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
      objectLockEnabled: true,
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
              // A delete in the primary (a mistake, a compromised role, the janitor) never reaches the recovery vault.
              deleteMarkerReplication: false,
              replicationTimeControl: props.replication.timeControl ? s3.ReplicationTimeValue.FIFTEEN_MINUTES : undefined,
              metrics: s3.ReplicationTimeValue.FIFTEEN_MINUTES,
            },
          ]
        : undefined,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    if (!lock) {
      // Stated even without a default retention, so that turning the retention off (object_lock: false) is an
      // explicit update to a configuration without a rule, not a property merely left out of the template.
      (this.bucket.node.defaultChild as s3.CfnBucket).objectLockConfiguration = { objectLockEnabled: 'Enabled' };
    }

    // Every object is encrypted with SSE-KMS by the bucket's default encryption; a request that names another
    // encryption is refused. The deny tests the header only when it is present (Null: false): UploadPart and
    // CompleteMultipartUpload never carry it, so a deny that also fired on a missing header (StringNotEquals
    // alone, or StringNotEqualsIfExists, which counts a missing key as a match) refused every multipart upload.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyOtherEncryptionThanKms',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: {
          Null: { 's3:x-amz-server-side-encryption': 'false' },
          StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' },
        },
      }),
    );
    if (props.eventBridgeNotifications) {
      (this.bucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = { eventBridgeConfiguration: { eventBridgeEnabled: true } };
    }
    this.guard(props.guard);
  }

  /** The denies of VaultGuard: only the named roles may delete, destroy versions or reconfigure the vault. */
  private guard(guard: VaultGuard): void {
    const except = (arns: readonly string[]) => ({ ArnNotLike: { 'aws:PrincipalArn': [...arns] } });
    const deletes = new iam.PolicyStatement({
      sid: 'DenyDeletesButJanitorAndBreakGlass',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: GUARDED_DELETE_ACTIONS,
      conditions: except([...(guard.janitor ? [guard.janitor] : []), guard.breakGlass]),
    });
    if (guard.scratchKeys.length > 0) deletes.addNotResources(...guard.scratchKeys.map((key) => this.bucket.arnForObjects(key)));
    else deletes.addResources(this.bucket.arnForObjects('*'));
    this.bucket.addToResourcePolicy(deletes);
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyVersionDeletesButBreakGlass',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: GUARDED_VERSION_ACTIONS,
        resources: [this.bucket.arnForObjects('*')],
        conditions: except([guard.breakGlass]),
      }),
    );
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyVaultChangesButBreakGlass',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: GUARDED_BUCKET_ACTIONS,
        resources: [this.bucket.bucketArn],
        conditions: except([guard.breakGlass, ...guard.deployers]),
      }),
    );
  }
}

/**
 * The role CloudFormation deploys `stack` with (the CDK bootstrap's execution role): it sets the vault's
 * policy, lifecycle and replication on every deploy, so the vault policy must not lock it out. Whoever can
 * deploy the stack controls the vault anyway. None with a synthesizer that names no such role. The
 * synthesizer's ARN carries ${AWS::AccountId}-style placeholders, which Fn::Sub fills in at deploy time.
 */
export function deployRoleArns(stack: Stack): string[] {
  const synthesizer = stack.synthesizer;
  return synthesizer instanceof DefaultStackSynthesizer ? [Fn.sub(synthesizer.cloudFormationExecutionRoleArn)] : [];
}
