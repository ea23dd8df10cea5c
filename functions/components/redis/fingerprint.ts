/**
 * The fingerprint of a live key space: every key matching the target's patterns, read batch by batch
 * with the same reader and canonical digests as a backup (digest.ts), so an unchanged key space and a
 * faithful restore of its backup give equal fingerprints. Redis has no snapshot to read from: a key
 * written while this runs may be counted in its state before or after the write.
 */
import type Redis from 'ioredis';
import type { Fingerprint } from '../types';
import { redisFailure, withRedis, type RedisTarget } from './connection';
import { FingerprintBuilder } from './digest';
import { BatchSizer, readKeys, type KeyValue } from './reader';
import { scanKeys } from './scan';

/** Calls `each` for every live key of `patterns` (each once), read in byte-bounded batches. */
export async function forEachLiveKey(redis: Redis, patterns: readonly string[], each: (value: KeyValue) => void): Promise<void> {
  const sizer = new BatchSizer();
  for await (const keys of scanKeys(redis, patterns)) {
    for (let i = 0; i < keys.length; ) {
      const slice = keys.slice(i, i + sizer.next);
      i += slice.length;
      const read = await readKeys(redis, slice, { dump: false });
      sizer.observe(slice.length, read.bytes);
      read.values.forEach(each);
    }
  }
}

export async function fingerprintKeySpace(redis: Redis, patterns: readonly string[]): Promise<Fingerprint> {
  const builder = new FingerprintBuilder();
  await forEachLiveKey(redis, patterns, (value) => builder.add(value.type, value.digest));
  return builder.result();
}

export function fingerprintRedis(target: RedisTarget): Promise<Fingerprint> {
  return withRedis(target, async (redis) => {
    try {
      return await fingerprintKeySpace(redis, target.keyPatterns);
    } catch (error) {
      throw redisFailure(error, target, 'taking the fingerprint');
    }
  });
}
