/**
 * The fingerprint of a live key space: every key matching the target's patterns, read the way a backup
 * reads it (parallel.ts over several connections, values decoded from DUMP payloads where decode.ts
 * can, read with the value commands where it cannot) and summed with the same canonical digests
 * (digest.ts), so an unchanged key space and a faithful restore of its backup give equal fingerprints.
 * Redis has no snapshot to read from: a key written while this runs may be counted in its state before
 * or after the write.
 *
 * fingerprintByCommands is the reference: one connection, every value read with the value commands
 * (how fingerprints were taken before the DUMP decoding). Both give the same fingerprint; the tests
 * hold them to it.
 */
import type Redis from 'ioredis';
import type { Fingerprint } from '../types';
import { redisFailure, streamConnections, withRedis, withStreams, type RedisTarget } from './connection';
import { FingerprintBuilder } from './digest';
import { readKeySpace } from './parallel';
import { BatchSizer, readKeys } from './reader';
import type { RespConnection } from './resp';
import { scanKeys } from './scan';

/** The fingerprint of every live key of `patterns`, SCAN on `scanner`, keys read over `readers` (parallel.ts). */
export async function fingerprintKeySpace(scanner: Redis, readers: readonly RespConnection[], patterns: readonly string[]): Promise<Fingerprint> {
  const builder = new FingerprintBuilder();
  for await (const read of readKeySpace(scanner, readers, patterns, { dump: false })) {
    for (const value of read.values) builder.add(value.type, value.digest);
  }
  return builder.result();
}

/** The same fingerprint over one connection, every value read with the value commands (the reference). */
export async function fingerprintByCommands(redis: Redis, patterns: readonly string[]): Promise<Fingerprint> {
  const builder = new FingerprintBuilder();
  const sizer = new BatchSizer();
  for await (const keys of scanKeys(redis, patterns)) {
    for (let i = 0; i < keys.length; ) {
      const slice = keys.slice(i, i + sizer.next);
      i += slice.length;
      const read = await readKeys(redis, slice, { dump: false });
      sizer.observe(slice.length, read.bytes);
      for (const value of read.values) builder.add(value.type, value.digest);
    }
  }
  return builder.result();
}

export function fingerprintRedis(target: RedisTarget, connections = streamConnections()): Promise<Fingerprint> {
  return withRedis(target, async (redis) => {
    try {
      return await withStreams(target, connections, (readers) => fingerprintKeySpace(redis, readers, target.keyPatterns));
    } catch (error) {
      throw redisFailure(error, target, 'taking the fingerprint');
    }
  });
}
