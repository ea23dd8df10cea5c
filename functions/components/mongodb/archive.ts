/**
 * The artifact: one tar (`<db>.tar`) holding mongodump's directory layout. Two versions exist; the restore
 * reads both and tells them apart by the first entry (and checks the manifest's `source.formatVersion`).
 *
 * Format 2 (written since issue 16): each collection is read ONCE, several at a time, so its data goes
 * into the tar in parts of whole documents (a tar entry must state its size before its bytes, and a part
 * is sized once it is full; a whole collection never is, before it is read):
 *
 *   nca-backup-format.json                 {"format": "nca-backup mongodb archive", "version": 2, "partBytes"}
 *   <db>/                                  directory entry (present even when the database has no collections)
 *   <db>/<collection>.metadata.json        one per collection, ALL of them first, in collection-name order
 *   <db>/<collection>.bson.<part>          then the data: raw BSON documents back to back, in _id order, in
 *                                          parts (000000, 000001, ...) of at most partBytes or one document;
 *                                          the parts of different collections interleave, a collection's own
 *                                          parts come in order
 *   <db>/<collection>.done.json            after a collection's last part: {"collectionName", "documents",
 *                                          "bytes", "parts"}, so a restore knows the collection is whole
 *
 * The concatenated parts of a collection (`cat <collection>.bson.* > <collection>.bson`: the part numbers
 * sort as text) are exactly mongodump's .bson file; with them joined, and the format and done files left
 * aside, a stock `mongorestore --dir <extracted>` reads the directory.
 *
 * Format 1 (backups made before issue 16; still restored): no format entry, no done files, and each
 * collection's data as ONE entry `<db>/<collection>.bson` after all the metadata, collections in name
 * order. Writing it needs every collection read twice (once to size its entry); format1.ts keeps that
 * writer for the bench and the tests that prove old backups restore.
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
export const DONE_SUFFIX = '.done.json';
/** The first entry of a format-2 archive; format 1 has none. */
export const FORMAT_ENTRY = 'nca-backup-format.json';
export const FORMAT_NAME = 'nca-backup mongodb archive';
/** The format this code writes. */
export const ARCHIVE_FORMAT_VERSION = 2;
/** Digits of a part number: parts sort as text, which `cat <collection>.bson.*` relies on. */
const PART_DIGITS = 6;
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

/** Format 1: a collection's whole .bson file. */
export function bsonEntryName(database: string, collection: string): string {
  return `${database}/${escapeCollectionName(collection)}${BSON_SUFFIX}`;
}

/** Format 2: part `part` of a collection's documents. */
export function partEntryName(database: string, collection: string, part: number): string {
  return `${bsonEntryName(database, collection)}.${String(part).padStart(PART_DIGITS, '0')}`;
}

/** Format 2: the entry that closes a collection. */
export function doneEntryName(database: string, collection: string): string {
  return `${database}/${escapeCollectionName(collection)}${DONE_SUFFIX}`;
}

export interface FormatHeader {
  readonly format: string;
  readonly version: number;
  readonly partBytes: number;
}

export function formatJson(partBytes: number): Buffer {
  return Buffer.from(JSON.stringify({ format: FORMAT_NAME, version: ARCHIVE_FORMAT_VERSION, partBytes } satisfies FormatHeader), 'utf8');
}

/** The format entry's version; a version this code does not know is refused before anything is written. */
export function parseFormatJson(text: string): FormatHeader {
  let doc: Partial<FormatHeader>;
  try {
    doc = JSON.parse(text) as Partial<FormatHeader>;
  } catch {
    throw new ArchiveFormatError(`${FORMAT_ENTRY} is not JSON.`, { component: COMPONENT });
  }
  if (doc.format !== FORMAT_NAME || typeof doc.version !== 'number') {
    throw new ArchiveFormatError(`${FORMAT_ENTRY} does not describe an nca-backup MongoDB archive.`, { component: COMPONENT });
  }
  if (doc.version !== ARCHIVE_FORMAT_VERSION) {
    throw new ArchiveFormatError(`the archive is format ${doc.version}; this nca-backup reads formats 1 and ${ARCHIVE_FORMAT_VERSION}.`, {
      component: COMPONENT,
      hint: 'Restore it with the nca-backup version that wrote it, or a newer one.',
    });
  }
  return { format: doc.format, version: doc.version, partBytes: Number(doc.partBytes) };
}

/** What closes a collection in format 2: what the restore must have read of it. */
export interface CollectionDone {
  readonly collectionName: string;
  readonly documents: number;
  readonly bytes: number;
  readonly parts: number;
}

export function doneJson(done: CollectionDone): Buffer {
  return Buffer.from(JSON.stringify(done), 'utf8');
}

export function parseDoneJson(text: string, entry: string): CollectionDone {
  let doc: Partial<CollectionDone>;
  try {
    doc = JSON.parse(text) as Partial<CollectionDone>;
  } catch {
    throw new ArchiveFormatError(`${entry} is not JSON.`, { component: COMPONENT });
  }
  const counts = [doc.documents, doc.bytes, doc.parts];
  if (typeof doc.collectionName !== 'string' || !counts.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)) {
    throw new ArchiveFormatError(`${entry} lacks collectionName, documents, bytes or parts.`, { component: COMPONENT });
  }
  return doc as CollectionDone;
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
  | { readonly kind: 'format' }
  | { readonly kind: 'directory' }
  | { readonly kind: 'metadata' | 'bson' | 'done'; readonly directory: string; readonly file: string }
  | { readonly kind: 'part'; readonly directory: string; readonly file: string; readonly part: number };

const PART = /\.bson\.(\d+)$/;

/**
 * What an entry of the tar is, in the archive's format (1 or 2); anything outside that layout is an
 * ArchiveFormatError. The suffixes are matched at the end of the name, so a collection named like a
 * suffix ("x.bson.000001", "y.done") still parses: its own entries add their suffix after it.
 */
export function classifyEntry(name: string, type: string | null | undefined, version = 1): ArchiveEntry {
  const trimmed = name.replace(/\/+$/, '');
  const slash = trimmed.indexOf('/');
  if (version >= 2 && trimmed === FORMAT_ENTRY && (type ?? 'file') === 'file') return { kind: 'format' };
  if (type === 'directory' && slash < 0) return { kind: 'directory' };
  if ((type ?? 'file') === 'file' && slash > 0 && trimmed.indexOf('/', slash + 1) < 0) {
    const directory = trimmed.slice(0, slash);
    const base = trimmed.slice(slash + 1);
    if (base.endsWith(METADATA_SUFFIX)) return { kind: 'metadata', directory, file: base.slice(0, -METADATA_SUFFIX.length) };
    if (version === 1 && base.endsWith(BSON_SUFFIX)) return { kind: 'bson', directory, file: base.slice(0, -BSON_SUFFIX.length) };
    if (version >= 2) {
      if (base.endsWith(DONE_SUFFIX)) return { kind: 'done', directory, file: base.slice(0, -DONE_SUFFIX.length) };
      const part = PART.exec(base);
      if (part) return { kind: 'part', directory, file: base.slice(0, part.index), part: Number(part[1]) };
    }
  }
  const expected = version === 1 ? '<db>/<collection>.bson or .metadata.json' : '<db>/<collection>.metadata.json, .bson.<part> or .done.json';
  throw new ArchiveFormatError(`unexpected entry "${name}" in the archive (format ${version}): not ${expected}.`, { component: COMPONENT });
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
