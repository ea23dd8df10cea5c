/**
 * The memory tiers' room: one part per tier restored, each about the store it lives in. The export does
 * not record what each tier takes on its store yet (Redis memory, MongoDB disk, PostgreSQL disk), so no part
 * is judged `ok` or refused; each reports what its store has available where the store tells (Redis
 * maxmemory - used_memory, MongoDB dbStats fsTotalSize - fsUsedSize), for the operator to compare.
 */
import { judgeRoom, type Room } from '../room';
import { NO_FREE_SPACE_OVER_SQL } from '../postgres/room';
import { freeDisk, targetDbStats } from '../mongodb/room';
import { memoryFacts } from '../redis/room';
import { describeRedis, withMongo, withRedis, type MemoryTarget } from './connection';
import type { MemoryTier } from './tiers';

const unrecorded = (tier: MemoryTier) => `the memory export does not record what the ${tier} tier takes on its store`;

async function tierRoom(target: MemoryTarget, tier: MemoryTier): Promise<Room> {
  const unknownNeeded = unrecorded(tier);
  if (tier === 'working' && target.working) {
    const facts = await withRedis(target.working.redis, memoryFacts);
    const free = facts.maxmemory > 0 ? Math.max(0, facts.maxmemory - facts.usedMemory) : undefined;
    return judgeRoom({ needed: '', availableBytes: free, available: 'maxmemory - used_memory', where: `Redis ${describeRedis(target.working.redis)}`, unknownNeeded });
  }
  if (tier === 'episodic' && target.episodic) {
    const { database } = target.episodic;
    const free = freeDisk(await withMongo(target.episodic.mongo, (client) => targetDbStats(client, database)));
    return judgeRoom({ needed: '', availableBytes: free, available: 'dbStats fsTotalSize - fsUsedSize', where: `MongoDB database "${database}"`, unknownNeeded });
  }
  return { verdict: 'unknown', reason: `${unknownNeeded}; ${NO_FREE_SPACE_OVER_SQL}` };
}

export async function memoryRoom(target: MemoryTarget, tiers: readonly MemoryTier[]): Promise<Room> {
  const parts = Object.fromEntries(await Promise.all(tiers.map(async (tier) => [tier, await tierRoom(target, tier)] as const)));
  return { verdict: 'unknown', reason: 'the room of the memory tiers is not judged: the export does not record their sizes on their stores (room.parts has what each store has available)', parts };
}
