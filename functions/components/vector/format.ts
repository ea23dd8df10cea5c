/**
 * The portable artifacts of a vector backup, readable without PostgreSQL.
 *
 * definition.json — the table definition (VectorTableDefinition below): columns, which one is the id, the
 * embedding and the metadata, the embedding's kind, element type and dimension, the embedding models
 * found in the rows, constraints and index definitions.
 *
 * rows.bin — every row, in id order, as length-prefixed binary records (all integers little-endian):
 *
 *   header   "NCAVROWS" (8 bytes) · u32 format version (1) · u32 n · n bytes of UTF-8 JSON
 *            {elementType: "float4"|"float8", idColumn, embeddingColumn, metadataColumn, extraColumns}
 *   record*  u32 body length · body
 *   body     i32 id length (-1: NULL) · id as text (UTF-8)
 *            i32 element count (-1: NULL embedding) · the elements as IEEE 754 little-endian,
 *                4 bytes each (float4) or 8 (float8), exactly the stored bits
 *            i32 metadata length (-1: NULL) · metadata as JSON text (jsonb's canonical text)
 *            u16 k · k × (i32 length (-1: NULL) · the text form of an extra column, in extraColumns order)
 *   trailer  u32 0xFFFFFFFF · u64 record count
 *
 * The body is also what the fingerprint hashes, so a row's digest is independent of how the server stores
 * the embedding (pgvector `vector(n)` or `real[]`).
 */
import { IntegrityError } from '../../core/errors';
import { COMPONENT } from './connection';

export const DEFINITION_ARTIFACT = 'definition.json';
export const ROWS_ARTIFACT = 'rows.bin';
export const DEFINITION_CONTENT_TYPE = 'application/json';
export const ROWS_CONTENT_TYPE = 'application/vnd.nca.vector-rows';

export const DEFINITION_FORMAT = 'nca-vector-definition';
export const FORMAT_VERSION = 1;
const MAGIC = Buffer.from('NCAVROWS', 'latin1');
const TRAILER_MARK = 0xffffffff;
/** A body longer than this is a damaged length prefix, not a row (PostgreSQL's own field limit is 1 GB). */
const MAX_BODY_BYTES = 1 << 30;

export type ElementType = 'float4' | 'float8';
export type EmbeddingKind = 'pgvector' | 'array';

export const ELEMENT_BYTES: Record<ElementType, number> = { float4: 4, float8: 8 };

export interface ColumnDefinition {
  readonly name: string;
  /** format_type() of the source column, e.g. "uuid", "jsonb", "vector(768)", "real[]". */
  readonly type: string;
  readonly notNull: boolean;
  /** Default expression, null when none (and for serial/identity columns, restored as identity). */
  readonly default: string | null;
  /** 'a' GENERATED ALWAYS, 'd' BY DEFAULT, '' not an identity column; serial columns are restored as 'd'. */
  readonly identity: '' | 'a' | 'd';
  /** Expression of a STORED generated column; such columns are recomputed, never carried in rows.bin. */
  readonly generated: string | null;
}

export interface ConstraintDefinition {
  readonly name: string;
  /** p primary key, u unique, x exclusion, c check. */
  readonly type: 'p' | 'u' | 'x' | 'c';
  /** pg_get_constraintdef(): names columns only, never the table. */
  readonly definition: string;
}

export interface IndexDefinition {
  readonly name: string;
  readonly unique: boolean;
  /** Access method: btree, gin, hnsw, ivfflat, ... */
  readonly method: string;
  /** pg_get_indexdef() after "USING <method> ": columns, operator classes, WITH (...), WHERE ... */
  readonly body: string;
  /** The index reads the embedding column: it only fits a target that stores the embedding the same way. */
  readonly usesEmbedding: boolean;
  /** pg_get_indexdef() as the source server printed it, for the record. */
  readonly definition: string;
}

export interface EmbeddingDefinition {
  readonly column: string;
  readonly kind: EmbeddingKind;
  readonly elementType: ElementType;
  /** From vector(n), else from the rows (all rows agree); null when the table has no embedding to tell. */
  readonly dimension: number | null;
}

export interface VectorTableDefinition {
  readonly format: typeof DEFINITION_FORMAT;
  readonly version: typeof FORMAT_VERSION;
  readonly schema: string;
  readonly table: string;
  /** All columns in their order, the embedding column included. */
  readonly columns: readonly ColumnDefinition[];
  readonly idColumn: string;
  readonly metadataColumn: string | null;
  readonly embedding: EmbeddingDefinition;
  readonly constraints: readonly ConstraintDefinition[];
  readonly indexes: readonly IndexDefinition[];
  /** Foreign keys are not restored (they point at other tables); listed so the loss is visible. */
  readonly foreignKeysSkipped: readonly string[];
  /** Distinct metadata->>'embedding_model' values (sorted, at most MAX_MODELS); empty when none. */
  readonly embeddingModels: readonly string[];
  /** The model when exactly one is recorded; null when none or several. */
  readonly embeddingModel: string | null;
  readonly rows: number;
}

export const MAX_MODELS = 100;

/** Columns carried as text in rows.bin besides id, embedding and metadata: all but generated ones. */
export function extraColumns(definition: Pick<VectorTableDefinition, 'columns' | 'idColumn' | 'metadataColumn' | 'embedding'>): string[] {
  const special = new Set([definition.idColumn, definition.embedding.column, definition.metadataColumn]);
  return definition.columns.filter((c) => !special.has(c.name) && c.generated === null).map((c) => c.name);
}

export interface RowsHeader {
  readonly elementType: ElementType;
  readonly idColumn: string;
  readonly embeddingColumn: string;
  readonly metadataColumn: string | null;
  readonly extraColumns: readonly string[];
}

export function rowsHeaderOf(definition: VectorTableDefinition): RowsHeader {
  return {
    elementType: definition.embedding.elementType,
    idColumn: definition.idColumn,
    embeddingColumn: definition.embedding.column,
    metadataColumn: definition.metadataColumn,
    extraColumns: extraColumns(definition),
  };
}

/** One row; `embedding` holds the elements' little-endian bytes. */
export interface VectorRecord {
  readonly id: string | null;
  readonly embedding: Buffer | null;
  readonly metadata: string | null;
  readonly extras: readonly (string | null)[];
}

export function encodeHeader(header: RowsHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const fixed = Buffer.alloc(16);
  MAGIC.copy(fixed, 0);
  fixed.writeUInt32LE(FORMAT_VERSION, 8);
  fixed.writeUInt32LE(json.length, 12);
  return Buffer.concat([fixed, json]);
}

function textField(value: string | null): Buffer[] {
  const length = Buffer.alloc(4);
  if (value === null) {
    length.writeInt32LE(-1);
    return [length];
  }
  const bytes = Buffer.from(value, 'utf8');
  length.writeInt32LE(bytes.length);
  return [length, bytes];
}

/** The record body: what rows.bin carries after the length prefix, and what the fingerprint hashes. */
export function encodeBody(record: VectorRecord, elementType: ElementType): Buffer {
  const parts: Buffer[] = [...textField(record.id)];
  const count = Buffer.alloc(4);
  if (record.embedding === null) {
    count.writeInt32LE(-1);
    parts.push(count);
  } else {
    count.writeInt32LE(record.embedding.length / ELEMENT_BYTES[elementType]);
    parts.push(count, record.embedding);
  }
  parts.push(...textField(record.metadata));
  const k = Buffer.alloc(2);
  k.writeUInt16LE(record.extras.length);
  parts.push(k);
  for (const extra of record.extras) parts.push(...textField(extra));
  return Buffer.concat(parts);
}

export function frameBody(body: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32LE(body.length);
  return Buffer.concat([length, body]);
}

export function encodeTrailer(rows: number): Buffer {
  const trailer = Buffer.alloc(12);
  trailer.writeUInt32LE(TRAILER_MARK, 0);
  trailer.writeBigUInt64LE(BigInt(rows), 4);
  return trailer;
}

/** A rows.bin that does not follow the format although its digest matched: written by something else. */
export class RowsFormatError extends IntegrityError {}

function formatError(detail: string, at: number): RowsFormatError {
  return new RowsFormatError(`artifact ${ROWS_ARTIFACT} is not a valid vector rows stream: ${detail} (at byte ${at}).`, {
    component: COMPONENT,
    hint: 'The artifact was not written by this version of nca-backup or is damaged; restore another backup.',
  });
}

export function decodeBody(body: Buffer, elementType: ElementType, at = 0): VectorRecord {
  let offset = 0;
  const need = (n: number) => {
    if (offset + n > body.length) throw formatError('a record ends inside a field', at + offset);
  };
  const readText = (): string | null => {
    need(4);
    const length = body.readInt32LE(offset);
    offset += 4;
    if (length === -1) return null;
    if (length < 0) throw formatError(`negative field length ${length}`, at + offset - 4);
    need(length);
    const text = body.toString('utf8', offset, offset + length);
    offset += length;
    return text;
  };
  const id = readText();
  need(4);
  const count = body.readInt32LE(offset);
  offset += 4;
  let embedding: Buffer | null = null;
  if (count !== -1) {
    if (count < 0) throw formatError(`negative element count ${count}`, at + offset - 4);
    const bytes = count * ELEMENT_BYTES[elementType];
    need(bytes);
    embedding = body.subarray(offset, offset + bytes);
    offset += bytes;
  }
  const metadata = readText();
  need(2);
  const k = body.readUInt16LE(offset);
  offset += 2;
  const extras: (string | null)[] = [];
  for (let i = 0; i < k; i++) extras.push(readText());
  if (offset !== body.length) throw formatError(`${body.length - offset} bytes left over in a record`, at + offset);
  return { id, embedding, metadata, extras };
}

const ELEMENT_TYPES = new Set<string>(['float4', 'float8']);

function parseHeader(json: string, at: number): RowsHeader {
  let header: RowsHeader;
  try {
    header = JSON.parse(json) as RowsHeader;
  } catch {
    throw formatError('the header is not JSON', at);
  }
  if (!header || !ELEMENT_TYPES.has(header.elementType) || typeof header.idColumn !== 'string' || !Array.isArray(header.extraColumns)) {
    throw formatError('the header lacks elementType, idColumn or extraColumns', at);
  }
  return header;
}

/**
 * Reads rows.bin incrementally: bytes go in as they arrive, whole records come out, so memory holds one
 * chunk plus one record whatever the artifact's size.
 */
export class RowsDecoder {
  private pending: Buffer = Buffer.alloc(0);
  /** Absolute offset of pending[0] in the artifact. */
  private consumed = 0;
  private headerValue?: RowsHeader;
  private records = 0;
  private ended = false;

  get header(): RowsHeader | undefined {
    return this.headerValue;
  }

  get count(): number {
    return this.records;
  }

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
  }

  private take(n: number): Buffer {
    const bytes = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    this.consumed += n;
    return bytes;
  }

  /** The next whole record, or undefined until more bytes arrive (or after the trailer). */
  next(): VectorRecord | undefined {
    if (this.headerValue === undefined) {
      if (this.pending.length < 16) return undefined;
      if (!this.pending.subarray(0, 8).equals(MAGIC)) throw formatError('it does not start with NCAVROWS', 0);
      const version = this.pending.readUInt32LE(8);
      if (version !== FORMAT_VERSION) throw formatError(`format version ${version} is not supported (this build reads ${FORMAT_VERSION})`, 8);
      const length = this.pending.readUInt32LE(12);
      if (length > 1 << 20) throw formatError(`a header of ${length} bytes`, 12);
      if (this.pending.length < 16 + length) return undefined;
      this.take(16);
      this.headerValue = parseHeader(this.take(length).toString('utf8'), 16);
    }
    if (this.ended) {
      if (this.pending.length > 0) throw formatError('bytes after the trailer', this.consumed);
      return undefined;
    }
    if (this.pending.length < 4) return undefined;
    const length = this.pending.readUInt32LE(0);
    if (length === TRAILER_MARK) {
      if (this.pending.length < 12) return undefined;
      const declared = this.pending.readBigUInt64LE(4);
      if (declared !== BigInt(this.records)) throw formatError(`the trailer counts ${declared} records, the stream holds ${this.records}`, this.consumed);
      this.take(12);
      this.ended = true;
      if (this.pending.length > 0) throw formatError('bytes after the trailer', this.consumed);
      return undefined;
    }
    if (length > MAX_BODY_BYTES) throw formatError(`a record length of ${length} bytes`, this.consumed);
    if (this.pending.length < 4 + length) return undefined;
    const at = this.consumed + 4;
    this.take(4);
    const record = decodeBody(Buffer.from(this.take(length)), this.headerValue.elementType, at);
    this.records += 1;
    return record;
  }

  /** Called at the end of input: a stream cut short is an error, not fewer rows. */
  finish(): void {
    if (this.headerValue === undefined) throw formatError('the stream ends before its header', this.consumed);
    if (!this.ended) throw formatError(`the stream ends after ${this.records} records without its trailer`, this.consumed + this.pending.length);
  }
}

/**
 * PostgreSQL's binary array (array_send) of float4 or float8 → the elements' little-endian bytes. The
 * bits are copied, never converted through a JavaScript number, so NaN payloads and -0 stay as stored.
 */
export function arraySendToLittleEndian(bytes: Buffer): { elementType: ElementType; data: Buffer } | { problem: string } {
  const ndim = bytes.readInt32BE(0);
  const elementOid = bytes.readUInt32BE(8);
  const elementType: ElementType | undefined = elementOid === 700 ? 'float4' : elementOid === 701 ? 'float8' : undefined;
  if (!elementType) return { problem: `its elements have type oid ${elementOid}, not real or double precision` };
  if (ndim === 0) return { elementType, data: Buffer.alloc(0) };
  if (ndim !== 1) return { problem: `it is a ${ndim}-dimensional array; an embedding is one-dimensional` };
  if (bytes.readInt32BE(4) !== 0) return { problem: 'it contains NULL elements' };
  const count = bytes.readInt32BE(12);
  const width = ELEMENT_BYTES[elementType];
  const data = Buffer.alloc(count * width);
  // Whole 32-bit words moved as integers (never through a float), one call per word: a Buffer.copy per
  // element made this loop the backup's bottleneck.
  const from = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const to = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let offset = 24;
  if (width === 4) {
    for (let i = 0; i < count; i++, offset += 8) to.setUint32(i * 4, from.getUint32(offset), true);
  } else {
    for (let i = 0; i < count; i++, offset += 12) {
      to.setUint32(i * 8, from.getUint32(offset + 4), true);
      to.setUint32(i * 8 + 4, from.getUint32(offset), true);
    }
  }
  return { elementType, data };
}

/** pgvector's vector_send (int16 dimension, int16 unused, float4 big-endian) → the elements' little-endian bytes. */
export function vectorSendToLittleEndian(bytes: Buffer): { elementType: ElementType; data: Buffer } | { problem: string } {
  const count = bytes.readUInt16BE(0);
  if (bytes.length !== 4 + count * 4) return { problem: `its vector_send form has ${bytes.length} bytes for ${count} elements` };
  const data = Buffer.from(bytes.subarray(4));
  data.swap32();
  return { elementType: 'float4', data };
}

/**
 * The elements' little-endian bytes → PostgreSQL's binary array format (what array_recv reads), so an
 * embedding goes back to the server as bits, never through decimal text: every value, NaN payloads and
 * -0 included, is stored exactly as it was backed up.
 */
export function littleEndianToArrayRecv(data: Buffer, elementType: ElementType): Buffer {
  const width = ELEMENT_BYTES[elementType];
  const count = data.length / width;
  const oid = elementType === 'float4' ? 700 : 701;
  if (count === 0) {
    const empty = Buffer.alloc(12);
    empty.writeUInt32BE(oid, 8);
    return empty;
  }
  const out = Buffer.alloc(20 + count * (4 + width));
  out.writeInt32BE(1, 0);
  out.writeInt32BE(0, 4);
  out.writeUInt32BE(oid, 8);
  out.writeInt32BE(count, 12);
  out.writeInt32BE(1, 16);
  const swapped = Buffer.from(data);
  if (width === 4) swapped.swap32();
  else swapped.swap64();
  let offset = 20;
  for (let i = 0; i < count; i++) {
    out.writeInt32BE(width, offset);
    swapped.copy(out, offset + 4, i * width, (i + 1) * width);
    offset += 4 + width;
  }
  return out;
}
