/**
 * The janitor (functions/handlers/janitor.ts), run hourly: removes backup attempts that never got a manifest
 * and old Fargate step results, and prunes the blobs no manifest references any more (components that store
 * blobs, config/component.ts `storesBlobs`). Its role is the only one besides the break-glass role that the
 * vault policy lets delete; it may delete under the configured components' prefixes and blob prefixes of the
 * primary vault, and it cannot delete object versions, so what it removes stays recoverable until lifecycle
 * expires the old version.
 *
 * Pruning is mark and sweep: it reads every manifest of the component (and the artifacts that list blobs)
 * and deletes a blob no unexpired manifest references. It does so holding the component's operation lock,
 * so that no backup (which may reference a blob it did not copy again) or restore of the component runs
 * meanwhile: for those components it may write the lock as a worker does.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { BackupConfig } from '../../config/types';
import type { VaultRuntimeConfig } from '../../config/runtime-config';
import { configuredComponents } from '../runtime-config';
import { controlPlaneFunction } from './control-plane';
import type { KmsKeyRef, ManifestKey } from './keys';
import { bucketArn } from './replication';
import { nagText } from '../vault-names';
import { componentBlobPrefix, componentKeyPrefix, componentLockKey } from './workers';

export const JANITOR_SCHEDULE = events.Schedule.rate(Duration.hours(1));

export interface JanitorProps {
  readonly config: BackupConfig;
  /**
   * The vault and the components' groups (infra/runtime-config.ts `vaultRuntimeConfig`), passed as the schedule's
   * input: an EventBridge target's input holds at most 8 KB, so it carries this part and no sources.
   */
  readonly runtimeConfig: VaultRuntimeConfig;
  readonly dataKey: KmsKeyRef;
  readonly logKey: kms.IKey;
  /** The manifest key: a blob prune verifies the manifests whose references it marks (VerifyMac only). */
  readonly manifestKey: ManifestKey;
}

export class Janitor extends Construct {
  readonly role: iam.Role;
  readonly function: nodejs.NodejsFunction;

  constructor(scope: Construct, id: string, props: JanitorProps) {
    super(scope, id);
    const { config } = props;
    const bucket = bucketArn(config.storage.primary.bucket);
    const prefixes = configuredComponents(config).map((c) => componentKeyPrefix(config, c));
    // The configured components that store blobs, each with its key prefix, blob prefix and lock.
    const pruned = configuredComponents(config).flatMap((c) => {
      const blobs = componentBlobPrefix(config, c);
      return blobs ? [{ component: c, prefix: componentKeyPrefix(config, c), blobs, lock: componentLockKey(config, c) }] : [];
    });

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      description: 'nca-backup janitor: removes backup attempts that never got a manifest and prunes unreferenced blobs',
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    logGroup.grantWrite(this.role);
    if (prefixes.length > 0) {
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ListAttempts',
          actions: ['s3:ListBucket'],
          resources: [bucket],
          conditions: { StringLike: { 's3:prefix': [...prefixes, ...pruned.map((p) => p.blobs)].map((p) => `${p}*`) } },
        }),
      );
      // It reads the operation lock to leave a running backup alone, and nothing else.
      const locks = configuredComponents(config).map((c) => `${bucket}/${componentLockKey(config, c)}`);
      this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadLocks', actions: ['s3:GetObject'], resources: locks }));
      this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'RemoveIncompleteAttempts', actions: ['s3:DeleteObject'], resources: prefixes.map((p) => `${bucket}/${p}*`) }));
      if (pruned.length > 0) {
        // Mark: every manifest and artifact of the component; sweep: a blob's age just before its delete.
        this.role.addToPrincipalPolicy(
          new iam.PolicyStatement({ sid: 'ReadReferences', actions: ['s3:GetObject'], resources: pruned.flatMap((p) => [`${bucket}/${p.prefix}*`, `${bucket}/${p.blobs}*`]) }),
        );
        this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'TakePruneLocks', actions: ['s3:PutObject'], resources: pruned.map((p) => `${bucket}/${p.lock}`) }));
        this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'PruneBlobs', actions: ['s3:DeleteObject'], resources: pruned.map((p) => `${bucket}/${p.blobs}*`) }));
        props.manifestKey.grantVerifyMac(this.role);
      }
      // Writing the lock encrypts it under the data key (through S3): only a janitor that prunes may.
      this.role.addToPrincipalPolicy(props.dataKey.s3Statement(pruned.length > 0 ? ['kms:Decrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt'], config.storage.primary.region));
      props.dataKey.acknowledgeAliasGrant(this.role);
      const pruning = new Set(pruned.map((p) => p.prefix));
      for (const p of prefixes) {
        Validations.of(this.role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(config.storage.primary.bucket)}/${p}*]`,
          reason:
            `Attempts live at <backup id>/ under ${p} with ids generated per run; the code deletes only attempts without a manifest (functions/core/janitor.ts), and versions stay (no s3:DeleteObjectVersion).` +
            (pruning.has(p) ? ' It reads the manifests and artifacts there to mark the blobs they reference.' : ''),
        });
      }
      for (const p of pruned) {
        Validations.of(this.role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(config.storage.primary.bucket)}/${p.blobs}*]`,
          reason: `Blobs are named by their content's digest under ${p.blobs}; the janitor deletes only blobs no manifest references, past a grace period, under the ${p.component} lock, and versions stay (no s3:DeleteObjectVersion).`,
        });
      }
    }
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) support no resource-level permissions.',
    });

    this.function = controlPlaneFunction(this, 'Function', {
      file: 'janitor',
      description: 'removes backup attempts that never got a manifest (hourly)',
      timeout: Duration.minutes(5),
      role: this.role,
      logGroup,
    });
    new events.Rule(this, 'Schedule', {
      description: 'nca-backup: hourly janitor sweep',
      schedule: JANITOR_SCHEDULE,
      targets: [
        new targets.LambdaFunction(this.function, {
          retryAttempts: 0,
          event: events.RuleTargetInput.fromObject({ runtimeConfig: JSON.stringify(props.runtimeConfig) }),
        }),
      ],
    });
  }
}
