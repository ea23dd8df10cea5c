/**
 * The backup: one REPEATABLE READ transaction exports its snapshot; pg_dump reads that snapshot
 * (--snapshot) while the fingerprint is taken in the transaction itself, so the dump and its
 * fingerprint describe the same instant. The dump streams from pg_dump's stdout to the sink: nothing is
 * staged on disk or held whole in memory.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { Client } from 'pg';
import type { ArtifactSink, ComponentBackupResult, Logger, SourceInfo } from '../types';
import { describeTarget, openClient, type PostgresTarget } from './connection';
import { checkDumpVersions } from './compatibility';
import { fingerprintInTransaction } from './fingerprint';
import { dumpedSequences, withDumpedSequences } from './fingerprint-archive';
import { runTool } from './tools';

export const DUMP_CONTENT_TYPE = 'application/vnd.postgresql.custom-archive';

export function dumpArtifactName(database: string): string {
  // Artifact names are a restricted character set; the database name is recorded in the manifest anyway.
  return `${database.replace(/[^A-Za-z0-9._-]/g, '_')}.dump`;
}

/**
 * Ends the stream only once `exited` settles: a pg_dump that fails after writing part of its output makes
 * the upload fail instead of completing a truncated object.
 */
class EndsWithProcess extends Transform {
  constructor(private readonly exited: Promise<void>) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    callback(null, chunk);
  }
  override _flush(callback: TransformCallback): void {
    this.exited.then(() => callback(), callback);
  }
}

export async function backupPostgres(
  target: PostgresTarget,
  sink: ArtifactSink,
  log: Logger,
  describe: (client: Client) => Promise<SourceInfo & { toolVersion: string; toolMajor: number }>,
): Promise<ComponentBackupResult> {
  const client = await openClient(target);
  try {
    const source = await describe(client);
    checkDumpVersions(source);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0].id;
    log.info('pg_dump started', { target: describeTarget(target), snapshot, pgDump: source.toolVersion, server: source.serverVersion });

    const dump = runTool(target, 'pg_dump', ['--format=custom', `--snapshot=${snapshot}`, '--no-password', '--dbname', target.database]);
    const body = dump.child.stdout!.pipe(new EndsWithProcess(dump.done));
    dump.child.stdout!.on('error', (error) => body.destroy(error));
    // Sequence values are not in the snapshot: the fingerprint records the ones the dump holds.
    const sequences = dumpedSequences(dump.child.stdout!);
    const written = sink.write(dumpArtifactName(target.database), body, { contentType: DUMP_CONTENT_TYPE });
    const fingerprinted = fingerprintInTransaction(client);
    // If either side fails, stop pg_dump so nothing keeps reading the source.
    const [artifact, fingerprint] = await Promise.all([written, fingerprinted, dump.done]).catch((error) => {
      dump.child.kill('SIGKILL');
      throw error;
    });
    await client.query('COMMIT');
    return {
      artifacts: [artifact],
      fingerprint: withDumpedSequences(fingerprint, await sequences),
      source,
      consistency: { pointInTime: true, method: 'pg_dump and the fingerprint read one exported snapshot (REPEATABLE READ)' },
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}
