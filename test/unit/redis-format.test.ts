/**
 * The Redis component's pure parts: the dump format (round trip, binary keys, damaged streams, format
 * version), DUMP payload decoding, Redis globs, the fingerprint arithmetic, the key set that
 * deduplicates SCAN, RDB version rules, restore options and connection settings.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { IntegrityError, InvalidInputError, VersionMismatchError } from '../../functions/core/errors';
import { checkRestoreCompatibility, oldestServerFor, rdbVersionForServer, type ServerFacts } from '../../functions/components/redis/compatibility';
import { connectRedis, describeTarget, parseTargetDatabase, type RedisTarget } from '../../functions/components/redis/connection';
import { canonicalDigest, canonicalItems, FingerprintBuilder } from '../../functions/components/redis/digest';
import {
  DUMP_MAGIC,
  encodeHeader,
  encodeRecords,
  encodeTrailer,
  forEachRecord,
  openDump,
  type DumpHeader,
  type DumpRecord,
} from '../../functions/components/redis/format';
import { compileGlob, globMatch } from '../../functions/components/redis/glob';
import { KeyScope, parseRedisRestoreOptions } from '../../functions/components/redis/options';
import { decodeStringPayload, lzfDecompress, payloadRdbVersion } from '../../functions/components/redis/payload';
import { KeySet } from '../../functions/components/redis/scan';
import { checkReplaceScope, redisEntry } from '../../functions/components/redis';

const header: DumpHeader = { db: 0, keyPatterns: ['*'], serverVersion: '7.0.15', rdbVersion: 10, createdAt: '2026-01-01T00:00:00.000Z' };

/** A fake DUMP payload: RDB string type, 6-bit length, bytes, RDB version (LE), 8 bytes of CRC. */
function payload(value: string, rdbVersion = 10): Buffer {
  const body = Buffer.from(value);
  const trailer = Buffer.alloc(10);
  trailer.writeUInt16LE(rdbVersion, 0);
  return Buffer.concat([Buffer.from([0, body.length]), body, trailer]);
}

function record(key: Buffer | string, overrides: Partial<DumpRecord> = {}): DumpRecord {
  const k = Buffer.isBuffer(key) ? key : Buffer.from(key);
  return { key: k, type: 'string', expiresAt: 0, digest: canonicalDigest('string', k, [Buffer.from('v')]), payload: payload('v'), ...overrides };
}

function dumpBytes(records: DumpRecord[], trailer = { records: records.length, skippedExpired: 0, rdbVersion: 10 }): Buffer {
  return Buffer.concat([encodeHeader(header), encodeRecords(records), encodeTrailer(trailer)]);
}

/** The bytes as a stream cut into small chunks, so records straddle chunk boundaries. */
function chunked(bytes: Buffer, size = 7): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return Readable.from(chunks);
}

async function readAll(stream: Readable) {
  const reader = await openDump(stream, { name: 'db0.rdbdump' });
  const records: DumpRecord[] = [];
  const trailer = await forEachRecord(reader, (r) => void records.push(r));
  return { header: reader.header, records, trailer };
}

describe('redis dump format', () => {
  test('round trip keeps binary keys, types, absolute expiry, digests and payloads, across chunk boundaries', async () => {
    const binary = Buffer.from([0x00, 0xff, 0x0a, 0x0d, 0x80, 0x2a]);
    const records = [
      record('memory:working:1'),
      record(binary, { type: 'hash', expiresAt: 1_893_456_000_123 }),
      record('', { type: 'stream', payload: Buffer.concat([Buffer.alloc(70_000, 1), payload('')]) }),
      record('z', { type: 'other' }),
    ];
    const bytes = dumpBytes(records, { records: 4, skippedExpired: 3, rdbVersion: 10 });
    expect(bytes.subarray(0, 8)).toEqual(DUMP_MAGIC);
    for (const size of [1, 7, 1 << 16]) {
      const read = await readAll(chunked(bytes, size));
      expect(read.header).toEqual(header);
      expect(read.trailer).toEqual({ records: 4, skippedExpired: 3, rdbVersion: 10 });
      expect(read.records.map((r) => ({ ...r, key: Buffer.from(r.key), digest: Buffer.from(r.digest), payload: Buffer.from(r.payload) }))).toEqual(records);
    }
  });

  test('an empty dump has a header and a trailer with 0 records', async () => {
    const read = await readAll(chunked(dumpBytes([])));
    expect(read.records).toEqual([]);
    expect(read.trailer.records).toBe(0);
  });

  test.each([
    ['cut inside a record', (b: Buffer) => b.subarray(0, b.length - 40), /ends in the middle of record 2/],
    ['cut before the trailer', (b: Buffer) => b.subarray(0, b.length - 19), /ends after 2 records without its trailer \(truncated\)/],
    ['cut inside the trailer', (b: Buffer) => b.subarray(0, b.length - 5), /ends inside its trailer/],
    ['bytes after the trailer', (b: Buffer) => Buffer.concat([b, Buffer.from([0])]), /has bytes after its trailer/],
    ['a garbled tag', (b: Buffer) => Object.assign(Buffer.from(b), { [b.length - 19]: 0x07 }), /unknown tag 0x07 where record 3 should start/],
    ['a trailer whose count disagrees', (b: Buffer) => Buffer.concat([b.subarray(0, b.length - 19), encodeTrailer({ records: 3, skippedExpired: 0, rdbVersion: 10 })]), /holds 2 records but its trailer says 3/],
    ['another magic', (b: Buffer) => Buffer.concat([Buffer.from('REDIS0010'), b.subarray(9)]), /does not start with the nca-backup Redis dump magic/],
    ['nothing at all', () => Buffer.alloc(0), /too short to be an nca-backup Redis dump/],
    ['a header that is not JSON', (b: Buffer) => Object.assign(Buffer.from(b), { 14: 0x7e }), /header that is not JSON/],
  ])('a stream with %s is refused with IntegrityError', async (_what, damage, message) => {
    const bytes = damage(dumpBytes([record('a'), record('b')]));
    const failure = readAll(chunked(bytes));
    await expect(failure).rejects.toThrow(IntegrityError);
    await expect(failure).rejects.toThrow(message);
  });

  test('the header is checked before any record is handed out', async () => {
    const bytes = dumpBytes([record('a')]);
    bytes.writeUInt16BE(2, 8);
    await expect(openDump(chunked(bytes), { name: 'db0.rdbdump' })).rejects.toThrow(VersionMismatchError);
    await expect(openDump(chunked(bytes), { name: 'db0.rdbdump' })).rejects.toThrow('is in Redis dump format version 2; this nca-backup reads up to version 1');
  });

  test('an error of the underlying stream (the vault\'s digest check) passes through unchanged', async () => {
    const bytes = dumpBytes([record('a'), record('b')]);
    const stream = new Readable({ read() {} });
    stream.push(bytes.subarray(0, 60));
    setImmediate(() => stream.destroy(new IntegrityError('artifact db0.rdbdump has SHA-256 x, the manifest says y', { component: 'test' })));
    await expect(readAll(stream)).rejects.toThrow('has SHA-256 x, the manifest says y');
  });
});

describe('DUMP payloads', () => {
  test('the RDB version is read from the trailer', () => {
    expect(payloadRdbVersion(payload('x', 11))).toBe(11);
    expect(payloadRdbVersion(Buffer.alloc(5))).toBeUndefined();
  });

  test('plain and integer-encoded strings decode to what GET returns', () => {
    expect(decodeStringPayload(payload('hello'))).toEqual(Buffer.from('hello'));
    const int = (enc: number, bytes: number[]) => Buffer.concat([Buffer.from([0, 0xc0 | enc, ...bytes]), Buffer.alloc(10)]);
    expect(decodeStringPayload(int(0, [0xfe]))?.toString()).toBe('-2');
    expect(decodeStringPayload(int(1, [0x39, 0x30]))?.toString()).toBe('12345');
    expect(decodeStringPayload(int(2, [0x15, 0xcd, 0x5b, 0x07]))?.toString()).toBe('123456789');
  });

  test('LZF: literal runs and overlapping back references; damaged input is refused', () => {
    expect(lzfDecompress(Buffer.from([0x00, 0x61, 0xe0, 0x00, 0x00]), 10)?.toString()).toBe('a'.repeat(10));
    expect(lzfDecompress(Buffer.from([0x02, 0x61, 0x62, 0x63, 0x20, 0x02]), 6)?.toString()).toBe('abcabc');
    expect(lzfDecompress(Buffer.from([0x00, 0x61, 0x20, 0x05]), 4)).toBeUndefined();
    const lzfString = Buffer.concat([Buffer.from([0, 0xc3, 5, 10, 0x00, 0x61, 0xe0, 0x00, 0x00]), Buffer.alloc(10)]);
    expect(decodeStringPayload(lzfString)?.toString()).toBe('a'.repeat(10));
  });

  test('payloads of other types or unknown layouts are left to GET', () => {
    expect(decodeStringPayload(Buffer.concat([Buffer.from([4, 0]), Buffer.alloc(10)]))).toBeUndefined();
    expect(decodeStringPayload(Buffer.concat([Buffer.from([0, 5, 0x61]), Buffer.alloc(10)]))).toBeUndefined();
  });
});

describe('Redis globs', () => {
  test.each([
    ['*', '', true],
    ['memory:*', 'memory:working:1', true],
    ['memory:*', 'memo', false],
    ['memory:*:stats', 'memory:working:stats', true],
    ['memory:*:stats', 'memory:working:stats:x', false],
    ['h?llo', 'hallo', true],
    ['h?llo', 'hllo', false],
    ['h[ae]llo', 'hello', true],
    ['h[^e]llo', 'hello', false],
    ['h[a-b]llo', 'hbllo', true],
    ['h[b-a]llo', 'hallo', true],
    ['h\\*llo', 'h*llo', true],
    ['h\\*llo', 'hello', false],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'aXXbYY', false],
    ['[', 'a', false],
  ])('%s matches %j: %s', (pattern, key, expected) => {
    expect(globMatch(compileGlob(pattern), Buffer.from(key))).toBe(expected);
  });

  test('binary keys match byte by byte', () => {
    expect(globMatch(compileGlob('bin:*'), Buffer.from([0x62, 0x69, 0x6e, 0x3a, 0x00, 0xff]))).toBe(true);
  });

  test('a restore scope is the backup patterns narrowed by keyPattern', () => {
    const scope = new KeyScope(['memory:*', 'session:*'], 'memory:working:*');
    expect(scope.wholeDatabase).toBe(false);
    expect(scope.contains(Buffer.from('memory:working:1'))).toBe(true);
    expect(scope.contains(Buffer.from('memory:episodic:1'))).toBe(false);
    expect(new KeyScope(['*']).wholeDatabase).toBe(true);
    expect(new KeyScope(['*'], 'a*').wholeDatabase).toBe(false);
  });
});

describe('fingerprint arithmetic', () => {
  const key = Buffer.from('k');
  test('collections are canonical: order of hash fields and set members does not matter, list order does', () => {
    const [a, b, c] = ['a', 'b', 'c'].map((s) => Buffer.from(s));
    expect(canonicalDigest('set', key, canonicalItems.set([a, b, c]))).toEqual(canonicalDigest('set', key, canonicalItems.set([c, a, b])));
    expect(canonicalDigest('hash', key, canonicalItems.hash([a, b], [c, a]))).toEqual(canonicalDigest('hash', key, canonicalItems.hash([b, a], [a, c])));
    expect(canonicalDigest('list', key, canonicalItems.list([a, b]))).not.toEqual(canonicalDigest('list', key, canonicalItems.list([b, a])));
    expect(canonicalDigest('list', key, [a])).not.toEqual(canonicalDigest('set', key, [a]));
    // Scores compare as numbers, whatever their printed form.
    expect(canonicalItems.zset([a, Buffer.from('1.50')])).toEqual(canonicalItems.zset([a, Buffer.from('1.5')]));
    expect(canonicalItems.zset([a, Buffer.from('inf')])[1].readDoubleBE(0)).toBe(Infinity);
  });

  test('small values (one buffer) and large ones (hashed piece by piece) follow the documented layout', () => {
    const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
    for (const items of [[Buffer.from('x'), Buffer.from('yz')], [Buffer.alloc(1 << 20, 7), Buffer.alloc(1 << 20, 8)]]) {
      const expected = createHash('sha256').update('nca-redis-value-v1\0list\0').update(u32(1)).update(key).update(u32(2));
      for (const item of items) expected.update(u32(item.length)).update(item);
      expect(canonicalDigest('list', key, items)).toEqual(expected.digest());
    }
  });

  test('the per-type digest is independent of key order and sees one changed key', () => {
    const digests = Array.from({ length: 50 }, (_, i) => canonicalDigest('string', Buffer.from(`k${i}`), [Buffer.from(`v${i}`)]));
    const forward = new FingerprintBuilder();
    digests.forEach((d) => forward.add('string', d));
    const backward = new FingerprintBuilder();
    [...digests].reverse().forEach((d) => backward.add('string', d));
    expect(forward.result()).toEqual(backward.result());
    expect(Object.keys(forward.result())).toEqual(['string', 'list', 'set', 'zset', 'hash', 'stream']);
    expect(forward.result().string.count).toBe(50);
    const changed = new FingerprintBuilder();
    digests.slice(1).forEach((d) => changed.add('string', d));
    changed.add('string', canonicalDigest('string', Buffer.from('k0'), [Buffer.from('other')]));
    expect(changed.result().string.count).toBe(50);
    expect(changed.result().string.digest).not.toBe(forward.result().string.digest);
    expect(changed.result().hash).toEqual(forward.result().hash);
  });
});

describe('the SCAN key set', () => {
  test('remembers keys exactly, through growth', () => {
    const set = new KeySet(4);
    for (let i = 0; i < 20_000; i++) expect(set.add(Buffer.from(`key:${i}`))).toBe(true);
    for (let i = 0; i < 20_000; i += 997) expect(set.add(Buffer.from(`key:${i}`))).toBe(false);
    expect(set.add(Buffer.from([0]))).toBe(true);
    expect(set.add(Buffer.alloc(0))).toBe(true);
    expect(set.add(Buffer.alloc(0))).toBe(false);
    expect(set.size).toBe(20_002);
  });

  test('tells apart keys that differ only by zero bytes, at the short/long boundary and beyond it', () => {
    const set = new KeySet(4);
    const keys = [
      ...Array.from({ length: 5 }, (_, n) => Buffer.alloc(n)),
      Buffer.from([1, 0]),
      Buffer.from([0, 1]),
      ...[255, 256, 257, 10_000].flatMap((n) => [Buffer.alloc(n, 'k'), Buffer.concat([Buffer.alloc(n - 1, 'k'), Buffer.from([0])])]),
    ];
    for (const key of keys) expect(set.add(key)).toBe(true);
    for (const key of keys) expect(set.add(Buffer.from(key))).toBe(false);
    expect(set.size).toBe(keys.length);
  });
});

describe('RDB versions', () => {
  test.each([
    ['redis', '7.4.1', 12],
    ['redis', '8.0.2', 12],
    ['redis', '7.2.4', 11],
    ['redis', '7.0.15', 10],
    ['redis', '6.2.14', 9],
    ['redis', '5.0.7', 9],
    ['redis', '4.0.14', 8],
    ['redis', '3.2.12', 7],
    ['redis', '2.8.24', 6],
    ['valkey', '8.0.1', 11],
    ['valkey', '9.0.0', 80],
  ] as const)('%s %s reads up to RDB %d', (name, version, rdb) => {
    expect(rdbVersionForServer(name, version)).toBe(rdb);
  });

  const target = (over: Partial<ServerFacts> = {}): ServerFacts => ({ serverName: 'redis', serverVersion: '7.0.15', serverMajor: 7, rdbVersion: 10, rdbVersionFrom: 'dump', exactExpiry: true, ...over });
  const source = (rdbVersion: number, serverVersion = '7.2.4') => ({ serverVersion, serverMajor: 7, database: 'db0', rdbVersion });

  test('a dump of a newer RDB version is refused with both versions named', () => {
    expect(() => checkRestoreCompatibility(source(11), target())).toThrow(VersionMismatchError);
    expect(() => checkRestoreCompatibility(source(11), target())).toThrow(
      'redis: the backup holds RDB version 11 (Redis 7.2.4); the target Redis 7.0.15 reads up to RDB version 10. Restore into Redis 7.2 or newer',
    );
    expect(() => checkRestoreCompatibility(source(10, '7.0.11'), target())).not.toThrow();
    expect(() => checkRestoreCompatibility(source(9, '6.2.6'), target())).not.toThrow();
    expect(oldestServerFor(12)).toBe('Redis 7.4');
  });

  test('Valkey refuses the RDB versions of Redis 7.4 and later', () => {
    expect(() => checkRestoreCompatibility(source(12, '7.4.1'), target({ serverName: 'valkey', serverVersion: '9.0.0', serverMajor: 9, rdbVersion: 80 }))).toThrow(
      /the target Valkey 9\.0\.0 refuses RDB versions 12-79/,
    );
    expect(() => checkRestoreCompatibility(source(11), target({ serverName: 'valkey', serverVersion: '9.0.0', serverMajor: 9, rdbVersion: 80 }))).not.toThrow();
  });
});

describe('redis restore options', () => {
  test('mode and keyPattern are checked; targetDatabase is left to retarget', () => {
    expect(parseRedisRestoreOptions({})).toEqual({});
    expect(parseRedisRestoreOptions({ mode: 'merge', keyPattern: 'memory:*', targetDatabase: '2' })).toEqual({ mode: 'merge', keyPattern: 'memory:*' });
    expect(() => parseRedisRestoreOptions({ mode: 'overwrite' })).toThrow(/redis: options\.mode must be "replace" or "merge", not "overwrite"/);
    expect(() => parseRedisRestoreOptions({ keyPattern: '' })).toThrow(/options\.keyPattern must be a non-empty glob/);
    expect(() => parseRedisRestoreOptions({ keyPattern: 3 })).toThrow(InvalidInputError);
    expect(() => parseRedisRestoreOptions({ flush: true })).toThrow(/options\.flush is not a Redis restore option/);
  });

  test('targetDatabase must be a decimal database index', async () => {
    const target = await connectRedis({ db: 0, keyPatterns: ['*'] }, { NCA_REDIS_URL: 'redis://127.0.0.1:6390' });
    expect(redisEntry.retarget(target, { targetDatabase: '3' }).db).toBe(3);
    expect(redisEntry.retarget(target, {}).db).toBe(0);
    // Manifests name the database "db3", and a resolved restore carries that name.
    expect(redisEntry.retarget(target, { targetDatabase: 'db3' }).db).toBe(3);
    expect(parseTargetDatabase('15')).toBe(15);
    for (const bad of ['-1', '1.5', '03', 'x']) {
      expect(() => redisEntry.retarget(target, { targetDatabase: bad })).toThrow(/redis: targetDatabase '.*' is not a Redis database index/);
    }
  });
});

describe('redis connection settings', () => {
  const source = { db: 2, keyPatterns: ['memory:*'] };

  test('NCA_REDIS_URL wins over the secret; the database and patterns come from the configuration', async () => {
    const fetchSecret = jest.fn();
    const target = await connectRedis({ ...source, secretArn: 'arn:secret' }, { NCA_REDIS_URL: 'rediss://user:s3cret@cache.local:6380/7' }, fetchSecret);
    expect(fetchSecret).not.toHaveBeenCalled();
    expect(target).toEqual({ host: 'cache.local', port: 6380, username: 'user', password: 's3cret', tls: true, db: 2, keyPatterns: ['memory:*'] });
    expect(describeTarget(target)).toBe('cache.local:6380/db2');
  });

  test('a secret defaults to TLS; a url without password takes REDISCLI_AUTH; patterns default to every key', async () => {
    const fromSecret = await connectRedis({ db: 0, keyPatterns: [], secretArn: 'arn:secret' }, {}, async () => JSON.stringify({ host: 'master.cache.amazonaws.com', port: '6379', password: 'p' }));
    expect(fromSecret).toEqual({ host: 'master.cache.amazonaws.com', port: 6379, username: undefined, password: 'p', tls: true, db: 0, keyPatterns: ['*'] });
    const plain = await connectRedis({ db: 0, keyPatterns: ['*'], secretArn: 'arn:secret' }, {}, async () => JSON.stringify({ host: 'h', tls: false }));
    expect(plain.tls).toBe(false);
    const local = await connectRedis({ db: 0, keyPatterns: ['*'], url: 'redis://127.0.0.1:6399' }, { REDISCLI_AUTH: 'from-env' });
    expect(local).toMatchObject({ port: 6399, password: 'from-env', tls: false });
  });

  test('bad settings are named without echoing a URL or secret', async () => {
    const failure = connectRedis(source, { NCA_REDIS_URL: 'http://user:s3cret@host' });
    await expect(failure).rejects.toThrow(/redis: the Redis connection URL uses http:\/\//);
    await expect(connectRedis(source, { NCA_REDIS_URL: 'not a url s3cret' })).rejects.toThrow(/^redis: the Redis connection URL is not a valid/);
    await expect(connectRedis(source, { NCA_REDIS_URL: 'not a url s3cret' }).catch((e: Error) => e.message)).resolves.not.toContain('s3cret');
    await expect(connectRedis(source, {}, async () => '')).rejects.toThrow(/no connection for Redis/);
    await expect(connectRedis({ ...source, secretArn: 'arn:x' }, {}, async () => '{oops')).rejects.toThrow(/secret arn:x is not JSON/);
    await expect(connectRedis({ ...source, secretArn: 'arn:x' }, {}, async () => '{"port": 1}')).rejects.toThrow(/secret arn:x lacks host/);
    await expect(connectRedis({ db: -1, keyPatterns: ['*'] }, { NCA_REDIS_URL: 'redis://h' })).rejects.toThrow(/backup\.sources\.redis\.db must be a database index/);
  });
});

describe('replace scope against what the safety backup saves', () => {
  const target = (keyPatterns: string[]) => ({ host: 'h', port: 1, tls: false, db: 0, keyPatterns }) as RedisTarget;
  const source = (keyPatterns: string[]) => ({ serverVersion: '7.0.15', serverMajor: 7, database: 'db0', keyPatterns });

  test('allowed: a deployment saving every key, the same patterns, a key pattern among them, or a merge', () => {
    expect(() => checkReplaceScope(source(['*']), target(['*']), {})).not.toThrow();
    expect(() => checkReplaceScope(source(['memory:*']), target(['memory:*', 'session:*']), {})).not.toThrow();
    expect(() => checkReplaceScope(source(['*']), target(['memory:*']), { keyPattern: 'memory:*' })).not.toThrow();
    expect(() => checkReplaceScope(source(['*']), target(['memory:*']), { mode: 'merge' })).not.toThrow();
  });

  test('refused: a backup of every key replaced where only memory:* keys are saved first', () => {
    expect(() => checkReplaceScope(source(['*']), target(['memory:*']), {})).toThrow(
      /a replace restore would clear keys matching \*, but the safety backup only saves memory:\*/,
    );
  });
});
