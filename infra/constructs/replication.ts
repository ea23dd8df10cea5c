/**
 * The role S3 assumes to replicate the primary vault into the recovery region's vault: read the source
 * versions, write replicas, decrypt with the data key through S3 of the primary region, encrypt with the
 * replica key through S3 of the recovery region. Nothing else: not even deletes, which never replicate.
 */
import { Aws, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { nagText } from '../vault-names';
import type { KmsKeyRef } from './keys';

export interface ReplicationRoleProps {
  readonly sourceBucketName: string;
  readonly sourceRegion: string;
  readonly sourceKey: KmsKeyRef;
  readonly destinationBucketName: string;
  readonly destinationRegion: string;
  readonly replicaKey: KmsKeyRef;
}

export function bucketArn(bucketName: string): string {
  return `arn:${Aws.PARTITION}:s3:::${bucketName}`;
}

export class ReplicationRole extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: ReplicationRoleProps) {
    super(scope, id);
    const source = bucketArn(props.sourceBucketName);
    const destination = bucketArn(props.destinationBucketName);

    this.role = new iam.Role(this, 'Role', {
      description: 'nca-backup: S3 cross-region replication of the backup vault',
      assumedBy: new iam.ServicePrincipal('s3.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    });
    const statements = [
      new iam.PolicyStatement({
        actions: ['s3:GetReplicationConfiguration', 's3:ListBucket'],
        resources: [source],
      }),
      new iam.PolicyStatement({
        actions: [
          's3:GetObjectVersionForReplication',
          's3:GetObjectVersionAcl',
          's3:GetObjectVersionTagging',
          's3:GetObjectRetention',
          's3:GetObjectLegalHold',
        ],
        resources: [`${source}/*`],
      }),
      new iam.PolicyStatement({
        // No s3:ReplicateDelete: delete markers are not replicated (and the recovery vault's policy refuses it).
        actions: ['s3:ReplicateObject', 's3:ReplicateTags'],
        resources: [`${destination}/*`],
      }),
      props.sourceKey.s3Statement(['kms:Decrypt'], props.sourceRegion),
      props.replicaKey.s3Statement(['kms:Encrypt', 'kms:GenerateDataKey'], props.destinationRegion),
    ];
    const policy = new iam.Policy(this, 'Policy', { statements });
    this.role.attachInlinePolicy(policy);

    const everyObject = 'Replication covers every object version of the vault, so it reads and writes all keys of the two vault buckets and nothing else.';
    Validations.of(policy).acknowledge(
      { id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(props.sourceBucketName)}/*]`, reason: everyObject },
      { id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(props.destinationBucketName)}/*]`, reason: everyObject },
    );
    props.sourceKey.acknowledgeAliasGrant(policy);
    props.replicaKey.acknowledgeAliasGrant(policy);
  }
}
