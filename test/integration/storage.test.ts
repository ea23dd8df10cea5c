import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { drain } from '../../functions/core/storage';
import { listBackupIds, newBackupId, resolveBackupId } from '../../functions/core/catalog';
import { BackupNotFoundError, IntegrityError, InvalidInputError } from '../../functions/core/errors';
import { TEST_KMS_KEY, testVault } from '../support/s3';

/** A stream of `total` pseudo-random bytes produced in 1 MiB chunks, never held whole. */
function generated(total: number, seed = 1): { stream: Readable; sha256: string } {
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let made = 0;
  let state = seed;
  while (made < total) {
    const size = Math.min(1 << 20, total - made);
    const chunk = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4) {
      state = (state * 1103515245 + 12345) >>> 0;
      chunk.writeUInt32LE(state, i - (i + 4 > size ? i + 4 - size : 0));
    }
    hash.update(chunk);
    chunks.push(chunk);
    made += size;
  }
  return { stream: Readable.from(chunks), sha256: hash.digest('hex') };
}

describe('BackupVault on a real S3 endpoint', () => {
  test('a multipart write streams the bytes, reports their SHA-256 and sends SSE-KMS with the key', async () => {
    const { vault, sent } = await testVault({ partSizeBytes: 5 * 1024 * 1024 });
    const { stream, sha256 } = generated(12 * 1024 * 1024 + 17);
    const stored = await vault.writeStream('database/postgres/x/a.dump', stream);
    expect(stored).toEqual({ bytes: 12 * 1024 * 1024 + 17, sha256 });
    const multipart = sent.filter((s) => s.command === 'CreateMultipartUploadCommand');
    expect(multipart).toEqual([{ command: 'CreateMultipartUploadCommand', key: 'backups/database/postgres/x/a.dump', sse: 'aws:kms', kmsKeyId: TEST_KMS_KEY }]);
    // Read back through the verifier: the same bytes, no error.
    await expect(drain(vault.openVerified('database/postgres/x/a.dump', { name: 'a.dump', ...stored }))).resolves.toBeUndefined();
  });

  test('a read whose bytes differ from the manifest fails with IntegrityError at the end', async () => {
    const { vault, client, bucket } = await testVault();
    const stored = await vault.writeStream('database/postgres/x/a.dump', Readable.from([Buffer.from('the real dump')]));
    const tampered = Buffer.from('the real dumq');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'backups/database/postgres/x/a.dump', Body: tampered }));
    const read = drain(vault.openVerified('database/postgres/x/a.dump', { name: 'a.dump', ...stored }, { component: 'postgres', backupId: 'x' }));
    await expect(read).rejects.toBeInstanceOf(IntegrityError);
    await expect(read).rejects.toThrow(/a\.dump has SHA-256 [0-9a-f]{64}, the manifest says/);
  });

  test('a truncated artifact fails on its size', async () => {
    const { vault, client, bucket } = await testVault();
    const stored = await vault.writeStream('k', Readable.from([randomBytes(4096)]));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'backups/k', Body: randomBytes(100) }));
    await expect(drain(vault.openVerified('k', { name: 'k', ...stored }))).rejects.toThrow(/has 100 bytes, the manifest says 4096/);
  });

  test('a failing source aborts the upload and rejects the write', async () => {
    const { vault } = await testVault();
    const failing = new Readable({
      read() {
        this.destroy(new Error('pg_dump exited 1'));
      },
    });
    await expect(vault.writeStream('database/postgres/y/a.dump', failing)).rejects.toThrow('pg_dump exited 1');
    expect(await vault.listKeys('database/postgres/y/')).toEqual([]);
  });

  test('a missing object reads as undefined JSON and as a stream error', async () => {
    const { vault } = await testVault();
    expect(await vault.getJson('nope.json')).toBeUndefined();
    await expect(drain(vault.openStream('nope.bin'))).rejects.toThrow(/NoSuchKey|does not exist/);
  });
});

describe('catalog', () => {
  test('newBackupId sorts by time and marks safety backups', () => {
    const a = newBackupId(new Date('2026-11-23T02:00:00.123Z'), '7F3A');
    expect(a).toBe('20261123T020000Z-7f3a');
    expect(newBackupId(new Date('2026-11-23T02:00:01Z'), 'ab12', { safety: true })).toBe('20261123T020001Z-ab12-safety');
    expect(newBackupId(new Date('2026-11-24T00:00:00Z'), '0000') > a).toBe(true);
  });

  test('only ids with a manifest exist; latest skips safety backups; listings page through', async () => {
    const { vault } = await testVault({ listPageSize: 2 });
    const ids = ['20261120T020000Z-aaaa', '20261121T020000Z-bbbb', '20261122T020000Z-cccc', '20261123T020000Z-dddd-safety'];
    for (const id of ids) {
      await vault.putJson(`database/postgres/${id}/neuroca_db.dump`, {});
      await vault.putJson(`database/postgres/${id}/manifest.json`, { backupId: id });
    }
    // An attempt without a manifest: artifacts only.
    await vault.putJson('database/postgres/20261124T020000Z-eeee/neuroca_db.dump', {});
    expect(await listBackupIds(vault, 'database', 'postgres')).toEqual([...ids].reverse());
    expect(await resolveBackupId(vault, 'database', 'postgres', 'latest')).toBe('20261122T020000Z-cccc');
    expect(await resolveBackupId(vault, 'database', 'postgres', '20261123T020000Z-dddd-safety')).toBe('20261123T020000Z-dddd-safety');
    await expect(resolveBackupId(vault, 'database', 'postgres', '20261124T020000Z-eeee')).rejects.toBeInstanceOf(BackupNotFoundError);
    await expect(resolveBackupId(vault, 'database', 'postgres', '20261124T020000Z-eeee')).rejects.toThrow(
      /never completed.*Most recent backups: 20261123T020000Z-dddd-safety, 20261122T020000Z-cccc/,
    );
    await expect(resolveBackupId(vault, 'database', 'postgres', '../etc')).rejects.toBeInstanceOf(InvalidInputError);
  });

  test('latest with no backups says to run one', async () => {
    const { vault } = await testVault();
    await expect(resolveBackupId(vault, 'database', 'postgres', 'latest')).rejects.toThrow(/no completed backup yet under backups\/database\/postgres\/.*Run a backup first/);
  });
});
