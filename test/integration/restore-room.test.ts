/**
 * Room at CheckCompatibility against real servers: a redis-server of this file's own with a low maxmemory
 * (the shared one is never reconfigured), the MongoDB wire substitute reporting a small file system, and
 * PostgreSQL, which reports no free space over SQL. A refused check writes nothing.
 */
import Redis from 'ioredis';
import { MongoClient } from 'mongodb';
import { connectRedis, redis } from '../../functions/components/redis';
import { connectMongo, mongodb } from '../../functions/components/mongodb';
import { connectPostgres, postgres } from '../../functions/components/postgres';
import { InsufficientSpaceError } from '../../functions/core/errors';
import { silentLogger as quiet } from '../../functions/core/logger';
import { startRedis, type RunningRedis } from '../../scripts/local-servers';
import { cliEnv, databaseBackupYaml, runCli, writeBackupYaml } from '../support/cli';
import { backupToFs } from '../support/fs-artifacts';
import { createTestBucket, testS3Client, vaultOf } from '../support/s3';
import { startMongoWireServer, type MongoWireServer } from '../support/mongo-wire-server';
import { startCloudWatchMetricsServer } from '../support/cloudwatch-metrics-server';
import { createDatabase, sql, testPostgresUrl } from '../support/postgres-db';

const MiB = 2 ** 20;
let redisServer: RunningRedis;
let mongoServer: MongoWireServer;

beforeAll(async () => {
  [redisServer, mongoServer] = await Promise.all([startRedis(), startMongoWireServer()]);
});

afterAll(async () => {
  await Promise.all([redisServer?.stop(), mongoServer?.stop()]);
});

describe('redis', () => {
  let client: Redis;
  beforeAll(() => {
    client = new Redis({ port: redisServer.port, host: '127.0.0.1' });
  });
  afterAll(() => client.disconnect());

  it('refuses a target whose maxmemory cannot take the backup, with the numbers, and writes nothing; a roomy one is ok', async () => {
    // About 8 MiB in db0 to back up; db1, the target, holds 3 keys of its own.
    const value = 'x'.repeat(8 * 1024);
    const pipeline = client.pipeline();
    for (let i = 0; i < 1000; i++) pipeline.set(`memory:${i}`, value);
    await pipeline.exec();
    const source = await connectRedis({ db: 0, keyPatterns: ['*'] }, { NCA_REDIS_URL: redisServer.url });
    const { result } = await backupToFs(redis, source, quiet);
    expect(result.source.memoryBytes).toBeGreaterThan(8 * MiB);

    await client.select(1);
    await client.mset('kept:1', 'a', 'kept:2', 'b', 'kept:3', 'c');
    const target = await connectRedis({ db: 1, keyPatterns: ['*'] }, { NCA_REDIS_URL: redisServer.url });
    const used = Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
    // 2 MiB of room: far less than the backup's 8 MiB, which is still in db0.
    await client.config('SET', 'maxmemory', String(used + 2 * MiB));
    const refused = redis.checkCompatibility(result.source, target, {});
    await expect(refused).rejects.toThrow(InsufficientSpaceError);
    await expect(refused).rejects.toThrow(/the restore target has no room: needs \d+\.\d MiB \(memory the backed-up keys took.*\), 2\.\d MiB available on Redis 127\.0\.0\.1:\d+\/db1 \(maxmemory - used_memory \+ .* of the db1 keys the restore flushes first\)\. Nothing was written\./);
    expect(await client.dbsize()).toBe(3);

    await client.config('SET', 'maxmemory', String(used + 64 * MiB));
    const { room } = await redis.checkCompatibility(result.source, target, {});
    expect(room).toMatchObject({ verdict: 'ok', neededBytes: result.source.memoryBytes, availableBytes: expect.any(Number) });
    expect(room.availableBytes).toBeGreaterThan(63 * MiB);
  });

  it('through the command line: a restore into a target without room exits 1 with InsufficientSpaceError before the safety backup; with room, the result carries it', async () => {
    const bucket = await createTestBucket(testS3Client(), 'room');
    const configFile = writeBackupYaml(databaseBackupYaml('    redis: { key_patterns: ["*"] }\n'));
    const env = cliEnv(bucket, { NCA_REDIS_URL: redisServer.url, AWS_REGION: 'us-west-2' });
    const cli = (...args: string[]) => runCli(env, [...args, '--config', configFile]);
    expect((await cli('backup', 'redis')).code).toBe(0);

    await client.select(1);
    const used = Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
    await client.config('SET', 'maxmemory', String(used + 2 * MiB));
    const refused = await cli('restore', 'redis', '--backup-id', 'latest', '--target-database', '1');
    expect({ code: refused.code, error: refused.json?.error, component: refused.json?.component }).toEqual({ code: 1, error: 'InsufficientSpaceError', component: 'redis' });
    expect(refused.json.message).toMatch(/no room: needs \d+\.\d MiB .*, 2\.\d MiB available on Redis .*\/db1/);
    expect(await client.dbsize()).toBe(3);
    expect((await vaultOf(bucket, { prefix: '' }).listKeys('')).filter((key) => key.includes('-safety/'))).toEqual([]);

    await client.config('SET', 'maxmemory', String(used + 64 * MiB));
    const restored = await cli('restore', 'redis', '--backup-id', 'latest', '--target-database', '1');
    expect(restored.code).toBe(0);
    expect(restored.json.compatibility.room).toMatchObject({ verdict: 'ok', neededBytes: expect.any(Number), availableBytes: expect.any(Number) });
    expect(await client.dbsize()).toBe(1000);
  });
});

describe('mongodb', () => {
  it('refuses a target whose file system cannot take the collections, and is ok with room', async () => {
    const client = await MongoClient.connect(mongoServer.url);
    try {
      await client.db('episodes').collection('memories').insertMany(Array.from({ length: 200 }, (_, i) => ({ i, text: 'y'.repeat(1000) })));
    } finally {
      await client.close();
    }
    const source = await connectMongo({ database: 'episodes' }, { NCA_MONGODB_URL: mongoServer.url });
    const { result } = await backupToFs(mongodb, source, quiet);
    expect(result.source.storageBytes).toBeGreaterThan(200 * 1000);
    const target = await connectMongo({ database: 'episodes_restored' }, { NCA_MONGODB_URL: mongoServer.url });

    mongoServer.setFilesystem({ totalSize: 10 * MiB, usedSize: 10 * MiB - 50_000 });
    const refused = mongodb.checkCompatibility(result.source, target, {});
    await expect(refused).rejects.toThrow(InsufficientSpaceError);
    await expect(refused).rejects.toThrow(/needs \d+\.\d KiB \(storageSize \+ indexSize .*\), 48\.8 KiB available on MongoDB database "episodes_restored" \(dbStats fsTotalSize - fsUsedSize\)/);
    mongoServer.setFilesystem(null);
    await expect(mongodb.checkCompatibility(result.source, target, {})).resolves.toMatchObject({ room: { verdict: 'unknown', reason: expect.stringContaining('does not report free disk space') } });
    mongoServer.setFilesystem({ totalSize: 64 * MiB, usedSize: 16 * MiB });
    await expect(mongodb.checkCompatibility(result.source, target, {})).resolves.toMatchObject({ room: { verdict: 'ok', availableBytes: 48 * MiB } });
  });
});

describe('postgres', () => {
  it('is unknown, saying PostgreSQL reports no free space over SQL, with the size recorded at backup; the restore proceeds', async () => {
    const db = await createDatabase('room');
    await sql(db, 'CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT g, repeat($$z$$, 100) FROM generate_series(1, 100) g');
    const env = { NCA_POSTGRES_URL: testPostgresUrl(), NCA_PG_BIN_DIR: process.env.NCA_TEST_PG_BIN_DIR };
    const source = await connectPostgres({ database: db }, env);
    const { artifacts, result } = await backupToFs(postgres, source, quiet);
    const size = Number((await sql(db, 'SELECT pg_database_size(current_database())::text AS bytes'))[0].bytes);
    expect(result.source.databaseBytes).toBe(size);
    const target = await connectPostgres({ database: `${db}_copy` }, env);
    const { room } = await postgres.checkCompatibility(result.source, target, {});
    expect(room).toEqual({
      verdict: 'unknown',
      reason: expect.stringMatching(/^needs \d+\.\d MiB; PostgreSQL reports no free disk space over SQL, so the room is not checked/),
      neededBytes: size,
      needed: expect.stringContaining('pg_database_size of the source at backup time'),
    });
    await expect(postgres.restore(artifacts.source(), target, {}, quiet)).resolves.toMatchObject({ target: `${db}_copy` });
  });
});

describe('postgres on RDS (backup.sources.postgres.rds_instance_id)', () => {
  const region = process.env.AWS_REGION;
  beforeAll(() => {
    // The SDK wants a region even for a local endpoint; in AWS the worker's own.
    process.env.AWS_REGION = 'us-west-2';
  });
  afterAll(() => {
    if (region === undefined) delete process.env.AWS_REGION;
    else process.env.AWS_REGION = region;
  });

  it("judges the room against the instance's CloudWatch FreeStorageSpace: refused when clearly short, ok with room, unknown when the metric cannot be read", async () => {
    const cloudwatch = await startCloudWatchMetricsServer();
    try {
      const db = await createDatabase('rds');
      const env = { NCA_POSTGRES_URL: testPostgresUrl(), NCA_PG_BIN_DIR: process.env.NCA_TEST_PG_BIN_DIR, NCA_METRICS_ENDPOINT: cloudwatch.endpoint };
      const source = await connectPostgres({ database: db, rdsInstanceId: 'neuroca-db' }, env);
      const { result } = await backupToFs(postgres, source, quiet);
      const needed = result.source.databaseBytes as number;
      const instance = [{ Name: 'DBInstanceIdentifier', Value: 'neuroca-db' }];
      const target = await connectPostgres({ database: `${db}_copy`, rdsInstanceId: 'neuroca-db' }, env);

      cloudwatch.seed('AWS/RDS', 'FreeStorageSpace', instance, [{ timestamp: Date.now() - 120_000, value: Math.floor(needed / 4) }]);
      const refused = postgres.checkCompatibility(result.source, target, {});
      await expect(refused).rejects.toThrow(InsufficientSpaceError);
      await expect(refused).rejects.toThrow(/needs \d+\.\d MiB \(pg_database_size .*\), \d+\.\d MiB available on PostgreSQL database .*_copy \(CloudWatch FreeStorageSpace of RDS instance neuroca-db at .*\)\. Nothing was written\./);

      cloudwatch.seed('AWS/RDS', 'FreeStorageSpace', instance, [{ timestamp: Date.now() - 60_000, value: 20 * 2 ** 30 }]);
      await expect(postgres.checkCompatibility(result.source, target, {})).resolves.toMatchObject({ room: { verdict: 'ok', neededBytes: needed, availableBytes: 20 * 2 ** 30 } });

      const elsewhere = await connectPostgres({ database: `${db}_copy`, rdsInstanceId: 'other-db' }, env);
      await expect(postgres.checkCompatibility(result.source, elsewhere, {})).resolves.toMatchObject({
        room: { verdict: 'unknown', reason: expect.stringContaining('CloudWatch has no FreeStorageSpace of RDS instance other-db in the last 30 minutes') },
      });
      cloudwatch.failNext(1, 400, 'AccessDenied');
      await expect(postgres.checkCompatibility(result.source, target, {})).resolves.toMatchObject({
        room: { verdict: 'unknown', reason: expect.stringContaining('could not read FreeStorageSpace of RDS instance neuroca-db from CloudWatch (AccessDenied') },
      });
    } finally {
      await cloudwatch.stop();
    }
  });
});
