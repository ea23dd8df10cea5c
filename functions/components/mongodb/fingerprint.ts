/**
 * The content fingerprint of a database, per collection:
 * - `<collection>`: the document count and the SHA-256 of the raw BSON of every document in _id order, i.e.
 *   of the collection's .bson file in the archive. A backup computes it from the very bytes it writes (same
 *   snapshot); the live fingerprint reads the collection the same way. Byte-level, so a changed type
 *   (int32 → double), field order or value shows, and a faithful restore gives the same digest.
 * - `<collection>#metadata`: the number of indexes and a digest over the collection options and the index
 *   specs (without the `v` and `ns` fields mongorestore drops; indexes by name, option keys sorted, index
 *   keys in their order), so indexes that were not recreated, or recreated differently, show.
 */
import { createHash, type Hash } from 'node:crypto';
import { BSON, type ClientSession, type Db, type Document } from 'mongodb';
import type { Fingerprint, FingerprintEntry } from '../types';
import { mapLimit } from '../../core/parallel';
import { parallelStreams } from '../../core/streams';
import type { CollectionMetadata } from './archive';

export const METADATA_ENTRY_SUFFIX = '#metadata';

/** Running count and digest of documents in the order they are read. */
export class DocumentDigest {
  private readonly hash: Hash = createHash('sha256');
  count = 0;
  bytes = 0;

  add(doc: Buffer): void {
    this.hash.update(doc);
    this.count++;
    this.bytes += doc.length;
  }

  entry(): FingerprintEntry {
    return { count: this.count, digest: this.hash.digest('hex') };
  }
}

/**
 * The documents of a collection as raw BSON, in _id order, inside `session`'s snapshot when given.
 * `batchSize` caps the documents of a reply (the server's own cap is 16 MiB): readers running side by side
 * each hold their current reply, and a few times its size while the driver reads it.
 */
export function rawDocumentsInIdOrder(db: Db, collection: string, session?: ClientSession, batchSize?: number): AsyncIterable<Buffer> {
  return db.collection(collection).find({}, { session, sort: { _id: 1 }, raw: true, ...(batchSize ? { batchSize } : {}) }) as unknown as AsyncIterable<Buffer>;
}

export async function digestCollection(db: Db, collection: string, session?: ClientSession): Promise<DocumentDigest> {
  const digest = new DocumentDigest();
  for await (const doc of rawDocumentsInIdOrder(db, collection, session)) digest.add(doc);
  return digest;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  return Object.fromEntries(Object.entries(value as Document).sort(([a], [b]) => byText(a, b)).map(([k, v]) => [k, sortedKeys(v)]));
}

/** A collection's options and index definitions in a form that does not depend on listing order. */
export function metadataEntry(meta: Pick<CollectionMetadata, 'options' | 'indexes'>): FingerprintEntry {
  const indexes = meta.indexes
    .map(({ v: _v, ns: _ns, key, ...options }) => ({ key, options: sortedKeys(options) }))
    .sort((a, b) => byText(String((a.options as Document).name), String((b.options as Document).name)));
  const canonical = BSON.EJSON.stringify({ options: sortedKeys(meta.options), indexes }, { relaxed: false });
  return { count: meta.indexes.length, digest: createHash('sha256').update(canonical).digest('hex') };
}

/**
 * The fingerprint entries of the given collections, read live, several collections at a time (at one
 * snapshot when `session` has one: every read passes it, as the backup's readers do).
 */
export async function fingerprintCollections(db: Db, collections: readonly CollectionMetadata[], session?: ClientSession): Promise<Fingerprint> {
  const digests = await mapLimit(collections, parallelStreams(), (meta) => digestCollection(db, meta.name, session));
  const fingerprint: Record<string, FingerprintEntry> = {};
  collections.forEach((meta, i) => {
    fingerprint[meta.name] = digests[i].entry();
    fingerprint[`${meta.name}${METADATA_ENTRY_SUFFIX}`] = metadataEntry(meta);
  });
  return fingerprint;
}

/** Collection names a fingerprint covers. */
export function fingerprintCollectionNames(fingerprint: Fingerprint): string[] {
  return Object.keys(fingerprint).filter((key) => !key.endsWith(METADATA_ENTRY_SUFFIX));
}
