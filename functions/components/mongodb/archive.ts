/**
 * The artifact: one tar (`<db>.tar`) holding mongodump's directory layout, so that extracting it and running
 * a stock `mongorestore --dir <extracted>` restores it:
 *
 *   <db>/                                  directory entry (present even when the database has no collections)
 *   <db>/<collection>.metadata.json        one per collection, ALL of them first, in collection-name order
 *   <db>/<collection>.bson                 then one per collection, same order: the raw BSON documents,
 *                                          concatenated, in _id order
 *
 * `<collection>` is escaped as mongodump escapes it (Go's url.PathEscape: "café/x" → "caf%C3%A9%2Fx"); the
 * metadata's collectionName holds the real name. metadata.json is the document mongodump writes, as canonical
 * extended JSON: {"options": {...}, "indexes": [listIndexes output], "uuid": "<32 hex>", "collectionName", "type"}.
 * Metadata comes first so that a restore knows every collection, its options and indexes before it reads
 * a single document (it checks a collection selection before writing anything).
 */
import { BSON, type Document } from 'mongodb';
import { InvalidInputError } from '../../core/errors';
import { COMPONENT } from './connection';

export const ARCHIVE_CONTENT_TYPE = 'application/x-tar';
export const METADATA_SUFFIX = '.metadata.json';
export const BSON_SUFFIX = '.bson';
/** mongodump truncates longer escaped names; this archive refuses them instead (file names stay ≤ 255 bytes). */
export const MAX_ESCAPED_NAME = 238;
/** mongod's document limit plus the 16 KiB it allows internal documents beyond it. */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024 + 16 * 1024;

export function archiveName(database: string): string {
  return `${database}.tar`;
}

/** What a backup records of each collection: exactly what goes into its metadata.json. */
export interface CollectionMetadata {
  readonly name: string;
  readonly type: string;
  /** listCollections `options`, BSON types kept (Int32/Long/Double are not promoted). */
  readonly options: Document;
  /** listIndexes output, BSON types kept. */
  readonly indexes: readonly Document[];
  /** The collection's UUID as 32 hex digits, when the server reports one. */
  readonly uuid?: string;
}

/** Go's url.PathEscape, which mongodump applies to collection names in file names. */
export function escapeCollectionName(name: string): string {
  let out = '';
  for (const byte of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~$&+:=@]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Refuses a collection the layout cannot name, before anything is streamed. */
export function checkCollectionName(name: string): void {
  if (escapeCollectionName(name).length > MAX_ESCAPED_NAME) {
    throw new InvalidInputError(`collection "${name.slice(0, 60)}…" has a name too long for a dump file name (escaped longer than ${MAX_ESCAPED_NAME} bytes).`, {
      component: COMPONENT,
      hint: 'Rename the collection, or leave it out with sources.mongodb.collections.',
    });
  }
}

export function metadataEntryName(database: string, collection: string): string {
  return `${database}/${escapeCollectionName(collection)}${METADATA_SUFFIX}`;
}

export function bsonEntryName(database: string, collection: string): string {
  return `${database}/${escapeCollectionName(collection)}${BSON_SUFFIX}`;
}

/** metadata.json as mongodump writes it: canonical extended JSON, keys in mongodump's order. */
export function metadataJson(meta: CollectionMetadata): Buffer {
  const doc = {
    options: meta.options,
    indexes: meta.indexes,
    ...(meta.uuid ? { uuid: meta.uuid } : {}),
    collectionName: meta.name,
    type: meta.type,
  };
  return Buffer.from(BSON.EJSON.stringify(doc, { relaxed: false }), 'utf8');
}

/** A damaged or foreign archive: worth checking the artifact's digest before blaming the data. */
export class ArchiveFormatError extends InvalidInputError {}

export function parseMetadataJson(text: string, entry: string): CollectionMetadata {
  let doc: Document;
  try {
    doc = BSON.EJSON.parse(text, { relaxed: false }) as Document;
  } catch (error) {
    throw new ArchiveFormatError(`${entry} is not extended JSON (${(error as Error).message}).`, { component: COMPONENT });
  }
  if (typeof doc.collectionName !== 'string' || !Array.isArray(doc.indexes)) {
    throw new ArchiveFormatError(`${entry} lacks collectionName or indexes: it is not a mongodump metadata file.`, { component: COMPONENT });
  }
  return {
    name: doc.collectionName,
    type: typeof doc.type === 'string' ? doc.type : 'collection',
    options: (doc.options as Document | undefined) ?? {},
    indexes: doc.indexes as Document[],
    ...(typeof doc.uuid === 'string' ? { uuid: doc.uuid } : {}),
  };
}

export type ArchiveEntry =
  | { readonly kind: 'directory' }
  | { readonly kind: 'metadata' | 'bson'; readonly directory: string; readonly file: string };

/** What an entry of the tar is; anything outside the layout is an ArchiveFormatError. */
export function classifyEntry(name: string, type: string | null | undefined): ArchiveEntry {
  const trimmed = name.replace(/\/+$/, '');
  const slash = trimmed.indexOf('/');
  if (type === 'directory' && slash < 0) return { kind: 'directory' };
  if ((type ?? 'file') === 'file' && slash > 0 && trimmed.indexOf('/', slash + 1) < 0) {
    const directory = trimmed.slice(0, slash);
    const base = trimmed.slice(slash + 1);
    if (base.endsWith(METADATA_SUFFIX)) return { kind: 'metadata', directory, file: base.slice(0, -METADATA_SUFFIX.length) };
    if (base.endsWith(BSON_SUFFIX)) return { kind: 'bson', directory, file: base.slice(0, -BSON_SUFFIX.length) };
  }
  throw new ArchiveFormatError(`unexpected entry "${name}" in the archive: not <db>/<collection>.bson or .metadata.json.`, { component: COMPONENT });
}

/**
 * Splits a byte stream of concatenated BSON documents (a .bson file) into documents, without copying
 * except where a document spans chunks.
 */
export async function* bsonDocuments(chunks: AsyncIterable<Buffer>, entry: string): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let total = 0;
  for await (const chunk of chunks) {
    pending.push(chunk);
    total += chunk.length;
    while (total >= 4) {
      if (pending[0].length < 4) pending = [Buffer.concat(pending, total)];
      const size = pending[0].readInt32LE(0);
      if (size < 5 || size > MAX_DOCUMENT_BYTES) {
        throw new ArchiveFormatError(`${entry} holds a document of ${size} bytes: the file is not a sequence of BSON documents.`, { component: COMPONENT });
      }
      if (total < size) break;
      if (pending[0].length < size) pending = [Buffer.concat(pending, total)];
      const head = pending[0];
      const doc = head.subarray(0, size);
      if (doc[size - 1] !== 0) {
        throw new ArchiveFormatError(`${entry} holds a BSON document without its terminating byte.`, { component: COMPONENT });
      }
      yield doc;
      total -= size;
      if (head.length > size) pending[0] = head.subarray(size);
      else pending.shift();
    }
  }
  if (total > 0) {
    throw new ArchiveFormatError(`${entry} ends inside a BSON document (${total} bytes left over).`, { component: COMPONENT });
  }
}
