/**
 * The audit trail: a multi-region CloudTrail trail (the recovery vault is in the other region) that logs
 * write management events, among them StartExecution of the state machines, and S3 write data events
 * (PutObject, DeleteObject, DeleteObjects, DeleteObjectVersion, …) on both vault buckets' objects, into
 * its own bucket: S3-managed encryption, versioned, TLS only, access-logged, digest files validated.
 * Reads are not logged: restores, drills and integrity checks read every artifact, and read data events
 * would cost more than the vault. Created unless backup.yaml `audit.trail_arn` names an existing trail.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Days the trail's log files are kept. */
export const TRAIL_LOG_DAYS = 400;

export interface AuditTrailProps {
  readonly trailName: string;
  /** The vault buckets whose object writes and deletes are logged (both regions). */
  readonly vaultBuckets: readonly s3.IBucket[];
  /** Where the trail bucket's own server access logs go. */
  readonly accessLogs: s3.IBucket;
}

export class AuditTrail extends Construct {
  readonly trail: cloudtrail.Trail;
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: AuditTrailProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Logs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      serverAccessLogsBucket: props.accessLogs,
      serverAccessLogsPrefix: `cloudtrail/${props.trailName}/`,
      lifecycleRules: [
        { id: 'expire-trail-logs', expiration: Duration.days(TRAIL_LOG_DAYS), noncurrentVersionExpiration: Duration.days(1), abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.trail = new cloudtrail.Trail(this, 'Trail', {
      trailName: props.trailName,
      bucket: this.bucket,
      isMultiRegionTrail: true,
      includeGlobalServiceEvents: true,
      enableFileValidation: true,
      managementEvents: cloudtrail.ReadWriteType.WRITE_ONLY,
    });
    this.trail.addS3EventSelector(
      props.vaultBuckets.map((bucket) => ({ bucket })),
      { readWriteType: cloudtrail.ReadWriteType.WRITE_ONLY, includeManagementEvents: true },
    );
  }
}
