/**
 * What the archive writers (parts-writer.ts, format1.ts) share: the writer contract backup.ts drives, and
 * adding one entry to the tar with the sink's backpressure.
 */
import type * as tar from 'tar-stream';
import type { ClientSession, Db } from 'mongodb';
import type { Fingerprint, Logger } from '../types';
import type { CollectionMetadata } from './archive';

export interface WriteContext {
  readonly pack: tar.Pack;
  readonly db: Db;
  readonly database: string;
  readonly collections: readonly CollectionMetadata[];
  /** The read view's snapshot session, when reads share one (snapshot.ts). */
  readonly session?: ClientSession;
  /** Aborted when the upload failed or another collection's read failed: stop reading. */
  readonly signal: AbortSignal;
  /** The typed error for a failed read of `collection` (names the collection and the target). */
  readonly failure: (error: unknown, collection: string) => Error;
  readonly log: Logger;
}

export interface WrittenArchive {
  readonly fingerprint: Fingerprint;
  readonly documents: number;
  /** Raw BSON bytes of every document written. */
  readonly bytes: number;
}

export interface ArchiveWriter {
  /** The archive format it writes (archive.ts), recorded in the manifest's source.formatVersion. */
  readonly version: number;
  readonly format: string;
  /** Writes every entry, finalizes the pack; on failure destroys it and rejects. */
  write(context: WriteContext): Promise<WrittenArchive>;
}

/**
 * Adds one entry. With a body, the callback comes once the pack has taken all of it (tar-stream holds the
 * entry's write until the pack's reader drained it), so awaiting it is the sink's backpressure. A
 * destroyed pack rejects.
 */
export function addEntry(pack: tar.Pack, header: Partial<tar.Header> & { name: string }, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error | null) => (error ? reject(error) : resolve());
    if (body) pack.entry(header, body, done);
    else pack.entry(header, done);
  });
}
