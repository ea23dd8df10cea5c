/**
 * What the models component's worker may do on its S3 locations, as data (config/component.ts WorkerGrant).
 * A backup copies each object server-side into the vault's blobs (CopyObject, or UploadPartCopy above 5 GB)
 * and compares the copy's checksum with the source object's; a restore copies blobs back. S3 authorises a
 * copy as a read of the source object (s3:GetObject, and s3:GetObjectVersion when the copy names the version
 * the manifest records) and a write of the destination (s3:PutObject; UploadPartCopy and
 * CompleteMultipartUpload are s3:PutObject too). The engine copies with TaggingDirective REPLACE and no tags,
 * so neither s3:GetObjectTagging on the source nor s3:PutObjectTagging on the destination is needed.
 *
 * A restore writes to the original locations or to a `target` at or below one of them: the grants cover
 * exactly the configured prefixes, and a target elsewhere is refused by IAM (the engine says so first).
 * Directory locations need no grant: the worker reads them as files.
 *
 * KMS: a source bucket may use SSE-KMS with a key of its own, unknown at synth time, so the statement names
 * the region's keys, narrowed to S3 calling on the worker's behalf (kms:ViaService) and to the configured
 * buckets and prefixes by S3's encryption context (aws:s3:arn: the object's ARN, or the bucket's with S3
 * Bucket Keys).
 */
import type { GrantScope, WorkerGrant } from '../../../config/component';
import type { ModelsLocation } from './source';

/** The parts of backup.sources.models the grants are made of. */
export interface ModelsGrantSources {
  readonly paths: readonly ModelsLocation[];
}

/** Reading a source object for a copy, its version, and its checksum (HeadObject is s3:GetObject; GetObjectAttributes its own). */
export const MODELS_READ_ACTIONS = ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectAttributes', 's3:GetObjectVersionAttributes'];
/** Writing a restored object, in one copy or in parts, and cleaning up a multipart copy that failed. */
export const MODELS_WRITE_ACTIONS = ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'];

export function modelsGrants(source: ModelsGrantSources, { partition, region, account }: GrantScope): WorkerGrant[] {
  const locations = source.paths.filter((p): p is Extract<ModelsLocation, { kind: 's3' }> => p.kind === 's3');
  if (locations.length === 0) return [];
  const bucketNames = [...new Set(locations.map((l) => l.bucket))];
  const buckets = bucketNames.map((b) => `arn:${partition}:s3:::${b}`);
  const objects = locations.map((l) => `arn:${partition}:s3:::${l.bucket}/${l.prefix}*`);
  const where = locations.map((l) => `s3://${l.bucket}/${l.prefix}`).join(', ');
  return [
    {
      sid: 'ModelsRead',
      actions: MODELS_READ_ACTIONS,
      resources: objects,
      wildcardReason: `Model files are every object under the configured locations (${where}), and nothing else.`,
    },
    {
      sid: 'ModelsRestoreWrites',
      actions: MODELS_WRITE_ACTIONS,
      resources: objects,
      wildcardReason: `A restore writes files back under the configured locations (${where}) or a target below one, and nothing else; no delete.`,
    },
    ...bucketNames.map((bucket, i): WorkerGrant => ({
      sid: `ModelsListing${i}`,
      actions: ['s3:ListBucket'],
      resources: [buckets[i]],
      conditions: { StringLike: { 's3:prefix': locations.filter((l) => l.bucket === bucket).map((l) => `${l.prefix}*`) } },
    })),
    {
      sid: 'ModelsSourceKeys',
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resources: [`arn:${partition}:kms:${region}:${account}:key/*`],
      conditions: {
        StringEquals: { 'kms:ViaService': `s3.${region}.amazonaws.com` },
        StringLike: { 'kms:EncryptionContext:aws:s3:arn': [...buckets, ...objects] },
      },
      wildcardReason:
        'The keys the model buckets are encrypted with are chosen per bucket (or are the AWS managed key), so the statement names keys of the region, narrowed by kms:ViaService to S3 and by its encryption context to the configured buckets and prefixes.',
    },
  ];
}

/** Where a drill's sandbox goes beside an S3 location (drill.ts): `nca-drill/<drill id>/` at its bucket's root. */
export const DRILL_SANDBOX_PREFIX = 'nca-drill/';

/**
 * What the models' drill worker may do, as data: a drill restores into `s3://<bucket>/nca-drill/<drill id>/`
 * beside the first configured location (drill.ts; a directory needs no grant), reads a file back and deletes
 * the sandbox: read, write (in one copy or in parts) and delete there, and nothing under the configured
 * locations (a sandbox overlapping one is refused before anything is written).
 */
export function modelsDrillGrants(source: ModelsGrantSources, { partition, region, account }: GrantScope): WorkerGrant[] {
  const [first] = source.paths;
  if (first?.kind !== 's3') return [];
  const bucket = `arn:${partition}:s3:::${first.bucket}`;
  const objects = `${bucket}/${DRILL_SANDBOX_PREFIX}*`;
  return [
    {
      sid: 'ModelsDrillSandbox',
      actions: [...MODELS_READ_ACTIONS, ...MODELS_WRITE_ACTIONS, 's3:DeleteObject'],
      resources: [objects],
      wildcardReason: `A drill's sandbox is named by its drill id under s3://${first.bucket}/${DRILL_SANDBOX_PREFIX}, which holds sandboxes only; never a configured location.`,
    },
    { sid: 'ModelsDrillListing', actions: ['s3:ListBucket'], resources: [bucket], conditions: { StringLike: { 's3:prefix': [`${DRILL_SANDBOX_PREFIX}*`] } } },
    {
      sid: 'ModelsDrillKeys',
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resources: [`arn:${partition}:kms:${region}:${account}:key/*`],
      conditions: { StringEquals: { 'kms:ViaService': `s3.${region}.amazonaws.com` }, StringLike: { 'kms:EncryptionContext:aws:s3:arn': [bucket, objects] } },
      wildcardReason: 'The model bucket\'s key is chosen with the bucket (or is the AWS managed key): keys of the region, only through S3 and only for the drill sandbox (or its bucket, with S3 Bucket Keys).',
    },
  ];
}
