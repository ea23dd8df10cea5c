/**
 * The names S3 knows the two vaults by. Bucket names are global across every AWS account, so the name
 * backup.yaml gives (`neuroca-backups`) is a stem: the stacks create `<bucket>-<account>-<region>`, with the
 * installation inserted (`<bucket>-<installation>-<account>-<region>`) when it is not the default, unless the
 * location says `exact_name: true`. The loader checks the longest result fits S3's limit; the stacks pass the
 * account as a deploy-time token. Local CLI runs use `bucket` as written (NCA_BUCKET names a deployed vault).
 */
import { DEFAULT_INSTALLATION, type StorageLocation } from './types';

/** S3's limit on a bucket name. */
export const MAX_BUCKET_NAME_LENGTH = 63;
/** An AWS account id is always 12 digits. */
export const ACCOUNT_ID_LENGTH = 12;

/** The vault's bucket name in `account` (a 12-digit id, or a token that becomes one at deploy time). */
export function vaultBucketName(location: Pick<StorageLocation, 'bucket' | 'region' | 'exactName'>, installation: string, account: string): string {
  if (location.exactName) return location.bucket;
  const parts = [location.bucket, ...(installation === DEFAULT_INSTALLATION ? [] : [installation]), account, location.region];
  return parts.join('-');
}
