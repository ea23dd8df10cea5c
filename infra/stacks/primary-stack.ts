/**
 * The primary region (storage.primary.region): the vault and its replication, the workers (Lambda and
 * Fargate, one pair per configured component), the control-plane functions, the backup and restore state
 * machines, the restore-drill state machine, the schedules and the alarms.
 */
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { auditOf, type AuditAction } from '../../config/audit';
import { REPORTS_DIR } from '../../config/vault-layout';
import { AuditRecorder } from '../constructs/audit';
import { OperatorRole } from '../constructs/operator-role';
import { AuditTrail } from '../constructs/trail';
import type { BackupConfig } from '../../config/types';
import { BackupAlarms } from '../constructs/alarms';
import { BackupAgeMonitor } from '../constructs/backup-age';
import { BackupSchedules } from '../constructs/backup-schedules';
import { BackupVault, REPLICATION_RULE_ID, deployRoleArns } from '../constructs/backup-vault';
import { warnOfEarlyDeletion } from '../cold-storage-fees';
import { BreakGlassRole, breakGlassRoleArn, createsBreakGlassRole } from '../constructs/break-glass';
import { Janitor } from '../constructs/janitor';
import { IntegrityChecks } from '../constructs/integrity';
import { BackupDashboard, publishBackupMetrics } from '../constructs/dashboard';
import { ControlPlane } from '../constructs/control-plane';
import { ConfigChangeTrigger } from '../constructs/config-changes';
import { ConfigEnvelopeKey, KeyReplica, KmsKeyRef, ManifestKey, OperationsKey, dataKeyRef, keyAliases, manifestKeyReplica, runtimeKmsKeyId } from '../constructs/keys';
import { WorkerNetwork, componentInterfaceEndpoints } from '../constructs/network';
import { ReplicationRole, bucketArn } from '../constructs/replication';
import { ComponentWorker, workerPlane, workerScratchKeys } from '../constructs/workers';
import { Workflows } from '../constructs/workflows';
import { configuredComponents, deployedRuntimeConfig, vaultRuntimeConfig } from '../runtime-config';
import { withVaultNames } from '../vault-names';
import type { ComponentName } from '../../config/types';

export interface PrimaryStackProps extends Omit<StackProps, 'env'> {
  readonly config: BackupConfig;
  /**
   * PG_MAJOR build argument of the worker image (PostgreSQL client major).
   * @default - the Dockerfile's (17)
   */
  readonly pgMajor?: string;
}

export class PrimaryStack extends Stack {
  readonly vault: BackupVault;
  readonly manifestKey: ManifestKey;
  /** Seals configuration exports; only when backup.sources.config is configured. */
  readonly configEnvelopeKey?: ConfigEnvelopeKey;
  /** Starts configuration backups after changes; only when backup.sources.config is configured. */
  readonly configChanges?: ConfigChangeTrigger;
  readonly janitor: Janitor;
  readonly breakGlass?: BreakGlassRole;
  readonly workers: Partial<Record<ComponentName, ComponentWorker>> = {};
  /** Drill workers of the components whose worker holds grants on its sources (workers.ts drillsOnOwnWorker). */
  readonly drillWorkers: Partial<Record<ComponentName, ComponentWorker>> = {};
  readonly controlPlane: ControlPlane;
  readonly workflows: Workflows;
  readonly schedules: BackupSchedules;
  readonly alarms: BackupAlarms;
  readonly backupAge: BackupAgeMonitor;
  readonly integrity: IntegrityChecks;
  /** Graphs per component and of the workflows; `dashboard.addStateMachine` adds a workflow's failed executions. */
  readonly dashboard: BackupDashboard;
  /** The only role of this stack that may start restores and drills (MFA; README "Audit and access"). */
  readonly operator: OperatorRole;
  /** The audit trail; absent when backup.yaml audit.trail_arn names an existing one. */
  readonly trail?: AuditTrail;
  readonly audit: AuditRecorder;

  constructor(scope: Construct, id: string, props: PrimaryStackProps) {
    const { config: written, pgMajor, ...stackProps } = props;
    // From here on, storage.*.bucket is the vault's real name (account and region suffixed unless exact_name).
    const config = withVaultNames(written);
    super(scope, id, {
      description: 'nca-backup: primary vault with cross-region replication, workers, backup/restore workflows, schedules and alarms',
      ...stackProps,
      env: { region: config.storage.primary.region },
    });
    const { primary, secondary } = config.storage;

    // Keys
    const operationsKey = new OperationsKey(this, 'OperationsKey').key;
    const aliases = keyAliases(config.installation);
    const dataKey = dataKeyRef(this, config.encryption.kmsKeyId, aliases.data);
    const replicaKey = KmsKeyRef.fromAlias(aliases.replica, secondary.region);
    this.manifestKey = new ManifestKey(this, 'ManifestKey', { alias: aliases.manifest });
    manifestKeyReplica(this, this.manifestKey.key, secondary.region, aliases.manifest);
    if (config.sources.config) {
      this.configEnvelopeKey = new ConfigEnvelopeKey(this, 'ConfigEnvelopeKey', { alias: aliases.configEnvelope });
      new KeyReplica(this, 'ConfigEnvelopeKeyReplica', {
        key: this.configEnvelopeKey.key,
        replicaRegion: secondary.region,
        description: `nca-backup: replica of the configuration envelope key (primary in ${primary.region}); opens replicated configuration exports`,
        resourceType: 'Custom::NcaConfigEnvelopeKeyReplica',
        name: 'config-envelope-key-replica',
      });
    }
    const kmsKeyId = runtimeKmsKeyId(dataKey, config.encryption.kmsKeyId);
    const deployedNames = {
      kmsKeyId,
      manifestKeyId: this.manifestKey.key.keyArn,
      ...(this.configEnvelopeKey ? { sourceAdditions: { config: { envelopeKeyId: this.configEnvelopeKey.key.keyArn } } } : {}),
    };
    const workerConfig = deployedRuntimeConfig(config, deployedNames);
    const workerConfigJson = this.toJsonString(workerConfig);

    // Who may delete and reconfigure the vault: the janitor, the break-glass role, and (configuration only)
    // the role CloudFormation deploys this stack with.
    this.janitor = new Janitor(this, 'Janitor', { config, runtimeConfig: vaultRuntimeConfig(workerConfig), dataKey, logKey: operationsKey, manifestKey: this.manifestKey });
    if (createsBreakGlassRole(config)) this.breakGlass = new BreakGlassRole(this, 'BreakGlass', { config });
    const breakGlassArn = breakGlassRoleArn(config);
    const components = configuredComponents(config);

    // Vault + replication
    const replication = new ReplicationRole(this, 'Replication', {
      sourceBucketName: primary.bucket,
      sourceRegion: primary.region,
      sourceKey: dataKey,
      destinationBucketName: secondary.bucket,
      destinationRegion: secondary.region,
      replicaKey,
    });
    this.vault = new BackupVault(this, 'Vault', {
      bucketName: primary.bucket,
      prefix: primary.prefix,
      retentionDays: config.retention,
      encryptionKey: dataKey.asKey(this, 'ImportedDataKey'),
      coldStorage: config.storage.coldStorage,
      objectLock: config.storage.objectLock,
      replication: {
        role: replication.role,
        destination: s3.Bucket.fromBucketAttributes(this, 'RecoveryVault', {
          bucketArn: bucketArn(secondary.bucket),
          bucketName: secondary.bucket,
          region: secondary.region,
        }),
        replicaKey: replicaKey.asKey(this, 'ReplicaKey'),
        timeControl: config.storage.replicationTimeControl,
      },
      auditRetentionDays: auditOf(config).recordRetentionDays,
      eventBridgeNotifications: true,
      guard: {
        janitor: this.janitor.role.roleArn,
        breakGlass: breakGlassArn,
        deployers: deployRoleArns(this),
        scratchKeys: components.flatMap((c) => workerScratchKeys(config, c)),
      },
    });

    warnOfEarlyDeletion(this.vault, config.retention, config.storage.coldStorage);

    // Workers
    const network = new WorkerNetwork(this, 'Network', {
      network: config.network,
      created: config.createdNetwork,
      logKey: operationsKey,
      componentEndpoints: componentInterfaceEndpoints(config.sources),
    });
    const plane = workerPlane(this, {
      config,
      pgMajor,
      vpc: network.vpc,
      subnets: network.subnets,
      securityGroups: network.securityGroups,
      dataKey,
      manifestKey: this.manifestKey,
      logKey: operationsKey,
      runtimeConfigJson: workerConfigJson,
    });
    const { cluster, refs, drillRefs } = plane;
    Object.assign(this.workers, plane.workers);
    Object.assign(this.drillWorkers, plane.drillWorkers);
    const configWorker = this.workers.config;
    if (configWorker) {
      this.configEnvelopeKey!.grantSealAndOpen(configWorker.function.role!);
      this.configEnvelopeKey!.grantSealAndOpen(configWorker.taskDefinition.taskRole);
      const drillWorker = this.drillWorkers.config;
      if (drillWorker) {
        // A drill opens the export it restores; it takes no safety backup, so it never seals one.
        this.configEnvelopeKey!.grantOpen(drillWorker.function.role!);
        this.configEnvelopeKey!.grantOpen(drillWorker.taskDefinition.taskRole);
      }
    }

    // Control plane + workflows
    this.controlPlane = new ControlPlane(this, 'ControlPlane', {
      config,
      dataKey,
      manifestKey: this.manifestKey,
      logKey: operationsKey,
    });
    this.workflows = new Workflows(this, 'Workflows', {
      plan: this.controlPlane.plan,
      finalize: this.controlPlane.finalize,
      resolveRestore: this.controlPlane.resolveRestore,
      releaseLock: this.controlPlane.releaseLock,
      drillPlan: this.controlPlane.drillPlan,
      drillReport: this.controlPlane.drillReport,
      resolveSystem: this.controlPlane.resolveSystem,
      restoreAllReport: this.controlPlane.restoreAllReport,
      workers: Object.values(this.workers),
      drillWorkers: components.map((c) => this.drillWorkers[c] ?? this.workers[c]!),
      cluster,
      logKey: operationsKey,
      controlPlaneRuntimeConfig: deployedRuntimeConfig(config, { ...deployedNames, workers: refs }),
      drillRuntimeConfig: deployedRuntimeConfig(config, { ...deployedNames, workers: drillRefs }),
      workerRuntimeConfig: workerConfig,
    });

    // Schedules + alarms
    this.schedules = new BackupSchedules(this, 'Schedules', {
      schedule: config.schedule,
      timeZone: config.timeZone,
      components,
      stateMachine: this.workflows.backup,
      queueKey: operationsKey,
      drills: { schedule: config.verification.schedule, stateMachine: this.workflows.restoreTest },
    });
    if (config.sources.config) {
      this.configChanges = new ConfigChangeTrigger(this, 'ConfigChanges', {
        source: config.sources.config,
        region: primary.region,
        stateMachine: this.workflows.backup,
        deadLetterQueue: this.schedules.deadLetterQueue,
        queueKey: operationsKey,
        logKey: operationsKey,
      });
    }
    this.alarms = new BackupAlarms(this, 'Alarms', {
      notifications: config.notifications,
      topicKey: operationsKey,
      stateMachines: { Backup: this.workflows.backup, Restore: this.workflows.restore, Drill: this.workflows.restoreTest },
      replication: {
        sourceBucketName: primary.bucket,
        destinationBucketName: secondary.bucket,
        ruleId: REPLICATION_RULE_ID,
        timeControl: config.storage.replicationTimeControl,
      },
      deadLetterQueue: this.schedules.deadLetterQueue,
      janitor: this.janitor.function,
    });
    this.backupAge = new BackupAgeMonitor(this, 'BackupAge', {
      config,
      runtimeConfig: vaultRuntimeConfig(workerConfig),
      dataKey,
      logKey: operationsKey,
      manifestKey: this.manifestKey,
      topic: this.alarms.topic,
    });

    new CfnOutput(this, 'VaultBucket', { value: this.vault.bucket.bucketName, description: 'The primary vault\'s bucket name (NCA_BUCKET for a CLI run against it)' });
    new CfnOutput(this, 'RecoveryVaultBucket', { value: secondary.bucket, description: 'The recovery vault\'s bucket name (created by the recovery stack)' });
    new CfnOutput(this, 'ManifestKeyArn', { value: this.manifestKey.key.keyArn });
    new CfnOutput(this, 'BreakGlassRoleArn', { value: breakGlassArn });
    new CfnOutput(this, 'BackupStateMachineArn', { value: this.workflows.backup.stateMachineArn });
    new CfnOutput(this, 'RestoreStateMachineArn', { value: this.workflows.restore.stateMachineArn });
    new CfnOutput(this, 'RestoreAllStateMachineArn', { value: this.workflows.restoreAll!.stateMachineArn, description: 'Every component of a system recovery point (input {"systemId": "latest"})' });
    new CfnOutput(this, 'RestoreTestStateMachineArn', { value: this.workflows.restoreTest.stateMachineArn, description: 'The restore drills (nca-backup drill; backup.verification.schedule)' });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarms.topic.topicArn });

    // The integrity checks of both vaults, the dashboard, and the backup metrics it graphs.
    this.integrity = new IntegrityChecks(this, 'Integrity', {
      config,
      workers: this.workers,
      runtimeConfig: vaultRuntimeConfig(workerConfig),
      dataKey,
      replicaKey,
      manifestKey: this.manifestKey,
      logKey: operationsKey,
      deadLetterQueue: this.schedules.deadLetterQueue,
      topic: this.alarms.topic,
    });
    this.dashboard = new BackupDashboard(this, 'Dashboard', {
      config,
      stateMachines: { Backup: this.workflows.backup, Restore: this.workflows.restore, RestoreTest: this.workflows.restoreTest },
      replication: { sourceBucketName: primary.bucket, destinationBucketName: secondary.bucket, ruleId: REPLICATION_RULE_ID },
      deadLetterQueue: this.schedules.deadLetterQueue,
    });
    publishBackupMetrics(this.controlPlane.finalize);

    // Audit and access: the operator role (the one principal here that may start restores and drills), the
    // audit trail (unless backup.yaml names one) and the audit records of every backup, restore, drill,
    // prune and deletion.
    const audit = auditOf(config);
    const operated = [this.workflows.restore, this.workflows.restoreTest, ...(this.workflows.restoreAll ? [this.workflows.restoreAll] : [])];
    this.operator = new OperatorRole(this, 'Operator', {
      roleName: `${config.installation}-operator`,
      mfaMaxAge: Duration.minutes(audit.operatorMfaMaxAgeMinutes),
      stateMachines: operated,
      reports: { bucketName: primary.bucket, bucketArn: bucketArn(primary.bucket), keyPrefix: `${primary.prefix}${REPORTS_DIR}`, dataKey, region: primary.region },
    });
    if (!audit.trailArn) {
      this.trail = new AuditTrail(this, 'AuditTrail', {
        trailName: `${config.installation}-audit`,
        vaultBuckets: [this.vault.bucket, s3.Bucket.fromBucketAttributes(this, 'AuditedRecoveryVault', { bucketArn: bucketArn(secondary.bucket), bucketName: secondary.bucket, region: secondary.region })],
        accessLogs: this.vault.accessLogs,
      });
    }
    const audited: { stateMachine: sfn.IStateMachine; action: AuditAction }[] = [
      { stateMachine: this.workflows.backup, action: 'backup' },
      { stateMachine: this.workflows.restore, action: 'restore' },
      { stateMachine: this.workflows.restoreTest, action: 'drill' },
      ...(this.workflows.restoreAll ? [{ stateMachine: this.workflows.restoreAll, action: 'restore-all' as const }] : []),
    ];
    const startRole = (construct: Construct | undefined) => (construct?.node.tryFindChild('Role') as iam.IRole | undefined)?.roleArn;
    this.audit = new AuditRecorder(this, 'Audit', {
      bucketName: primary.bucket,
      bucketArn: bucketArn(primary.bucket),
      prefix: primary.prefix,
      region: primary.region,
      dataKey,
      kmsKeyId,
      stateMachines: audited,
      namedRoles: [
        { roleArn: startRole(this.schedules)!, label: 'schedule' },
        ...(this.configChanges ? [{ roleArn: startRole(this.configChanges)!, label: 'config-change' }] : []),
      ],
      janitorRoleArn: this.janitor.role.roleArn,
      logKey: operationsKey,
      deadLetterQueue: this.schedules.deadLetterQueue,
      queueKey: operationsKey,
    });
    new CfnOutput(this, 'OperatorRoleArn', { value: this.operator.role.roleArn, description: 'The role operators assume (with MFA) to start restores and drills' });
    new CfnOutput(this, 'AuditTrailArn', { value: this.trail?.trail.trailArn ?? audit.trailArn!, description: 'The CloudTrail trail with the vaults\' data events and the StartExecution calls' });
  }
}
