/**
 * The control-plane functions of the workflows: plan (which components of a group run, under which backup id),
 * finalize (outcome and events), resolve-restore (validate the request, resolve "latest", read the manifest,
 * take the component's operation lock) and release-lock (the end of a restore, either way); for the drill
 * workflow drill-plan (each component's recovery point and runner, from verified manifests) and drill-report
 * (the drills' records gathered, the NcaBackup drill metrics, the scorecard). Plain Node.js functions bundled
 * with esbuild; each role holds only what its handler uses.
 */
import * as path from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { BackupConfig } from '../../config/types';
import { configuredComponents } from '../runtime-config';
import type { KmsKeyRef, ManifestMacKey } from './keys';
import { bucketArn } from './replication';
import { nagText } from '../vault-names';
import { METRICS_NAMESPACE } from '../../config/drill-metrics';
import { CONTROL_PLANE_BUNDLING } from './bundling';
import { REPO_ROOT, componentKeyPrefix, componentLockKey, drillRecordsPrefix, scorecardKey } from './workers';
import { RESTORE_ALL_REPORTS_PREFIX, SYSTEM_DIR } from '../../config/vault-layout';

/** Days control-plane logs are kept. */
export const CONTROL_PLANE_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS;

export interface ControlPlaneProps {
  readonly config: BackupConfig;
  readonly dataKey: KmsKeyRef;
  /** The manifest HMAC key: resolve-restore verifies the manifests it reads (VerifyMac only). */
  readonly manifestKey: ManifestMacKey;
  readonly logKey: kms.IKey;
}

/**
 * The functions of the restore and drill workflows: all a vault's restore plane needs (the recovery stack
 * deploys this alone; ControlPlane adds the backup workflow's).
 */
export class RestoreControlPlane extends Construct {
  readonly resolveRestore: nodejs.NodejsFunction;
  readonly releaseLock: nodejs.NodejsFunction;
  readonly drillPlan: nodejs.NodejsFunction;
  readonly drillReport: nodejs.NodejsFunction;
  /** restore-all workflow: resolves and verifies a system recovery point; writes the report. */
  readonly resolveSystem: nodejs.NodejsFunction;
  readonly restoreAllReport: nodejs.NodejsFunction;

  constructor(scope: Construct, id: string, props: ControlPlaneProps) {
    super(scope, id);
    this.resolveRestore = this.handler(
      'ResolveRestore',
      'resolve-restore',
      'Restore workflow: validates the request, resolves the backup id and reads its manifest',
      Duration.seconds(90),
      props,
    );

    this.releaseLock = this.handler(
      'ReleaseLock',
      'release-lock',
      'Restore workflow: releases the component operation lock the execution took',
      Duration.seconds(30),
      props,
    );

    this.drillPlan = this.handler('DrillPlan', 'drill-plan', 'Drill workflow: picks each component\'s recovery point and runner', Duration.seconds(120), props);
    this.drillReport = this.handler(
      'DrillReport',
      'drill-report',
      'Drill workflow: gathers the drills\' records, publishes their metrics and writes the scorecard',
      Duration.seconds(300),
      props,
      `cloudwatch:PutMetricData supports no resource-level permissions (it is narrowed to the ${METRICS_NAMESPACE} namespace by condition); `,
    );

    // resolve-restore lists the configured components' backups, reads their manifests and takes the operation
    // lock (creates or replaces <component prefix>_lock.json); release-lock reads and deletes that one key.
    const { config } = props;
    const bucket = bucketArn(config.storage.primary.bucket);
    const prefixes = configuredComponents(config).map((c) => componentKeyPrefix(config, c));
    const lockObjects = configuredComponents(config).map((c) => `${bucket}/${componentLockKey(config, c)}`);
    if (prefixes.length > 0) {
      const releaser = this.releaseLock.role!;
      // A conditional delete (If-Match) needs s3:GetObject as well as s3:DeleteObject.
      releaser.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReleaseOperationLocks', actions: ['s3:GetObject', 's3:DeleteObject'], resources: lockObjects }));
      releaser.addToPrincipalPolicy(props.dataKey.s3Statement(['kms:Decrypt'], config.storage.primary.region));
      props.dataKey.acknowledgeAliasGrant(releaser);
      const role = this.resolveRestore.role!;
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ListBackups',
          actions: ['s3:ListBucket'],
          resources: [bucket],
          conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } },
        }),
      );
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ sid: 'ReadManifests', actions: ['s3:GetObject'], resources: prefixes.map((p) => `${bucket}/${p}*`) }),
      );
      // Conditional writes (If-None-Match / If-Match) need nothing beyond s3:PutObject.
      role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'TakeOperationLocks', actions: ['s3:PutObject'], resources: lockObjects }));
      role.addToPrincipalPolicy(props.dataKey.s3Statement(['kms:Decrypt', 'kms:GenerateDataKey'], config.storage.primary.region));
      props.manifestKey.grantVerifyMac(role);
      for (const p of prefixes) {
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(config.storage.primary.bucket)}/${p}*]`,
          reason: `Manifests live at <backup id>/manifest.json under ${p}, with backup ids generated per run; read-only and limited to configured components.`,
        });
      }
      props.dataKey.acknowledgeAliasGrant(role);
    }
    this.grantDrills(props, bucket, prefixes);

    this.resolveSystem = this.handler(
      'ResolveSystem',
      'resolve-system',
      'Restore-all workflow: resolves a system recovery point and verifies it against the component manifests',
      Duration.seconds(120),
      props,
    );
    this.restoreAllReport = this.handler('RestoreAllReport', 'restore-all-report', 'Restore-all workflow: the report of every component restore against the RTOs', Duration.seconds(60), props);
    this.grantSystemPoints(props, bucket, prefixes);
  }

  /**
   * System recovery points (backup group all; finalize writes their indexes: ControlPlane): resolve-system lists and reads the indexes and the components' manifests (VerifyMac only:
   * the index carries no MAC, it is checked against the manifests); restore-all-report writes its report.
   * None of them may delete anything or write under a component's prefix.
   */
  private grantSystemPoints(props: ControlPlaneProps, bucket: string, prefixes: readonly string[]): void {
    const { config } = props;
    const vaultPrefix = config.storage.primary.prefix;
    const indexes = `${vaultPrefix}${SYSTEM_DIR}`;
    const reports = `${vaultPrefix}${RESTORE_ALL_REPORTS_PREFIX}`;
    const nag = (p: string) => `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(config.storage.primary.bucket)}/${p}]`;
    const region = config.storage.primary.region;

    const resolve = this.resolveSystem.role!;
    resolve.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ListSystemPoints', actions: ['s3:ListBucket'], resources: [bucket], conditions: { StringLike: { 's3:prefix': [`${indexes}*`, ...prefixes.map((p) => `${p}*`)] } } }),
    );
    resolve.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ReadSystemPoints', actions: ['s3:GetObject'], resources: [`${bucket}/${indexes}*/manifest.json`, ...prefixes.map((p) => `${bucket}/${p}*/manifest.json`)] }),
    );
    resolve.addToPrincipalPolicy(props.dataKey.s3Statement(['kms:Decrypt'], region));
    props.dataKey.acknowledgeAliasGrant(resolve);
    props.manifestKey.grantVerifyMac(resolve);
    for (const p of [indexes, ...prefixes]) {
      Validations.of(resolve).acknowledge({ id: nag(`${p}*/manifest.json`), reason: `Manifests and indexes live at <id>/manifest.json under ${p}, with ids generated per backup; the function reads manifest.json only.` });
    }

    const report = this.restoreAllReport.role!;
    report.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'WriteRestoreAllReports', actions: ['s3:PutObject'], resources: [`${bucket}/${reports}*`] }));
    report.addToPrincipalPolicy(props.dataKey.s3Statement(['kms:GenerateDataKey'], region));
    props.dataKey.acknowledgeAliasGrant(report);
    Validations.of(report).acknowledge({ id: nag(`${reports}*`), reason: `Restore-all reports are written as <restore id>.json under ${reports}, ids generated per execution; write only.` });
  }

  /**
   * drill-plan reads verified manifests only. drill-report reads them too (the newest backup's age on the
   * scorecard), reads and writes the drills' records (it writes the record of a drill whose worker left none)
   * and the scorecards, and publishes metrics in its namespace. Neither may delete anything, nor write under a
   * component's prefix.
   */
  private grantDrills(props: ControlPlaneProps, bucket: string, prefixes: readonly string[]): void {
    const { config } = props;
    const records = drillRecordsPrefix(config);
    const nag = (p: string) => `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(config.storage.primary.bucket)}/${p}]`;
    for (const fn of [this.drillPlan, this.drillReport]) {
      const role = fn.role!;
      const reports = fn === this.drillReport ? [`${records}*`] : [];
      const listed = [...prefixes.map((p) => `${p}*`), ...reports];
      if (listed.length > 0) {
        role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: reports.length > 0 ? 'ListBackupsAndDrills' : 'ListBackups', actions: ['s3:ListBucket'], resources: [bucket], conditions: { StringLike: { 's3:prefix': listed } } }));
      }
      if (prefixes.length > 0) {
        role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'ReadManifests', actions: ['s3:GetObject'], resources: prefixes.map((p) => `${bucket}/${p}*/manifest.json`) }));
        props.manifestKey.grantVerifyMac(role);
        for (const p of prefixes) {
          Validations.of(role).acknowledge({
            id: nag(`${p}*/manifest.json`),
            reason: `Backups live at <backup id>/ under ${p} with ids generated per run; the function reads their manifest.json only.`,
          });
        }
      }
      const writes = fn === this.drillReport;
      role.addToPrincipalPolicy(props.dataKey.s3Statement(writes ? ['kms:Decrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt'], config.storage.primary.region));
      props.dataKey.acknowledgeAliasGrant(role);
    }
    const role = this.drillReport.role!;
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'DrillRecords', actions: ['s3:GetObject', 's3:PutObject'], resources: [`${bucket}/${records}*`] }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'Scorecard', actions: ['s3:PutObject'], resources: [`${bucket}/${scorecardKey(config)}`] }));
    Validations.of(role).acknowledge({
      id: nag(`${records}*`),
      reason: `Drill records and each drill's scorecard live at <drill id>/ under ${records}, with drill ids generated per run; read and write, no delete.`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishDrillMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRICS_NAMESPACE } },
      }),
    );
  }

  /** `wildcardReason`: what else than X-Ray the role's `*` resources are for (the sentence before X-Ray's). @default only X-Ray */
  protected handler(id: string, file: string, description: string, timeout: Duration, props: ControlPlaneProps, wildcardReason = ''): nodejs.NodejsFunction {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: CONTROL_PLANE_LOG_RETENTION,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = new iam.Role(this, `${id}Role`, { description: `nca-backup ${file}`, assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    logGroup.grantWrite(role);
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: `${wildcardReason}X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) support no resource-level permissions.`,
    });
    return controlPlaneFunction(this, id, { file, description, timeout, role, logGroup });
  }
}

/** Every control-plane function of a primary deployment: the restore plane's and the backup workflow's plan and finalize. */
export class ControlPlane extends RestoreControlPlane {
  readonly plan: nodejs.NodejsFunction;
  readonly finalize: nodejs.NodejsFunction;

  constructor(scope: Construct, id: string, props: ControlPlaneProps) {
    super(scope, id, props);
    this.plan = this.handler('Plan', 'plan', 'Backup workflow: validates the input and plans the components of a group', Duration.seconds(30), props);
    this.finalize = this.handler('Finalize', 'finalize', 'Backup workflow: outcome and events from every component result', Duration.seconds(30), props);
    this.grantSystemIndexWrites(props);
  }

  /**
   * Finalize writes each system recovery point's index (system/<id>/manifest.json) once: If-None-Match needs
   * s3:GetObject to answer 412 rather than 403, and a retried finalize reads its own index back.
   */
  private grantSystemIndexWrites(props: ControlPlaneProps): void {
    const { config } = props;
    const indexes = `${config.storage.primary.prefix}${SYSTEM_DIR}`;
    const finalize = this.finalize.role!;
    finalize.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'WriteSystemIndexes', actions: ['s3:GetObject', 's3:PutObject'], resources: [`${bucketArn(config.storage.primary.bucket)}/${indexes}*/manifest.json`] }));
    finalize.addToPrincipalPolicy(props.dataKey.s3Statement(['kms:Decrypt', 'kms:GenerateDataKey'], config.storage.primary.region));
    props.dataKey.acknowledgeAliasGrant(finalize);
    Validations.of(finalize).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(config.storage.primary.bucket)}/${indexes}*/manifest.json]`,
      reason: `Each system recovery point's index lives at <system id>/manifest.json under ${indexes}, with ids generated per backup; write-once, no delete.`,
    });
  }
}

export interface ControlPlaneFunctionProps {
  /** The handler's file under functions/handlers, without `.ts`. */
  readonly file: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly role: iam.IRole;
  readonly logGroup: logs.ILogGroup;
}

/**
 * A control-plane function as every one is deployed: Node.js 22 on arm64, 256 MB, traced, bundled with
 * the control plane's esbuild options (no database driver: test/unit/control-plane-bundles.test.ts). Its
 * runtime config comes in each event (from the state machine or the schedule), never in its environment.
 */
export function controlPlaneFunction(scope: Construct, id: string, props: ControlPlaneFunctionProps): nodejs.NodejsFunction {
  const fn = new nodejs.NodejsFunction(scope, id, {
    description: `nca-backup: ${props.description}`,
    entry: path.join(REPO_ROOT, 'functions', 'handlers', `${props.file}.ts`),
    handler: 'handler',
    projectRoot: REPO_ROOT,
    depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: 256,
    timeout: props.timeout,
    role: props.role,
    tracing: lambda.Tracing.ACTIVE,
    logGroup: props.logGroup,
    environment: { NODE_OPTIONS: '--enable-source-maps' },
    bundling: { ...CONTROL_PLANE_BUNDLING, externalModules: [...CONTROL_PLANE_BUNDLING.externalModules] },
  });
  Validations.of(fn).acknowledge({
    id: 'AwsSolutions-L1',
    reason: 'nodejs22.x on purpose: the worker image (public.ecr.aws/lambda/nodejs:22), the tests and the CLI all run Node 22; the runtimes move together.',
  });
  return fn;
}
