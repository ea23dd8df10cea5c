/**
 * Whether a MongoDB target has disk for a restore. mongod reports its data directory's file system in
 * dbStats (fsTotalSize, fsUsedSize); the backup records what the backed-up collections took on the
 * source's disk (`source.storageBytes`: dbStats storageSize + indexSize, in the backed-up data's share of
 * dataSize). The restore loads staging collections beside the target's, which stay until the swap renames
 * the new ones over them: all of it is needed free on top of what the target holds now.
 */
import type { Db, MongoClient } from 'mongodb';
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

/** The file system's free bytes, when dbStats reports it: a total of 0 (what some servers say of a database that does not exist yet) is no report. */
export function freeDisk(stats: DbStats): number | undefined {
  const { fsTotalSize: total, fsUsedSize: used } = stats;
  return total !== undefined && used !== undefined && Number.isFinite(total) && Number.isFinite(used) && total > 0 ? Math.max(0, total - used) : undefined;
}

/**
 * dbStats of the target database, or of admin when the target reports no file system (it may not exist
 * yet): every database of a mongod shares its data directory's volume. admin may be refused to the
 * restore's user; then the target's own answer stands.
 */
export async function targetDbStats(client: MongoClient, database: string): Promise<DbStats> {
  const stats = await dbStats(client.db(database));
  if (freeDisk(stats) !== undefined || database === 'admin') return stats;
  const admin = await dbStats(client.db('admin')).catch(() => undefined);
  return admin && freeDisk(admin) !== undefined ? { ...stats, fsTotalSize: admin.fsTotalSize, fsUsedSize: admin.fsUsedSize } : stats;
}

export function mongoRoom(source: SourceInfo, stats: DbStats, where: string, options: MongoRestoreOptions): Room {
  const recorded = typeof source.storageBytes === 'number' ? source.storageBytes : undefined;
  const free = freeDisk(stats);
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
