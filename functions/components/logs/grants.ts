/**
 * What the logs component's worker may do on its sources and restore targets, as data (config/component.ts
 * WorkerGrant).
 *
 * BACKUP reads each configured log group (logs:FilterLogEvents on the group's ARN; a prefix as
 * `log-group:<prefix>*`), finds the groups of a prefix and every group's retention (logs:DescribeLogGroups,
 * which IAM authorises on `log-group:*` of the account and region only), and reads metrics
 * (cloudwatch:ListMetrics and cloudwatch:GetMetricData, which take no resource but `*`).
 *
 * RESTORE writes events only into groups under `restore_log_group_prefix` (logs:CreateLogGroup,
 * CreateLogStream, PutLogEvents) and reads them back to verify (FilterLogEvents); it writes files only
 * under `restore_location` (s3:PutObject, read back with GetObject and ListBucket limited to that prefix),
 * with that bucket's KMS key used only through S3 for that prefix.
 */
import type { GrantScope, WorkerGrant } from '../../../config/component';

/** The parts of backup.sources.logs the grants are made of. */
export interface LogsGrantSources {
  readonly logGroups: readonly string[];
  readonly logGroupPrefixes: readonly string[];
  readonly metrics: readonly unknown[];
  readonly restoreLocation?: { readonly bucket: string; readonly prefix: string };
  readonly restoreLogGroupPrefix: string;
}

/** A log group's ARNs in both forms IAM matches (the group, and `:*` for its streams' events). */
function groupArns(name: string, { partition, region, account }: GrantScope, prefix = false): string[] {
  const base = `arn:${partition}:logs:${region}:${account}:log-group:${name}${prefix ? '*' : ''}`;
  return [base, `${base}:*`];
}

export function logsGrants(source: LogsGrantSources, scope: GrantScope): WorkerGrant[] {
  const { partition, region, account } = scope;
  const grants: WorkerGrant[] = [];
  const read = [...source.logGroups.flatMap((g) => groupArns(g, scope)), ...source.logGroupPrefixes.flatMap((p) => groupArns(p, scope, true))];
  if (read.length > 0) {
    grants.push({
      sid: 'LogsRead',
      actions: ['logs:FilterLogEvents'],
      resources: read,
      // Every read resource holds a wildcard: a named group's `:*` form (its streams' events) as much as a prefix.
      wildcardReason: [
        'A log group\'s ARN ending in :* is the form IAM matches for its events; the configured groups are named exactly.',
        ...(source.logGroupPrefixes.length > 0 ? [`Every log group under the configured prefixes (${source.logGroupPrefixes.join(', ')}) is a source; nothing else.`] : []),
      ].join(' '),
    });
  }
  grants.push({
    sid: 'LogsDescribeGroups',
    actions: ['logs:DescribeLogGroups'],
    resources: [`arn:${partition}:logs:${region}:${account}:log-group:*`],
    wildcardReason: 'DescribeLogGroups is authorised only on every log group of the account and region; it lists names and retention, no events.',
  });
  if (source.metrics.length > 0) {
    grants.push({
      sid: 'MetricsRead',
      actions: ['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics'],
      resources: ['*'],
      wildcardReason: 'GetMetricData and ListMetrics support no resource-level permission and no namespace condition; they read datapoints, never change anything.',
    });
  }
  grants.push({
    sid: 'LogsRestoreWrites',
    actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:FilterLogEvents'],
    resources: groupArns(source.restoreLogGroupPrefix, scope, true),
    wildcardReason: `A restore creates and writes log groups under ${source.restoreLogGroupPrefix} only, and reads them back to verify.`,
  });
  if (source.restoreLocation) {
    const { bucket, prefix } = source.restoreLocation;
    const bucketArn = `arn:${partition}:s3:::${bucket}`;
    const objects = `${bucketArn}/${prefix}*`;
    grants.push(
      {
        sid: 'LogsRestoreFiles',
        actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
        resources: [objects],
        wildcardReason: `A restore to files writes (and reads back) only under s3://${bucket}/${prefix}.`,
      },
      { sid: 'LogsRestoreListing', actions: ['s3:ListBucket'], resources: [bucketArn], conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } } },
      {
        sid: 'LogsRestoreKeys',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [`arn:${partition}:kms:${region}:${account}:key/*`],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${region}.amazonaws.com` }, StringLike: { 'kms:EncryptionContext:aws:s3:arn': [bucketArn, objects] } },
        wildcardReason: 'The restore bucket\'s key is chosen with the bucket (or is the AWS managed key): keys of the region, only through S3 and only for the restore location.',
      },
    );
  }
  return grants;
}

/**
 * What the logs' drill worker may do, as data: a drill restores into the log group
 * `<restore_log_group_prefix>drill-<drill id>...`, or into files under `<restore_location>nca-drill/<drill id>/`
 * (drill.ts), reads them back and deletes them. It reads no source group: the backup is in the vault.
 */
export function logsDrillGrants(source: LogsGrantSources, scope: GrantScope): WorkerGrant[] {
  const { partition, region, account } = scope;
  const sandboxGroups = `${source.restoreLogGroupPrefix}drill-`;
  const grants: WorkerGrant[] = [
    {
      sid: 'LogsDrillGroups',
      actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:FilterLogEvents', 'logs:DeleteLogGroup'],
      resources: groupArns(sandboxGroups, scope, true),
      wildcardReason: `A drill's log group is named by its drill id under ${sandboxGroups}: created, written, read back and deleted there only.`,
    },
    {
      sid: 'LogsDrillDescribeGroups',
      actions: ['logs:DescribeLogGroups'],
      resources: [`arn:${partition}:logs:${region}:${account}:log-group:*`],
      wildcardReason: 'DescribeLogGroups is authorised only on every log group of the account and region; the drill asks for its own group\'s retention by name, and it lists names and retention, no events.',
    },
  ];
  if (source.restoreLocation) {
    const { bucket, prefix } = source.restoreLocation;
    const bucketArn = `arn:${partition}:s3:::${bucket}`;
    const sandbox = `${prefix}nca-drill/`;
    const objects = `${bucketArn}/${sandbox}*`;
    grants.push(
      {
        sid: 'LogsDrillFiles',
        actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload', 's3:DeleteObject'],
        resources: [objects],
        wildcardReason: `A drill's files are named by its drill id under s3://${bucket}/${sandbox}: written, read back and deleted there only.`,
      },
      { sid: 'LogsDrillListing', actions: ['s3:ListBucket'], resources: [bucketArn], conditions: { StringLike: { 's3:prefix': [`${sandbox}*`] } } },
      {
        sid: 'LogsDrillKeys',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [`arn:${partition}:kms:${region}:${account}:key/*`],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${region}.amazonaws.com` }, StringLike: { 'kms:EncryptionContext:aws:s3:arn': [bucketArn, objects] } },
        wildcardReason: 'The restore bucket\'s key is chosen with the bucket (or is the AWS managed key): keys of the region, only through S3 and only for the drill\'s files (or their bucket, with S3 Bucket Keys).',
      },
    );
  }
  return grants;
}
