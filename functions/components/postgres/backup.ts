/**
 * The backup: one REPEATABLE READ transaction exports its snapshot; pg_dump reads that snapshot
 * (--snapshot) while the fingerprint, the roles and the database's own settings are read in the
 * transaction itself, so the dump and everything recorded beside it describe the same instant. The dump
 * streams from pg_dump's stdout to the sink: nothing is staged on disk or held whole in memory.
 *
 * Every failure ends the same way: pg_dump is killed, the artifact stream is destroyed (so the sink
 * aborts its multipart upload) and the error is classified (TransientError for a lost connection, a
 * server shutdown or a lock wait that timed out, naming the sessions holding the locks).
 */
import { Readable } from 'node:stream';
import type { Client } from 'pg';
import { TransientError } from '../../core/errors';
import type { ArtifactRecord, ArtifactSink, ComponentBackupResult, Logger, SourceInfo } from '../types';
import { connectionLost, DEFAULT_LOCK_TIMEOUT_SECONDS, describeTarget, openClient, type PostgresTarget } from './connection';
import { checkDumpVersions } from './compatibility';
import { classifyPgError, pgErrorCode } from './errors';
import { fingerprintInTransaction } from './fingerprint';
import { dumpedSequences, withDumpedSequences } from './archive';
import { GLOBALS_ARTIFACT, GLOBALS_CONTENT_TYPE, readGlobals } from './globals';
import { describeSessions, exclusiveLockHolders } from './sessions';
import { parallelStreams } from '../../core/streams';
import { dumpPerTable, listDumpTables } from './backup-tables';
import { chooseLayout, dumpCompression, type DumpLayout } from './dump-layout';
import { DumpStreams } from './dump-streams';

export const DUMP_CONTENT_TYPE = 'application/vnd.postgresql.custom-archive';

export function dumpArtifactName(database: string): string {
  // Artifact names are a restricted character set; the database name is recorded in the manifest anyway.
  return `${database.replace(/[^A-Za-z0-9._-]/g, '_')}.dump`;
}

/**
 * The fingerprint's lock_timeout (55P03), or pg_dump's --lock-wait-timeout, which pg_dump 15 enforces as a
 * statement_timeout on its LOCK TABLE statements ("canceling statement due to statement timeout").
 */
const isLockTimeout = (error: unknown) =>
  pgErrorCode(error) === '55P03' || /lock timeout|could not obtain lock|statement timeout.*LOCK TABLE/i.test((error as Error)?.message ?? '');

/** A lock wait that timed out names the sessions holding the locks; everything else is classified. */
async function explainBackupFailure(client: Client, error: unknown, seconds: number): Promise<unknown> {
  if (!isLockTimeout(error)) return classifyPgError(error, 'the backup', { component: 'postgres' });
  // The fingerprint may be the one that timed out: its transaction is aborted, the lock holders are not.
  await client.query('ROLLBACK').catch(() => undefined);
  const holders = await exclusiveLockHolders(client).catch(() => []);
  return new TransientError(
    `the backup waited longer than ${seconds}s for a table lock${holders.length ? ` held by ${describeSessions(holders)}` : ''} (${(error as Error).message}).`,
    { component: 'postgres', hint: 'Retried later; NCA_PG_LOCK_TIMEOUT_SECONDS sets the wait. A migration or LOCK TABLE in a long transaction blocks backups.' },
  );
}

export async function backupPostgres(
  target: PostgresTarget,
  sink: ArtifactSink,
  log: Logger,
  describe: (client: Client) => Promise<SourceInfo & { toolVersion: string; toolMajor: number }>,
): Promise<ComponentBackupResult> {
  const lockSeconds = target.lockTimeoutSeconds ?? DEFAULT_LOCK_TIMEOUT_SECONDS;
  const client = await openClient(target);
  const lost = connectionLost(client);
  try {
    const source = await describe(client);
    checkDumpVersions(source);
    // The size a restore needs free, for its room check (room.ts); before the snapshot, like the describe.
    const databaseBytes = Number((await client.query<{ bytes: string }>('SELECT pg_database_size(current_database())::text AS bytes')).rows[0].bytes);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    // The transaction stays open, idle, while pg_dump reads its snapshot: a server-wide
    // idle_in_transaction_session_timeout must not end it (a user-level setting, allowed to any role).
    await client.query('SET LOCAL idle_in_transaction_session_timeout = 0');
    await client.query(`SET LOCAL lock_timeout = '${lockSeconds}s'`);
    const snapshot = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0].id;
    const compression = dumpCompression(source.toolMajor);
    const common = ['--format=custom', ...compression.args, `--snapshot=${snapshot}`, `--lock-wait-timeout=${lockSeconds}s`, '--no-password', '--dbname', target.database];
    const streams = parallelStreams();
    const layoutName = chooseLayout(databaseBytes, streams, target.parallelDumpMinBytes);
    const schemaArtifact = dumpArtifactName(target.database);
    let dumping: { stdout: NodeJS.ReadableStream; finished: Promise<{ artifacts: ArtifactRecord[]; layout: DumpLayout }>; streams: DumpStreams };
    if (layoutName === 'per-table') {
      const tables = await listDumpTables(client);
      const perTable = dumpPerTable({ target, sink, tables, common, compression, schemaArtifact, schemaContentType: DUMP_CONTENT_TYPE, streams, log });
      dumping = { stdout: perTable.schemaStdout, finished: perTable.finished, streams: perTable.streams };
    } else {
      const dumps = new DumpStreams(target, sink);
      const single = dumps.start(common, schemaArtifact, DUMP_CONTENT_TYPE);
      const layout: DumpLayout = { layout: 'single-stream', compression: compression.codec, compressedBy: compression.compressedBy };
      dumping = { stdout: single.dump.child.stdout!, finished: single.finished.then((record) => ({ artifacts: [record], layout })), streams: dumps };
    }
    log.info('pg_dump started', { target: describeTarget(target), snapshot, layout: layoutName, streams: layoutName === 'per-table' ? streams : 1, compression: compression.codec, pgDump: source.toolVersion, server: source.serverVersion });
    // Sequence values are not in the snapshot: the fingerprint records the ones the (schema) archive holds.
    const sequences = dumpedSequences(dumping.stdout as Readable);
    const recorded = (async () => {
      const fingerprint = await fingerprintInTransaction(client);
      const globals = await readGlobals(client);
      return { fingerprint, globals };
    })();
    let dumped: Awaited<typeof dumping.finished>;
    let facts: Awaited<typeof recorded>;
    try {
      [dumped, facts] = await Promise.race([Promise.all([dumping.finished, recorded]), lost]);
    } catch (error) {
      // Stop every pg_dump so nothing keeps reading the source; the destroyed streams abort the uploads.
      dumping.streams.stop(error);
      await Promise.allSettled([dumping.streams.settled(), recorded]);
      throw await explainBackupFailure(client, error, lockSeconds);
    }
    await Promise.race([client.query('COMMIT'), lost]);
    const globalsRecord = await sink.write(GLOBALS_ARTIFACT, Readable.from([Buffer.from(JSON.stringify(facts.globals, null, 2))]), { contentType: GLOBALS_CONTENT_TYPE });
    return {
      artifacts: [...dumped.artifacts, globalsRecord],
      fingerprint: withDumpedSequences(facts.fingerprint, await sequences),
      // The role names go into the manifest: a restore's compatibility check reads only the manifest.
      // The layout and codec go there too: a restore of the per-table layout reads its parts from it.
      source: { ...source, roles: facts.globals.roles.map((r) => r.name), databaseBytes, dump: dumped.layout },
      consistency: { pointInTime: true, method: 'pg_dump, the fingerprint and the roles read one exported snapshot (REPEATABLE READ)' },
    };
  } catch (error) {
    throw classifyPgError(error, 'the backup', { component: 'postgres' });
  } finally {
    await client.end().catch(() => undefined);
  }
}
