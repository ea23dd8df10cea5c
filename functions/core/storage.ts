/**
 * The backup vault in S3: streaming artifact writes (SHA-256 on the fly, multipart, SSE-KMS) and
 * verified streaming reads. Memory stays bounded by partSize x queueSize whatever the artifact size.
 */
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Sha256Meter, Sha256Verifier, type ExpectedDigest } from './checksums';
import { IntegrityError, type ErrorContext } from './errors';
import { classifyS3Error } from './s3-errors';
import { componentOfKey } from '../../config/vault-layout';

export interface S3ClientOptions {
  readonly region?: string;
  /** A custom endpoint (s3rver, MinIO); path-style addressing is used with it. */
  readonly endpoint?: string;
}

/**
 * A connection that never opens fails after this long (a TransientError) instead of waiting forever. No
 * idle timeout on open requests: a download paused by a slow consumer (pg_restore) is healthy.
 */
const CONNECT_TIMEOUT_MS = 10_000;

export function createS3Client(options: S3ClientOptions = {}): S3Client {
  const requestHandler = { connectionTimeout: CONNECT_TIMEOUT_MS };
  if (!options.endpoint) return new S3Client({ region: options.region, requestHandler });
  return new S3Client({
    requestHandler,
    region: options.region ?? 'us-east-1',
    endpoint: options.endpoint,
    forcePathStyle: true,
    // Local S3 stand-ins store aws-chunked framing verbatim; plain bodies keep stored bytes identical.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
}

export interface BackupVaultOptions {
  readonly bucket: string;
  /** Key prefix from storage.primary.path: "" or "backups/". */
  readonly prefix: string;
  readonly kmsKeyId: string;
  /** Multipart part size; parts in flight are bounded by queueSize. */
  readonly partSizeBytes?: number;
  readonly queueSize?: number;
  /** Keys per listing page (S3's maximum is 1000); smaller only to exercise paging. */
  readonly listPageSize?: number;
}

/** One object of a vault listing. */
export interface ListedObject {
  /** Relative to the vault prefix. */
  readonly key: string;
  readonly lastModified: Date;
  readonly bytes: number;
}

export interface StoredObject {
  readonly bytes: number;
  readonly sha256: string;
}

const DEFAULT_PART_SIZE = 16 * 1024 * 1024;
const DEFAULT_QUEUE_SIZE = 4;

export class BackupVault {
  readonly bucket: string;
  readonly prefix: string;
  /** SSE-KMS with the vault's key, sent with every write (the vault policy refuses any other encryption). */
  readonly encryption: { readonly ServerSideEncryption: 'aws:kms'; readonly SSEKMSKeyId: string; readonly BucketKeyEnabled: boolean };

  constructor(
    readonly client: S3Client,
    private readonly options: BackupVaultOptions,
  ) {
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.encryption = { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: options.kmsKeyId, BucketKeyEnabled: true };
  }

  /** Full object key for a path relative to the vault prefix. */
  key(relative: string): string {
    return `${this.prefix}${relative}`;
  }

  /** The typed error for a failed request on `relativeKey`, naming the component whose key space it is. */
  private failure(error: unknown, doing: string, relativeKey: string): Error {
    return classifyS3Error(error, `${doing} s3://${this.bucket}/${this.key(relativeKey)}`, contextOfKey(relativeKey));
  }

  /**
   * Streams `body` to `relativeKey` as a multipart upload, returning the bytes and SHA-256 actually sent.
   * Write-once: `If-None-Match: *` on the PutObject or CompleteMultipartUpload, so an object that exists is
   * never replaced; that failure rejects with `PreconditionFailedError`.
   */
  async writeStream(relativeKey: string, body: Readable, contentType = 'application/octet-stream', budget: { partSizeBytes?: number; queueSize?: number } = {}): Promise<StoredObject> {
    const meter = new Sha256Meter();
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.key(relativeKey), Body: meter, ContentType: contentType, IfNoneMatch: '*', ...this.encryption },
      partSize: budget.partSizeBytes ?? this.options.partSizeBytes ?? DEFAULT_PART_SIZE,
      queueSize: budget.queueSize ?? this.options.queueSize ?? DEFAULT_QUEUE_SIZE,
      leavePartsOnError: false,
    });
    // Either side failing must fail the write: a source error aborts the multipart upload.
    const feeding = pipeline(body, meter).catch(async (error: unknown) => {
      await upload.abort().catch(() => undefined);
      throw error;
    });
    // The source's error explains the failure better than the upload's "Upload aborted".
    // An upload failure must also stop the source, or the pipeline would wait on backpressure forever.
    const uploading = upload.done().catch((error: unknown) => {
      const failure = isPreconditionFailure(error) ? new PreconditionFailedError(this.key(relativeKey)) : this.failure(error, 'writing', relativeKey);
      meter.destroy(failure);
      throw failure;
    });
    const [fed, uploaded] = await Promise.allSettled([feeding, uploading]);
    // When the upload failed first, the source side only saw the upload's error: report it as the upload's.
    if (fed.status === 'rejected' && !(uploaded.status === 'rejected' && fed.reason === uploaded.reason)) throw fed.reason;
    if (uploaded.status === 'rejected') throw uploaded.reason;
    return { bytes: meter.bytes, sha256: meter.sha256 };
  }

  /**
   * Writes a small JSON object. `condition` makes the write conditional: `{ ifNoneMatch: '*' }` only
   * creates, `{ ifMatch: etag }` only replaces that version. A failed condition rejects with
   * `PreconditionFailedError` (a plain object check, not a classified S3 error); returns the new ETag.
   */
  async putJson(relativeKey: string, value: unknown, condition: { ifNoneMatch?: '*'; ifMatch?: string } = {}): Promise<string | undefined> {
    try {
      const response = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key(relativeKey),
          Body: JSON.stringify(value, null, 2),
          ContentType: 'application/json',
          ...this.encryption,
          ...(condition.ifNoneMatch ? { IfNoneMatch: condition.ifNoneMatch } : {}),
          ...(condition.ifMatch ? { IfMatch: condition.ifMatch } : {}),
        }),
      );
      return response.ETag;
    } catch (error) {
      // If-Match on a key deleted meanwhile answers NoSuchKey: the condition failed all the same.
      if (isPreconditionFailure(error) || (condition.ifMatch && isNoSuchKey(error))) throw new PreconditionFailedError(this.key(relativeKey));
      throw this.failure(error, 'writing', relativeKey);
    }
  }

  /** Reads a small JSON object; undefined when it does not exist. */
  async getJson<T>(relativeKey: string): Promise<T | undefined> {
    return (await this.getJsonWithEtag<T>(relativeKey))?.value;
  }

  /** A small JSON object and its ETag (for a conditional replace); undefined when it does not exist. */
  async getJsonWithEtag<T>(relativeKey: string): Promise<{ value: T; etag: string } | undefined> {
    let text: string;
    let etag: string;
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(relativeKey) }));
      text = await response.Body!.transformToString();
      etag = response.ETag ?? '';
    } catch (error) {
      if (isNoSuchKey(error)) return undefined;
      throw this.failure(error, 'reading', relativeKey);
    }
    try {
      return { value: JSON.parse(text) as T, etag };
    } catch {
      throw new IntegrityError(`s3://${this.bucket}/${this.key(relativeKey)} is not valid JSON: the stored copy is damaged.`, contextOfKey(relativeKey));
    }
  }

  /** Deletes one object, only while it still has `etag` when given; false when the condition failed. */
  async deleteObject(relativeKey: string, condition: { ifMatch?: string } = {}): Promise<boolean> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(relativeKey), ...(condition.ifMatch ? { IfMatch: condition.ifMatch } : {}) }));
      return true;
    } catch (error) {
      if (isPreconditionFailure(error)) return false;
      if (isNoSuchKey(error)) return true;
      throw this.failure(error, 'deleting', relativeKey);
    }
  }

  /** Opens an object as a stream at once; the GET starts lazily and its errors arrive on the stream. */
  openStream(relativeKey: string): Readable {
    const out = new PassThrough();
    this.client
      .send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(relativeKey) }))
      .then((response) => pipeline(response.Body as Readable, out))
      // A failure of the body mid-read (connection reset) is an S3 failure too; a consumer's own error is not ours to judge.
      .catch((error: unknown) => {
        if (out.destroyed) return;
        // An object the manifest lists but the vault lacks: the backup is damaged, not the request.
        const failure = isNoSuchKey(error)
          ? new IntegrityError(`s3://${this.bucket}/${this.key(relativeKey)} is missing: the backup is incomplete.`, {
              ...contextOfKey(relativeKey),
              hint: 'Do not restore this backup; pick an older backup id, or restore from the replica in the recovery region.',
            })
          : this.failure(error, 'reading', relativeKey);
        out.destroy(failure);
      });
    return out;
  }

  /** A stream of the object that fails at its end unless size and SHA-256 match `expected`. */
  openVerified(relativeKey: string, expected: ExpectedDigest, context: { component?: string; backupId?: string } = {}): Readable {
    const verifier = new Sha256Verifier(expected, context);
    const source = this.openStream(relativeKey);
    source.on('error', (error) => verifier.destroy(error));
    return source.pipe(verifier);
  }

  /** Every object (key relative to the vault prefix, LastModified, size) under `relativePrefix`, across all listing pages. */
  async listObjects(relativePrefix: string, pageSize = this.options.listPageSize): Promise<ListedObject[]> {
    const objects: ListedObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.send(relativePrefix, 'listing', () => this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.key(relativePrefix),
          ContinuationToken: token,
          MaxKeys: pageSize,
        }),
      ));
      for (const object of page.Contents ?? []) {
        if (object.Key && object.LastModified) objects.push({ key: object.Key.slice(this.prefix.length), lastModified: object.LastModified, bytes: object.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects;
  }

  /** Every key (relative to the vault prefix) under `relativePrefix`, across all listing pages. */
  async listKeys(relativePrefix: string): Promise<string[]> {
    return (await this.listObjects(relativePrefix)).map((object) => object.key);
  }

  async deleteKeys(relativeKeys: readonly string[]): Promise<void> {
    for (let i = 0; i < relativeKeys.length; i += 1000) {
      const batch = relativeKeys.slice(i, i + 1000);
      const result = await this.send(
        batch[0],
        'deleting',
        () => this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((k) => ({ Key: this.key(k) })), Quiet: true } })),
      );
      // DeleteObjects answers 200 and lists per-key failures: a failed key is a failed delete.
      const failed = result.Errors ?? [];
      if (failed.length > 0) {
        const first = failed[0];
        throw this.failure(
          Object.assign(new Error(`${failed.length} of ${batch.length} keys not deleted, first ${first.Key}: ${first.Message ?? ''}`), { name: first.Code ?? 'DeleteFailed' }),
          'deleting',
          batch[0],
        );
      }
    }
  }

  /** One request, its failure classified. */
  private async send<T>(relativeKey: string, doing: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw this.failure(error, doing, relativeKey);
    }
  }
}

/** A conditional write or delete found the object changed (or present, for a create). */
export class PreconditionFailedError extends Error {
  override name = 'PreconditionFailedError';
  constructor(readonly key: string) {
    super(`the condition on ${key} no longer holds: another writer changed it.`);
  }
}

function isNoSuchKey(error: unknown): boolean {
  return error instanceof NoSuchKey || (error as { name?: string })?.name === 'NoSuchKey';
}

function isPreconditionFailure(error: unknown): boolean {
  const e = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  // 409 ConditionalRequestConflict: a concurrent conditional write on the same key won the race.
  return e?.name === 'PreconditionFailed' || e?.Code === 'PreconditionFailed' || e?.$metadata?.httpStatusCode === 412 || e?.name === 'ConditionalRequestConflict' || e?.$metadata?.httpStatusCode === 409;
}

/** The component a vault key belongs to, named in its errors. */
function contextOfKey(relativeKey: string): ErrorContext {
  const component = componentOfKey(relativeKey);
  return component ? { component } : {};
}

/** Drains a stream, for reading an artifact end to end to prove its checksum. */
export async function drain(stream: Readable): Promise<void> {
  for await (const _chunk of stream) {
    // reading is the point: the verifier checks at the end
  }
}
