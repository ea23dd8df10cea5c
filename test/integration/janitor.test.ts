/**
 * The janitor against s3rver: removes only attempts without a manifest that are old enough and not being
 * written by a backup holding the lock, plus old step results; leaves complete backups, the lock, young
 * attempts and anything that is not under a backup id.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { sweepIncompleteAttempts } from '../../functions/core/janitor';
import { StorageError } from '../../functions/core/errors';
import { silentLogger } from '../../functions/core/logger';
import { lockKey, type LockRecord } from '../../functions/core/operation-lock';
import { BackupVault } from '../../functions/core/storage';
import { testRuntimeConfig } from '../support/runtime-config';
import { TEST_KMS_KEY, testVault } from '../support/s3';

const HOUR = 3600_000;

const runtimeConfig = (bucket: string) =>
  testRuntimeConfig({
    bucket,
    components: {
      postgres: { group: 'database', source: { database: 'neuroca_db' } },
      redis: { group: 'database', source: { db: 0, keyPatterns: ['*'] } },
    },
  });

async function put(vault: BackupVault, relativeKey: string, body = 'x'): Promise<void> {
  await vault.client.send(new PutObjectCommand({ Bucket: vault.bucket, Key: vault.key(relativeKey), Body: body }));
}

async function keys(vault: BackupVault): Promise<string[]> {
  return (await vault.listKeys('')).sort();
}

const COMPLETE = 'database/postgres/20261101T020000Z-aaaa';
const FAILED = 'database/postgres/20261102T020000Z-bbbb';
const FAILED_REDIS = 'database/redis/20261102T030000Z-cccc';

describe('janitor', () => {
  test('removes old attempts without a manifest and old step results, nothing else', async () => {
    const { vault, bucket } = await testVault({ listPageSize: 2 });
    await put(vault, `${COMPLETE}/neuroca_db.dump`);
    await put(vault, `${COMPLETE}/manifest.json`, '{}');
    await put(vault, `${FAILED}/neuroca_db.dump`);
    await put(vault, `${FAILED}/neuroca_db.dump.part2`);
    await put(vault, `${FAILED_REDIS}/redis.rdb`);
    // Not a backup id (e.g. what a traversal once wrote), a manifest under a deeper key, the steps and the lock.
    await put(vault, 'database/postgres/not-a-backup/neuroca_db.dump');
    await put(vault, 'database/redis/20261103T020000Z-dddd/sub/manifest.json');
    await put(vault, 'database/postgres/_steps/exec-1.json', '{}');
    await put(vault, 'database/postgres/_lock.json', '{}');
    const before = await keys(vault);

    // Everything was just written: nothing is old enough yet.
    const young = await sweepIncompleteAttempts(runtimeConfig(bucket), vault, { log: silentLogger, listPageSize: 2 });
    expect(young.removedAttempts).toEqual([]);
    expect(young.removedStepResults).toBe(0);
    expect(young.keptAttempts.map((a) => a.backupId).sort()).toEqual(['20261102T020000Z-bbbb', '20261102T030000Z-cccc', '20261103T020000Z-dddd']);
    expect(await keys(vault)).toEqual(before);

    // A day and more later (S3's LastModified is what counts, not the id's timestamp).
    const later = () => new Date(Date.now() + 25 * HOUR);
    const report = await sweepIncompleteAttempts(runtimeConfig(bucket), vault, { log: silentLogger, now: later, listPageSize: 2 });
    expect(report.removedAttempts).toEqual([
      { component: 'postgres', backupId: '20261102T020000Z-bbbb', keys: 2 },
      { component: 'redis', backupId: '20261102T030000Z-cccc', keys: 1 },
      { component: 'redis', backupId: '20261103T020000Z-dddd', keys: 1 },
    ]);
    expect(report.removedStepResults).toBe(1);
    expect(await keys(vault)).toEqual(
      [
        `${COMPLETE}/manifest.json`,
        `${COMPLETE}/neuroca_db.dump`,
        'database/postgres/_lock.json',
        'database/postgres/not-a-backup/neuroca_db.dump',
      ].sort(),
    );
  });

  test('an attempt whose backup still holds the operation lock is kept until the lock expires', async () => {
    const { vault, bucket } = await testVault();
    await put(vault, `${FAILED}/neuroca_db.dump`);
    const lockAt = Date.now() + 25 * HOUR;
    const lock: LockRecord = {
      component: 'postgres',
      owner: 'backup-20261102T020000Z-bbbb',
      operation: 'backup',
      startedAt: new Date(lockAt - HOUR).toISOString(),
      renewedAt: new Date(lockAt).toISOString(),
      expiresAt: new Date(lockAt + 30 * 60_000).toISOString(),
    };
    await vault.putJson(lockKey('database', 'postgres'), lock);

    const held = await sweepIncompleteAttempts(runtimeConfig(bucket), vault, { log: silentLogger, now: () => new Date(lockAt) });
    expect(held.removedAttempts).toEqual([]);
    expect(held.keptAttempts).toEqual([{ component: 'postgres', backupId: '20261102T020000Z-bbbb', reason: 'its backup still holds the operation lock' }]);
    expect(await keys(vault)).toContain(`${FAILED}/neuroca_db.dump`);

    const expired = await sweepIncompleteAttempts(runtimeConfig(bucket), vault, { log: silentLogger, now: () => new Date(lockAt + HOUR) });
    expect(expired.removedAttempts).toEqual([{ component: 'postgres', backupId: '20261102T020000Z-bbbb', keys: 1 }]);
    expect(await keys(vault)).toEqual(['database/postgres/_lock.json']);
  });

  test('a vault that cannot be listed fails with a typed error after trying every component', async () => {
    const { client } = await testVault();
    const missing = new BackupVault(client, { bucket: 'nca-no-such-bucket-janitor', prefix: 'backups/', kmsKeyId: TEST_KMS_KEY });
    const warnings: string[] = [];
    const log = { info: () => undefined, warn: (_m: string, fields?: Record<string, unknown>) => void warnings.push(String(fields?.component)) };
    const error = await sweepIncompleteAttempts(runtimeConfig('nca-no-such-bucket-janitor'), missing, { log }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toMatch(/listing s3:\/\/nca-no-such-bucket-janitor\/backups\/database\/postgres\//);
    expect(warnings).toEqual(['postgres', 'redis']);
  });
});
