/**
 * The format-2 writer (archive.ts): every collection read ONCE, up to parallelStreams() collections at a
 * time, each into parts of whole documents that become tar entries as they fill.
 *
 * Why parts: a tar entry states its size before its bytes. A collection's size is known only once it is
 * read; a part's is known once it is full. So a reader holds at most one part (PART_BYTES, or one
 * document when a document is larger) and nothing is staged on disk: memory is bounded by the readers
 * (streams × (a part + the driver's current batch)), not by the collections.
 *
 * The tar is one stream, so entries are added one at a time (a FIFO queue); the readers' parts interleave
 * in it, each collection's in order. A reader waits while its part waits for the queue and the sink: the
 * upload's backpressure reaches the cursors. The first failure (a cursor, the connection, the upload)
 * aborts every reader and destroys the pack, so the upload fails and the backup writes no manifest.
 */
import type { FingerprintEntry } from '../types';
import { parallelStreams } from '../../core/streams';
import { forEachLimit } from '../../core/parallel';
import { ARCHIVE_FORMAT_VERSION, doneEntryName, doneJson, FORMAT_ENTRY, formatJson, metadataEntryName, metadataJson, partEntryName, type CollectionMetadata } from './archive';
import { DocumentDigest, METADATA_ENTRY_SUFFIX, metadataEntry, rawDocumentsInIdOrder } from './fingerprint';
import { addEntry, type ArchiveWriter, type WriteContext, type WrittenArchive } from './tar-entries';

/** A part is flushed before it would pass this size; a larger document is a part of its own. */
export const PART_BYTES = 4 * 1024 * 1024;
/**
 * Documents per reply of a reader's cursor. Without it a reply is up to 16 MiB, held a few times over while
 * the driver reads it, per reader: at 2 readers the backup peaked 85 MiB above the sequential one.
 */
const READ_BATCH = 1000;

/** Runs `add`s one after another, in the order they were asked for. */
class EntryQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run(add: () => Promise<void>): Promise<void> {
    const result = this.tail.then(add);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

async function readCollection(context: WriteContext, queue: EntryQueue, meta: CollectionMetadata, mtime: Date, halt: AbortSignal): Promise<DocumentDigest> {
  const { pack, db, database, session } = context;
  const digest = new DocumentDigest();
  // Documents are copied into the part as they come: a raw document is a slice of the driver's reply
  // (up to 16 MiB), which holding the slice would keep alive.
  let part = Buffer.allocUnsafe(PART_BYTES);
  let size = 0;
  let parts = 0;
  const add = async (body: Buffer) => {
    const name = partEntryName(database, meta.name, parts++);
    await queue.run(() => addEntry(pack, { name, size: body.length, mode: 0o644, mtime }, body));
  };
  const flush = async () => {
    if (size === 0) return;
    const body = part.subarray(0, size);
    // A new buffer for the next part: the sink may still hold this one.
    part = Buffer.allocUnsafe(PART_BYTES);
    size = 0;
    await add(body);
  };
  for await (const doc of rawDocumentsInIdOrder(db, meta.name, session, READ_BATCH)) {
    halt.throwIfAborted();
    digest.add(doc);
    if (doc.length > PART_BYTES) {
      // A document larger than a part is a part of its own.
      await flush();
      await add(Buffer.from(doc));
      continue;
    }
    if (size + doc.length > PART_BYTES) await flush();
    doc.copy(part, size);
    size += doc.length;
  }
  await flush();
  const done = doneJson({ collectionName: meta.name, documents: digest.count, bytes: digest.bytes, parts });
  await queue.run(() => addEntry(pack, { name: doneEntryName(database, meta.name), mode: 0o644, mtime }, done));
  return digest;
}

async function writeParts(context: WriteContext): Promise<WrittenArchive> {
  const { pack, database, collections, signal, log } = context;
  const mtime = new Date();
  const queue = new EntryQueue();
  const digests = new Map<string, DocumentDigest>();
  let failed: Error | undefined;
  // Stops every reader at its next document: the upload failed (signal) or another reader did.
  const halt = new AbortController();
  const onAbort = () => halt.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await addEntry(pack, { name: FORMAT_ENTRY, mode: 0o644, mtime }, formatJson(PART_BYTES));
    await addEntry(pack, { name: `${database}/`, type: 'directory', mode: 0o755, mtime });
    for (const meta of collections) {
      await addEntry(pack, { name: metadataEntryName(database, meta.name), mode: 0o644, mtime }, metadataJson(meta));
    }
    await forEachLimit(collections, parallelStreams(), async (meta) => {
      try {
        const digest = await readCollection(context, queue, meta, mtime, halt.signal);
        digests.set(meta.name, digest);
        log.info('collection backed up', { collection: meta.name, documents: digest.count, bytes: digest.bytes, indexes: meta.indexes.length });
      } catch (error) {
        // The first failure is the one reported: the readers it stops fail only because it happened.
        if (!failed) {
          failed = signal.aborted ? (signal.reason as Error) : context.failure(error, meta.name);
          halt.abort(failed);
          pack.destroy(failed);
        }
        throw failed;
      }
    });
    pack.finalize();
  } catch (error) {
    const reported = failed ?? (error as Error);
    pack.destroy(reported);
    throw reported;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  const fingerprint: Record<string, FingerprintEntry> = {};
  for (const meta of collections) {
    fingerprint[meta.name] = digests.get(meta.name)!.entry();
    fingerprint[`${meta.name}${METADATA_ENTRY_SUFFIX}`] = metadataEntry(meta);
  }
  const values = [...digests.values()];
  return { fingerprint, documents: values.reduce((n, d) => n + d.count, 0), bytes: values.reduce((n, d) => n + d.bytes, 0) };
}

export const PARTS_WRITER: ArchiveWriter = {
  version: ARCHIVE_FORMAT_VERSION,
  format: 'mongodump directory layout in one tar, each collection\'s .bson in parts (<db>/<collection>.bson.<part>) read once, collections in parallel',
  write: writeParts,
};
