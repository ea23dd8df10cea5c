/**
 * A component's content-addressed blobs in the vault (config/vault-layout.ts `blobs/<component>/`), as the
 * components see them (components/types.ts BlobStore): the vault's client, bucket and encryption, the key
 * of a blob and of a backup's scratch copies. Nothing here deletes a blob; the janitor prunes them.
 */
import type { ComponentName, GroupName } from '../../config/types';
import { blobKey, stagingKey } from '../../config/vault-layout';
import type { BlobStore } from '../components/types';
import type { BackupVault } from './storage';

export function blobStoreOf(vault: BackupVault, group: GroupName, component: ComponentName, backupId: string): BlobStore {
  return {
    client: vault.client,
    bucket: vault.bucket,
    prefix: vault.prefix,
    encryption: vault.encryption,
    key: (algorithm, digest) => vault.key(blobKey(component, algorithm, digest)),
    stagingKey: (name) => vault.key(stagingKey(group, component, backupId, name)),
  };
}
