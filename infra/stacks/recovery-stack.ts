/**
 * The recovery region (storage.secondary.region): the replica key and the vault bucket the primary vault
 * replicates into. Deployed first; the primary stack finds both by name (the vault's bucket name, see
 * infra/vault-names.ts, and the installation's replica key alias), so no cross-region reference is needed.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { BackupConfig } from '../../config/types';
import { BackupVault, deployRoleArns } from '../constructs/backup-vault';
import { breakGlassRoleArn } from '../constructs/break-glass';
import { ReplicaKey, keyAliases } from '../constructs/keys';
import { withVaultNames } from '../vault-names';

export interface RecoveryStackProps extends Omit<StackProps, 'env'> {
  readonly config: BackupConfig;
}

export class RecoveryStack extends Stack {
  readonly vault: BackupVault;
  readonly replicaKey: ReplicaKey;

  constructor(scope: Construct, id: string, props: RecoveryStackProps) {
    const { config: written, ...stackProps } = props;
    const config = withVaultNames(written);
    super(scope, id, {
      description: 'nca-backup: recovery-region vault (replicas of every backup) and its KMS key',
      ...stackProps,
      env: { region: config.storage.secondary.region },
    });
    const replicaAlias = keyAliases(config.installation).replica;
    this.replicaKey = new ReplicaKey(this, 'ReplicaKey', { alias: replicaAlias });
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
      // Nothing deletes here but the break-glass role (created by the primary stack; matched by ARN, so it
      // need not exist yet). Replicas are never deleted by replication: delete markers do not replicate.
      guard: { breakGlass: breakGlassRoleArn(config), deployers: deployRoleArns(this), scratchKeys: [] },
    });
    new CfnOutput(this, 'VaultBucket', { value: this.vault.bucket.bucketName, description: 'The recovery vault\'s bucket name (NCA_BUCKET for a CLI run against it)' });
    new CfnOutput(this, 'ReplicaKeyAlias', { value: replicaAlias });
  }
}
