/**
 * The header and table of contents of a pg_dump custom archive, which come first in the stream.
 *
 * The restore runs the archive's post-data section (indexes, constraints, triggers) from these bytes
 * alone while it reads the loaded tables' rows for the fingerprint (restore.ts): no entry of that
 * section has a data block, so pg_restore needs nothing past the table of contents.
 *
 * The backup takes sequence values from here. A sequence's value is not versioned: pg_dump
 * reads it outside the exported snapshot (once, while it collects the schema, before any table data),
 * and so would the fingerprint. Under concurrent nextval() the two reads differ and a faithful restore
 * would fail verification. The archive's table of contents comes first in the stream and carries each
 * value in its SEQUENCE SET entry (`SELECT pg_catalog.setval('…', 42, true);`), so the backup takes the
 * values from there: the fingerprint then records exactly what the dump restores.
 *
 * Only the header and the table of contents are read (format of pg_backup_archiver.c, archive versions
 * 1.12 to 1.16, PostgreSQL 11 to 17 and later); anything else (another format, a version not known here,
 * a stream that ends early) gives `undefined` and the fingerprint keeps the values it read itself.
 */
import { Readable } from 'node:stream';
import type { Fingerprint, FingerprintEntry } from '../types';
import { objectKey } from './fingerprint-keys';
import { sequenceValueEntry } from './fingerprint-objects';

export interface DumpedSequence {
  schema: string;
  name: string;
  lastValue: string;
  isCalled: boolean;
}

const CUSTOM_FORMAT = 1;
const MIN_VERSION = 12;
const MAX_VERSION = 16;
/** A table of contents larger than this is not waited for (the backup keeps the sequence values the
 * fingerprint read; the restore runs the archive in one pass). */
const MAX_TOC_BYTES = 256 * 1024 * 1024;

class NeedMore extends Error {}
class Unsupported extends Error {}

class Cursor {
  at = 0;
  intSize = 4;
  offSize = 8;
  constructor(private readonly bytes: Buffer) {}

  private take(n: number): Buffer {
    if (this.at + n > this.bytes.length) throw new NeedMore();
    const slice = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return slice;
  }
  byte(): number {
    return this.take(1)[0];
  }
  /** A sign byte, then intSize bytes, least significant first. */
  int(): number {
    const negative = this.byte() !== 0;
    const digits = this.take(this.intSize);
    let value = 0;
    for (let i = digits.length - 1; i >= 0; i--) value = value * 256 + digits[i];
    return negative ? -value : value;
  }
  /** A length (-1 for NULL), then that many bytes. */
  str(): string | null {
    const length = this.int();
    if (length < 0) return null;
    return this.take(length).toString('utf8');
  }
  magic(): string {
    return this.take(5).toString('latin1');
  }
  skip(n: number): void {
    this.take(n);
  }
}

const SETVAL = /,\s*(-?\d+),\s*(true|false)\);\s*$/;

export interface TableOfContents {
  /** The archive's first bytes, up to the end of its table of contents. */
  readonly bytes: Buffer;
  /** The values of the archive's SEQUENCE SET entries. */
  readonly sequences: DumpedSequence[];
}

/** Parses header and table of contents; throws NeedMore when `bytes` ends first. */
export function parseTableOfContents(bytes: Buffer): TableOfContents {
  const c = new Cursor(bytes);
  if (c.magic() !== 'PGDMP') throw new Unsupported();
  const major = c.byte();
  const minor = c.byte();
  c.byte();
  if (major !== 1 || minor < MIN_VERSION || minor > MAX_VERSION) throw new Unsupported();
  c.intSize = c.byte();
  c.offSize = c.byte();
  if (c.byte() !== CUSTOM_FORMAT) throw new Unsupported();
  if (minor >= 15) c.byte();
  else c.int(); // compression level
  for (let i = 0; i < 7; i++) c.int(); // creation time
  c.str(); // database name
  c.str(); // server version
  c.str(); // pg_dump version
  const count = c.int();
  const sequences: DumpedSequence[] = [];
  for (let i = 0; i < count; i++) {
    c.int(); // dump id
    c.int(); // had dumper
    c.str(); // table oid
    c.str(); // oid
    const tag = c.str();
    const desc = c.str();
    c.int(); // section
    const defn = c.str();
    c.str(); // drop statement
    c.str(); // copy statement
    const namespace = c.str();
    c.str(); // tablespace
    if (minor >= 14) c.str(); // table access method
    if (minor >= 16) c.int(); // relkind
    c.str(); // owner
    c.str(); // "false": with oids
    while (c.str() !== null); // dependencies
    c.skip(1 + c.offSize); // data offset (custom format)
    const value = desc === 'SEQUENCE SET' && defn ? SETVAL.exec(defn) : null;
    if (value && tag !== null && namespace !== null) sequences.push({ schema: namespace, name: tag, lastValue: value[1], isCalled: value[2] === 'true' });
  }
  return { bytes: bytes.subarray(0, c.at), sequences };
}

export const parseDumpedSequences = (bytes: Buffer): DumpedSequence[] => parseTableOfContents(bytes).sequences;

/** Parses `chunks` once they may hold the whole table of contents; linear work whatever the chunk size. */
class TocCollector {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private nextAttempt = 64 * 1024;

  /** The table of contents once complete; undefined while more is needed; null when there is none to find. */
  add(chunk: Buffer): TableOfContents | undefined | null {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    // Parse again only once the buffer has doubled.
    if (this.buffered < this.nextAttempt) return undefined;
    this.nextAttempt = this.buffered * 2;
    return this.attempt(false);
  }

  attempt(final: boolean): TableOfContents | undefined | null {
    try {
      const toc = parseTableOfContents(Buffer.concat(this.chunks, this.buffered));
      // A copy: the concatenation also holds the data that follows.
      return { ...toc, bytes: Buffer.from(toc.bytes) };
    } catch (error) {
      if (error instanceof NeedMore && !final && this.buffered <= MAX_TOC_BYTES) return undefined;
      return null;
    }
  }

  /** What has been collected so far, for the reader that consumes the stream. */
  get head(): Buffer[] {
    return this.chunks;
  }
}

/**
 * Reads the beginning of a pg_dump stream until its table of contents is complete, and gives back the
 * table of contents (undefined when it cannot be read: another format, an unknown version, too large)
 * with a stream of the whole archive, the bytes already read included. Errors of `stream` (an
 * IntegrityError at its end) reach the returned stream.
 */
export async function readTableOfContents(stream: Readable): Promise<{ toc?: TableOfContents; archive: Readable }> {
  const iterator = stream[Symbol.asyncIterator]();
  const collector = new TocCollector();
  let toc: TableOfContents | undefined | null;
  let ended = false;
  while (toc === undefined) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      toc = collector.attempt(true);
    } else {
      toc = collector.add(next.value as Buffer);
    }
  }
  const head = collector.head;
  async function* archive() {
    let finished = ended;
    try {
      yield* head;
      for (let next = finished ? undefined : await iterator.next(); next && !next.done; next = await iterator.next()) yield next.value as Buffer;
      finished = true;
    } finally {
      // The reader gave up (its tool failed): stop the source too.
      if (!finished) await iterator.return?.();
    }
  }
  return { ...(toc ? { toc } : {}), archive: Readable.from(archive(), { objectMode: false }) };
}

/**
 * Watches a pg_dump custom-format stream (without consuming it: another reader must drain it) until its
 * table of contents is complete; resolves with the SEQUENCE SET values, or undefined (see above).
 */
export function dumpedSequences(stream: Readable): Promise<DumpedSequence[] | undefined> {
  return new Promise((resolve) => {
    const collector = new TocCollector();
    const finish = (result: TableOfContents | undefined | null) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', onEnd);
      resolve(result?.sequences);
    };
    const onData = (chunk: Buffer) => {
      const toc = collector.add(chunk);
      if (toc !== undefined) finish(toc);
    };
    const onEnd = () => finish(collector.attempt(true));
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    stream.once('error', onEnd);
  });
}

/**
 * The backup's fingerprint with each sequence's value entry taken from the dump. Sequences the
 * fingerprint does not cover (members of extensions) are ignored.
 */
export function withDumpedSequences(fingerprint: Fingerprint, dumped: readonly DumpedSequence[] | undefined): Fingerprint {
  if (!dumped) return fingerprint;
  const result: Record<string, FingerprintEntry> = { ...fingerprint };
  for (const sequence of dumped) {
    const key = objectKey('sequence', [sequence.schema, sequence.name]);
    if (key in result) result[key] = sequenceValueEntry(sequence.lastValue, sequence.isCalled);
  }
  return result;
}
