/**
 * The Redis dump artifact ("nca-backup Redis dump", `db<index>.rdbdump`): a length-prefixed binary
 * stream of DUMP payloads, written and read record by record so neither side ever holds more than one
 * record (plus a batch) in memory. All integers are big-endian and unsigned.
 *
 *   header   magic "NCAREDIS" (8 bytes) | format version u16 (= 1) | JSON length u32 | JSON (UTF-8):
 *            {"db", "keyPatterns", "serverVersion", "rdbVersion", "createdAt"}
 *   record   tag u8 = 0x01 | key length u32 | key bytes | type u8 (1 string, 2 list, 3 set, 4 zset,
 *            5 hash, 6 stream, 15 other) | expires at u64 (ms since the Unix epoch, 0 = no expiry) |
 *            value digest (32 bytes: SHA-256 of the key's canonical value, see fingerprint.ts) |
 *            payload length u32 | payload (the server's DUMP reply: RDB value, RDB version, CRC64)
 *   trailer  tag u8 = 0xFF | record count u64 | keys skipped because they vanished u64 |
 *            highest RDB version among the payloads u16 — and then the end of the stream.
 *
 * A reader refuses: another magic, a newer format version, an unknown tag, a record cut short, a
 * trailer whose count disagrees with the records read, bytes after the trailer, or no trailer at all.
 * Keys are opaque bytes (binary safe); expiry is absolute so a key restored later keeps its deadline.
 */
import type { Readable } from 'node:stream';
import { IntegrityError, VersionMismatchError } from '../../core/errors';
import { putBytes, putU32 } from './bytes';

export const DUMP_MAGIC = Buffer.from('NCAREDIS', 'ascii');
export const DUMP_FORMAT_VERSION = 1;
export const DUMP_CONTENT_TYPE = 'application/vnd.nca-backup.redis-dump';
export const DUMP_EXTENSION = '.rdbdump';

export function dumpArtifactName(db: number): string {
  return `db${db}${DUMP_EXTENSION}`;
}

export const KEY_TYPES = ['string', 'list', 'set', 'zset', 'hash', 'stream'] as const;
/** The six core types, and `other` for module types (e.g. ReJSON-RL), whose values are opaque to us. */
export type KeyType = (typeof KEY_TYPES)[number] | 'other';

const TYPE_CODE: Record<KeyType, number> = { string: 1, list: 2, set: 3, zset: 4, hash: 5, stream: 6, other: 15 };
const CODE_TYPE = new Map<number, KeyType>(Object.entries(TYPE_CODE).map(([type, code]) => [code, type as KeyType]));

export interface DumpHeader {
  /** Database index the keys were read from. */
  readonly db: number;
  /** The MATCH globs the backup scanned: a replace restore clears exactly these on the target. */
  readonly keyPatterns: readonly string[];
  readonly serverVersion: string;
  /** The source's RDB version as known before the first record (the trailer has the one observed). */
  readonly rdbVersion?: number;
  readonly createdAt: string;
}

export interface DumpRecord {
  readonly key: Buffer;
  readonly type: KeyType;
  /** Absolute expiry in ms since the epoch; 0 when the key does not expire. */
  readonly expiresAt: number;
  /** SHA-256 of the key's canonical (type, key, value): what the fingerprint sums. */
  readonly digest: Buffer;
  readonly payload: Buffer;
}

export interface DumpTrailer {
  readonly records: number;
  /** Keys that SCAN listed but that expired or were deleted before they could be read. */
  readonly skippedExpired: number;
  /** Highest RDB version among the payloads; 0 when there are none. */
  readonly rdbVersion: number;
}

const RECORD_TAG = 0x01;
const TRAILER_TAG = 0xff;
const DIGEST_BYTES = 32;
const MAX_HEADER_BYTES = 1 << 20;
/** Redis's own limit for a key (proto-max-bulk-len default). */
const MAX_KEY_BYTES = 512 * 1024 * 1024;
const MAX_U48 = 2 ** 48 - 1;

function writeU64(buf: Buffer, value: number, at: number): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_U48) throw new RangeError(`value ${value} does not fit the dump format's 48-bit range`);
  buf.writeUInt16BE(0, at);
  buf.writeUIntBE(value, at + 2, 6);
}

export function encodeHeader(header: DumpHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const fixed = Buffer.allocUnsafe(DUMP_MAGIC.length + 6);
  DUMP_MAGIC.copy(fixed, 0);
  fixed.writeUInt16BE(DUMP_FORMAT_VERSION, DUMP_MAGIC.length);
  fixed.writeUInt32BE(json.length, DUMP_MAGIC.length + 2);
  return Buffer.concat([fixed, json]);
}

/** Bytes a record takes in the stream, for callers that size batches. */
export function recordBytes(record: Pick<DumpRecord, 'key' | 'payload'>): number {
  return 1 + 4 + record.key.length + 1 + 8 + DIGEST_BYTES + 4 + record.payload.length;
}

/** Appends `record` to `out` at `at` (which must have recordBytes(record) bytes free); returns the next offset. */
export function writeRecord(out: Buffer, at: number, record: DumpRecord): number {
  if (record.digest.length !== DIGEST_BYTES) throw new RangeError('a record digest is 32 bytes');
  out[at++] = RECORD_TAG;
  at = putU32(out, at, record.key.length);
  at = putBytes(out, at, record.key);
  out[at++] = TYPE_CODE[record.type];
  writeU64(out, record.expiresAt, at);
  at += 8;
  at = putBytes(out, at, record.digest);
  at = putU32(out, at, record.payload.length);
  return putBytes(out, at, record.payload);
}

export function encodeRecords(records: readonly DumpRecord[]): Buffer {
  const out = Buffer.allocUnsafe(records.reduce((sum, r) => sum + recordBytes(r), 0));
  let at = 0;
  for (const record of records) at = writeRecord(out, at, record);
  return out;
}

export function encodeTrailer(trailer: DumpTrailer): Buffer {
  const out = Buffer.allocUnsafe(1 + 8 + 8 + 2);
  out[0] = TRAILER_TAG;
  writeU64(out, trailer.records, 1);
  writeU64(out, trailer.skippedExpired, 9);
  out.writeUInt16BE(trailer.rdbVersion, 17);
  return out;
}

export interface DumpContext {
  /** Artifact name, for messages. */
  readonly name: string;
  readonly backupId?: string;
}

/** Pulls exact byte counts out of a chunked stream; a view is returned when the bytes sit in one chunk. */
class ByteReader {
  private buffer: Buffer = Buffer.alloc(0);
  private position = 0;
  private ended = false;
  constructor(private readonly chunks: AsyncIterator<Buffer>) {}

  get available(): number {
    return this.buffer.length - this.position;
  }

  /** Makes `n` bytes available; false when the stream ended before that. */
  async fill(n: number): Promise<boolean> {
    if (this.available >= n) return true;
    // Collect first, join once: a payload spanning many chunks is copied once, not once per chunk.
    const parts: Buffer[] = [this.buffer.subarray(this.position)];
    let have = this.available;
    while (have < n && !this.ended) {
      const next = await this.chunks.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
      parts.push(chunk);
      have += chunk.length;
    }
    this.buffer = parts.length === 1 ? parts[0] : parts[0].length === 0 && parts.length === 2 ? parts[1] : Buffer.concat(parts, have);
    this.position = 0;
    return have >= n;
  }

  /** The buffered bytes and where the unread ones start, for parsing in place (then skip()). */
  get view(): { readonly buffer: Buffer; readonly at: number } {
    return { buffer: this.buffer, at: this.position };
  }

  skip(n: number): void {
    this.position += n;
  }

  /** Call only after fill(n) returned true. */
  take(n: number): Buffer {
    const out = this.buffer.subarray(this.position, this.position + n);
    this.position += n;
    return out;
  }

  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }
}

function damaged(context: DumpContext, detail: string): IntegrityError {
  return new IntegrityError(`artifact ${context.name} ${detail}.`, {
    component: 'redis',
    backupId: context.backupId,
    hint: 'The artifact is not an intact nca-backup Redis dump; pick another backup id, or restore from the replica in the recovery region.',
  });
}

export interface DumpReader {
  readonly header: DumpHeader;
  /** Every record in stream order; ends only after the trailer was read and checked. */
  records(): AsyncGenerator<DumpRecord, DumpTrailer, undefined>;
  /** The same records, as many at a time as the bytes received so far hold (fewer awaits per record). */
  batches(): AsyncGenerator<DumpRecord[], DumpTrailer, undefined>;
}

function readU64(buf: Buffer, at: number, context: DumpContext, what: string): number {
  if (buf.readUInt16BE(at) !== 0) throw damaged(context, `has an out-of-range ${what}`);
  return buf.readUIntBE(at + 2, 6);
}

/**
 * Reads and checks the header (so a restore can refuse a wrong artifact before it changes anything),
 * then hands out the records. Stream errors (e.g. the vault's IntegrityError) pass through unchanged.
 */
export async function openDump(stream: Readable, context: DumpContext): Promise<DumpReader> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const reader = new ByteReader(iterator);
  const fixedBytes = DUMP_MAGIC.length + 6;
  if (!(await reader.fill(fixedBytes))) throw damaged(context, 'is too short to be an nca-backup Redis dump');
  const fixed = reader.take(fixedBytes);
  if (!fixed.subarray(0, DUMP_MAGIC.length).equals(DUMP_MAGIC)) throw damaged(context, 'does not start with the nca-backup Redis dump magic "NCAREDIS"');
  const version = fixed.readUInt16BE(DUMP_MAGIC.length);
  if (version > DUMP_FORMAT_VERSION || version === 0) {
    throw new VersionMismatchError(`artifact ${context.name} is in Redis dump format version ${version}; this nca-backup reads up to version ${DUMP_FORMAT_VERSION}.`, {
      component: 'redis',
      backupId: context.backupId,
      hint: 'Restore with the nca-backup release that wrote the backup, or a newer one.',
    });
  }
  const headerBytes = fixed.readUInt32BE(DUMP_MAGIC.length + 2);
  if (headerBytes > MAX_HEADER_BYTES) throw damaged(context, `announces a ${headerBytes}-byte header`);
  if (!(await reader.fill(headerBytes))) throw damaged(context, 'ends inside its header');
  let header: DumpHeader;
  try {
    header = JSON.parse(reader.take(headerBytes).toString('utf8')) as DumpHeader;
  } catch {
    throw damaged(context, 'has a header that is not JSON');
  }
  if (!Number.isInteger(header?.db) || !Array.isArray(header.keyPatterns) || !header.keyPatterns.every((p) => typeof p === 'string')) {
    throw damaged(context, 'has a header without db and keyPatterns');
  }

  let count = 0;
  let maxRdb = 0;
  /** Bytes the record at the read position needs in all; set when parseRecord found fewer buffered. */
  let needed = 1;
  const cut = () => damaged(context, `ends in the middle of record ${count + 1} (no trailer)`);

  /** The record at the read position if all its bytes are buffered; undefined at the trailer or when more bytes are needed. */
  function parseRecord(): DumpRecord | undefined {
    const { buffer, at } = reader.view;
    const have = buffer.length - at;
    if (have < 1) {
      needed = 1;
      return undefined;
    }
    const tag = buffer[at];
    if (tag === TRAILER_TAG) return undefined;
    if (tag !== RECORD_TAG) throw damaged(context, `has an unknown tag 0x${tag.toString(16).padStart(2, '0')} where record ${count + 1} should start`);
    if (have < 5) {
      needed = 5;
      return undefined;
    }
    const keyLength = buffer.readUInt32BE(at + 1);
    if (keyLength > MAX_KEY_BYTES) throw damaged(context, `announces a ${keyLength}-byte key in record ${count + 1}`);
    const fixed = 5 + keyLength + 1 + 8 + DIGEST_BYTES + 4;
    if (have < fixed) {
      needed = fixed;
      return undefined;
    }
    const keyAt = at + 5;
    const typeAt = keyAt + keyLength;
    const payloadLength = buffer.readUInt32BE(typeAt + 1 + 8 + DIGEST_BYTES);
    if (have < fixed + payloadLength) {
      needed = fixed + payloadLength;
      return undefined;
    }
    const type = CODE_TYPE.get(buffer[typeAt]);
    if (!type) throw damaged(context, `has an unknown key type ${buffer[typeAt]} in record ${count + 1}`);
    const expiresAt = readU64(buffer, typeAt + 1, context, 'expiry');
    const digestAt = typeAt + 9;
    const payloadAt = digestAt + DIGEST_BYTES + 4;
    const payload = buffer.subarray(payloadAt, payloadAt + payloadLength);
    if (payloadLength >= 11) maxRdb = Math.max(maxRdb, payload.readUInt16LE(payloadLength - 10));
    reader.skip(fixed + payloadLength);
    count++;
    needed = 1;
    return { key: buffer.subarray(keyAt, typeAt), type, expiresAt, digest: buffer.subarray(digestAt, digestAt + DIGEST_BYTES), payload };
  }

  async function readTrailer(): Promise<DumpTrailer> {
    reader.take(1);
    if (!(await reader.fill(18))) throw damaged(context, 'ends inside its trailer');
    const fields = reader.take(18);
    const trailer: DumpTrailer = {
      records: readU64(fields, 0, context, 'record count'),
      skippedExpired: readU64(fields, 8, context, 'skipped count'),
      rdbVersion: fields.readUInt16BE(16),
    };
    if (trailer.records !== count) throw damaged(context, `holds ${count} records but its trailer says ${trailer.records}`);
    if (!(await reader.atEnd())) throw damaged(context, 'has bytes after its trailer');
    if (trailer.rdbVersion < maxRdb) throw damaged(context, `has payloads of RDB version ${maxRdb} but its trailer says ${trailer.rdbVersion}`);
    return trailer;
  }

  async function* batches(): AsyncGenerator<DumpRecord[], DumpTrailer, undefined> {
    for (;;) {
      const batch: DumpRecord[] = [];
      for (let record = parseRecord(); record; record = parseRecord()) batch.push(record);
      if (batch.length > 0) yield batch;
      if (reader.available >= 1 && reader.view.buffer[reader.view.at] === TRAILER_TAG) return readTrailer();
      if (!(await reader.fill(needed))) {
        if (reader.available === 0) throw damaged(context, `ends after ${count} records without its trailer (truncated)`);
        throw cut();
      }
    }
  }

  async function* records(): AsyncGenerator<DumpRecord, DumpTrailer, undefined> {
    const all = batches();
    for (;;) {
      const next = await all.next();
      if (next.done) return next.value;
      yield* next.value;
    }
  }

  return { header, records, batches };
}

/**
 * Feeds every record to `each` and returns the checked trailer. A promise `each` returns is awaited
 * before the next record (backpressure); a plain return costs no await.
 */
export async function forEachRecord(reader: DumpReader, each: (record: DumpRecord) => void | Promise<void>): Promise<DumpTrailer> {
  const batches = reader.batches();
  for (;;) {
    const next = await batches.next();
    if (next.done) return next.value;
    for (const record of next.value) {
      const pending = each(record);
      if (pending) await pending;
    }
  }
}

/**
 * The records a reader keeps, handed to `flush` in order in batches of at most 1000 records or 8 MiB:
 * one pipeline per batch, whatever the size of the values.
 */
export class RecordBatches {
  static readonly RECORDS = 1000;
  static readonly BYTES = 8 * 1024 * 1024;
  private batch: DumpRecord[] = [];
  private bytes = 0;

  constructor(private readonly flush: (batch: readonly DumpRecord[]) => Promise<void>) {}

  /** Keeps the record; returns a promise only when it completed a batch (then await it: backpressure). */
  add(record: DumpRecord): Promise<void> | undefined {
    this.batch.push(record);
    this.bytes += recordBytes(record);
    if (this.batch.length >= RecordBatches.RECORDS || this.bytes >= RecordBatches.BYTES) return this.end();
    return undefined;
  }

  /** Hands over the records not flushed yet. */
  async end(): Promise<void> {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.bytes = 0;
    await this.flush(batch);
  }
}
