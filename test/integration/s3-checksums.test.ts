/**
 * The test S3 (s3rver behind test/support/s3-proxy.ts) answers the calls the models component makes as S3
 * does: SHA-256 additional checksums on puts, multipart uploads and copies, checksum mode on reads,
 * UploadPartCopy with ranges. Every call goes through the real SDK client the code under test uses.
 */
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client as Client,
} from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { createTestBucket, testS3Client } from '../support/s3';
import { rejection } from '../support/thrown';

const MiB = 1024 * 1024;
// Large bodies are compared by digest: jest's toEqual walks a Buffer byte by byte.
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('base64');
const composite = (digests: string[]) =>
  `${createHash('sha256').update(Buffer.concat(digests.map((d) => Buffer.from(d, 'base64')))).digest('base64')}-${digests.length}`;

let client: Client;
let bucket: string;

beforeAll(async () => {
  client = testS3Client();
  bucket = await createTestBucket(client, 'checksums');
});

async function bytesOf(key: string, range?: string, into = bucket): Promise<Buffer> {
  const answer = await client.send(new GetObjectCommand({ Bucket: into, Key: key, Range: range }));
  return Buffer.from(await answer.Body!.transformToByteArray());
}

async function checksumOf(key: string, into = bucket): Promise<{ sha256?: string; type?: string }> {
  const head = await client.send(new HeadObjectCommand({ Bucket: into, Key: key, ChecksumMode: 'ENABLED' }));
  return { sha256: head.ChecksumSHA256, type: head.ChecksumType };
}

async function multipart(key: string, parts: Buffer[]): Promise<{ checksum?: string; type?: string; partDigests: string[] }> {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: 'SHA256' }));
  const done: CompletedPart[] = [];
  for (const [index, body] of parts.entries()) {
    const part = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: index + 1, Body: body, ChecksumAlgorithm: 'SHA256' }));
    done.push({ PartNumber: index + 1, ETag: part.ETag, ChecksumSHA256: part.ChecksumSHA256 });
  }
  const result = await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: done } }));
  return { checksum: result.ChecksumSHA256, type: result.ChecksumType, partDigests: done.map((p) => p.ChecksumSHA256!) };
}

describe('PutObject with a SHA-256 additional checksum', () => {
  test('a buffer body: the checksum is checked, returned, and shown by Head and Get in checksum mode only', async () => {
    const body = randomBytes(1000);
    const put = await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'put/buffer', Body: body, ChecksumAlgorithm: 'SHA256' }));
    expect([put.ChecksumSHA256, put.ChecksumType]).toEqual([sha256(body), 'FULL_OBJECT']);
    expect(await checksumOf('put/buffer')).toEqual({ sha256: sha256(body), type: 'FULL_OBJECT' });
    const get = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'put/buffer', ChecksumMode: 'ENABLED' }));
    expect(get.ChecksumSHA256).toBe(sha256(body));
    expect(Buffer.from(await get.Body!.transformToByteArray())).toEqual(body);
    const plainHead = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'put/buffer' }));
    expect(plainHead.ChecksumSHA256).toBeUndefined();
  });

  test('a stream body goes as aws-chunked with a trailing checksum: the stored bytes are the payload, not the framing', async () => {
    const body = randomBytes(3 * MiB + 5);
    const put = await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'put/stream', Body: Readable.from([body.subarray(0, MiB), body.subarray(MiB)]), ContentLength: body.length, ChecksumAlgorithm: 'SHA256' }),
    );
    expect(put.ChecksumSHA256).toBe(sha256(body));
    expect(sha256(await bytesOf('put/stream'))).toBe(sha256(body));
    expect(await checksumOf('put/stream')).toEqual({ sha256: sha256(body), type: 'FULL_OBJECT' });
  });

  test("an SDK client with default settings (a CRC32 trailer) stores its payload; the shim keeps only SHA-256, so it has none", async () => {
    const defaults = new S3Client({
      endpoint: process.env.NCA_TEST_S3_ENDPOINT,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    const body = Buffer.from('weights made by a default client');
    await defaults.send(new PutObjectCommand({ Bucket: bucket, Key: 'put/crc32', Body: Readable.from([body]), ContentLength: body.length }));
    expect(await bytesOf('put/crc32')).toEqual(body);
    expect(await checksumOf('put/crc32')).toEqual({ sha256: undefined, type: undefined });
  });

  test('a wrong checksum is refused with 400 BadDigest and the object already at the key stays as it was', async () => {
    const original = Buffer.from('checkpoint, good');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'put/guarded', Body: original, ChecksumAlgorithm: 'SHA256' }));
    const error = await rejection(
      client.send(new PutObjectCommand({ Bucket: bucket, Key: 'put/guarded', Body: Buffer.from('checkpoint, bad!'), ChecksumSHA256: sha256(Buffer.from('other bytes')) })),
    );
    expect([error.name, error.$metadata?.httpStatusCode]).toEqual(['BadDigest', 400]);
    expect(await bytesOf('put/guarded')).toEqual(original);
    expect(await checksumOf('put/guarded')).toEqual({ sha256: sha256(original), type: 'FULL_OBJECT' });
  });

  test('a checksum that is not a base64 SHA-256 is refused as InvalidRequest', async () => {
    const error = await rejection(client.send(new PutObjectCommand({ Bucket: bucket, Key: 'put/malformed', Body: Buffer.from('x'), ChecksumSHA256: 'abc' })));
    expect([error.name, error.$metadata?.httpStatusCode]).toEqual(['InvalidRequest', 400]);
  });
});

describe('multipart uploads with ChecksumAlgorithm SHA256', () => {
  test('parts get their SHA-256 and the object the COMPOSITE checksum over the part digests', async () => {
    const parts = [randomBytes(5 * MiB), randomBytes(1234)];
    const result = await multipart('mp/composite', parts);
    expect(result.partDigests).toEqual(parts.map(sha256));
    expect([result.checksum, result.type]).toEqual([composite(parts.map(sha256)), 'COMPOSITE']);
    expect(result.checksum).toMatch(/^[A-Za-z0-9+/]{43}=-2$/);
    expect(await checksumOf('mp/composite')).toEqual({ sha256: result.checksum, type: 'COMPOSITE' });
    // The SDK skips validating a composite value on GET; the bytes are still whole.
    const get = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'mp/composite', ChecksumMode: 'ENABLED' }));
    expect(sha256(Buffer.from(await get.Body!.transformToByteArray()))).toBe(sha256(Buffer.concat(parts)));
  });

  test('GetObjectAttributes gives the checksum without the part count, the parts and the size', async () => {
    const parts = [randomBytes(5 * MiB), randomBytes(10)];
    const { checksum } = await multipart('mp/attributes', parts);
    const attributes = await client.send(
      new GetObjectAttributesCommand({ Bucket: bucket, Key: 'mp/attributes', ObjectAttributes: ['Checksum', 'ObjectParts', 'ObjectSize', 'ETag'] }),
    );
    expect(attributes.Checksum).toEqual({ ChecksumSHA256: checksum!.split('-')[0], ChecksumType: 'COMPOSITE' });
    expect(attributes.ObjectSize).toBe(5 * MiB + 10);
    expect(attributes.ObjectParts?.TotalPartsCount).toBe(2);
    expect(attributes.ObjectParts?.Parts?.map((p) => [p.PartNumber, p.Size, p.ChecksumSHA256])).toEqual([
      [1, 5 * MiB, sha256(parts[0]!)],
      [2, 10, sha256(parts[1]!)],
    ]);
  });

  test('a completion without the part checksums is refused as S3 refuses it', async () => {
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp/incomplete', ChecksumAlgorithm: 'SHA256' }));
    const part = await client.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp/incomplete', UploadId, PartNumber: 1, Body: randomBytes(100), ChecksumAlgorithm: 'SHA256' }));
    const error = await rejection(
      client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'mp/incomplete', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } })),
    );
    expect([error.name, error.$metadata?.httpStatusCode]).toEqual(['InvalidRequest', 400]);
    expect(error.message).toMatch(/must include the checksum for each part. It was missing for part 1/);
  });
});

describe('CopyObject', () => {
  test('with ChecksumAlgorithm SHA256 the copy gets the SHA-256 of its bytes (FULL_OBJECT), even from a composite source', async () => {
    const parts = [randomBytes(5 * MiB), randomBytes(77)];
    await multipart('copy/source', parts);
    const other = await createTestBucket(client, 'copies');
    const copy = await client.send(new CopyObjectCommand({ Bucket: other, Key: 'copy/target', CopySource: `${bucket}/copy/source`, ChecksumAlgorithm: 'SHA256' }));
    expect([copy.CopyObjectResult?.ChecksumSHA256, copy.CopyObjectResult?.ChecksumType]).toEqual([sha256(Buffer.concat(parts)), 'FULL_OBJECT']);
    expect(await checksumOf('copy/target', other)).toEqual({ sha256: sha256(Buffer.concat(parts)), type: 'FULL_OBJECT' });
    expect(sha256(await bytesOf('copy/target', undefined, other))).toBe(sha256(Buffer.concat(parts)));
  });

  test("without an algorithm a copy keeps a full-object source checksum, and a source without one gives a copy without one", async () => {
    const body = Buffer.from('optimizer state');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'copy/full', Body: body, ChecksumAlgorithm: 'SHA256' }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'copy/bare', Body: body }));
    const kept = await client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/full-copy', CopySource: `${bucket}/copy/full` }));
    expect(kept.CopyObjectResult?.ChecksumSHA256).toBe(sha256(body));
    await client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/bare-copy', CopySource: `${bucket}/copy/bare` }));
    expect(await checksumOf('copy/bare-copy')).toEqual({ sha256: undefined, type: undefined });
  });

  test('a source key with characters URL-encoding reserves (+ # ? & = and spaces, unicode) is found, as S3 finds it', async () => {
    const key = 'copy/step 1000/ümlaut+plus%20enc#hash?q=1&x=y.bin';
    const body = randomBytes(1000);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    const encoded = encodeURIComponent(key).replace(/%2F/g, '/');
    const copy = await client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/reserved-copy', CopySource: `${bucket}/${encoded}`, ChecksumAlgorithm: 'SHA256' }));
    expect(copy.CopyObjectResult?.ChecksumSHA256).toBe(sha256(body));
    expect(sha256(await bytesOf('copy/reserved-copy'))).toBe(sha256(body));
  });

  test('CopySourceIfMatch: a stale ETag is refused with 412 and nothing is written; the current one copies', async () => {
    const put = await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'copy/conditional', Body: Buffer.from('v1') }));
    const error = await rejection(
      client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/conditional-copy', CopySource: `${bucket}/copy/conditional`, CopySourceIfMatch: '"0123456789abcdef0123456789abcdef"' })),
    );
    expect([error.name, error.$metadata?.httpStatusCode]).toEqual(['PreconditionFailed', 412]);
    expect((await rejection(bytesOf('copy/conditional-copy'))).name).toBe('NoSuchKey');
    await client.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy/conditional-copy', CopySource: `${bucket}/copy/conditional`, CopySourceIfMatch: put.ETag }));
    expect(await bytesOf('copy/conditional-copy')).toEqual(Buffer.from('v1'));
  });
});

describe('UploadPartCopy with CopySourceRange', () => {
  test('parts copied in parallel from ranges reassemble the exact bytes, each part with the SHA-256 of its range', async () => {
    const source = randomBytes(11 * MiB + 3);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'upc/source', Body: source }));
    const ranges: [number, number][] = [
      [0, 5 * MiB - 1],
      [5 * MiB, 10 * MiB - 1],
      [10 * MiB, source.length - 1],
    ];
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'upc/target', ChecksumAlgorithm: 'SHA256' }));
    const copied = await Promise.all(
      ranges.map(([start, end], index) =>
        client.send(
          new UploadPartCopyCommand({ Bucket: bucket, Key: 'upc/target', UploadId, PartNumber: index + 1, CopySource: `${bucket}/upc/source`, CopySourceRange: `bytes=${start}-${end}` }),
        ),
      ),
    );
    const digests = ranges.map(([start, end]) => sha256(source.subarray(start, end + 1)));
    expect(copied.map((c) => c.CopyPartResult?.ChecksumSHA256)).toEqual(digests);
    const done = await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'upc/target',
        UploadId,
        MultipartUpload: { Parts: copied.map((c, i) => ({ PartNumber: i + 1, ETag: c.CopyPartResult?.ETag, ChecksumSHA256: c.CopyPartResult?.ChecksumSHA256 })) },
      }),
    );
    expect(done.ChecksumSHA256).toBe(composite(digests));
    expect(sha256(await bytesOf('upc/target'))).toBe(sha256(source));
  });

  test('a range past the end of the source is refused with 400 InvalidArgument', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'upc/small', Body: Buffer.from('0123456789') }));
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'upc/bad-range' }));
    const error = await rejection(
      client.send(new UploadPartCopyCommand({ Bucket: bucket, Key: 'upc/bad-range', UploadId, PartNumber: 1, CopySource: `${bucket}/upc/small`, CopySourceRange: 'bytes=5-10' })),
    );
    expect([error.name, error.$metadata?.httpStatusCode]).toEqual(['InvalidArgument', 400]);
    expect(error.message).toBe('Range specified is not valid for source object of size: 10');
  });
});

describe('ranged reads', () => {
  test('a suffix range returns the last bytes, and a ranged read carries no full-object checksum', async () => {
    const body = Buffer.from('0123456789abcdef');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'range/object', Body: body, ChecksumAlgorithm: 'SHA256' }));
    expect((await bytesOf('range/object', 'bytes=-4')).toString()).toBe('cdef');
    expect((await bytesOf('range/object', 'bytes=2-5')).toString()).toBe('2345');
    const ranged = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'range/object', Range: 'bytes=0-3', ChecksumMode: 'ENABLED' }));
    expect(ranged.ChecksumSHA256).toBeUndefined();
    await ranged.Body!.transformToByteArray();
  });
});

describe('a checksum lives as long as the object it belongs to', () => {
  test('an overwrite without a checksum, a delete and a batch delete all forget it', async () => {
    const body = Buffer.from('weights v1');
    const put = (key: string, checksum: boolean) =>
      client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ChecksumAlgorithm: checksum ? 'SHA256' : undefined }));

    await put('life/overwritten', true);
    await put('life/overwritten', false);
    expect(await checksumOf('life/overwritten')).toEqual({ sha256: undefined, type: undefined });

    await put('life/deleted', true);
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'life/deleted' }));
    await put('life/deleted', false);
    expect(await checksumOf('life/deleted')).toEqual({ sha256: undefined, type: undefined });

    await put('life/batch', true);
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: 'life/batch' }] } }));
    await put('life/batch', false);
    expect(await checksumOf('life/batch')).toEqual({ sha256: undefined, type: undefined });
  });
});
