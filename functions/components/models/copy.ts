/**
 * Server-side copies between S3 locations (a source bucket and the vault, the vault and a restore target):
 * the bytes never pass through the worker. Every copy asks S3 for a SHA-256 additional checksum of what it
 * wrote; the caller compares it with the one it expects. Up to `copyLimitBytes` (S3's 5 GiB for CopyObject)
 * one CopyObject, whose checksum covers the whole object (`sha256`); above, a multipart upload of
 * UploadPartCopy parts of `partBytes`, whose checksum is S3's composite (`sha256-composite-<part bytes>`:
 * the same bytes copied with the same part size give the same composite, so a restore can check it too).
 * `ifMatch` pins the source to the ETag the caller listed: a file replaced meanwhile fails the copy.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { forEachLimit } from '../../core/parallel';
import type { Checksum } from './index-file';

export const COPY_OBJECT_LIMIT_BYTES = 5 * 1024 ** 3;
export const COPY_PART_BYTES = 512 * 1024 ** 2;
/** UploadPartCopy requests in flight per multipart copy. */
const PART_COPIES = 4;

export interface CopyLimits {
  /** Largest object copied with one CopyObject. @default COPY_OBJECT_LIMIT_BYTES */
  readonly copyLimitBytes: number;
  /** Part size of a multipart copy. @default COPY_PART_BYTES */
  readonly partBytes: number;
}

export interface ObjectRef {
  readonly bucket: string;
  readonly key: string;
  readonly versionId?: string;
}

/** The checksum algorithm a copy of `size` bytes produces under `limits`. */
export function copyAlgorithm(size: number, limits: CopyLimits): string {
  return size <= limits.copyLimitBytes ? 'sha256' : `sha256-composite-${limits.partBytes}`;
}

/** The limits under which a copy reproduces `checksum`'s algorithm (a restore copies as the backup did). */
export function limitsOf(checksum: Checksum, defaults: CopyLimits): CopyLimits {
  const composite = /^sha256-composite-(\d+)$/.exec(checksum.algorithm);
  return composite ? { copyLimitBytes: 0, partBytes: Number(composite[1]) } : { copyLimitBytes: Number.MAX_SAFE_INTEGER, partBytes: defaults.partBytes };
}

/** S3's base64 checksum (`<base64>` or `<base64>-<parts>`) as this component writes it: hex, parts kept. */
export function hexChecksum(s3Checksum: string): string {
  const [b64, parts] = s3Checksum.split('-');
  const hex = Buffer.from(b64, 'base64').toString('hex');
  return parts ? `${hex}-${parts}` : hex;
}

function copySource(from: ObjectRef): string {
  const key = encodeURIComponent(from.key).replace(/%2F/g, '/');
  return `${from.bucket}/${key}${from.versionId ? `?versionId=${encodeURIComponent(from.versionId)}` : ''}`;
}

export interface CopyRequest {
  readonly from: ObjectRef;
  readonly to: { readonly bucket: string; readonly key: string };
  readonly size: number;
  readonly ifMatch?: string;
  /** Headers of the write (the vault's SSE-KMS); a restore target's own default encryption otherwise. */
  readonly writeParams?: Record<string, unknown>;
}

/** Copies `from` to `to` server-side and returns the checksum S3 computed over what it wrote. */
export async function serverSideCopy(s3: S3Client, request: CopyRequest, limits: CopyLimits): Promise<Checksum> {
  const { from, to, size, ifMatch, writeParams = {} } = request;
  const algorithm = copyAlgorithm(size, limits);
  if (algorithm === 'sha256') {
    const copied = await s3.send(
      new CopyObjectCommand({
        Bucket: to.bucket,
        Key: to.key,
        CopySource: copySource(from),
        ...(ifMatch ? { CopySourceIfMatch: ifMatch } : {}),
        ChecksumAlgorithm: 'SHA256',
        MetadataDirective: 'COPY',
        // Tags are not copied (COPY would need s3:GetObjectTagging on the source and s3:PutObjectTagging here).
        TaggingDirective: 'REPLACE',
        ...writeParams,
      }),
    );
    const checksum = copied.CopyObjectResult?.ChecksumSHA256;
    if (!checksum) throw new Error(`S3 returned no SHA-256 checksum for the copy to s3://${to.bucket}/${to.key}`);
    return { algorithm, digest: hexChecksum(checksum) };
  }
  const started = await s3.send(new CreateMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, ChecksumAlgorithm: 'SHA256', ...writeParams }));
  const uploadId = started.UploadId!;
  try {
    const count = Math.ceil(size / limits.partBytes);
    const parts: { PartNumber: number; ETag: string; ChecksumSHA256: string }[] = new Array(count);
    await forEachLimit(
      Array.from({ length: count }, (_, i) => i),
      PART_COPIES,
      async (i) => {
        const first = i * limits.partBytes;
        const last = Math.min(size, first + limits.partBytes) - 1;
        const part = await s3.send(
          new UploadPartCopyCommand({
            Bucket: to.bucket,
            Key: to.key,
            UploadId: uploadId,
            PartNumber: i + 1,
            CopySource: copySource(from),
            CopySourceRange: `bytes=${first}-${last}`,
            ...(ifMatch ? { CopySourceIfMatch: ifMatch } : {}),
          }),
        );
        const checksum = part.CopyPartResult?.ChecksumSHA256;
        if (!part.CopyPartResult?.ETag || !checksum) throw new Error(`S3 returned no ETag or checksum for part ${i + 1} of the copy to s3://${to.bucket}/${to.key}`);
        parts[i] = { PartNumber: i + 1, ETag: part.CopyPartResult.ETag, ChecksumSHA256: checksum };
      },
    );
    const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    if (!done.ChecksumSHA256) throw new Error(`S3 returned no composite checksum for the copy to s3://${to.bucket}/${to.key}`);
    return { algorithm, digest: hexChecksum(done.ChecksumSHA256) };
  } catch (error) {
    await s3.send(new AbortMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, UploadId: uploadId })).catch(() => undefined);
    throw error;
  }
}
