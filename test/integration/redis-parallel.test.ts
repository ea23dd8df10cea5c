/**
 * The redis component's parallel paths against a real redis-server: keys read over several bare RESP
 * connections fed by one SCAN, values decoded from DUMP payloads instead of read again, RESTOREs sent
 * over several connections. They must give exactly what the single-connection, value-command path gives
 * (the reference, fingerprintByCommands) on a hostile key space, and a reader connection killed from
 * another client must fail the backup with a typed error and leave no manifest.
 */
import Redis from 'ioredis';
import { redis } from '../../functions/components/redis';
import { backupRedis } from '../../functions/components/redis/backup';
import { STREAM_CONNECTION_NAME } from '../../functions/components/redis/connection';
import { payloadItems, payloadKeyType } from '../../functions/components/redis/decode';
import { fingerprintByCommands, fingerprintRedis } from '../../functions/components/redis/fingerprint';
import { readKeys } from '../../functions/components/redis/reader';
import { runBackup } from '../../functions/core/backup-run';
import { manifestKey } from '../../functions/core/catalog';
import type { EngineContext } from '../../functions/core/context';
import { silentLogger as quiet } from '../../functions/core/logger';
import { redisForFile } from '../support/redis-server';
import { fsArtifacts } from '../support/fs-artifacts';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, listKeys, testS3Client, vaultOf } from '../support/s3';

const file = redisForFile();
const { client, target } = file;

async function exec(pipeline: ReturnType<Redis['pipeline']>): Promise<void> {
  for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
}

/** Integers of every listpack/intset width, as members, values and scores. */
const INTS = ['0', '7', '127', '128', '-1', '-4096', '4095', '5000', '-32768', '32767', '70000', '-8388608', '8388607', '2147483647', '-2147483648', '4294967296', '-1099511627776', '9223372036854775807', '-9223372036854775808'];

/** Every type in its small and large encodings, with hostile keys and values, some keys with TTLs. */
async function loadHostile(db: number): Promise<void> {
  const c = client(db);
  const p = c.pipeline();
  const keys: (string | Buffer)[] = [
    '',
    ' ',
    '*',
    '?',
    '[a-z]',
    '\\',
    Buffer.from([0]),
    Buffer.from([0, 0]),
    Buffer.from([0xff, 0xfe, 0x00, 0x0d, 0x0a]),
    Buffer.from('$5\r\nDUMP\r\n'),
    'k'.repeat(255),
    'k'.repeat(256),
    'k'.repeat(257),
    Buffer.alloc(10_000, 0xa5),
    'ключ-🔑',
  ];
  keys.forEach((key, i) => p.set(key, Buffer.concat([Buffer.from(`value ${i} `), Buffer.from([0, 0xff])])));
  // Strings: integers of each width, LZF-compressible, incompressible, empty, large (spans socket chunks).
  INTS.forEach((n, i) => p.set(`str:int:${i}`, n));
  p.set('str:empty', '');
  p.set('str:leading-zero', '007');
  p.set('str:lzf', 'compressible text '.repeat(200));
  p.set('str:random', Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 251)));
  p.set('str:large', Buffer.alloc(3 * 1024 * 1024, 'abcdefgh'));
  // Lists: listpack, several quicklist nodes, a plain node (an element above the packed threshold).
  p.rpush('list:small', 'a', '', 'a', ...INTS);
  p.rpush('list:nodes', ...Array.from({ length: 5000 }, (_, i) => `item-${i}`));
  p.rpush('list:plain', 'x', Buffer.alloc(2 * 1024 * 1024, 'p'), 'y');
  p.rpush(Buffer.from([0x6c, 0, 0xff]), Buffer.from([0, 1, 2]), Buffer.from([]));
  // Sets: intset (every width), hashtable (strings), large hashtable.
  p.sadd('set:ints', ...INTS);
  p.sadd('set:small-ints', 1, 2, 3);
  p.sadd('set:strings', 'b', 'a', '', 'ü', ...INTS);
  p.sadd('set:large', ...Array.from({ length: 3000 }, (_, i) => `member-${i}`));
  // Sorted sets: listpack and skiplist, with integer, fractional, infinite and negative-zero scores.
  p.zadd('zset:small', 1.5, 'a', '-inf', 'b', 'inf', 'c', 0.1, 'd', 1e300, 'e', -0, 'f', 3, 'g', 2 ** 53, 'h');
  p.zadd('zset:large', ...Array.from({ length: 500 }, (_, i) => [String(i / 7 - 30), `z${i}`]).flat());
  p.zadd('zset:long-member', 1, 'm'.repeat(100));
  // Hashes: listpack with integer fields and values, hashtable (many fields, long values).
  p.hset('hash:small', { id: '1', n: '-5000', big: '9223372036854775807', empty: '', text: 'ascii' });
  p.hset('hash:large', Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`field-${i}`, `value-${i}`])));
  p.hset('hash:long-value', { a: 'v'.repeat(200), b: 'w' });
  p.hset(Buffer.from([0x68, 0]), Buffer.from([0xff]), Buffer.from([0, 0]));
  // Streams (read with XRANGE, not decoded): entries, a consumer group, deleted entries.
  for (let i = 0; i < 30; i++) p.xadd('stream:events', `1700000000000-${i}`, 'n', String(i), 'payload', 'x'.repeat(i));
  p.xgroup('CREATE', 'stream:events', 'consolidator', '0');
  p.xdel('stream:events', '1700000000000-3');
  p.xadd(Buffer.from([0x73, 0, 0xff]), '1-1', Buffer.from([0]), Buffer.from([0xff]));
  // TTLs, relative and far ahead.
  p.pexpire('str:lzf', 3_600_000);
  p.pexpire('hash:small', 86_400_000);
  p.pexpire('set:large', 7 * 86_400_000);
  p.pexpire('stream:events', 3_600_000);
  p.pexpire('', 3_600_000);
  // Enough plain keys that the reads take many batches over every connection.
  for (let i = 0; i < 6000; i++) {
    const kind = i % 5;
    const key = `bulk:${kind}:${i}`;
    if (kind === 0) p.set(key, `memory ${i} `.padEnd(40 + (i % 120), String.fromCharCode(97 + (i % 26))));
    else if (kind === 1) p.hset(key, { id: String(i), importance: String((i % 100) / 100) });
    else if (kind === 2) p.sadd(key, `tag${i % 7}`, `tag${i % 11}`);
    else if (kind === 3) p.rpush(key, `e-${i}`, String(i));
    else p.zadd(key, i % 10, `m${i}`, 0.5, 'o');
    if (i % 10 === 0) p.pexpire(key, 86_400_000 + i);
  }
  await exec(p);
}

describe('redis parallel paths give what the single-connection path gives', () => {
  const SOURCE = 11;
  beforeAll(async () => {
    await client(SOURCE).flushdb();
    await loadHostile(SOURCE);
  });

  test('every non-stream payload decodes to the values the read commands return', async () => {
    const c = client(SOURCE);
    const keys: Buffer[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await c.scanBuffer(cursor, 'COUNT', 1000);
      cursor = next.toString();
      keys.push(...batch);
    } while (cursor !== '0');
    const read = await readKeys(c, keys, { dump: true, values: true, exactExpiry: true });
    expect(read.values).toHaveLength(keys.length);
    const undecoded: string[] = [];
    const differing: string[] = [];
    for (const value of read.values) {
      expect(payloadKeyType(value.payload!)).toBe(value.type);
      const decoded = payloadItems(value.payload!);
      if (value.type === 'stream') {
        expect(decoded).toBeUndefined();
        continue;
      }
      // Buffer.equals, not toEqual: toEqual walks megabyte values byte by byte.
      const items = value.items!;
      if (!decoded) undecoded.push(value.key.toString('latin1'));
      else if (decoded.length !== items.length || !decoded.every((item, i) => item.equals(items[i]))) differing.push(value.key.toString('latin1'));
    }
    expect(undecoded).toEqual([]);
    expect(differing).toEqual([]);
  });

  test('fingerprints: parallel (1, 2 and 5 connections) equal the value-command reference', async () => {
    const t = await target(SOURCE);
    const reference = await fingerprintByCommands(client(SOURCE), ['*']);
    expect(reference.stream.count).toBe(2);
    for (const connections of [1, 2, 5]) expect(await fingerprintRedis(t, connections)).toEqual(reference);
    // Overlapping patterns list keys twice; each still counts once.
    const overlapping = await target(SOURCE, ['*', 'bulk:*', 'str:*']);
    expect(await fingerprintRedis(overlapping, 3)).toEqual(reference);
  });

  test('backup over several connections, restore over several connections: same fingerprint, same TTLs', async () => {
    const t = await target(SOURCE);
    const reference = await fingerprintByCommands(client(SOURCE), ['*']);
    const artifacts = fsArtifacts();
    {
      const single = await backupRedis(t, artifacts.sink, quiet, {}, 1);
      const parallel = await backupRedis(t, fsArtifacts().sink, quiet, {}, 4);
      expect(single.fingerprint).toEqual(reference);
      expect(parallel.fingerprint).toEqual(reference);

      const restored = await target(12);
      await client(12).flushdb();
      await redis.restore(artifacts.source(), restored, {}, quiet);
      expect(await fingerprintByCommands(client(12), ['*'])).toEqual(reference);
      expect(await fingerprintRedis(restored)).toEqual(reference);
      const verification = await redis.verifyRestore!(single.fingerprint, artifacts.source(), restored, {}, quiet);
      expect(verification.differences).toEqual([]);
      for (const key of ['', 'str:lzf', 'hash:small', 'set:large', 'stream:events', 'bulk:0:0']) {
        const [from, to] = await Promise.all([client(SOURCE).pexpiretime(key), client(12).pexpiretime(key)]);
        expect(to).toBe(from);
      }
      expect(await client(12).pexpiretime('bulk:1:1')).toBe(-1);
    }
  });
});

describe('a reader connection that dies fails the backup', () => {
  test('CLIENT KILL of one reader: TransientError, no manifest', async () => {
    const DB = 13;
    const loader = client(DB);
    await loader.flushdb();
    for (let start = 0; start < 60_000; start += 10_000) {
      const p = loader.pipeline();
      for (let i = start; i < start + 10_000; i++) p.set(`k:${i}`, `value ${i} `.padEnd(200, 'v'));
      await exec(p);
    }
    const s3 = testS3Client();
    const vault = vaultOf(await createTestBucket(s3, 'redis-killed'));
    const ctx: EngineContext = {
      config: testRuntimeConfig({ bucket: vault.bucket, components: { redis: { group: 'database', source: { db: DB, keyPatterns: ['*'] } } } }),
      vault,
      env: { ...process.env, NCA_REDIS_URL: file.server.url },
      log: quiet,
      runner: 'test',
      now: () => new Date(),
    };
    const backupId = '20261201T050000Z-kill01';
    const running = runBackup(ctx, { component: 'redis', backupId, trigger: 'manual' });
    const outcome = running.then(
      () => undefined,
      (error: Error) => error,
    );

    // Kill the first reader connection as soon as it shows up, from another client.
    const admin = client();
    let killed = 0;
    let settled = false;
    void outcome.then(() => (settled = true));
    while (!settled && killed === 0) {
      const list = (await admin.client('LIST')) as string;
      const reader = list.split('\n').find((line) => line.includes(` name=${STREAM_CONNECTION_NAME} `));
      const id = reader && / id=(\d+) /.exec(` ${reader}`)?.[1];
      if (id) killed = Number(await admin.client('KILL', 'ID', id));
    }
    expect(killed).toBe(1);

    const error = await outcome;
    expect(error?.name).toBe('TransientError');
    expect(error?.message).toMatch(/Connection is closed/);
    expect(await listKeys(s3, vault.bucket, `backups/${manifestKey('database', 'redis', backupId)}`)).toEqual([]);
    // No connection of the backup is left open.
    const after = (await admin.client('LIST')) as string;
    expect(after).not.toContain(`name=${STREAM_CONNECTION_NAME} `);
  });
});
