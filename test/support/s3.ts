/** A fresh bucket on the run's s3rver for each test file, a record of the SSE headers sent, and plain reads of what is stored. */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { BackupVault, createS3Client, type BackupVaultOptions } from '../../functions/core/storage';
import { TEST_KMS_KEY } from './runtime-config';

export { TEST_KMS_KEY };

export function testS3Client(): S3Client {
  const endpoint = process.env.NCA_TEST_S3_ENDPOINT;
  if (!endpoint) throw new Error('NCA_TEST_S3_ENDPOINT is not set: run the tests through jest (global setup starts s3rver)');
  return createS3Client({ endpoint });
}

export async function createTestBucket(client: S3Client, label = 'vault'): Promise<string> {
  const bucket = `nca-${label}-${randomBytes(4).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

export interface SentPut {
  readonly command: string;
  readonly key?: string;
  readonly sse?: string;
  readonly kmsKeyId?: string;
}

/** s3rver ignores SSE-KMS, so tests assert what the client sends. */
export function recordWrites(client: S3Client): SentPut[] {
  const sent: SentPut[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Key?: string; ServerSideEncryption?: string; SSEKMSKeyId?: string };
      if (['PutObjectCommand', 'CreateMultipartUploadCommand'].includes(String(context.commandName))) {
        sent.push({ command: String(context.commandName), key: input.Key, sse: input.ServerSideEncryption, kmsKeyId: input.SSEKMSKeyId });
      }
      return next(args);
    },
    { step: 'initialize', name: 'recordWrites' },
  );
  return sent;
}

/** The vault of an existing test bucket as the code under test opens it: under "backups/", with the test KMS key. */
export function vaultOf(bucket: string, options: Partial<BackupVaultOptions> = {}): BackupVault {
  return new BackupVault(testS3Client(), { bucket, prefix: 'backups/', kmsKeyId: TEST_KMS_KEY, ...options });
}

export async function testVault(options: Partial<BackupVaultOptions> = {}): Promise<{ vault: BackupVault; client: S3Client; bucket: string; sent: SentPut[] }> {
  const client = testS3Client();
  const bucket = await createTestBucket(client);
  const sent = recordWrites(client);
  const vault = new BackupVault(client, { bucket, prefix: 'backups/', kmsKeyId: TEST_KMS_KEY, ...options });
  return { vault, client, bucket, sent };
}

/** An object's bytes, read with the SDK (a test's independent look at what was stored). */
export async function readObject(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  return Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
}

/** Every key under `prefix`, all pages. */
export async function listKeys(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    out.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}
