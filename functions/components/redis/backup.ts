/**
 * The backup: a logical export that needs only SCAN, TYPE, PTTL, DUMP, TIME and read commands, so it
 * works where SYNC, BGSAVE, CONFIG and DEBUG are blocked (ElastiCache, MemoryDB). Keys are listed with
 * SCAN per pattern and read in byte-bounded batches over several connections (parallel.ts; each batch one
 * MULTI of expiry + DUMP per key, values decoded from the payloads: dumpread.ts, decode.ts), then
 * streamed into one artifact in the format of format.ts. The stream is pulled by the sink: readers stop
 * once one batch per connection waits to be consumed, so memory stays at a few batches (8 MiB of values
 * each at most) plus the key set that deduplicates SCAN (scan.ts).
 *
 * The fingerprint is summed from the records as they are written, never by a second pass over the
 * server, so it describes exactly the artifact.
 */
import { Readable } from 'node:stream';
import type Redis from 'ioredis';
import type { RespConnection } from './resp';
import type { ArtifactSink, ComponentBackupResult, Consistency, Logger, SourceInfo } from '../types';
import { describeTarget, redisFailure, streamConnections, withRedis, withStreams, type RedisTarget } from './connection';
import { serverFacts, type ServerFacts } from './compatibility';
import { FingerprintBuilder } from './digest';
import { DUMP_CONTENT_TYPE, DUMP_FORMAT_VERSION, dumpArtifactName, encodeHeader, encodeRecords, encodeTrailer, type DumpRecord } from './format';
import { payloadRdbVersion } from './payload';
import { readKeySpace } from './parallel';
import { keysMemory, memoryFacts } from './room';

export const CONSISTENCY: Consistency = {
  pointInTime: false,
  method:
    'SCAN in batches without a server snapshot (BGSAVE is not available on managed Redis): each key is read ' +
    'atomically (its expiry and DUMP in one MULTI/EXEC per batch; its value decoded from that payload, or, for ' +
    'streams and module types, read with TYPE, expiry, DUMP and the value commands in one more MULTI/EXEC), and the ' +
    'fingerprint is computed from exactly those reads; a key written during the backup is captured before or after the write, a key ' +
    'created during it may be missing, and one deleted or expired during it is skipped and counted.',
};

export function sourceInfo(facts: ServerFacts, target: RedisTarget, rdbVersion = facts.rdbVersion): SourceInfo {
  return {
    serverVersion: facts.serverVersion,
    serverMajor: facts.serverMajor,
    serverName: facts.serverName,
    database: `db${target.db}`,
    rdbVersion,
    keyPatterns: [...target.keyPatterns],
    format: `nca-backup redis dump v${DUMP_FORMAT_VERSION}`,
  };
}

/** Test seams: a test can act between SCAN listing keys and their being read (e.g. expire some). */
export interface BackupHooks {
  afterScan?(redis: Redis, keys: readonly Buffer[]): Promise<void>;
}

const PROGRESS_EVERY = 100_000;

export async function backupRedis(target: RedisTarget, sink: ArtifactSink, log: Logger, hooks: BackupHooks = {}, connections = streamConnections()): Promise<ComponentBackupResult> {
  return withRedis(target, async (redis) => {
    let facts: ServerFacts;
    try {
      facts = await serverFacts(redis, target.db);
    } catch (error) {
      throw redisFailure(error, target, 'reading INFO');
    }
    const name = dumpArtifactName(target.db);
    const fingerprint = new FingerprintBuilder();
    const stats = { keys: 0, skippedExpired: 0, typeChangeRetries: 0, payloadBytes: 0, rdbVersion: 0 };
    log.info('redis backup started', { target: describeTarget(target), keyPatterns: target.keyPatterns, server: facts.serverVersion, artifact: name });

    async function* produce(readers: readonly RespConnection[]): AsyncGenerator<Buffer> {
      yield encodeHeader({ db: target.db, keyPatterns: target.keyPatterns, serverVersion: facts.serverVersion, rdbVersion: facts.rdbVersion, createdAt: new Date().toISOString() });
      let nextProgress = PROGRESS_EVERY;
      try {
        const reads = readKeySpace(redis, readers, target.keyPatterns, { dump: true, exactExpiry: facts.exactExpiry }, { afterScan: (keys) => hooks.afterScan?.(redis, keys) ?? Promise.resolve() });
        for await (const read of reads) {
          stats.skippedExpired += read.vanished;
          stats.typeChangeRetries += read.retried;
          const records: DumpRecord[] = [];
          for (const value of read.values) {
            const payload = value.payload!;
            records.push({ key: value.key, type: value.type, expiresAt: value.expiresAt, digest: value.digest, payload });
            fingerprint.add(value.type, value.digest);
            stats.payloadBytes += payload.length;
            stats.rdbVersion = Math.max(stats.rdbVersion, payloadRdbVersion(payload) ?? 0);
          }
          stats.keys += records.length;
          // Yielding suspends this generator until the sink has taken the bytes: that is the backpressure.
          if (records.length > 0) yield encodeRecords(records);
          if (stats.keys >= nextProgress) {
            log.info('redis backup progress', { keys: stats.keys, skippedExpired: stats.skippedExpired, payloadBytes: stats.payloadBytes });
            nextProgress += PROGRESS_EVERY;
          }
        }
      } catch (error) {
        throw redisFailure(error, target, 'reading keys');
      }
      yield encodeTrailer({ records: stats.keys, skippedExpired: stats.skippedExpired, rdbVersion: stats.rdbVersion });
    }

    const artifact = await withStreams(target, connections, (readers) =>
      sink.write(name, Readable.from(produce(readers), { objectMode: false }), { contentType: DUMP_CONTENT_TYPE }),
    );
    if (stats.keys === 0) {
      log.warn('redis backup holds no keys', { target: describeTarget(target), keyPatterns: target.keyPatterns, skippedExpired: stats.skippedExpired });
    }
    if (stats.skippedExpired > 0) {
      log.info('keys expired or deleted during the backup were skipped', { skippedExpired: stats.skippedExpired });
    }
    // The memory these keys take, for a restore's room check (room.ts): INFO only, after the keys were read.
    let memoryBytes: number;
    try {
      memoryBytes = keysMemory(await memoryFacts(redis), stats.keys);
    } catch (error) {
      throw redisFailure(error, target, 'reading INFO memory');
    }
    log.info('redis backup completed', { keys: stats.keys, bytes: artifact.bytes, memoryBytes, skippedExpired: stats.skippedExpired });
    return {
      artifacts: [artifact],
      fingerprint: fingerprint.result(),
      source: { ...sourceInfo(facts, target, stats.rdbVersion || facts.rdbVersion), memoryBytes },
      consistency: CONSISTENCY,
      report: {
        keys: stats.keys,
        skippedExpired: stats.skippedExpired,
        typeChangeRetries: stats.typeChangeRetries,
        payloadBytes: stats.payloadBytes,
        database: `db${target.db}`,
        keyPatterns: [...target.keyPatterns],
      },
    };
  });
}
