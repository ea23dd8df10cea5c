/**
 * The restore, in two passes over the artifact so that a damaged or incompatible one changes nothing:
 *
 *  1. validate: stream the whole artifact without writing — header, every record's framing, the trailer's
 *     count, every payload's RDB version against the target's, and (through the artifact source) its
 *     size and SHA-256. Any failure here leaves the target exactly as it was.
 *  2. write: in replace mode clear the keys in scope first (FLUSHDB when the scope is the whole
 *     database, else SCAN + UNLINK of the matching keys), then stream the artifact again into pipelined
 *     `RESTORE key <expiry> payload REPLACE ABSTTL`, in byte-bounded batches over several bare RESP
 *     connections (resp.ts), one batch in flight on each.
 *
 * The limit, stated honestly: a failure during pass 2 (the connection drops, the server runs out of
 * memory, the stored object changes between the passes) leaves a partial restore; nothing can roll a
 * Redis key space back. The restore workflow's safety backup, taken before this step, is the way back,
 * and the error says so. Staging keys under temporary names and renaming them at the end was rejected:
 * it doubles the server's memory during the restore, interacts badly with eviction policies, and leaks
 * staging keys if the worker dies.
 *
 * TTLs travel as absolute expiry (ms since the epoch), so a key restored days later keeps its real
 * deadline; keys whose deadline has passed are skipped and counted instead of being written.
 */
import type { Readable } from 'node:stream';
import type Redis from 'ioredis';
import { BackupNotFoundError, IntegrityError, ToolError } from '../../core/errors';
import { digestErrorAfter } from '../../core/checksums';
import type { ArtifactRecord, ArtifactSource, ComponentRestoreResult, Logger } from '../types';
import { describeTarget, redisFailure, streamConnections, withRedis, withStreams, type RedisTarget } from './connection';
import { CommandWriter, ReplyError, type RespConnection } from './resp';
import { rdbIncompatibility, serverFacts, versionMismatch, type ServerFacts } from './compatibility';
import { DUMP_CONTENT_TYPE, DUMP_EXTENSION, forEachRecord, openDump, RecordBatches, type DumpHeader, type DumpRecord, type DumpTrailer } from './format';
import { KeyScope, type RedisRestoreOptions } from './options';
import { payloadRdbVersion } from './payload';
import { scanKeys } from './scan';

const PROGRESS_EVERY = 100_000;

export function findDumpArtifact(source: ArtifactSource, context: { backupId?: string } = {}): ArtifactRecord {
  const artifact = source.artifacts.find((a) => a.contentType === DUMP_CONTENT_TYPE) ?? source.artifacts.find((a) => a.name.endsWith(DUMP_EXTENSION));
  if (!artifact) throw new BackupNotFoundError('the backup holds no Redis dump artifact.', { component: 'redis', ...context });
  return artifact;
}

/** The server's clock as seen from here: ABSTTL deadlines are compared with the target's time, not ours. */
export async function serverClock(redis: Redis): Promise<() => number> {
  const [seconds, micros] = await redis.time();
  const offset = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - Date.now();
  return () => Date.now() + offset;
}

/** A key as logs and errors may show it: quoted when printable, hex otherwise; cut short either way. */
export function describeKey(key: Buffer): string {
  const printable = key.every((b) => b >= 0x20 && b < 0x7f);
  const shown = printable ? key.toString('latin1').slice(0, 60) : `0x${key.toString('hex').slice(0, 60)}`;
  return printable ? `"${shown}${key.length > 60 ? '…' : ''}"` : `${shown}${key.length > 30 ? '…' : ''}`;
}

export interface Validated {
  readonly header: DumpHeader;
  readonly trailer: DumpTrailer;
  readonly scope: KeyScope;
  /** Records keyPattern selects. */
  readonly selected: number;
}

/** Pass 1: reads the whole artifact, writes nothing. */
export async function validateArtifact(source: ArtifactSource, artifact: ArtifactRecord, target: ServerFacts, keyPattern?: string): Promise<Validated> {
  const stream = source.open(artifact.name);
  try {
    const reader = await openDump(stream, { name: artifact.name });
    const scope = new KeyScope(reader.header.keyPatterns, keyPattern);
    let selected = 0;
    let checkedRdb = 0;
    let index = 0;
    const trailer = await forEachRecord(reader, (record) => {
      index++;
      const rdb = payloadRdbVersion(record.payload);
      if (rdb === undefined) {
        throw new IntegrityError(`artifact ${artifact.name} has a payload too short to be a DUMP in record ${index}.`, { component: 'redis' });
      }
      if (rdb > checkedRdb) {
        const reason = rdbIncompatibility(rdb, target);
        if (reason) throw versionMismatch({ rdbVersion: rdb, serverVersion: reader.header.serverVersion }, target, reason);
        checkedRdb = rdb;
      }
      if (scope.selects(record.key)) selected++;
    });
    return { header: reader.header, trailer, scope, selected };
  } catch (error) {
    // Damaged bytes explain any odd record (an unknown type, a too-new RDB version): report the digest.
    throw (await digestErrorAfter(stream)) ?? error;
  } finally {
    stream.destroy();
  }
}

async function anyKeyIn(redis: Redis, scope: KeyScope): Promise<boolean> {
  if (scope.wholeDatabase) return (await redis.dbsize()) > 0;
  for await (const keys of scanKeys(redis, scope.scanPatterns)) {
    if (keys.some((key) => scope.contains(key))) return true;
  }
  return false;
}

/** Replace mode's first write: the target's keys in scope go, others stay. */
async function clearScope(redis: Redis, scope: KeyScope, facts: ServerFacts): Promise<{ cleared: 'flushdb' | 'keys'; deleted?: number }> {
  const old = facts.serverName === 'redis' && facts.serverMajor < 4;
  if (scope.wholeDatabase) {
    // ASYNC: the keys are gone at once, their memory is freed in the background instead of blocking the server.
    await (old ? redis.flushdb() : redis.flushdb('ASYNC'));
    return { cleared: 'flushdb' };
  }
  let deleted = 0;
  for await (const keys of scanKeys(redis, scope.scanPatterns)) {
    const doomed = keys.filter((key) => scope.contains(key));
    if (doomed.length === 0) continue;
    // UNLINK frees large values in the background; servers before 4.0 only have DEL.
    deleted += old ? await redis.del(...doomed) : await redis.unlink(...doomed);
  }
  return { cleared: 'keys', deleted };
}

/**
 * What happened to the target and what is safe. Never "restore the safety backup" over it: that backup
 * holds the keys before this restore, possibly the very damage the restore was meant to repair.
 */
function partialRestoreHint(mode: string): string {
  return (
    `The target now holds a partial restore${mode === 'replace' ? ' (its previous keys in scope were cleared)' : ''}: keep applications away from it. ` +
    'Once the cause above is fixed, repeating this restore is safe: it writes every key in scope again. ' +
    'The safety backup taken before this restore keeps the earlier keys: restore it into another database index to inspect them, not over this target.'
  );
}

export async function restoreRedis(source: ArtifactSource, target: RedisTarget, options: RedisRestoreOptions, log: Logger): Promise<ComponentRestoreResult> {
  const artifact = findDumpArtifact(source);
  const mode = options.mode ?? 'replace';
  return withRedis(target, async (redis) => {
    const where = describeTarget(target);
    let facts: ServerFacts;
    try {
      facts = await serverFacts(redis, target.db);
    } catch (error) {
      throw redisFailure(error, target, 'reading INFO');
    }
    log.info('redis restore: validating the artifact before writing', { target: where, artifact: artifact.name, bytes: artifact.bytes, mode, keyPattern: options.keyPattern });
    const checked = await validateArtifact(source, artifact, facts, options.keyPattern);
    const { scope } = checked;
    if (options.keyPattern !== undefined && checked.selected === 0) {
      log.warn('options.keyPattern selects none of the backup\'s keys', { keyPattern: options.keyPattern, records: checked.trailer.records });
    }

    let replacedExisting: boolean;
    let cleared: { cleared: 'flushdb' | 'keys' | 'none'; deleted?: number } = { cleared: 'none' };
    try {
      replacedExisting = await anyKeyIn(redis, scope);
      if (mode === 'replace') {
        cleared = await clearScope(redis, scope, facts);
        log.info('redis restore: cleared the target keys in scope', { target: where, ...cleared });
      }
    } catch (error) {
      throw redisFailure(error, target, 'clearing the keys in scope');
    }

    const now = await serverClock(redis);
    const absoluteTtl = facts.serverName === 'valkey' || facts.serverMajor >= 5;
    const counts = { restored: 0, skippedExpired: 0, skippedByPattern: 0 };
    let nextProgress = PROGRESS_EVERY;

    const send = async (connection: RespConnection, batch: readonly DumpRecord[]): Promise<void> => {
      const request = new CommandWriter(batch.reduce((sum, record) => sum + record.key.length + record.payload.length + 64, 0));
      const sent: DumpRecord[] = [];
      const at = now();
      for (const record of batch) {
        if (record.expiresAt === 0) request.command('RESTORE', record.key, 0, record.payload, 'REPLACE');
        else if (absoluteTtl) request.command('RESTORE', record.key, record.expiresAt, record.payload, 'REPLACE', 'ABSTTL');
        else if (record.expiresAt - at > 0) request.command('RESTORE', record.key, record.expiresAt - at, record.payload, 'REPLACE');
        else {
          counts.skippedExpired++;
          continue;
        }
        sent.push(record);
      }
      if (sent.length === 0) return;
      const replies = await connection.exchange(request.take(), sent.length);
      replies.forEach((reply, i) => {
        if (!(reply instanceof ReplyError)) return;
        const message = `RESTORE of key ${describeKey(sent[i].key)} into ${where} failed (${counts.restored} keys of this restore were written before it): ${reply.message}`;
        const ErrorClass = /payload version or checksum/i.test(reply.message) ? IntegrityError : ToolError;
        throw new ErrorClass(`${message}.`, { component: 'redis', hint: partialRestoreHint(mode) });
      });
      counts.restored += sent.length;
      if (counts.restored >= nextProgress) {
        log.info('redis restore progress', { restored: counts.restored, skippedExpired: counts.skippedExpired });
        nextProgress += PROGRESS_EVERY;
      }
    };

    let stream: Readable | undefined;
    try {
      await withStreams(target, streamConnections(), async (connections) => {
        // Opened once the connections are: a source that fails early must have a listener.
        const input = (stream = source.open(artifact.name));
        // One batch in flight per connection: the server restores batches while this process parses and
        // encodes the next ones. Keys are unique in an artifact, so the order batches land in does not matter.
        const idle = [...connections];
        const inFlight = new Set<Promise<void>>();
        let failed: { error: unknown } | undefined;
        const batches = new RecordBatches(async (batch) => {
          while (idle.length === 0 && !failed) await Promise.race(inFlight);
          if (failed) throw failed.error;
          const connection = idle.pop()!;
          const sending: Promise<void> = send(connection, batch).then(
            () => void idle.push(connection),
            (error: unknown) => void (failed ??= { error }),
          );
          inFlight.add(sending);
          void sending.finally(() => inFlight.delete(sending));
        });
        try {
          const reader = await openDump(input, { name: artifact.name });
          await forEachRecord(reader, (record) => {
            if (!scope.selects(record.key)) {
              counts.skippedByPattern++;
              return;
            }
            if (record.expiresAt !== 0 && record.expiresAt <= now()) {
              counts.skippedExpired++;
              return;
            }
            return batches.add(record);
          });
          await batches.end();
        } finally {
          // Batches already sent land (or fail) before the connections close, so the count is right.
          await Promise.all(inFlight);
        }
        if (failed) throw failed.error;
      });
    } catch (error) {
      log.warn('redis restore failed part-way', { target: where, mode, restored: counts.restored, ...cleared });
      const failure = redisFailure(error, target, `restoring keys (${counts.restored} written)`);
      const touched = counts.restored > 0 || cleared.cleared !== 'none';
      // Whatever failed (the stream, the server), an operator must learn that the target is now partial.
      if (touched && !failure.message.includes('partial restore')) failure.message = `${failure.message} ${partialRestoreHint(mode)}`;
      throw failure;
    } finally {
      stream?.destroy();
    }

    log.info('redis restore completed', { target: where, mode, ...counts, ...cleared });
    return {
      target: `db${target.db}`,
      replacedExisting,
      details: {
        mode,
        ...(options.keyPattern !== undefined ? { keyPattern: options.keyPattern } : {}),
        recordsInBackup: checked.trailer.records,
        restored: counts.restored,
        skippedExpired: counts.skippedExpired,
        skippedByPattern: counts.skippedByPattern,
        cleared: cleared.cleared,
        ...(cleared.deleted !== undefined ? { deletedBeforeRestore: cleared.deleted } : {}),
      },
    };
  });
}
