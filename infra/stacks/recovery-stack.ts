/**
 * The recovery region (storage.secondary.region): the replica key and the vault bucket the primary vault
 * replicates into, and, with backup.recovery in backup.yaml, the restore plane that restores from that vault
 * when the primary region is gone. Deployed first; the primary stack finds the vault and the key by name (the
 * vault's bucket name, see infra/vault-names.ts, and the installation's key aliases), so no cross-region
 * reference is needed, in either direction: nothing here names a resource of the primary region.
 *
 * The restore plane: a network and cluster of its own, a worker per component of backup.recovery.sources
 * (connecting to the targets named there), the control-plane functions of the restore and drill workflows, and
 * the restore and restore-test state machines from the same ASL files as the primary's. Everything reads the
 * recovery vault (config/recovery.ts restorePlaneConfig) and decrypts with the replica key; manifests verify
 * with the manifest key's replica (a multi-Region key the primary stack replicates here under the same alias).
 * No backup machine: the recovery vault receives replicas only. A restore over an existing target takes its
 * safety backup into the recovery vault (the workers may write their component's key space there, encrypted
 * with the replica key); `skipSafetyBackup: true` skips it, as in the primary.
 */
import { Annotations, CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { BackupConfig } from '../../config/types';
import { restorePlaneConfig } from '../../config/recovery';
import { auditOf } from '../../config/audit';
import { REPORTS_DIR } from '../../config/vault-layout';
import { OperatorRole } from '../constructs/operator-role';
import { bucketArn } from '../constructs/replication';
import { BackupVault, deployRoleArns } from '../constructs/backup-vault';
import { breakGlassRoleArn } from '../constructs/break-glass';
import { RestoreControlPlane } from '../constructs/control-plane';
import { KmsKeyRef, ManifestKeyReplicaRef, OperationsKey, ReplicaKey, keyAliases } from '../constructs/keys';
import { WorkerNetwork, componentInterfaceEndpoints } from '../constructs/network';
import { type ComponentWorker, workerPlane, workerScratchKeys } from '../constructs/workers';
import { RestoreWorkflows } from '../constructs/workflows';
import { configuredComponents, recoveryRuntimeConfig } from '../runtime-config';
import { withVaultNames } from '../vault-names';
import type { ComponentName } from '../../config/types';

export interface RecoveryStackProps extends Omit<StackProps, 'env'> {
  readonly config: BackupConfig;
  /**
   * PG_MAJOR build argument of the recovery workers' image.
   * @default - the Dockerfile's (17)
   */
  readonly pgMajor?: string;
}

export class RecoveryStack extends Stack {
  readonly vault: BackupVault;
  readonly replicaKey: ReplicaKey;
  /** The restore plane; only with backup.recovery. */
  readonly restorePlane?: RecoveryRestorePlane;
  /** The MFA-only role that may start the restore plane's state machines; only with backup.recovery. */
  readonly operator?: OperatorRole;

  constructor(scope: Construct, id: string, props: RecoveryStackProps) {
    const { config: written, pgMajor, ...stackProps } = props;
    const config = withVaultNames(written);
    super(scope, id, {
      description: config.recovery
        ? 'nca-backup: recovery-region vault (replicas of every backup), its KMS key, and the restore plane that restores from it'
        : 'nca-backup: recovery-region vault (replicas of every backup) and its KMS key',
      ...stackProps,
      env: { region: config.storage.secondary.region },
    });
    const aliases = keyAliases(config.installation);
    this.replicaKey = new ReplicaKey(this, 'ReplicaKey', { alias: aliases.replica });
    const plane = restorePlaneConfig(config);
    const components = plane ? configuredComponents(plane) : [];
    this.vault = new BackupVault(this, 'Vault', {
      bucketName: config.storage.secondary.bucket,
      // Replicas keep the primary's keys, so the primary prefix is what the lifecycle rules match.
      prefix: config.storage.primary.prefix,
      retentionDays: config.retention,
      encryptionKey: this.replicaKey.key,
      coldStorage: config.storage.coldStorage,
      // Object Lock is enabled on both vaults (a replication destination of a lock-enabled source must be too);
      // this is the default retention replicas get unless they carry the source's own.
      objectLock: config.storage.objectLock,
      // The replicated audit records expire as the primary's do.
      auditRetentionDays: auditOf(config).recordRetentionDays,
      // Nothing deletes here but the break-glass role (created by the primary stack; matched by ARN, so it
      // need not exist yet), and the recovery workers their operation locks and step results. Replicas are
      // never deleted by replication: delete markers do not replicate.
      guard: {
        breakGlass: breakGlassRoleArn(config),
        deployers: deployRoleArns(this),
        scratchKeys: plane ? components.flatMap((c) => workerScratchKeys(plane, c)) : [],
      },
    });
    new CfnOutput(this, 'VaultBucket', { value: this.vault.bucket.bucketName, description: 'The recovery vault\'s bucket name (NCA_BUCKET for a CLI run against it)' });
    new CfnOutput(this, 'ReplicaKeyAlias', { value: aliases.replica });
    if (!plane) return;

    this.restorePlane = new RecoveryRestorePlane(this, config, plane, { replicaKey: KmsKeyRef.fromKey(this.replicaKey.key), manifestAlias: aliases.manifest, pgMajor });
    const skipped = configuredComponents(config).filter((c) => !components.includes(c));
    if (skipped.length > 0) {
      Annotations.of(this).addInfo(
        `${skipped.join(', ')}: not restorable from the recovery region (no backup.recovery.sources entry); their replicas stay in the recovery vault.`,
      );
    }
    // Its own MFA-only operator role: the recovery path must not need the primary stack, which created the other.
    const workflows = this.restorePlane.workflows;
    this.operator = new OperatorRole(this, 'Operator', {
      roleName: `${config.installation}-recovery-operator`,
      mfaMaxAge: Duration.minutes(auditOf(config).operatorMfaMaxAgeMinutes),
      stateMachines: [workflows.restore, workflows.restoreTest, ...(workflows.restoreAll ? [workflows.restoreAll] : [])],
      reports: {
        bucketName: config.storage.secondary.bucket,
        bucketArn: bucketArn(config.storage.secondary.bucket),
        keyPrefix: `${config.storage.primary.prefix}${REPORTS_DIR}`,
        dataKey: KmsKeyRef.fromKey(this.replicaKey.key),
        region: config.storage.secondary.region,
      },
    });
    new CfnOutput(this, 'RecoveryOperatorRoleArn', { value: this.operator.role.roleArn, description: 'The role operators assume (with MFA) to start restores and drills in the recovery region' });
    new CfnOutput(this, 'RecoveryRestoreStateMachineArn', {
      value: this.restorePlane.workflows.restore.stateMachineArn,
      description: 'Restores from the recovery vault into the targets of backup.recovery (the DR runbook in README.md)',
    });
    new CfnOutput(this, 'RecoveryRestoreAllStateMachineArn', {
      value: this.restorePlane.workflows.restoreAll!.stateMachineArn,
      description: 'Restores a system recovery point (backup-all) from the recovery vault, component by component (the DR runbook in README.md)',
    });
    new CfnOutput(this, 'RecoveryRestoreTestStateMachineArn', {
      value: this.restorePlane.workflows.restoreTest.stateMachineArn,
      description: 'Restore drills from the recovery vault (nca-backup drill against this stack)',
    });
  }
}

interface RestorePlaneKeys {
  /** The recovery vault's key. */
  readonly replicaKey: KmsKeyRef;
  /** The manifest key's alias; its replica in this region carries it. */
  readonly manifestAlias: string;
  readonly pgMajor?: string;
}

/** The recovery stack's restore plane, its ids directly under the stack (as the primary stack's). */
class RecoveryRestorePlane {
  readonly workers: Partial<Record<ComponentName, ComponentWorker>>;
  readonly controlPlane: RestoreControlPlane;
  readonly workflows: RestoreWorkflows;

  /** `written`: backup.yaml (vault names resolved); `config`: its restore plane's view (restorePlaneConfig). */
  constructor(stack: Stack, written: BackupConfig, config: BackupConfig, keys: RestorePlaneKeys) {
    const region = config.storage.primary.region;
    const operationsKey = new OperationsKey(stack, 'OperationsKey').key;
    const manifestKey = new ManifestKeyReplicaRef(keys.manifestAlias, region);
    const names = { kmsKeyId: keys.replicaKey.arnForS3, manifestKeyId: manifestKey.aliasArn };
    const workerConfig = recoveryRuntimeConfig(written, names);
    const network = new WorkerNetwork(stack, 'Network', {
      network: config.network,
      created: config.createdNetwork,
      logKey: operationsKey,
      componentEndpoints: componentInterfaceEndpoints(config.sources),
    });
    const plane = workerPlane(stack, {
      config,
      pgMajor: keys.pgMajor,
      vpc: network.vpc,
      subnets: network.subnets,
      securityGroups: network.securityGroups,
      dataKey: keys.replicaKey,
      manifestKey,
      logKey: operationsKey,
      runtimeConfigJson: stack.toJsonString(workerConfig),
    });
    this.workers = plane.workers;
    const components = configuredComponents(config);
    this.controlPlane = new RestoreControlPlane(stack, 'ControlPlane', { config, dataKey: keys.replicaKey, manifestKey, logKey: operationsKey });
    this.workflows = new RestoreWorkflows(stack, 'Workflows', {
      resolveRestore: this.controlPlane.resolveRestore,
      releaseLock: this.controlPlane.releaseLock,
      drillPlan: this.controlPlane.drillPlan,
      drillReport: this.controlPlane.drillReport,
      resolveSystem: this.controlPlane.resolveSystem,
      restoreAllReport: this.controlPlane.restoreAllReport,
      workers: Object.values(plane.workers),
      drillWorkers: components.map((c) => plane.drillWorkers[c] ?? plane.workers[c]!),
      cluster: plane.cluster,
      logKey: operationsKey,
      controlPlaneRuntimeConfig: recoveryRuntimeConfig(written, { ...names, workers: plane.refs }),
      drillRuntimeConfig: recoveryRuntimeConfig(written, { ...names, workers: plane.drillRefs }),
      workerRuntimeConfig: workerConfig,
    });
  }
}
