/**
 * The recovery region (storage.secondary.region): the replica key and the vault bucket the primary vault
 * replicates into. Deployed first; the primary stack finds both by name (bucket name from backup.yaml, key
 * alias REPLICA_KEY_ALIAS), so no cross-region reference is needed.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { BackupConfig } from '../../config/types';
import { BackupVault, deployRoleArns } from '../constructs/backup-vault';
import { breakGlassRoleArn } from '../constructs/break-glass';
import { REPLICA_KEY_ALIAS, ReplicaKey } from '../constructs/keys';

export interface RecoveryStackProps extends Omit<StackProps, 'env'> {
  readonly config: BackupConfig;
}

export class RecoveryStack extends Stack {
  readonly vault: BackupVault;
  readonly replicaKey: ReplicaKey;

  constructor(scope: Construct, id: string, props: RecoveryStackProps) {
    const { config, ...stackProps } = props;
    super(scope, id, {
      description: 'nca-backup: recovery-region vault (replicas of every backup) and its KMS key',
      ...stackProps,
      env: { region: config.storage.secondary.region },
    });
    this.replicaKey = new ReplicaKey(this, 'ReplicaKey');
    this.vault = new BackupVault(this, 'Vault', {
      bucketName: config.storage.secondary.bucket,
      // Replicas keep the primary's keys, so the primary prefix is what the lifecycle rules match.
      prefix: config.storage.primary.prefix,
      retentionDays: config.retention,
      encryptionKey: this.replicaKey.key,
      coldStorage: config.storage.coldStorage,
      // A replication destination of an Object Lock source must have Object Lock enabled too.
      objectLock: config.storage.objectLock,
      // Nothing deletes here but the break-glass role (created by the primary stack; matched by ARN, so it
      // need not exist yet). Replicas are never deleted by replication: delete markers do not replicate.
      guard: { breakGlass: breakGlassRoleArn(config), deployers: deployRoleArns(this), scratchKeys: [] },
    });
    new CfnOutput(this, 'VaultBucket', { value: this.vault.bucket.bucketName });
    new CfnOutput(this, 'ReplicaKeyAlias', { value: REPLICA_KEY_ALIAS });
  }
}
