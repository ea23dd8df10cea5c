import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { drain } from '../../functions/core/storage';
import { newBackupId } from '../../functions/core/backup-id';
import { listBackupIds, resolveBackup } from '../../functions/core/catalog';
import { plantManifest, sampleManifest, testAuthenticator } from '../support/manifests';
import { BackupNotFoundError, IntegrityError, InvalidInputError } from '../../functions/core/errors';
import { TEST_KMS_KEY, testVault } from '../support/s3';
import { BackupVault, createS3Client, PreconditionFailedError } from '../../functions/core/storage';
import { AccessDeniedError, OperationInProgressError, StorageError, TransientError } from '../../functions/core/errors';
import { acquireLock, lockKey, releaseLock, withOperationLock, type LockRecord } from '../../functions/core/operation-lock';
import { freePort } from '../../scripts/local-servers';
import { startS3Proxy } from '../support/s3-proxy';
import { silentLogger } from '../../functions/core/logger';

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

  test('a missing object reads as undefined JSON and as an IntegrityError naming its key, not a raw NoSuchKey', async () => {
    const { vault, bucket } = await testVault();
    expect(await vault.getJson('nope.json')).toBeUndefined();
    const failure = drain(vault.openStream('database/postgres/20261123T020000Z-aaaa/nope.bin'));
    await expect(failure).rejects.toBeInstanceOf(IntegrityError);
    await expect(failure).rejects.toThrow(`s3://${bucket}/backups/database/postgres/20261123T020000Z-aaaa/nope.bin is missing`);
  });

  test('objects are written once: an existing key is never replaced, by a stream or a JSON write', async () => {
    const { vault } = await testVault();
    await vault.writeStream('database/postgres/x/a.dump', Readable.from([Buffer.from('first')]));
    await expect(vault.writeStream('database/postgres/x/a.dump', Readable.from([Buffer.from('second')]))).rejects.toBeInstanceOf(PreconditionFailedError);
    await vault.putJson('database/postgres/x/manifest.json', { first: true }, { ifNoneMatch: '*' });
    await expect(vault.putJson('database/postgres/x/manifest.json', { first: false }, { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError);
    const stored = await new Promise<string>((resolve, reject) => {
      let text = '';
      vault.openStream('database/postgres/x/a.dump').on('data', (c: Buffer) => (text += c)).on('end', () => resolve(text)).on('error', reject);
    });
    expect(stored).toBe('first');
    expect(await vault.getJson('database/postgres/x/manifest.json')).toEqual({ first: true });
  });

  test('a multipart artifact (over the 16 MiB part size) is written once too: its completion is refused over an existing key', async () => {
    const { vault } = await testVault();
    const big = (fill: number) => Readable.from([Buffer.alloc(20 * 1024 * 1024, fill)]);
    const first = await vault.writeStream('database/postgres/y/big.dump', big(1));
    await expect(vault.writeStream('database/postgres/y/big.dump', big(2))).rejects.toBeInstanceOf(PreconditionFailedError);
    const digest = createHash('sha256');
    await new Promise<void>((resolve, reject) => vault.openStream('database/postgres/y/big.dump').on('data', (c: Buffer) => digest.update(c)).on('end', resolve).on('error', reject));
    expect(digest.digest('hex')).toBe(first.sha256);
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
      await plantManifest(vault, sampleManifest('database', 'postgres', id), { authenticator: testAuthenticator() });
    }
    // An attempt without a manifest: artifacts only. The operation lock and step results sit beside the backups.
    await vault.putJson('database/postgres/20261124T020000Z-eeee/neuroca_db.dump', {});
    await acquireLock(vault, { group: 'database', component: 'postgres', owner: 'exec-1', operation: 'restore' });
    await vault.putJson('database/postgres/_steps/exec-1-restore.json', { outcome: 'succeeded', result: {} });
    expect(await listBackupIds(vault, 'database', 'postgres')).toEqual([...ids].reverse());
    const resolveBackupId = async (vault: BackupVault, group: 'database', component: 'postgres', requested: string) =>
      (await resolveBackup(vault, testAuthenticator(), group, component, requested)).backupId;
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
    await expect(resolveBackup(vault, testAuthenticator(), 'database', 'postgres', 'latest')).rejects.toThrow(/no completed backup yet under backups\/database\/postgres\/.*Run a backup first/);
  });
});

describe('S3 failures are classified once, for every vault operation, and name the component', () => {
  /** A vault whose requests go through a proxy that answers the next requests with an S3 error. */
  async function faultyVault(status: number, code: string) {
    const { bucket } = await testVault();
    const proxy = await startS3Proxy(process.env.NCA_TEST_S3_ENDPOINT!);
    const vault = new BackupVault(createS3Client({ endpoint: proxy.endpoint }), { bucket, prefix: 'backups/', kmsKeyId: TEST_KMS_KEY });
    proxy.failNext(1000, status, code);
    return { vault, proxy };
  }

  const operations = (vault: BackupVault) => ({
    writeStream: () => vault.writeStream('database/postgres/x/a.dump', Readable.from([Buffer.from('bytes')])),
    putJson: () => vault.putJson('database/postgres/x/manifest.json', {}),
    getJson: () => vault.getJson('database/postgres/x/manifest.json'),
    openStream: () => drain(vault.openStream('database/postgres/x/a.dump')),
    list: () => vault.listKeys('database/postgres/'),
    delete: () => vault.deleteKeys(['database/postgres/x/a.dump']),
  });

  test.each([
    [503, 'SlowDown', TransientError],
    [500, 'InternalError', TransientError],
    [403, 'AccessDenied', AccessDeniedError],
    [400, 'InvalidRequest', StorageError],
  ])('HTTP %i %s', async (status, code, type) => {
    const { vault, proxy } = await faultyVault(status, code);
    try {
      for (const [name, run] of Object.entries(operations(vault))) {
        const error = await run().then(() => undefined, (e: unknown) => e as Error & { component?: string });
        expect({ name, type: error?.name, component: error?.component }).toEqual({ name, type: type.name, component: 'postgres' });
        expect(error!.message).toContain(code);
      }
    } finally {
      await proxy.stop();
    }
  });

  test('connection refused is a TransientError for every operation', async () => {
    const port = await freePort();
    const vault = new BackupVault(createS3Client({ endpoint: `http://127.0.0.1:${port}` }), { bucket: 'nowhere', prefix: 'backups/', kmsKeyId: TEST_KMS_KEY });
    for (const [name, run] of Object.entries(operations(vault))) {
      const error = await run().then(() => undefined, (e: unknown) => e as Error & { component?: string });
      expect({ name, type: error?.name, component: error?.component, message: error?.message }).toEqual({ name, type: 'TransientError', component: 'postgres', message: expect.stringContaining('ECONNREFUSED') });
    }
  });

  test('a source failure keeps its own error; the upload is aborted', async () => {
    const { vault } = await testVault();
    const failing = new Readable({
      read() {
        this.destroy(Object.assign(new Error('pg_dump: connection lost'), { name: 'ToolError' }));
      },
    });
    await expect(vault.writeStream('database/postgres/z/a.dump', failing)).rejects.toMatchObject({ name: 'ToolError' });
  });
});

describe('operation lock', () => {
  const request = (owner: string, operation = 'restore') => ({ group: 'database' as const, component: 'postgres' as const, owner, operation });

  test('the first operation takes it; a second fails at once naming the first; the owner renews and releases it', async () => {
    const { vault, sent } = await testVault();
    const first = await acquireLock(vault, request('restore-exec-1'));
    expect(first.key).toBe('database/postgres/_lock.json');
    expect(sent.filter((s) => s.key === 'backups/database/postgres/_lock.json')[0]).toMatchObject({ sse: 'aws:kms', kmsKeyId: TEST_KMS_KEY });
    const second = await acquireLock(vault, request('backup-20261123T020000Z-7f3a', 'backup')).catch((e: unknown) => e as Error);
    expect(second).toBeInstanceOf(OperationInProgressError);
    expect((second as Error).message).toMatch(new RegExp(`^postgres: another operation holds this component's lock: restore restore-exec-1 \\(since ${first.record.startedAt}, expires`));
    const renewed = await acquireLock(vault, request('restore-exec-1'));
    expect(renewed.record.startedAt).toBe(first.record.startedAt);
    expect(await releaseLock(vault, 'database', 'postgres', 'someone-else')).toMatchObject({ released: false, reason: expect.stringContaining('restore-exec-1') });
    expect(await releaseLock(vault, 'database', 'postgres', 'restore-exec-1')).toEqual({ released: true });
    expect(await vault.getJson(lockKey('database', 'postgres'))).toBeUndefined();
    expect(await releaseLock(vault, 'database', 'postgres', 'restore-exec-1')).toEqual({ released: false, reason: 'no lock was held' });
  });

  test('an expired lock is taken over; a live one of another component does not matter', async () => {
    const { vault } = await testVault();
    const past = () => new Date(Date.now() - 2 * 60 * 60 * 1000);
    await acquireLock(vault, { ...request('dead-exec'), now: past });
    await acquireLock(vault, { group: 'database', component: 'redis', owner: 'redis-exec', operation: 'backup' });
    const taken = await acquireLock(vault, request('new-exec'));
    expect(taken.record.owner).toBe('new-exec');
    expect((await vault.getJson<LockRecord>(lockKey('database', 'postgres')))!.owner).toBe('new-exec');
  });

  test('of many operations starting at once, exactly one gets the lock', async () => {
    const { vault } = await testVault();
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => acquireLock(vault, request(`exec-${i}`))));
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(OperationInProgressError);
    // The same race for an expired lock: one takeover wins.
    await vault.putJson(lockKey('database', 'postgres'), { component: 'postgres', owner: 'dead', operation: 'backup', startedAt: '2020-01-01T00:00:00Z', renewedAt: '2020-01-01T00:00:00Z', expiresAt: '2020-01-01T00:30:00Z' });
    const takeovers = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => acquireLock(vault, request(`next-${i}`))));
    expect(takeovers.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  test('withOperationLock releases on success and on failure', async () => {
    const { vault } = await testVault();
    await withOperationLock(vault, { ...request('cli-1'), log: silentLogger }, async () => {
      await expect(acquireLock(vault, request('cli-2'))).rejects.toBeInstanceOf(OperationInProgressError);
    });
    expect(await vault.getJson(lockKey('database', 'postgres'))).toBeUndefined();
    await expect(withOperationLock(vault, { ...request('cli-3'), log: silentLogger }, async () => Promise.reject(new TransientError('boom')))).rejects.toThrow('boom');
    expect(await vault.getJson(lockKey('database', 'postgres'))).toBeUndefined();
  });
});
