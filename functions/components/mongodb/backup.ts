/**
 * The backup: the database's collections as one tar in mongodump's directory layout (archive.ts), streamed
 * to the sink while it is read. Nothing is staged on disk or held whole in memory.
 *
 * The writer (parts-writer.ts, format 2) reads each collection once, several at a time, inside one read
 * view (snapshot.ts): on a replica set every reader passes the same snapshot session, whose cluster time
 * the view fixed before the first reader started, so the parallel reads see one point in time exactly as
 * the sequential reads did. On a standalone each collection is read by its own cursor, as before; reading
 * several at once only shortens the span over which collections may disagree. The fingerprint is digested
 * from the very bytes written, so archive and fingerprint always agree.
 */
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import type { ArtifactSink, ComponentBackupResult, Logger, SourceInfo } from '../types';
import { ARCHIVE_CONTENT_TYPE, archiveName } from './archive';
import { readCollections } from './collections';
import { describeTarget, mongoFailure, withClient, type MongoTarget } from './connection';
import { PARTS_WRITER } from './parts-writer';
import { openReadView, serverFacts, type ServerFacts } from './snapshot';
import { dbStats, storageBytesOf } from './room';
import type { ArchiveWriter } from './tar-entries';

export const ARCHIVE_FORMAT = PARTS_WRITER.format;

export function sourceInfo(target: MongoTarget, facts: ServerFacts, collections: number, writer: ArchiveWriter = PARTS_WRITER): SourceInfo {
  return {
    serverVersion: facts.version,
    serverMajor: facts.major,
    database: target.database,
    collections,
    replicaSet: facts.replicaSet ?? null,
    format: writer.format,
    formatVersion: writer.version,
  };
}

/** `writer`: the format written; only the bench and the format-1 tests pass another than format 2. */
export async function backupMongo(target: MongoTarget, sink: ArtifactSink, log: Logger, writer: ArchiveWriter = PARTS_WRITER): Promise<ComponentBackupResult> {
  return withClient(target, 'backing up', async (client) => {
    const db = client.db(target.database);
    const facts = await serverFacts(client);
    const { collections, skipped } = await readCollections(db, target.collections);
    const warnings: string[] = [];
    if (collections.length === 0) {
      warnings.push(`database ${target.database} has no collections to back up: the archive is empty.`);
      log.warn('nothing to back up', { target: describeTarget(target) });
    }
    for (const s of skipped) log.warn('collection left out of the backup', { collection: s.name, reason: s.reason });

    const view = await openReadView(client, db, facts, collections[0]?.name, log);
    try {
      log.info('mongodb backup started', { target: describeTarget(target), server: facts.version, replicaSet: facts.replicaSet, collections: collections.length, pointInTime: view.consistency.pointInTime, formatVersion: writer.version });
      const pack = tar.pack();
      const uploadFailed = new AbortController();
      const written = sink.write(archiveName(target.database), Readable.from(pack, { objectMode: false }), { contentType: ARCHIVE_CONTENT_TYPE });
      // If the upload fails, stop reading the source; if reading fails, the destroyed pack fails the upload.
      written.catch((error: Error) => {
        uploadFailed.abort(error);
        pack.destroy(error);
      });
      const produced = writer.write({
        pack,
        db,
        database: target.database,
        collections,
        session: view.session,
        signal: uploadFailed.signal,
        failure: (error, collection) => mongoFailure(error, target, `backing up collection "${collection}"`),
        log,
      });
      const [artifact, archive] = await Promise.all([written, produced]);
      // What these collections take on disk, for a restore's room check (room.ts). A server that refuses
      // dbStats (Atlas shared tiers limit it) leaves the figure out: the room is then `unknown`, not the backup failed.
      const storageBytes = await dbStats(db).then(
        (stats) => storageBytesOf(stats, archive.bytes),
        (error: Error) => void log.warn('dbStats refused: the backup records no storage size for a restore\'s room check', { error: error.message }),
      );
      return {
        artifacts: [artifact],
        fingerprint: archive.fingerprint,
        source: { ...sourceInfo(target, facts, collections.length, writer), ...(storageBytes === undefined ? {} : { storageBytes }) },
        consistency: view.consistency,
        report: {
          collections: collections.map((c) => c.name),
          documents: archive.documents,
          ...(skipped.length ? { skippedCollections: skipped } : {}),
          ...(warnings.length ? { warnings } : {}),
        },
      };
    } finally {
      await view.end();
    }
  });
}

