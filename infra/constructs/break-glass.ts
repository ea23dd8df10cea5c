/**
 * The break-glass role: besides the janitor, the only principal the vault policies let delete, and the only
 * one (with the deploying CloudFormation role) that may delete object versions, bypass governance-mode
 * Object Lock or change a vault's policy, lifecycle, versioning or replication. Named in backup.yaml
 * (`storage.break_glass_role`): a role name, created here and assumable by IAM principals of this account
 * only with MFA; or a role ARN, referenced only (its permissions are then the operator's business).
 */
import { Arn, Aws, Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { defaultBreakGlassRole, type BackupConfig } from '../../config/types';
import { nagText } from '../vault-names';
import { bucketArn } from './replication';

/** The ARN the vault policies except: the configured ARN, or the ARN of the role this stack creates. */
export function breakGlassRoleArn(config: BackupConfig): string {
  const configured = breakGlassRole(config);
  return configured.startsWith('arn:') ? configured : Arn.format({ partition: Aws.PARTITION, service: 'iam', region: '', account: Aws.ACCOUNT_ID, resource: 'role', resourceName: configured });
}

/** Whether this deployment creates the role (a name was configured, or none). */
export function createsBreakGlassRole(config: BackupConfig): boolean {
  return !breakGlassRole(config).startsWith('arn:');
}

/** The configured role name or ARN; absent: the installation's default name. */
function breakGlassRole(config: BackupConfig): string {
  return config.storage.breakGlassRole ?? defaultBreakGlassRole(config.installation);
}

export class BreakGlassRole extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: { readonly config: BackupConfig }) {
    super(scope, id);
    const { primary, secondary } = props.config.storage;
    const buckets = [bucketArn(primary.bucket), bucketArn(secondary.bucket)];
    this.role = new iam.Role(this, 'Role', {
      roleName: breakGlassRole(props.config),
      description: 'nca-backup break-glass: delete or unlock backups and change the vault policies (MFA only; see the README)',
      assumedBy: new iam.AccountRootPrincipal().withConditions({ Bool: { 'aws:MultiFactorAuthPresent': 'true' } }),
      maxSessionDuration: Duration.hours(1),
    });
    const policy = new iam.Policy(this, 'Policy', {
      statements: [
        new iam.PolicyStatement({
          sid: 'InspectVaults',
          actions: ['s3:ListBucket', 's3:ListBucketVersions', 's3:GetBucketPolicy', 's3:GetLifecycleConfiguration', 's3:GetBucketObjectLockConfiguration'],
          resources: buckets,
        }),
        new iam.PolicyStatement({
          sid: 'ChangeVaults',
          actions: ['s3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutLifecycleConfiguration'],
          resources: buckets,
        }),
        new iam.PolicyStatement({
          sid: 'RemoveBackups',
          actions: [
            's3:GetObjectRetention',
            's3:GetObjectVersion',
            's3:DeleteObject',
            's3:DeleteObjectVersion',
            's3:BypassGovernanceRetention',
            's3:PutObjectRetention',
          ],
          resources: buckets.map((b) => `${b}/*`),
        }),
      ],
    });
    this.role.attachInlinePolicy(policy);
    Validations.of(policy).acknowledge(
      ...[primary.bucket, secondary.bucket].map((name) => ({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(name)}/*]`,
        reason: 'The break-glass role exists to remove any backup in an emergency (MFA-only, one-hour sessions); it names the two vault buckets and nothing else.',
      })),
    );
  }
}
