/**
 * The room verdict every component's compatibility check applies (components/room.ts), and the Redis and
 * MongoDB figures it is fed (their room.ts), on the numbers the servers report.
 */
import { formatBytes, judgeRoom, requireRoom, ROOM_MARGIN } from '../../functions/components/room';
import { redisRoom, type RedisMemoryFacts } from '../../functions/components/redis/room';
import { mongoRoom, storageBytesOf } from '../../functions/components/mongodb/room';
import { InsufficientSpaceError } from '../../functions/core/errors';
import type { RedisTarget } from '../../functions/components/redis';
import type { SourceInfo } from '../../functions/components/types';
import { modelsComponent } from '../../functions/components/models';
import { logsComponent } from '../../functions/components/logs';
import { configComponent } from '../../functions/components/config';
import { Issues } from '../../config/fields';
import { postgresDescriptor } from '../../functions/components/postgres/descriptor';
import { sandboxServer } from '../../functions/core/drill';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const figures = { needed: 'the source at backup time', available: 'free', where: 'the target' };

describe('judgeRoom', () => {
  it('is ok when the restore fits, with both figures', () => {
    expect(judgeRoom({ ...figures, neededBytes: 2 * GiB, availableBytes: 3 * GiB })).toEqual({
      verdict: 'ok',
      reason: 'needs 2.0 GiB (the source at backup time), 3.0 GiB available on the target (free)',
      neededBytes: 2 * GiB,
      needed: figures.needed,
      availableBytes: 3 * GiB,
      available: figures.available,
    });
  });

  it('is insufficient only beyond the margin; within it the verdict is unknown and says why', () => {
    const over = judgeRoom({ ...figures, neededBytes: 12.4 * GiB, availableBytes: 3.1 * GiB });
    expect(over).toMatchObject({ verdict: 'insufficient', reason: 'needs 12.4 GiB (the source at backup time), 3.1 GiB available on the target (free)' });
    const slightly = judgeRoom({ ...figures, neededBytes: Math.floor(10 * GiB * (1 + ROOM_MARGIN)), availableBytes: 10 * GiB });
    expect(slightly).toMatchObject({ verdict: 'unknown', reason: expect.stringContaining('over by less than the 10% margin') });
  });

  it('is unknown, with the reason, when either figure is missing', () => {
    expect(judgeRoom({ ...figures, availableBytes: GiB })).toMatchObject({ verdict: 'unknown', reason: expect.stringContaining('does not record the size of its source') });
    expect(judgeRoom({ ...figures, neededBytes: GiB, unknownAvailable: 'PostgreSQL reports no free disk space over SQL' })).toEqual({
      verdict: 'unknown',
      reason: 'needs 1.0 GiB; PostgreSQL reports no free disk space over SQL',
      neededBytes: GiB,
      needed: figures.needed,
    });
  });

  it('requireRoom throws InsufficientSpaceError with the numbers and passes every other verdict through', () => {
    const over = judgeRoom({ ...figures, neededBytes: 5 * GiB, availableBytes: GiB });
    expect(() => requireRoom(over, { component: 'redis' }, 'Free memory.')).toThrow(
      new InsufficientSpaceError('the restore target has no room: needs 5.0 GiB (the source at backup time), 1.0 GiB available on the target (free). Nothing was written.', {
        component: 'redis',
        hint: 'Free memory.',
      }),
    );
    const unknown = judgeRoom({ ...figures, neededBytes: 5 * GiB });
    expect(requireRoom(unknown, { component: 'postgres' }, '')).toBe(unknown);
  });

  it('formats sizes in binary units', () => {
    expect([formatBytes(512), formatBytes(1536), formatBytes(12.4 * GiB)]).toEqual(['512 bytes', '1.5 KiB', '12.4 GiB']);
  });
});

describe('redis room', () => {
  const target = { host: 'cache', port: 6379, tls: false, db: 0, keyPatterns: ['*'] } as RedisTarget;
  const source = (memoryBytes?: number, keyPatterns = ['*']) => ({ serverVersion: '7.0.15', serverMajor: 7, database: 'db0', keyPatterns, ...(memoryBytes === undefined ? {} : { memoryBytes }) }) as SourceInfo;
  // 100 MiB limit, 90 MiB used; the 80 MiB dataset is shared by the 1000 keys of db0 and the 1000 of db1.
  const facts = (over: Partial<RedisMemoryFacts> = {}): RedisMemoryFacts => ({
    maxmemory: 100 * MiB,
    usedMemory: 90 * MiB,
    usedMemoryDataset: 80 * MiB,
    maxmemoryPolicy: 'noeviction',
    keys: new Map([
      [0, 1000],
      [1, 1000],
    ]),
    ...over,
  });

  it('counts the keys a whole-database replace flushes first as freed', () => {
    // free 10 MiB + db0's half of the dataset (40 MiB) = 50 MiB.
    const room = redisRoom(source(45 * MiB), target, {}, facts());
    expect(room).toMatchObject({ verdict: 'ok', neededBytes: 45 * MiB, availableBytes: 50 * MiB });
    expect(redisRoom(source(60 * MiB), target, {}, facts())).toMatchObject({ verdict: 'insufficient', availableBytes: 50 * MiB });
  });

  it('in merge mode refuses only what would not fit even if every key of the database were freed', () => {
    expect(redisRoom(source(45 * MiB), target, { mode: 'merge' }, facts())).toMatchObject({ verdict: 'unknown', reason: expect.stringContaining('fits only if the keys it overwrites') });
    expect(redisRoom(source(60 * MiB), target, { mode: 'merge' }, facts())).toMatchObject({ verdict: 'insufficient', availableBytes: 50 * MiB });
    expect(redisRoom(source(5 * MiB), target, { mode: 'merge' }, facts())).toMatchObject({ verdict: 'ok', availableBytes: 10 * MiB });
  });

  it('never refuses on an upper bound (options.keyPattern) and says when eviction would drop keys instead', () => {
    expect(redisRoom(source(60 * MiB), target, { keyPattern: 'memory:*' }, facts())).toMatchObject({ verdict: 'unknown', reason: expect.stringContaining('upper bound') });
    expect(redisRoom(source(60 * MiB), target, {}, facts({ maxmemoryPolicy: 'allkeys-lru' })).reason).toContain('maxmemory-policy allkeys-lru evicts keys');
  });

  it('with maxmemory 0 judges against system memory, which bounds the room without proving it', () => {
    const unlimited = facts({ maxmemory: 0, totalSystemMemory: 200 * MiB });
    expect(redisRoom(source(45 * MiB), target, {}, unlimited)).toMatchObject({ verdict: 'unknown', reason: expect.stringContaining('other processes share'), availableBytes: 150 * MiB });
    expect(redisRoom(source(400 * MiB), target, {}, unlimited)).toMatchObject({ verdict: 'insufficient' });
    expect(redisRoom(source(45 * MiB), target, {}, facts({ maxmemory: 0 }))).toMatchObject({ verdict: 'unknown', reason: expect.stringContaining('reports neither maxmemory nor total_system_memory') });
  });

  it('a backup that recorded no memory figure is unknown', () => {
    expect(redisRoom(source(undefined), target, {}, facts())).toMatchObject({ verdict: 'unknown', reason: expect.stringContaining('does not record the size') });
  });
});

describe('mongodb room', () => {
  const source = (storageBytes?: number) => ({ serverVersion: '7.0.14', serverMajor: 7, database: 'app', ...(storageBytes === undefined ? {} : { storageBytes }) }) as SourceInfo;

  it('compares the recorded storage with dbStats fsTotalSize - fsUsedSize', () => {
    expect(mongoRoom(source(GiB), { fsTotalSize: 10 * GiB, fsUsedSize: 8 * GiB }, 'db', {})).toMatchObject({ verdict: 'ok', availableBytes: 2 * GiB });
    expect(mongoRoom(source(5 * GiB), { fsTotalSize: 10 * GiB, fsUsedSize: 8 * GiB }, 'db', {})).toMatchObject({ verdict: 'insufficient' });
    expect(mongoRoom(source(5 * GiB), { fsTotalSize: 10 * GiB, fsUsedSize: 8 * GiB }, 'db', { collections: ['a'] })).toMatchObject({ verdict: 'unknown' });
    expect(mongoRoom(source(5 * GiB), {}, 'db', {})).toMatchObject({ verdict: 'unknown', reason: expect.stringContaining('does not report free disk space') });
    // What a server may say of a database that does not exist yet: no file system, not a full one.
    expect(mongoRoom(source(5 * GiB), { fsTotalSize: 0, fsUsedSize: 0 }, 'db', {})).toMatchObject({ verdict: 'unknown' });
  });

  it('records the backed-up collections share of storage and indexes', () => {
    expect(storageBytesOf({ dataSize: 1000, storageSize: 400, indexSize: 100 }, 500)).toBe(250);
    expect(storageBytesOf({ dataSize: 0, storageSize: 4096, indexSize: 4096 }, 0)).toBe(0);
  });
});

describe('stores without disk', () => {
  const files = (locations: string[]) => ({ serverVersion: 'files', serverMajor: 1, database: 'models', locations }) as SourceInfo;
  const noTarget = {} as never;

  it('models: ok into S3; unknown where files go to a directory, the backed-up one or options.target', async () => {
    expect((await modelsComponent.checkCompatibility(files(['s3://neuroca-models/llm/']), noTarget, {})).room).toEqual({ verdict: 'ok', reason: 'no capacity limit applies: S3 holds no disk a restore fills' });
    expect((await modelsComponent.checkCompatibility(files(['s3://neuroca-models/llm/', '/mnt/models']), noTarget, {})).room).toEqual({
      verdict: 'unknown',
      reason: 'the free space of the directories /mnt/models is not checked',
    });
    expect((await modelsComponent.checkCompatibility(files(['/mnt/models']), noTarget, { target: 's3://neuroca-models/restored/' } as never)).room.verdict).toBe('ok');
  });

  it('logs: ok into CloudWatch Logs or S3; unknown into a directory', async () => {
    const source = { serverVersion: 'cloudwatch-jsonl-1', serverMajor: 1, database: 'logs' } as SourceInfo;
    expect((await logsComponent.checkCompatibility(source, noTarget, {})).room.verdict).toBe('ok');
    expect((await logsComponent.checkCompatibility(source, noTarget, { directory: '/var/restore' } as never)).room).toEqual({
      verdict: 'unknown',
      reason: 'the free space of directory /var/restore is not checked',
    });
  });

  it('config: ok', async () => {
    expect((await configComponent.checkCompatibility({} as SourceInfo, noTarget, {})).room.verdict).toBe('ok');
  });
});

describe('backup.sources.postgres.rds_instance_id', () => {
  const parse = (value: unknown) => {
    const issues = new Issues();
    const source = postgresDescriptor.source.parse(value, { path: 'backup.sources.postgres', issues, sources: { postgres: value } });
    return { source, issues: issues.list.map((i) => `${i.path}: ${i.problem}`) };
  };

  it('names the RDS instance whose FreeStorageSpace a restore reads; anything else is refused, naming the field', () => {
    expect(parse({ database: 'neuroca_db', rds_instance_id: 'neuroca-db-1' })).toEqual({ source: { database: 'neuroca_db', rdsInstanceId: 'neuroca-db-1' }, issues: [] });
    for (const bad of ['1db', 'neuroca--db', 'neuroca-', 'a'.repeat(64), 7]) {
      expect(parse({ database: 'neuroca_db', rds_instance_id: bad }).issues).toEqual([
        expect.stringMatching(/^backup\.sources\.postgres\.rds_instance_id: .*an RDS DB instance identifier like neuroca-db/),
      ]);
    }
  });
});

describe("a drill sandbox and production's RDS instance", () => {
  it("a sandbox on a server of its own does not keep production's rds_instance_id; one on production's server does", () => {
    const production = { database: 'neuroca_db', secretArn: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:db-AbCdEf', rdsInstanceId: 'neuroca-db' };
    expect(sandboxServer(production, { host: 'sandbox.internal' }, 'postgres', {}).source).toEqual({ database: 'neuroca_db', secretArn: production.secretArn, host: 'sandbox.internal' });
    expect(sandboxServer(production, {}, 'postgres', {}).source).toEqual(production);
  });
});
