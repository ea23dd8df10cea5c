/**
 * Which servers can take which dumps. RESTORE refuses a payload whose RDB version is newer than the
 * server's own ("DUMP payload version or checksum are wrong"), so a restore checks that first, before it
 * writes anything, and names both versions.
 *
 * A server's RDB version is read from the trailer of a DUMP of one of its small keys when it has any
 * (exact, covers forks and releases newer than this table, and writes nothing); otherwise it is deduced
 * from its version (RDB_VERSION in rdb.h):
 *   Redis 2.6-3.0: 6, 3.2: 7, 4.0: 8, 5.0-6.2: 9, 7.0: 10, 7.2: 11, 7.4 and later: 12 (at least).
 *   Valkey 7.2-8.x: 11, 9.0: 80, 9.2: 81. Valkey refuses RDB 12-79 ("foreign": Redis 7.4+ formats).
 */
import type Redis from 'ioredis';
import { VersionMismatchError } from '../../core/errors';
import type { SourceInfo } from '../types';
import { info } from './connection';
import { payloadRdbVersion } from './payload';

export type ServerName = 'redis' | 'valkey';

export interface ServerFacts {
  readonly serverName: ServerName;
  readonly serverVersion: string;
  readonly serverMajor: number;
  /** The highest RDB version the server reads (= the one it writes). */
  readonly rdbVersion: number;
  /** "dump": read from a DUMP payload; "version": deduced from the server version. */
  readonly rdbVersionFrom: 'dump' | 'version';
  /** PEXPIRETIME exists (Redis 7.0+, every Valkey): deadlines are read exactly. */
  readonly exactExpiry: boolean;
}

const REDIS_RDB: readonly [major: number, minor: number, rdb: number][] = [
  [7, 4, 12],
  [7, 2, 11],
  [7, 0, 10],
  [5, 0, 9],
  [4, 0, 8],
  [3, 2, 7],
  [2, 6, 6],
];

const VALKEY_RDB: readonly [major: number, minor: number, rdb: number][] = [
  [9, 2, 81],
  [9, 0, 80],
  [7, 2, 11],
];

export const FOREIGN_RDB_FOR_VALKEY = { min: 12, max: 79 } as const;

function parseVersion(version: string): [number, number] {
  const [major, minor] = version.split('.').map((part) => Number.parseInt(part, 10));
  return [Number.isFinite(major) ? major : 0, Number.isFinite(minor) ? minor : 0];
}

/** The RDB version a server of this name and version reads, from the table above. */
export function rdbVersionForServer(name: ServerName, version: string): number {
  const [major, minor] = parseVersion(version);
  for (const [m, n, rdb] of name === 'valkey' ? VALKEY_RDB : REDIS_RDB) {
    if (major > m || (major === m && minor >= n)) return rdb;
  }
  return name === 'valkey' ? 11 : 5;
}

/** The oldest server release that reads a dump of this RDB version, for hints. */
export function oldestServerFor(rdbVersion: number): string {
  if (rdbVersion >= 80) {
    const match = VALKEY_RDB.slice().reverse().find(([, , rdb]) => rdb >= rdbVersion);
    return match ? `Valkey ${match[0]}.${match[1]}` : `a Valkey release that reads RDB version ${rdbVersion}`;
  }
  const match = REDIS_RDB.slice().reverse().find(([, , rdb]) => rdb >= rdbVersion);
  return match ? `Redis ${match[0]}.${match[1]}` : `a Redis release that reads RDB version ${rdbVersion}`;
}

/** Keys larger than this are not dumped just to read a version number. */
const PROBE_MAX_BYTES = 64 * 1024;
const PROBE_TRIES = 3;

/**
 * Reads the RDB version from a DUMP of some small existing key, in this database or another; writes
 * nothing. Undefined when there is no small key, or MEMORY USAGE, DUMP or SELECT are denied.
 */
async function probeRdbVersion(redis: Redis, db: number): Promise<number | undefined> {
  const dumpOf = async (): Promise<number | undefined> => {
    for (let attempt = 0; attempt < PROBE_TRIES; attempt++) {
      const key = await redis.randomkeyBuffer();
      if (!key) return undefined;
      const bytes = await redis.memory('USAGE', key, 'SAMPLES', 1);
      if (bytes === null || bytes > PROBE_MAX_BYTES) continue;
      const payload = await redis.dumpBuffer(key);
      if (payload) return payloadRdbVersion(payload);
    }
    return undefined;
  };
  try {
    const here = await dumpOf();
    if (here !== undefined) return here;
    const keyspace = await info(redis, 'keyspace');
    const other = [...keyspace.keys()].map((name) => Number(/^db(\d+)$/.exec(name)?.[1])).find((n) => Number.isInteger(n) && n !== db);
    if (other === undefined) return undefined;
    await redis.select(other);
    try {
      return await dumpOf();
    } finally {
      await redis.select(db);
    }
  } catch {
    // DUMP or SELECT denied by an ACL: the version table decides.
    return undefined;
  }
}

export async function serverFacts(redis: Redis, db: number): Promise<ServerFacts> {
  const server = await info(redis, 'server');
  const valkeyVersion = server.get('valkey_version');
  const serverName: ServerName = valkeyVersion || server.get('server_name') === 'valkey' ? 'valkey' : 'redis';
  const serverVersion = valkeyVersion ?? server.get('redis_version') ?? '0.0.0';
  const probed = await probeRdbVersion(redis, db);
  return {
    serverName,
    serverVersion,
    serverMajor: parseVersion(serverVersion)[0],
    rdbVersion: probed ?? rdbVersionForServer(serverName, serverVersion),
    rdbVersionFrom: probed === undefined ? 'version' : 'dump',
    exactExpiry: serverName === 'valkey' || parseVersion(serverVersion)[0] >= 7,
  };
}

const label = (name: unknown) => (name === 'valkey' ? 'Valkey' : 'Redis');

/** Whether a payload of `rdbVersion` can be restored into `target`; the reason when it cannot. */
export function rdbIncompatibility(rdbVersion: number, target: ServerFacts): string | undefined {
  if (rdbVersion > target.rdbVersion) return `reads up to RDB version ${target.rdbVersion}`;
  if (target.serverName === 'valkey' && rdbVersion >= FOREIGN_RDB_FOR_VALKEY.min && rdbVersion <= FOREIGN_RDB_FOR_VALKEY.max) {
    return `refuses RDB versions ${FOREIGN_RDB_FOR_VALKEY.min}-${FOREIGN_RDB_FOR_VALKEY.max} (formats of Redis 7.4 and later)`;
  }
  return undefined;
}

export function versionMismatch(
  source: { readonly rdbVersion: number; readonly serverVersion: string; readonly serverName?: unknown },
  target: ServerFacts,
  reason: string,
  context: { backupId?: string } = {},
): VersionMismatchError {
  return new VersionMismatchError(
    `the backup holds RDB version ${source.rdbVersion} (${label(source.serverName)} ${source.serverVersion}); the target ${label(target.serverName)} ${target.serverVersion} ${reason}.`,
    { component: 'redis', ...context, hint: `Restore into ${oldestServerFor(source.rdbVersion)} or newer, or upgrade the target first.` },
  );
}

/** Throws VersionMismatchError when artifacts described by `source` cannot be restored into `target`. */
export function checkRestoreCompatibility(source: SourceInfo, target: ServerFacts, context: { backupId?: string } = {}): void {
  const rdbVersion = typeof source.rdbVersion === 'number' ? source.rdbVersion : undefined;
  if (rdbVersion === undefined || rdbVersion === 0) return;
  const reason = rdbIncompatibility(rdbVersion, target);
  if (reason) throw versionMismatch({ rdbVersion, serverVersion: source.serverVersion, serverName: source.serverName }, target, reason, context);
}
