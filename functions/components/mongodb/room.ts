/**
 * Whether a MongoDB target has disk for a restore. mongod reports its data directory's file system in
 * dbStats (fsTotalSize, fsUsedSize); the backup records what the backed-up collections took on the
 * source's disk (`source.storageBytes`: dbStats storageSize + indexSize, in the backed-up data's share of
 * dataSize). The restore loads staging collections beside the target's, which stay until the swap renames
 * the new ones over them: all of it is needed free on top of what the target holds now.
 */
import type { Db } from 'mongodb';
import type { SourceInfo } from '../types';
import { judgeRoom, type Room } from '../room';
import type { MongoRestoreOptions } from './options';

interface DbStats {
  readonly dataSize?: number;
  readonly storageSize?: number;
  readonly indexSize?: number;
  readonly fsTotalSize?: number;
  readonly fsUsedSize?: number;
}

const figure = (value: unknown) => (typeof value === 'number' || typeof value === 'bigint' ? Number(value) : Number((value as { valueOf?(): unknown })?.valueOf?.() ?? NaN));

export async function dbStats(db: Db): Promise<DbStats> {
  const stats = await db.command({ dbStats: 1 });
  return {
    dataSize: figure(stats.dataSize),
    storageSize: figure(stats.storageSize),
    indexSize: figure(stats.indexSize),
    ...(stats.fsTotalSize !== undefined && stats.fsUsedSize !== undefined ? { fsTotalSize: figure(stats.fsTotalSize), fsUsedSize: figure(stats.fsUsedSize) } : {}),
  };
}

/** The disk the backed-up collections take on the source: their share (by BSON bytes) of storage and indexes. */
export function storageBytesOf(stats: DbStats, backedUpBytes: number): number {
  const onDisk = (stats.storageSize || 0) + (stats.indexSize || 0);
  const dataSize = stats.dataSize || 0;
  return dataSize <= 0 ? 0 : Math.round(onDisk * Math.min(1, backedUpBytes / dataSize));
}

export function mongoRoom(source: SourceInfo, stats: DbStats, where: string, options: MongoRestoreOptions): Room {
  const recorded = typeof source.storageBytes === 'number' ? source.storageBytes : undefined;
  const free = stats.fsTotalSize !== undefined && stats.fsUsedSize !== undefined ? Math.max(0, stats.fsTotalSize - stats.fsUsedSize) : undefined;
  const room = judgeRoom({
    neededBytes: recorded,
    needed: 'storageSize + indexSize of the backed-up collections on the source at backup time, free beside the collections they replace until the swap',
    availableBytes: free,
    available: 'dbStats fsTotalSize - fsUsedSize',
    where,
    unknownAvailable: `the server does not report free disk space (dbStats has no fsTotalSize and fsUsedSize on ${where})`,
  });
  if (options.collections !== undefined && room.verdict === 'insufficient') {
    return { ...room, verdict: 'unknown', reason: `${room.reason}; options.collections restores only part of the backup, so the figure is an upper bound` };
  }
  return room;
}
