/**
 * Whether a Redis target has memory for a restore, from INFO alone (CONFIG GET is refused on ElastiCache and
 * MemoryDB). The figures:
 * - needed: the memory the backed-up keys took on the source (`source.memoryBytes`, recorded at backup time:
 *   INFO memory's used_memory_dataset times the backed-up keys' share of all keys). A restore that selects
 *   keys (options.keyPattern) writes a part of it: then the figure is an upper bound and never refuses.
 * - available: maxmemory - used_memory, plus what the restore frees first: a replace restore of the whole
 *   database FLUSHes it (its keys' share of used_memory_dataset). Where what is freed is not known (a
 *   replace of some patterns, a merge that overwrites only the keys both hold), the restore is refused only
 *   when it would not fit even if every key of the target database were freed.
 * - maxmemory 0 (no limit): Redis may grow to the machine's memory (total_system_memory, when reported),
 *   which other processes share: that bounds the room, but never proves it.
 */
import type Redis from 'ioredis';
import type { SourceInfo } from '../types';
import { formatBytes, judgeRoom, type Room } from '../room';
import { describeTarget, info, type RedisTarget } from './connection';
import { KeyScope, type RedisRestoreOptions } from './options';

/** What INFO memory and INFO keyspace say, as the room check reads them. */
export interface RedisMemoryFacts {
  readonly maxmemory: number;
  readonly usedMemory: number;
  readonly usedMemoryDataset: number;
  /** Undefined where the server does not report it (ElastiCache hides it). */
  readonly totalSystemMemory?: number;
  readonly maxmemoryPolicy?: string;
  /** Keys per database index. */
  readonly keys: ReadonlyMap<number, number>;
}

const numberOf = (value: string | undefined) => (value === undefined || value === '' || !Number.isFinite(Number(value)) ? undefined : Number(value));

export async function memoryFacts(redis: Redis): Promise<RedisMemoryFacts> {
  const [memory, keyspace] = await Promise.all([info(redis, 'memory'), info(redis, 'keyspace')]);
  const keys = new Map<number, number>();
  for (const [name, value] of keyspace) {
    const db = /^db(\d+)$/.exec(name)?.[1];
    if (db !== undefined) keys.set(Number(db), Number(/keys=(\d+)/.exec(value)?.[1] ?? 0));
  }
  const usedMemory = numberOf(memory.get('used_memory')) ?? 0;
  const total = numberOf(memory.get('total_system_memory'));
  return {
    maxmemory: numberOf(memory.get('maxmemory')) ?? 0,
    usedMemory,
    usedMemoryDataset: numberOf(memory.get('used_memory_dataset')) ?? usedMemory,
    ...(total ? { totalSystemMemory: total } : {}),
    ...(memory.get('maxmemory_policy') ? { maxmemoryPolicy: memory.get('maxmemory_policy') } : {}),
    keys,
  };
}

/** The memory `count` keys take, estimated as their share (by key count, over every database) of used_memory_dataset. */
export function keysMemory(facts: RedisMemoryFacts, count: number): number {
  const total = [...facts.keys.values()].reduce((a, b) => a + b, 0);
  return total === 0 ? 0 : Math.round((facts.usedMemoryDataset * Math.min(count, total)) / total);
}

export function redisRoom(source: SourceInfo, target: RedisTarget, options: RedisRestoreOptions, facts: RedisMemoryFacts): Room {
  const where = `Redis ${describeTarget(target)}`;
  const recorded = typeof source.memoryBytes === 'number' ? source.memoryBytes : undefined;
  const needed = 'memory the backed-up keys took on the source (INFO used_memory_dataset, their share by key count)';
  const limited = facts.maxmemory > 0;
  const limit = limited ? facts.maxmemory : facts.totalSystemMemory;
  const free = limit === undefined ? undefined : Math.max(0, limit - facts.usedMemory);
  const of = limited ? 'maxmemory - used_memory' : 'total_system_memory - used_memory (maxmemory is 0: no limit of its own)';
  const targetKeysMemory = keysMemory(facts, facts.keys.get(target.db) ?? 0);
  const mode = options.mode ?? 'replace';
  const backupPatterns = Array.isArray(source.keyPatterns) ? (source.keyPatterns as string[]) : ['*'];
  const flushes = mode === 'replace' && new KeyScope(backupPatterns, options.keyPattern).wholeDatabase;

  const figures = {
    neededBytes: recorded,
    needed,
    where,
    unknownAvailable: 'the server reports neither maxmemory nor total_system_memory',
  };
  // A whole-database replace FLUSHes first: the database's keys free their memory before anything is written.
  const exact = flushes
    ? judgeRoom({ ...figures, availableBytes: free === undefined ? undefined : free + targetKeysMemory, available: `${of} + ${formatBytes(targetKeysMemory)} of the db${target.db} keys the restore flushes first` })
    : judgeRoom({ ...figures, availableBytes: free, available: of });
  let room = exact;
  if (!flushes && exact.verdict !== 'ok' && free !== undefined && recorded !== undefined) {
    // Freed: somewhere between nothing and every key of the database. Refused only if even all would not do.
    const bound = judgeRoom({ ...figures, availableBytes: free + targetKeysMemory, available: `${of} + all ${formatBytes(targetKeysMemory)} of the db${target.db} keys` });
    room =
      bound.verdict === 'insufficient'
        ? bound
        : { ...exact, verdict: 'unknown', reason: `${exact.reason}; it fits only if the keys it ${mode === 'merge' ? 'overwrites' : 'clears'} free enough of the ${formatBytes(targetKeysMemory)} the db${target.db} keys take` };
  }
  if (options.keyPattern !== undefined && room.verdict === 'insufficient') {
    room = { ...room, verdict: 'unknown', reason: `${room.reason}; options.keyPattern restores only part of the backup, so the figure is an upper bound` };
  }
  if (limited && room.verdict !== 'ok' && facts.maxmemoryPolicy && facts.maxmemoryPolicy !== 'noeviction') {
    room = { ...room, reason: `${room.reason}; maxmemory-policy ${facts.maxmemoryPolicy} evicts keys instead of refusing writes over the limit` };
  }
  if (!limited && room.verdict === 'ok') {
    room = { ...room, verdict: 'unknown', reason: `${room.reason}; other processes share the machine's memory, so this bounds the room without proving it` };
  }
  return room;
}
