/**
 * The backup: the database's collections as one tar in mongodump's directory layout (archive.ts), streamed
 * to the sink while it is read. Nothing is staged on disk or held whole in memory.
 *
 * A tar entry header carries the entry's size before its bytes, and a .bson file's size is only known once
 * its documents are read. So every collection is read twice inside one read view (snapshot.ts): a first
 * pass counts documents and bytes (raw BSON, nothing decoded), a second streams the same documents into
 * the archive and digests them for the fingerprint. In a snapshot both passes see the same data. On a
 * standalone they may not: when a collection's second pass differs from its first, the backup fails with a
 * TransientError naming the collection (the workflow retries) rather than storing a broken archive. The
 * price is reading the data twice; the alternatives were worse: collStats sizes are estimates, staging the
 * .bson on local disk breaks the "no staging" rule and Lambda's disk limit, and buffering breaks memory.
 */
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import type { ClientSession, Db } from 'mongodb';
import { TransientError } from '../../core/errors';
import type { ArtifactSink, ComponentBackupResult, Fingerprint, FingerprintEntry, Logger, SourceInfo } from '../types';
import { ARCHIVE_CONTENT_TYPE, archiveName, bsonEntryName, metadataEntryName, metadataJson, type CollectionMetadata } from './archive';
import { readCollections } from './collections';
import { COMPONENT, describeTarget, withClient, type MongoTarget } from './connection';
import { DocumentDigest, METADATA_ENTRY_SUFFIX, metadataEntry, rawDocumentsInIdOrder } from './fingerprint';
import { openReadView, serverFacts, type ServerFacts } from './snapshot';
import { dbStats, storageBytesOf } from './room';

export const ARCHIVE_FORMAT = 'mongodump directory layout (<db>/<collection>.bson + .metadata.json) in one tar';

/** Writes go to the tar in chunks of about this size rather than one per document. */
const CHUNK_BYTES = 256 * 1024;

export function sourceInfo(target: MongoTarget, facts: ServerFacts, collections: number): SourceInfo {
  return {
    serverVersion: facts.version,
    serverMajor: facts.major,
    database: target.database,
    collections,
    replicaSet: facts.replicaSet ?? null,
    format: ARCHIVE_FORMAT,
  };
}

interface Size {
  readonly count: number;
  readonly bytes: number;
}

async function sizeOf(db: Db, collection: string, session?: ClientSession): Promise<Size> {
  let count = 0;
  let bytes = 0;
  for await (const doc of rawDocumentsInIdOrder(db, collection, session)) {
    count++;
    bytes += doc.length;
  }
  return { count, bytes };
}

function changedDuringBackup(collection: string, first: Size, second: Size): TransientError {
  return new TransientError(
    `collection "${collection}" changed while it was being backed up (${first.count} documents / ${first.bytes} bytes when sized, ${second.count} / ${second.bytes} or more when read).`,
    { component: COMPONENT, hint: 'Retry the backup (the workflow does); a replica set gives a snapshot that writes cannot disturb.' },
  );
}

/** The part of a tar entry stream (a streamx Writable) the backup writes to. */
interface EntryStream {
  write(chunk: Buffer): boolean;
  end(data?: unknown): unknown;
  on(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

/** Buffers small documents into larger writes and honours the tar stream's backpressure. */
class ChunkWriter {
  private pending: Buffer[] = [];
  private size = 0;

  constructor(private readonly stream: EntryStream) {}

  async push(doc: Buffer): Promise<void> {
    this.pending.push(doc);
    this.size += doc.length;
    if (this.size >= CHUNK_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.size === 0) return;
    const chunk = Buffer.concat(this.pending, this.size);
    this.pending = [];
    this.size = 0;
    if (this.stream.write(chunk)) return;
    // 'close' without 'drain' means the pack was destroyed (the sink failed): stop reading the source.
    await new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        this.stream.off('drain', onDrain);
        this.stream.off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = () => settle();
      const onClose = () => settle(new Error('the archive stream closed while a collection was being written'));
      this.stream.on('drain', onDrain);
      this.stream.on('close', onClose);
    });
  }
}

function addEntry(pack: tar.Pack, header: Partial<tar.Header> & { name: string }, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error | null) => (error ? reject(error) : resolve());
    if (body) pack.entry(header, body, done);
    else pack.entry(header, done);
  });
}

async function writeArchive(
  pack: tar.Pack,
  db: Db,
  database: string,
  collections: readonly CollectionMetadata[],
  sizes: ReadonlyMap<string, Size>,
  session: ClientSession | undefined,
  log: Logger,
): Promise<Fingerprint> {
  const mtime = new Date();
  const fingerprint: Record<string, FingerprintEntry> = {};
  try {
    await addEntry(pack, { name: `${database}/`, type: 'directory', mode: 0o755, mtime });
    for (const meta of collections) {
      await addEntry(pack, { name: metadataEntryName(database, meta.name), mode: 0o644, mtime }, metadataJson(meta));
    }
    for (const meta of collections) {
      const expected = sizes.get(meta.name)!;
      let stream!: EntryStream;
      const entryDone = new Promise<void>((resolve, reject) => {
        stream = pack.entry({ name: bsonEntryName(database, meta.name), size: expected.bytes, mode: 0o644, mtime }, (error) => (error ? reject(error) : resolve()));
      });
      // Awaited below; a failure before then (a destroyed pack) surfaces through the pack and the sink.
      entryDone.catch(() => undefined);
      (stream as unknown as { on(event: 'error', listener: () => void): void }).on('error', () => undefined);
      const out = new ChunkWriter(stream);
      const digest = new DocumentDigest();
      for await (const doc of rawDocumentsInIdOrder(db, meta.name, session)) {
        digest.add(doc);
        if (digest.bytes > expected.bytes) throw changedDuringBackup(meta.name, expected, digest);
        await out.push(doc);
      }
      if (digest.bytes !== expected.bytes || digest.count !== expected.count) throw changedDuringBackup(meta.name, expected, digest);
      await out.flush();
      stream.end();
      await entryDone;
      fingerprint[meta.name] = digest.entry();
      fingerprint[`${meta.name}${METADATA_ENTRY_SUFFIX}`] = metadataEntry(meta);
      log.info('collection backed up', { collection: meta.name, documents: digest.count, bytes: digest.bytes, indexes: meta.indexes.length });
    }
    pack.finalize();
    return fingerprint;
  } catch (error) {
    pack.destroy(error as Error);
    throw error;
  }
}

export async function backupMongo(target: MongoTarget, sink: ArtifactSink, log: Logger): Promise<ComponentBackupResult> {
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
      log.info('mongodb backup started', { target: describeTarget(target), server: facts.version, replicaSet: facts.replicaSet, collections: collections.length, pointInTime: view.consistency.pointInTime });
      const sizes = new Map<string, Size>();
      for (const meta of collections) sizes.set(meta.name, await sizeOf(db, meta.name, view.session));

      const pack = tar.pack();
      const written = sink.write(archiveName(target.database), Readable.from(pack, { objectMode: false }), { contentType: ARCHIVE_CONTENT_TYPE });
      const produced = writeArchive(pack, db, target.database, collections, sizes, view.session, log);
      // If the upload fails, stop reading the source; if reading fails, the destroyed pack fails the upload.
      written.catch((error: Error) => pack.destroy(error));
      const [artifact, fingerprint] = await Promise.all([written, produced]);
      const documents = [...sizes.values()].reduce((n, s) => n + s.count, 0);
      // What these collections take on disk, for a restore's room check (room.ts). A server that refuses
      // dbStats (Atlas shared tiers limit it) leaves the figure out: the room is then `unknown`, not the backup failed.
      const backedUpBytes = [...sizes.values()].reduce((n, s) => n + s.bytes, 0);
      const storageBytes = await dbStats(db).then(
        (stats) => storageBytesOf(stats, backedUpBytes),
        (error: Error) => void log.warn('dbStats refused: the backup records no storage size for a restore\'s room check', { error: error.message }),
      );
      return {
        artifacts: [artifact],
        fingerprint,
        source: { ...sourceInfo(target, facts, collections.length), ...(storageBytes === undefined ? {} : { storageBytes }) },
        consistency: view.consistency,
        report: {
          collections: collections.map((c) => c.name),
          documents,
          ...(skipped.length ? { skippedCollections: skipped } : {}),
          ...(warnings.length ? { warnings } : {}),
        },
      };
    } finally {
      await view.end();
    }
  });
}
