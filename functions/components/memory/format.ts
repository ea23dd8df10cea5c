/**
 * The tier export, "nca-memory-export" version 2: one gzip-compressed JSON Lines file per tier
 * (`working.jsonl.gz`, `episodic.jsonl.gz`, `semantic.jsonl.gz`, content type application/gzip).
 *
 *   line 1      header   {"format":"nca-memory-export","version":2,"tier":"episodic","exportedAt":"<ISO>","source":{...},
 *                         "records":"<what the record lines hold>","normalises":["<what the items change>", ...]}
 *   lines 2..n  items    {"content":...,"embedding":[...],"id":"<uuid>","metadata":{...},"native":{...}}
 *               records  {"record":{...}}
 *   last line   trailer  {"format":"nca-memory-export","end":true,"tier":"episodic","items":<n>,"records":<m>}
 *
 * Two views of the same tier travel side by side, in the store's own order, one JSON object per line
 * (UTF-8, "\n"-terminated, object keys sorted at every level):
 * - items (MemoryItem, item.ts): the portable model, for any tool and for restoring into another kind of
 *   store. It may normalise; the header's `normalises` says how (e.g. numbers lose their BSON type).
 * - records: what the store holds, exactly. working: every key under the namespace (items, metadata,
 *   the NCA's index:tag/index:status/index:content sets, stats) as {"key" (or "keyBase64" when not UTF-8),
 *   "type", "dump" (base64 of Redis' DUMP payload), "expireAt" (absolute Unix ms, when the key has a TTL)};
 *   episodic: every document as {"bson": base64 of its BSON bytes}. semantic: none (its items are its
 *   rows: id, the embedding's exact float values and the metadata column's JSON).
 * A restore into the kind of store the tier came from writes the records (RESTORE ... ABSTTL, raw BSON),
 * so keys, values, TTL deadlines and BSON number types come back as they were; into another store (an
 * older Redis that cannot read the payloads, a version 1 export) it writes the items.
 *
 * The trailer makes a file cut at a line boundary detectable by any JSON Lines reader, not only by gzip's
 * CRC. Version 1 files (items only) are still read. A reader of version N reads every version up to N.
 */
import { once } from 'node:events';
import { createGunzip, createGzip, type Gzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { MemoryTier } from './tiers';
import { IntegrityError, InvalidInputError } from '../../core/errors';
import { canonicalJson } from '../../core/canonical-json';
import { isObject, parseJsonExact, shapeProblem, type JsonObject, type MemoryItem } from './item';

export const FORMAT = 'nca-memory-export';
export const FORMAT_VERSION = 2;
export const CONTENT_TYPE = 'application/gzip';
export const COMPONENT = 'memory';

export function artifactName(tier: MemoryTier): string {
  return `${tier}.jsonl.gz`;
}

/** One line of a tier export after the header: a portable item or a native record. */
export type TierLine = { readonly item: MemoryItem; readonly record?: undefined } | { readonly record: JsonObject; readonly item?: undefined };

export interface ExportHeader {
  readonly format: typeof FORMAT;
  readonly version: number;
  readonly tier: MemoryTier;
  readonly exportedAt: string;
  /** Where the tier came from and how its store lays it out (namespace, collection, table and column types). */
  readonly source: Record<string, unknown>;
  /** What the tier's record lines hold (absent: no records). */
  readonly records?: string;
  /** How the portable items differ from what the store holds. */
  readonly normalises?: readonly string[];
}

export interface ExportTrailer {
  readonly format: typeof FORMAT;
  readonly end: true;
  readonly tier: MemoryTier;
  readonly items: number;
  readonly records?: number;
}

/** Lines are batched into chunks of about this size before compression: zlib is slow on tiny writes. */
const CHUNK_BYTES = 64 * 1024;

/**
 * Writes one tier's file. `body` is the compressed stream the sink consumes; `write` waits while the sink
 * is behind, so memory stays bounded whatever the tier's size.
 */
export class TierWriter {
  /**
   * Level 1: embeddings printed as text are high-entropy, deflate's level 6 manages ~25 MB/s on them and
   * level 1 ~120 MB/s, for files only ~4% larger.
   */
  readonly body: Gzip = createGzip({ level: 1 });
  private pending: string[] = [];
  private pendingBytes = 0;
  private items = 0;
  private records = 0;
  /** Rejects when the consumer fails, so a writer waiting for 'drain' does not wait forever. */
  private consumerFailed: Promise<never> = new Promise(() => undefined);

  constructor(private readonly tier: MemoryTier) {}

  /** Called with the sink's promise: its failure releases a blocked writer. */
  watch(consumer: Promise<unknown>): void {
    this.consumerFailed = consumer.then(() => new Promise<never>(() => undefined));
    this.consumerFailed.catch(() => undefined);
  }

  async header(header: ExportHeader): Promise<void> {
    await this.line(JSON.stringify(header));
  }

  /** Writes the item's canonical JSON and returns it. */
  async item(item: MemoryItem): Promise<string> {
    this.items++;
    const text = canonicalJson(item);
    await this.line(text);
    return text;
  }

  /** Writes a native record. */
  async record(record: JsonObject): Promise<void> {
    this.records++;
    await this.line(canonicalJson({ record }));
  }

  async end(): Promise<number> {
    const trailer: ExportTrailer = { format: FORMAT, end: true, tier: this.tier, items: this.items, ...(this.records > 0 ? { records: this.records } : {}) };
    await this.line(JSON.stringify(trailer));
    await this.flush();
    this.body.end();
    return this.items;
  }

  fail(error: Error): void {
    this.body.destroy(error);
  }

  private async line(text: string): Promise<void> {
    this.pending.push(text, '\n');
    this.pendingBytes += text.length + 1;
    if (this.pendingBytes >= CHUNK_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const chunk = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.body.write(chunk)) await Promise.race([once(this.body, 'drain'), this.consumerFailed]);
  }
}

/** Lines longer than this are refused instead of buffered without bound (an item with a 16k-float embedding is ~300 KB). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/**
 * Reads one tier's file, validating header, every item's shape and the trailer. Any failure first lets
 * the artifact stream run to its end, so that damaged bytes are reported as the IntegrityError of the
 * SHA-256 check (which tells the operator to pick another backup), not as a gzip or JSON error.
 */
export class TierReader {
  private readonly raw: Readable;
  private rawError?: Error;
  private headerValue?: ExportHeader;
  private lineNumber = 0;
  private readonly iterator: AsyncIterator<Buffer>;

  constructor(
    open: () => Readable,
    readonly tier: MemoryTier,
    readonly name: string,
  ) {
    this.raw = open();
    const gunzip = createGunzip();
    this.raw.on('error', (error) => {
      this.rawError = error;
      gunzip.destroy(error);
    });
    this.raw.pipe(gunzip);
    this.iterator = lines(gunzip, () => this.lineNumber)[Symbol.asyncIterator]();
  }

  async header(): Promise<ExportHeader> {
    if (this.headerValue) return this.headerValue;
    const first = await this.next();
    if (first === undefined) throw await this.explain(this.invalid('is empty'));
    const header = await this.parse(first);
    if (!isObject(header) || header.format !== FORMAT) throw await this.explain(this.invalid(`does not start with a ${FORMAT} header`));
    if (typeof header.version !== 'number' || header.version > FORMAT_VERSION) {
      throw await this.explain(
        new InvalidInputError(`artifact ${this.name} is ${FORMAT} version ${String(header.version)}; this nca-backup reads version ${FORMAT_VERSION} and older.`, {
          component: COMPONENT,
          hint: 'Restore with the nca-backup release that wrote the backup, or a newer one.',
        }),
      );
    }
    if (header.tier !== this.tier) throw await this.explain(this.invalid(`holds tier ${JSON.stringify(header.tier)}, not ${this.tier}`));
    if (typeof header.exportedAt !== 'string' || !isObject(header.source)) throw await this.explain(this.invalid('has a header without exportedAt or source'));
    this.headerValue = header as unknown as ExportHeader;
    return this.headerValue;
  }

  /** Items in file order (records skipped); ends only after the trailer and the artifact's digest checked out. */
  async *items(): AsyncGenerator<MemoryItem> {
    for await (const line of this.lines()) if (line.item) yield line.item;
  }

  /** Items and records in file order; ends only after the trailer matched the counts and the artifact's digest checked out. */
  async *lines(): AsyncGenerator<TierLine> {
    await this.header();
    let count = 0;
    let records = 0;
    for (;;) {
      const text = await this.next();
      if (text === undefined) throw await this.explain(this.invalid('ends without its trailer line'));
      const value = await this.parse(text);
      if (isObject(value) && value.format === FORMAT) {
        if (value.end !== true || value.items !== count || (value.records ?? 0) !== records) {
          throw await this.explain(this.invalid(`has a trailer for ${String(value.items)} items and ${String(value.records ?? 0)} records after ${count} items and ${records} records`));
        }
        if ((await this.next()) !== undefined) throw await this.explain(this.invalid('has lines after its trailer'));
        return;
      }
      if (isObject(value) && 'record' in value) {
        if (Object.keys(value).length !== 1 || !isObject(value.record)) throw await this.explain(this.invalid(`line ${this.lineNumber}: a record line holds something else than one record object`));
        records++;
        yield { record: value.record };
        continue;
      }
      const problem = shapeProblem(value);
      if (problem) {
        const id = isObject(value) && typeof value.id === 'string' ? ` ${value.id}` : '';
        throw await this.explain(this.invalid(`line ${this.lineNumber}: ${this.tier} item${id} ${problem}`));
      }
      count++;
      yield { item: value as unknown as MemoryItem };
    }
  }

  /** Stops reading (the caller failed elsewhere) without leaving the stream open. */
  close(): void {
    this.raw.destroy();
  }

  private async next(): Promise<string | undefined> {
    try {
      const result = await this.iterator.next();
      if (result.done) return undefined;
      this.lineNumber++;
      return result.value.toString('utf8');
    } catch (error) {
      throw await this.explain(error as Error);
    }
  }

  private async parse(text: string): Promise<unknown> {
    try {
      return parseJsonExact(text);
    } catch {
      throw await this.explain(this.invalid(`line ${this.lineNumber} is not JSON`));
    }
  }

  private invalid(detail: string): InvalidInputError {
    return new InvalidInputError(`artifact ${this.name} is not a valid ${FORMAT}: it ${detail}.`, {
      component: COMPONENT,
      hint: 'The artifact passed its checksum, so it was written this way: restore another backup id and report the problem.',
    });
  }

  /** The error to report for `error`: the artifact's IntegrityError when its bytes are damaged, else `error`. */
  private async explain(error: Error): Promise<Error> {
    if (error instanceof IntegrityError) return error;
    if (!this.rawError && !this.raw.readableEnded && !this.raw.destroyed) {
      this.raw.unpipe();
      this.raw.resume();
      await once(this.raw, 'end').catch(() => undefined);
    }
    return this.damage() ?? error;
  }

  /** The stream's IntegrityError, if the artifact's bytes failed their check. */
  private damage(): IntegrityError | undefined {
    return this.rawError instanceof IntegrityError ? this.rawError : undefined;
  }
}

/** "\n"-separated lines of a stream as Buffers; a line longer than MAX_LINE_BYTES is an error. */
async function* lines(stream: Readable, lineNumber: () => number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let start = 0;
    for (let newline = chunk.indexOf(10, start); newline !== -1; newline = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, newline);
      yield parts.length === 0 ? piece : Buffer.concat([...parts, piece]);
      parts = [];
      size = 0;
      start = newline + 1;
    }
    if (start < chunk.length) {
      parts.push(chunk.subarray(start));
      size += chunk.length - start;
      if (size > MAX_LINE_BYTES) {
        throw new InvalidInputError(`line ${lineNumber() + 1} is longer than ${MAX_LINE_BYTES} bytes.`, { component: COMPONENT });
      }
    }
  }
  if (size > 0) yield Buffer.concat(parts);
}
