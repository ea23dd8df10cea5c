/**
 * backup.yaml as the stacks deploy it: each vault under its real bucket name (config/bucket-names.ts), the
 * account id a deploy-time token. Every construct reads the bucket from this config, so the runtime
 * configuration, grants, policies, replication, alarms and outputs all name the bucket S3 has.
 */
import { Aws } from 'aws-cdk-lib';
import { vaultBucketName } from '../config/bucket-names';
import type { BackupConfig, StorageLocation } from '../config/types';

function deployed(location: StorageLocation, installation: string): StorageLocation {
  // exactName: the name is final now; naming it again gives the same name.
  return { ...location, bucket: vaultBucketName(location, installation, Aws.ACCOUNT_ID), exactName: true };
}

export function withVaultNames(config: BackupConfig): BackupConfig {
  const { primary, secondary } = config.storage;
  return { ...config, storage: { ...config.storage, primary: deployed(primary, config.installation), secondary: deployed(secondary, config.installation) } };
}

/** A name holding the account or partition token as cdk-nag writes it in a finding id (`<AWS::AccountId>`), for acknowledgements. */
export function nagText(value: string): string {
  return value.split(Aws.ACCOUNT_ID).join('<AWS::AccountId>').split(Aws.PARTITION).join('<AWS::Partition>');
}
