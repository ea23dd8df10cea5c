/**
 * The redis component against a real redis-server (Debian's 7.0, started for this file): backup and
 * restore of every type with binary keys and TTLs, keys vanishing during a backup, replace / merge /
 * keyPattern / another database index, fingerprints and post-restore verification, damaged and
 * incompatible artifacts that must leave the target as it was, managed-Redis command restrictions.
 */
import { Readable } from 'node:stream';
import Redis from 'ioredis';
import { connectRedis, redis, redisEntry, withDatabase, type RedisTarget } from '../../functions/components/redis';
import { backupRedis } from '../../functions/components/redis/backup';
import { readKeys } from '../../functions/components/redis/reader';
import { serverFacts } from '../../functions/components/redis/compatibility';
import { encodeHeader, encodeRecords, encodeTrailer, forEachRecord, openDump, type DumpRecord } from '../../functions/components/redis/format';
import { IntegrityError, InvalidInputError, TransientError, VersionMismatchError } from '../../functions/core/errors';
import type { ComponentBackupResult, Logger } from '../../functions/components/types';
import { redisForFile } from '../support/redis-server';
import { backupToFs, fsArtifacts, readArtifact, type FsArtifacts } from '../support/fs-artifacts';
import { silentLogger as quiet } from '../../functions/core/logger';

const file = redisForFile();
const { client, target } = file;

const backupOf = (t: RedisTarget, log: Logger = quiet) => backupToFs(redis, t, log);

async function exec(pipeline: ReturnType<Redis['pipeline']>): Promise<void> {
  for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
}

const ID = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
const BINARY_KEY = Buffer.from([0x62, 0x00, 0xff, 0x0a, 0x0d]);

/** The NCA's working memory layout plus every Redis type, small and large encodings, binary keys and values. */
async function loadSample(db: number, items = 150): Promise<void> {
  const c = client(db);
  const p = c.pipeline();
  for (let i = 0; i < items; i++) {
    const id = ID(i);
    p.hset(`memory:working:${id}`, { id, created_at: '2026-01-01T00:00:00Z', content: `content of memory ${i} `.repeat(4), summary: `summary ${i}` });
    p.set(`memory:working:metadata:${id}`, JSON.stringify({ status: i % 2 ? 'active' : 'decaying', importance: i / items, tags: ['t', `t${i % 5}`] }));
    p.sadd(`memory:working:index:tag:t${i % 5}`, id);
    p.sadd(`memory:working:index:status:${i % 2 ? 'active' : 'decaying'}`, id);
  }
  p.hset('memory:working:stats', { count: String(items), last_consolidation: '2026-01-01' });
  p.set('session:int', '12345');
  p.set('session:negative', '-7');
  p.set('session:long', 'compressible '.repeat(400));
  p.set('session:binary', Buffer.from([0, 1, 2, 0xff, 0xfe]));
  p.set(BINARY_KEY, 'a binary key');
  p.set('', 'the empty key');
  p.rpush('session:list:small', 'a', 'b', 'c', 'a');
  p.rpush('session:list:large', ...Array.from({ length: 3000 }, (_, i) => `item-${i}`));
  p.sadd('session:set:ints', 1, 2, 3, 100000);
  p.sadd('session:set:large', ...Array.from({ length: 1000 }, (_, i) => `member-${i}`));
  p.zadd('session:zset:small', 1.5, 'a', '-inf', 'b', 'inf', 'c', 0.1, 'd');
  p.zadd('session:zset:large', ...Array.from({ length: 400 }, (_, i) => [String(i / 3), `z${i}`]).flat());
  p.hset('session:hash:large', Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`field-${i}`, `value-${i}`])));
  p.hset(Buffer.from('bin:hash'), Buffer.from([0xff, 0xfe]), Buffer.from([0, 0]));
  for (let i = 0; i < 20; i++) p.xadd('session:stream', `1700000000000-${i}`, 'n', String(i), 'payload', 'x'.repeat(i));
  p.xgroup('CREATE', 'session:stream', 'consolidator', '0');
  p.set('session:ttl:short-lived', 'soon', 'PX', 3_600_000);
  p.pexpire('memory:working:stats', 7_200_000);
  p.pexpire(BINARY_KEY, 5_400_000);
  await exec(p);
}

/** Rewrites a stored dump record by record (as a different backup would have written it), with a valid SHA-256. */
async function rewrite(from: FsArtifacts, change: (record: DumpRecord, index: number) => DumpRecord | undefined): Promise<FsArtifacts> {
  const [artifact] = from.records;
  const reader = await openDump(Readable.from([readArtifact(from, artifact.name)]), { name: artifact.name });
  const records: DumpRecord[] = [];
  let index = 0;
  const trailer = await forEachRecord(reader, (record) => {
    const changed = change({ ...record, key: Buffer.from(record.key), payload: Buffer.from(record.payload), digest: Buffer.from(record.digest) }, index++);
    if (changed) records.push(changed);
  });
  const rdbVersion = Math.max(trailer.rdbVersion, ...records.map((r) => r.payload.readUInt16LE(r.payload.length - 10)));
  const bytes = Buffer.concat([encodeHeader(reader.header), encodeRecords(records), encodeTrailer({ ...trailer, records: records.length, rdbVersion })]);
  const to = fsArtifacts();
  await to.sink.write(artifact.name, Readable.from([bytes]), { contentType: artifact.contentType });
  return to;
}

async function snapshotOf(db: number): Promise<Map<string, string>> {
  // Every key with a dump of its value and its deadline: the exact state, to prove "nothing changed".
  const c = client(db);
  const state = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await c.scanBuffer(cursor, 'COUNT', 1000);
    cursor = next.toString();
    for (const key of keys) state.set(key.toString('hex'), `${(await c.dumpBuffer(key))?.toString('hex')}@${await c.pexpiretime(key)}`);
  } while (cursor !== '0');
  return state;
}

async function deadlinesOf(db: number): Promise<Map<string, number>> {
  const c = client(db);
  const deadlines = new Map<string, number>();
  let cursor = '0';
  do {
    const [next, keys] = await c.scanBuffer(cursor, 'COUNT', 1000);
    cursor = next.toString();
    for (const key of keys) deadlines.set(key.toString('hex'), await c.pexpiretime(key));
  } while (cursor !== '0');
  return deadlines;
}

let sample: RedisTarget;
let sampleBackup: { artifacts: FsArtifacts; result: ComponentBackupResult };

beforeAll(async () => {
  await loadSample(0);
  sample = await target(0);
  sampleBackup = await backupOf(sample);
});

describe('redis backup and restore', () => {
  test('every type, binary keys and values, and TTLs come back; deadlines are kept to the millisecond', async () => {
    const { artifacts, result } = sampleBackup;
    const keys = await client(0).dbsize();
    expect(result.artifacts).toEqual([expect.objectContaining({ name: 'db0.rdbdump', contentType: 'application/vnd.nca-backup.redis-dump' })]);
    expect(readArtifact(artifacts, 'db0.rdbdump').subarray(0, 8).toString()).toBe('NCAREDIS');
    expect(result.report).toMatchObject({ keys, skippedExpired: 0, database: 'db0', keyPatterns: ['*'] });
    expect(result.source).toMatchObject({ serverVersion: '7.0.15', serverMajor: 7, database: 'db0', rdbVersion: 10, serverName: 'redis' });
    expect(result.consistency.pointInTime).toBe(false);
    expect(result.consistency.method).toMatch(/MULTI\/EXEC/);
    expect(result.fingerprint.hash.count).toBe(153);
    expect(result.fingerprint.stream.count).toBe(1);
    expect(Object.values(result.fingerprint).reduce((n, e) => n + e.count, 0)).toBe(keys);
    // The backup's fingerprint (strings decoded from DUMP payloads) equals a live one (strings read with GET).
    expect(await redis.fingerprint(sample)).toEqual(result.fingerprint);

    const copy = redisEntry.retarget(sample, { targetDatabase: '1' });
    expect(await redis.targetExists(copy)).toBe(false);
    const restored = await redis.restore(artifacts.source(), copy, {}, quiet);
    expect(restored).toEqual({
      target: 'db1',
      replacedExisting: false,
      details: { mode: 'replace', recordsInBackup: keys, restored: keys, skippedExpired: 0, skippedByPattern: 0, cleared: 'flushdb' },
    });
    expect(await redis.fingerprint(copy)).toEqual(result.fingerprint);
    // DUMP bytes may differ after a restore (a rebuilt hash table iterates in another order); deadlines may not.
    expect(await deadlinesOf(1)).toEqual(await deadlinesOf(0));
    const [source, copied] = [client(0), client(1)];
    for (const key of ['session:ttl:short-lived', 'memory:working:stats', BINARY_KEY]) {
      const deadline = await source.pexpiretime(key);
      expect(deadline).toBeGreaterThan(Date.now());
      expect(await copied.pexpiretime(key)).toBe(deadline);
    }
    expect(await copied.getBuffer(BINARY_KEY)).toEqual(Buffer.from('a binary key'));
    expect(await copied.hkeysBuffer('bin:hash')).toEqual([Buffer.from([0xff, 0xfe])]);
    expect(await copied.xinfo('GROUPS', 'session:stream')).toEqual([expect.arrayContaining(['name', 'consolidator'])]);
    expect(await redis.verifyRestore!(result.fingerprint, artifacts.source(), copy, {}, quiet)).toMatchObject({ differences: [], details: { missing: 0, extraKeys: 0 } });
  });

  test('a key that expires or is deleted between SCAN and DUMP is skipped and counted, and the fingerprint agrees', async () => {
    await loadSample(2, 40);
    const t = await target(2);
    const artifacts = fsArtifacts();
    let hooked = false;
    const result = await backupRedis(t, artifacts.sink, quiet, {
      async afterScan(c, keys) {
        if (hooked) return;
        hooked = true;
        // Two of the keys SCAN just listed run out, one is deleted, before the batch is read.
        const victims = keys.filter((k) => k.toString().startsWith('memory:working:metadata:')).slice(0, 3);
        expect(victims).toHaveLength(3);
        await c.pexpire(victims[0], 1);
        await c.pexpire(victims[1], 1);
        await c.del(victims[2]);
        await new Promise((r) => setTimeout(r, 20));
      },
    });
    expect(result.report).toMatchObject({ skippedExpired: 3, keys: (await client(2).dbsize()) });
    expect(await redis.fingerprint(t)).toEqual(result.fingerprint);
    const copy = withDatabase(t, 8);
    await redis.restore(artifacts.source(), copy, {}, quiet);
    expect(await redis.fingerprint(copy)).toEqual(result.fingerprint);
  });

  test('keys written while the backup runs: the artifact and its fingerprint still describe each other', async () => {
    await loadSample(9, 300);
    const t = await target(9);
    const writer = client(9);
    let writing = true;
    let writes = 0;
    const busy = (async () => {
      while (writing) {
        const id = ID(writes % 300);
        await writer.pipeline().hset(`memory:working:${id}`, 'summary', `rewritten ${writes}`).set(`memory:working:metadata:${id}`, `{"v":${writes}}`).sadd('session:set:large', `new-${writes}`).exec();
        writes++;
      }
    })();
    const { artifacts, result } = await backupOf(t);
    writing = false;
    await busy;
    expect(writes).toBeGreaterThan(0);
    const copy = withDatabase(t, 10);
    await redis.restore(artifacts.source(), copy, {}, quiet);
    expect(await redis.fingerprint(copy)).toEqual(result.fingerprint);
  });

  test('a key already past its deadline when restored is skipped and counted; the others keep theirs', async () => {
    const expired = await rewrite(sampleBackup.artifacts, (record) =>
      record.key.toString() === 'session:ttl:short-lived' ? { ...record, expiresAt: Date.now() - 60_000 } : record,
    );
    const t = withDatabase(sample, 11);
    const restored = await redis.restore(expired.source(), t, {}, quiet);
    expect(restored.details).toMatchObject({ skippedExpired: 1, restored: (sampleBackup.result.report!.keys as number) - 1 });
    const c = client(11);
    expect(await c.exists('session:ttl:short-lived')).toBe(0);
    expect(await c.pexpiretime('memory:working:stats')).toBe(await client(0).pexpiretime('memory:working:stats'));
    // Rightly absent: the verification does not count it as missing.
    const verified = await redis.verifyRestore!(sampleBackup.result.fingerprint, expired.source(), t, {}, quiet);
    expect(verified.differences).toEqual([]);
    expect(verified.details).toMatchObject({ expiredSinceBackup: 1, missing: 0 });
  });

  test('an empty database backs up to a valid artifact with 0 keys and a warning', async () => {
    const t = await target(7);
    const warn = jest.fn();
    const { artifacts, result } = await backupOf(t, { info: () => undefined, warn });
    expect(result.report).toMatchObject({ keys: 0, skippedExpired: 0 });
    expect(Object.values(result.fingerprint).every((e) => e.count === 0)).toBe(true);
    expect(warn).toHaveBeenCalledWith('redis backup holds no keys', expect.objectContaining({ target: expect.stringContaining('/db7') }));
    expect(await redis.estimate(t)).toBe(0);
    expect(await redis.targetExists(t)).toBe(false);
    const restored = await redis.restore(artifacts.source(), t, {}, quiet);
    expect(restored.details).toMatchObject({ restored: 0, recordsInBackup: 0 });
    expect(await redis.fingerprint(t)).toEqual(result.fingerprint);
  });

  test('describe, estimate and targetExists answer from INFO and a bounded SCAN', async () => {
    expect(await redis.describe(sample)).toEqual({
      serverVersion: '7.0.15',
      serverMajor: 7,
      serverName: 'redis',
      database: 'db0',
      rdbVersion: 10,
      keyPatterns: ['*'],
      format: 'nca-backup redis dump v1',
    });
    expect(await redis.estimate(sample)).toBeGreaterThan(100_000);
    // The target's RDB version comes from a DUMP of a small key (of another database when this one is empty).
    const probe = client(7);
    await expect(serverFacts(probe, 7)).resolves.toMatchObject({ rdbVersion: 10, rdbVersionFrom: 'dump', exactExpiry: true });
    expect(await redis.targetExists(await target(0, ['nothing:*']))).toBe(false);
    expect(await redis.targetExists(await target(0, ['nothing:*', 'session:zset:*']))).toBe(true);
  });
});

describe('redis key reads', () => {
  test.each([true, false])('a key whose type changes between the TYPE guess and the transaction is read again, not failed (dump: %s)', async (dump) => {
    const c = client(0);
    await c.set('race:key', 'a string first');
    const racing = client(0);
    const pipeline = racing.pipeline.bind(racing);
    let raced = false;
    racing.pipeline = ((...args: Parameters<Redis['pipeline']>) => {
      const p = pipeline(...args);
      const exec = p.exec.bind(p);
      p.exec = (async () => {
        const replies = await exec();
        if (!raced) {
          raced = true;
          await c.multi().del('race:key').hset('race:key', 'now', 'a hash').exec();
        }
        return replies;
      }) as typeof p.exec;
      return p;
    }) as typeof racing.pipeline;
    const read = await readKeys(racing, [Buffer.from('race:key')], { dump, exactExpiry: true });
    expect(raced).toBe(true);
    expect(read).toMatchObject({ retried: 1, vanished: 0, values: [{ type: 'hash', expiresAt: 0 }] });
    expect(read.values[0].payload === undefined).toBe(!dump);
    await c.del('race:key');
  });

  test('without PEXPIRETIME (Redis before 7) deadlines come from TIME + PTTL, within a few milliseconds', async () => {
    const c = client(0);
    const keys = ['session:ttl:short-lived', 'memory:working:stats'];
    const read = await readKeys(c, keys.map((k) => Buffer.from(k)), { dump: false, exactExpiry: false });
    for (const value of read.values) {
      const exact = await c.pexpiretime(value.key);
      expect(Math.abs(value.expiresAt - exact)).toBeLessThanOrEqual(5);
    }
    expect(read.values).toHaveLength(2);
  });
});

describe('redis restore modes', () => {
  test('merge replaces only the backup\'s keys; replace then clears the rest; both verify', async () => {
    const t = redisEntry.retarget(sample, { targetDatabase: '3' });
    const c = client(3);
    await c.set(`memory:working:metadata:${ID(0)}`, 'stale');
    await c.set('other:keep', 'not in the backup');
    expect(await redis.targetExists(t)).toBe(true);

    const merged = await redis.restore(sampleBackup.artifacts.source(), t, { mode: 'merge' }, quiet);
    expect(merged).toMatchObject({ replacedExisting: true, details: { mode: 'merge', cleared: 'none' } });
    expect(await c.get('other:keep')).toBe('not in the backup');
    expect(await c.get(`memory:working:metadata:${ID(0)}`)).toBe(await client(0).get(`memory:working:metadata:${ID(0)}`));
    expect((await redis.fingerprint(t)).string.count).toBe(sampleBackup.result.fingerprint.string.count + 1);
    expect((await redis.verifyRestore!(sampleBackup.result.fingerprint, sampleBackup.artifacts.source(), t, { mode: 'merge' }, quiet)).differences).toEqual([]);
    // The same state under replace semantics has one key too many.
    const asReplace = await redis.verifyRestore!(sampleBackup.result.fingerprint, sampleBackup.artifacts.source(), t, {}, quiet);
    expect(asReplace.differences).toEqual([{ object: 'keyspace', problem: 'the target holds 1 keys in scope that the backup does not hold' }]);

    const replaced = await redis.restore(sampleBackup.artifacts.source(), t, { mode: 'replace' }, quiet);
    expect(replaced.details).toMatchObject({ mode: 'replace', cleared: 'flushdb' });
    expect(await c.exists('other:keep')).toBe(0);
    expect(await redis.fingerprint(t)).toEqual(sampleBackup.result.fingerprint);
    expect((await redis.verifyRestore!(sampleBackup.result.fingerprint, sampleBackup.artifacts.source(), t, {}, quiet)).differences).toEqual([]);
  });

  test('keyPattern restores only matching keys and, in replace mode, clears only matching keys', async () => {
    const t = redisEntry.retarget(sample, { targetDatabase: '4' });
    const c = client(4);
    await c.set('memory:working:old', 'gone after the restore');
    await c.set('session:old', 'stays');
    const memoryKeys = (await client(0).keys('memory:*')).length;
    const restored = await redis.restore(sampleBackup.artifacts.source(), t, { keyPattern: 'memory:*' }, quiet);
    expect(restored.details).toMatchObject({
      mode: 'replace',
      keyPattern: 'memory:*',
      restored: memoryKeys,
      skippedByPattern: (sampleBackup.result.report!.keys as number) - memoryKeys,
      cleared: 'keys',
      deletedBeforeRestore: 1,
    });
    expect(await c.exists('memory:working:old')).toBe(0);
    expect(await c.get('session:old')).toBe('stays');
    expect(await c.exists('session:long')).toBe(0);
    expect(await c.dbsize()).toBe(memoryKeys + 1);
    expect(await redis.fingerprint(await target(4, ['memory:*']))).toEqual(await redis.fingerprint(await target(0, ['memory:*'])));
    const verified = await redis.verifyRestore!(sampleBackup.result.fingerprint, sampleBackup.artifacts.source(), t, { keyPattern: 'memory:*' }, quiet);
    expect(verified.differences).toEqual([]);
    expect(verified.details).toMatchObject({ compared: memoryKeys, extraKeys: 0 });
  });

  test('a backup of some patterns lists overlapping keys once, and its replace leaves keys outside them alone', async () => {
    const scoped = await target(0, ['memory:*', 'memory:working:index:*']);
    const { artifacts, result } = await backupOf(scoped);
    const memoryKeys = (await client(0).keys('memory:*')).length;
    expect(result.report).toMatchObject({ keys: memoryKeys, keyPatterns: ['memory:*', 'memory:working:index:*'] });
    const t = withDatabase(scoped, 5);
    const c = client(5);
    await c.set('memory:gone', 'x');
    await c.set('session:keep', 'y');
    const restored = await redis.restore(artifacts.source(), t, {}, quiet);
    expect(restored.details).toMatchObject({ cleared: 'keys', deletedBeforeRestore: 1, restored: memoryKeys });
    expect(await c.get('session:keep')).toBe('y');
    expect(await redis.fingerprint(t)).toEqual(result.fingerprint);
  });

  test('a database index the server does not have is refused before anything is written', async () => {
    const t = redisEntry.retarget(sample, { targetDatabase: '99' });
    await expect(redis.restore(sampleBackup.artifacts.source(), t, {}, quiet)).rejects.toThrow(InvalidInputError);
    await expect(redis.restore(sampleBackup.artifacts.source(), t, {}, quiet)).rejects.toThrow(/has no database 99/);
    expect(redisEntry.retarget(sample, { targetDatabase: 'db1' }).db).toBe(1);
    expect(() => redisEntry.retarget(sample, { targetDatabase: 'cache' })).toThrow(/targetDatabase 'cache' is not a Redis database index/);
  });
});

describe('redis verification finds damage', () => {
  test('a changed value, a changed deadline and a missing key are each reported', async () => {
    const t = withDatabase(sample, 12);
    await redis.restore(sampleBackup.artifacts.source(), t, {}, quiet);
    const c = client(12);
    const before = await redis.fingerprint(t);
    await c.hset(`memory:working:${ID(3)}`, 'summary', 'tampered');
    const after = await redis.fingerprint(t);
    expect(after.hash.count).toBe(before.hash.count);
    expect(after.hash.digest).not.toBe(before.hash.digest);
    expect({ ...after, hash: undefined }).toEqual({ ...before, hash: undefined });
    await c.pexpire('session:ttl:short-lived', 10 * 3_600_000);
    await c.del('session:list:small');
    const verified = await redis.verifyRestore!(sampleBackup.result.fingerprint, sampleBackup.artifacts.source(), t, {}, quiet);
    expect(verified.differences.map((d) => d.object).sort()).toEqual(['expiry', 'hash', 'list']);
    expect(verified.differences.find((d) => d.object === 'list')).toMatchObject({ expected: { count: 2 }, actual: { count: 1 } });
    expect(verified.details).toMatchObject({ missing: 1, expiryDiffers: 1 });
  });
});

describe('redis failures leave the target as it was', () => {
  async function victim(db: number): Promise<RedisTarget> {
    const c = client(db);
    await c.set('precious', 'must survive a failed restore');
    await c.hset('memory:working:x', 'id', 'x');
    return withDatabase(sample, db);
  }

  test('a corrupted artifact fails its digest check before FLUSHDB; nothing changes', async () => {
    const t = await victim(13);
    const before = await snapshotOf(13);
    const { artifacts } = await backupOf(sample);
    const bytes = readArtifact(artifacts, 'db0.rdbdump');
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    artifacts.corrupt('db0.rdbdump', bytes);
    await expect(redis.restore(artifacts.source(), t, {}, quiet)).rejects.toThrow(IntegrityError);
    await expect(redis.restore(artifacts.source(), t, { mode: 'merge' }, quiet)).rejects.toThrow(/has SHA-256 [0-9a-f]+, the manifest says/);
    expect(await snapshotOf(13)).toEqual(before);
  });

  test('a truncated artifact and a non-dump artifact are refused; nothing changes', async () => {
    const t = await victim(14);
    const before = await snapshotOf(14);
    const { artifacts } = await backupOf(sample);
    const bytes = readArtifact(artifacts, 'db0.rdbdump');
    artifacts.corrupt('db0.rdbdump', bytes.subarray(0, bytes.length - 100));
    await expect(redis.restore(artifacts.source(), t, {}, quiet)).rejects.toThrow(/has \d+ bytes, the manifest says \d+/);

    const garbage = fsArtifacts();
    await garbage.sink.write('db0.rdbdump', Readable.from([Buffer.from('REDIS0010 this is an RDB file, not an nca-backup dump')]), { contentType: 'application/vnd.nca-backup.redis-dump' });
    const failure = redis.restore(garbage.source(), t, {}, quiet);
    await expect(failure).rejects.toThrow(IntegrityError);
    await expect(failure).rejects.toThrow(/does not start with the nca-backup Redis dump magic/);
    expect(await snapshotOf(14)).toEqual(before);
  });

  test('a dump of a newer RDB version is refused before anything is written, naming both versions', async () => {
    const described = await redis.describe(sample);
    await expect(redis.checkCompatibility(described, sample)).resolves.toMatchObject({ targetVersion: '7.0.15' });
    const newer = { ...described, serverVersion: '7.2.4', rdbVersion: 11 };
    await expect(redis.checkCompatibility(newer, sample)).rejects.toThrow(VersionMismatchError);
    await expect(redis.checkCompatibility(newer, sample)).rejects.toThrow(
      'redis: the backup holds RDB version 11 (Redis 7.2.4); the target Redis 7.0.15 reads up to RDB version 10. Restore into Redis 7.2 or newer',
    );

    // The same through the artifact itself (the check restore makes whatever the manifest says).
    const t = await victim(15);
    const before = await snapshotOf(15);
    const fromNewer = await rewrite(sampleBackup.artifacts, (record, i) => {
      if (i === 100) record.payload.writeUInt16LE(11, record.payload.length - 10);
      return record;
    });
    await expect(redis.restore(fromNewer.source(), t, {}, quiet)).rejects.toThrow(/the backup holds RDB version 11 \(Redis 7\.0\.15\); the target Redis 7\.0\.15 reads up to RDB version 10/);
    expect(await snapshotOf(15)).toEqual(before);
  });

  test('the documented limit: a payload the server rejects half-way leaves a partial restore, and the error says what to do', async () => {
    const t = await victim(6);
    // SHA-256 intact, framing intact, but one payload's CRC64 broken: only RESTORE itself can tell.
    const broken = await rewrite(sampleBackup.artifacts, (record, i) => {
      if (i === 200) record.payload[1] ^= 0x01;
      return record;
    });
    const failure = redis.restore(broken.source(), t, {}, quiet);
    await expect(failure).rejects.toThrow(IntegrityError);
    // The safety backup holds the keys before the restore (maybe the damage being repaired): offered for inspection, never to put back.
    await expect(failure).rejects.toThrow(/payload version or checksum are wrong.*partial restore.*restore it into another database index to inspect them, not over this target\.$/);
  });

  test('the documented limit: a stream that breaks during the writing pass says the target is partial', async () => {
    const t = await victim(6);
    const intact = sampleBackup.artifacts.source();
    let opened = 0;
    const flaky = {
      artifacts: intact.artifacts,
      open(name: string) {
        // The validation pass reads an intact copy; the writing pass loses the connection half-way.
        if (++opened === 1) return intact.open(name);
        const bytes = readArtifact(sampleBackup.artifacts, name);
        const stream = new Readable({ read() {} });
        stream.push(bytes.subarray(0, bytes.length / 2));
        setImmediate(() => stream.destroy(new IntegrityError('artifact db0.rdbdump: connection reset while reading', { component: 'redis' })));
        return stream;
      },
    };
    const failure = redis.restore(flaky, t, {}, quiet);
    await expect(failure).rejects.toThrow(IntegrityError);
    await expect(failure).rejects.toThrow(/connection reset while reading.*partial restore \(its previous keys in scope were cleared\)/);
    expect(await client(6).exists('precious')).toBe(0);
  });
});

describe('redis connections and managed-service restrictions', () => {
  test('backup and restore work for a user without SYNC, BGSAVE, CONFIG, DEBUG and friends (ElastiCache/MemoryDB)', async () => {
    await client(0).acl('SETUSER', 'managed', 'on', '>managed-pw', '~*', '&*', '+@all', '-sync', '-psync', '-bgsave', '-save', '-config', '-debug', '-module', '-replicaof', '-slaveof', '-shutdown');
    const url = new URL(file.server.url);
    url.username = 'managed';
    url.password = 'managed-pw';
    const managed = await connectRedis({ db: 0, keyPatterns: ['*'] }, { NCA_REDIS_URL: url.toString() });
    const { artifacts, result } = await backupOf(managed);
    expect(result.fingerprint).toEqual(sampleBackup.result.fingerprint);
    const copy = withDatabase(managed, 1);
    await redis.restore(artifacts.source(), copy, {}, quiet);
    expect(await redis.fingerprint(copy)).toEqual(result.fingerprint);
  });

  test('a user without DUMP, a wrong password and an unreachable server are clear errors without secrets', async () => {
    await client(0).acl('SETUSER', 'nodump', 'on', '>nodump-pw', '~*', '+@all', '-dump');
    const url = new URL(file.server.url);
    url.username = 'nodump';
    url.password = 'nodump-pw';
    const noDump = await connectRedis({ db: 0, keyPatterns: ['*'] }, { NCA_REDIS_URL: url.toString() });
    const artifacts = fsArtifacts();
    await expect(redis.backup(noDump, artifacts.sink, quiet)).rejects.toThrow(/NOPERM.*ACL permissions/);

    url.password = 'wrong-pw-never-shown';
    const wrong = await connectRedis({ db: 0, keyPatterns: ['*'] }, { NCA_REDIS_URL: url.toString() });
    const refused = redis.estimate(wrong);
    await expect(refused).rejects.toThrow(InvalidInputError);
    await expect(refused).rejects.toThrow(/127\.0\.0\.1:\d+\/db0 refused access \(connecting\): WRONGPASS/);
    await expect(refused).rejects.not.toThrow(/wrong-pw-never-shown/);

    const unreachable = await connectRedis({ db: 0, keyPatterns: ['*'] }, { NCA_REDIS_URL: 'redis://:pw-never-shown@127.0.0.1:1' });
    const lost = redis.fingerprint(unreachable);
    await expect(lost).rejects.toThrow(TransientError);
    await expect(lost).rejects.toThrow(/127\.0\.0\.1:1\/db0/);
    await expect(lost).rejects.not.toThrow(/pw-never-shown/);
  });
});
