/**
 * The format-1 writer (archive.ts): what every backup wrote before issue 16, kept so that the bench can
 * time the old path against the new one in the same run and the tests can make a format-1 backup to prove
 * that old backups still restore. The component's backups no longer use it (backup.ts picks parts-writer.ts).
 *
 * A tar entry header carries the entry's size before its bytes, and a whole collection's .bson file is
 * one entry here, so every collection is read twice inside one read view (snapshot.ts), one collection
 * after another: a first pass counts documents and bytes (raw BSON, nothing decoded), a second streams
 * the same documents into the archive and digests them for the fingerprint. In a snapshot both passes see
 * the same data; on a standalone a collection whose second pass differs from its first fails the backup
 * with a TransientError naming it.
 */
import type { ClientSession, Db } from 'mongodb';
import { TransientError } from '../../core/errors';
import type { FingerprintEntry } from '../types';
import { bsonEntryName, metadataEntryName, metadataJson } from './archive';
import { COMPONENT } from './connection';
import { DocumentDigest, METADATA_ENTRY_SUFFIX, metadataEntry, rawDocumentsInIdOrder } from './fingerprint';
import { addEntry, type ArchiveWriter, type WriteContext, type WrittenArchive } from './tar-entries';

/** Writes go to the tar in chunks of about this size rather than one per document. */
const CHUNK_BYTES = 256 * 1024;

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

/** The part of a tar entry stream (a streamx Writable) the writer writes to. */
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

async function writeFormat1(context: WriteContext): Promise<WrittenArchive> {
  const { pack, db, database, collections, session, log } = context;
  const mtime = new Date();
  const fingerprint: Record<string, FingerprintEntry> = {};
  let documents = 0;
  let bytes = 0;
  try {
    const sizes = new Map<string, Size>();
    for (const meta of collections) sizes.set(meta.name, await sizeOf(db, meta.name, session));
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
      documents += digest.count;
      bytes += digest.bytes;
      log.info('collection backed up', { collection: meta.name, documents: digest.count, bytes: digest.bytes, indexes: meta.indexes.length });
    }
    pack.finalize();
    return { fingerprint, documents, bytes };
  } catch (error) {
    pack.destroy(error as Error);
    throw error;
  }
}

export const FORMAT1_WRITER: ArchiveWriter = {
  version: 1,
  format: 'mongodump directory layout (<db>/<collection>.bson + .metadata.json) in one tar',
  write: writeFormat1,
};

