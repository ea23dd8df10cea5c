/**
 * The table's rows read by several connections at one point in time: the coordinating connection holds
 * the backup's REPEATABLE READ transaction and exports its snapshot; each reader opens a transaction on
 * that snapshot (SET TRANSACTION SNAPSHOT), so every reader sees exactly the rows the coordinator sees.
 *
 * The key is cut into ranges of `rowsPerRange` rows (every n-th id, read once in the snapshot); reader r
 * of R reads ranges r, r+R, r+2R, ... and the ranges are handed on in id order, so rows.bin is byte for
 * byte what one cursor would write and its format, fingerprint and restore stay as they are. A reader
 * stays at most `window` ranges ahead of the writer: memory holds a few ranges whatever the table's size.
 *
 * Only a table keyed by one column of a type whose text form reads back to the same value and sorts the
 * same way is split; any other keeps the single cursor (singleStreamReason says why).
 */
import type { Client } from 'pg';
import { COMPONENT, describeVectorTarget, openVectorClient, serverError, type VectorTarget } from './connection';
import { extraColumns } from './format';
import { beginSnapshot } from './fingerprint';
import { OrderedChunks } from './ordered-chunks';
import { scannedRow, type RawRow, type RowsDefinition, type ScannedRow } from './scan';
import { rangeBoundsSql, rangeParameters, selectRowsSql, type IdRange } from './sql';
import { NcaBackupError } from '../../core/errors';

/** Id types whose ::text and back is exact, so a range bound read as text selects the same rows. */
const SPLITTABLE_ID_TYPES = new Set(['uuid', 'text', 'character varying', 'smallint', 'integer', 'bigint']);

/** Why the table is read by one cursor, or undefined when it can be split by id ranges. */
export async function singleStreamReason(client: Client, definition: RowsDefinition, relation: string): Promise<string | undefined> {
  const { rows } = await client.query<{ columns: string[] }>(
    `SELECT array_agg(a.attname::text ORDER BY a.attnum) AS columns FROM pg_index i
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
     WHERE i.indrelid = $1::regclass AND i.indisprimary GROUP BY i.indexrelid`,
    [relation],
  );
  const key = rows[0]?.columns;
  if (!key) return 'the table has no primary key';
  if (key.length !== 1 || key[0] !== definition.idColumn) return `the primary key is (${key.join(', ')}), not the one column ${definition.idColumn}`;
  const type = definition.columns.find((c) => c.name === definition.idColumn)!.type.replace(/\(\d+\)/, '');
  if (!SPLITTABLE_ID_TYPES.has(type)) return `the key ${definition.idColumn} has type ${type}, whose text form is not split on`;
  return undefined;
}

/** Ranges covering the whole key: (-∞, b0], (b0, b1], ..., (b_last, ∞). */
export function rangesFromBounds(bounds: readonly string[]): IdRange[] {
  const ranges: IdRange[] = [];
  let after: string | undefined;
  for (const upTo of bounds) {
    ranges.push(after === undefined ? { upTo } : { after, upTo });
    after = upTo;
  }
  ranges.push(after === undefined ? {} : { after });
  return ranges;
}

/** A reader's typed error (its connection refused, a row it could not read) said again with which reader and what for. */
function named(error: NcaBackupError, action: string, hint: string): NcaBackupError {
  const Kind = error.constructor as new (message: string, context: { component?: string; hint?: string }) => NcaBackupError;
  return new Kind(`${action} failed: ${error.message.replace(/^vector: /, '')}`, { component: COMPONENT, hint });
}

function describeRange(range: IdRange): string {
  if (range.after === undefined && range.upTo === undefined) return 'all ids';
  if (range.after === undefined) return `ids up to ${range.upTo}`;
  if (range.upTo === undefined) return `ids after ${range.after}`;
  return `ids after ${range.after} up to ${range.upTo}`;
}

/** Rows per id range when the rows are read in parallel. */
export const ROWS_PER_RANGE = 500;

export interface ParallelScanOptions {
  readonly streams: number;
  readonly rowsPerRange: number;
  /** What the rows are read for, in a reader's error ("backup", "fingerprint"). Default "backup". */
  readonly doing?: string;
  /** What a reader's failure left, for its error's hint. Default: no backup was recorded, the source is unchanged. */
  readonly hint?: string;
}

/**
 * Rows in id order, read over `streams` connections. Call on the coordinator inside the backup's open
 * REPEATABLE READ transaction; it exports the snapshot and reads the range bounds there.
 */
export class ParallelScan {
  private readonly queue: OrderedChunks<ScannedRow[]>;
  private readerFailure?: { error: unknown };

  private constructor(
    private readonly target: VectorTarget,
    private readonly definition: RowsDefinition,
    private readonly relation: string,
    private readonly snapshot: string,
    private readonly vectorSchema: string | undefined,
    readonly ranges: readonly IdRange[],
    readonly readers: number,
    private readonly doing: string,
    private readonly hint: string,
  ) {
    this.queue = new OrderedChunks(readers + 1);
  }

  static async plan(
    coordinator: Client,
    target: VectorTarget,
    definition: RowsDefinition,
    relation: string,
    vectorSchema: string | undefined,
    options: ParallelScanOptions,
  ): Promise<ParallelScan> {
    const snapshot = (await coordinator.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0].id;
    const bounds = (await coordinator.query<{ bound: string }>(rangeBoundsSql(definition, relation), [options.rowsPerRange])).rows.map((r) => r.bound);
    const ranges = rangesFromBounds(bounds);
    const readers = Math.max(1, Math.min(options.streams, ranges.length));
    const hint = options.hint ?? 'No backup was recorded; the source is unchanged. Run the backup again.';
    return new ParallelScan(target, definition, relation, snapshot, vectorSchema, ranges, readers, options.doing ?? 'backup', hint);
  }

  /** The first failure of a reader (the cause; what the writer saw after it is a consequence). */
  get failure(): unknown {
    return this.readerFailure?.error;
  }

  private async read(reader: number): Promise<void> {
    // A session ended while the reader waits its turn fails the next query with a bare "not queryable";
    // the server's own error (57P01 when terminated) is what the client emitted, and what to report.
    let sessionError: unknown;
    const extraCount = extraColumns(this.definition).length;
    let range: IdRange | undefined;
    let client: Client | undefined;
    try {
      // Inside the try: a reader the server refuses (no free connection slot) must fail the scan, not leave
      // the consumer waiting for its ranges.
      client = await openVectorClient(this.target);
      client.on('error', (error) => (sessionError ??= error));
      await beginSnapshot(client, true, this.snapshot);
      // Visible in pg_stat_activity: which connection of the backup this is.
      await client.query(`SET LOCAL application_name = 'nca-backup vector reader ${reader + 1} of ${this.readers}'`);
      const statements = new Map<string, string>();
      for (let index = reader; index < this.ranges.length; index += this.readers) {
        await this.queue.reserve(index);
        range = this.ranges[index];
        const key = `${range.after === undefined ? 'open' : 'after'}_${range.upTo === undefined ? 'open' : 'upto'}`;
        if (!statements.has(key)) statements.set(key, selectRowsSql(this.definition, this.relation, { range, vectorSchema: this.vectorSchema }));
        const { rows } = await client.query<RawRow>({ name: `nca_vector_range_${key}`, text: statements.get(key)!, values: rangeParameters(range) });
        this.queue.put(index, rows.map((row) => scannedRow(row, this.definition, extraCount, this.vectorSchema !== undefined)));
      }
      await client.query('COMMIT');
    } catch (error) {
      // Failures after another reader's are that failure's echo; the first one is the cause.
      if (!this.queue.failed) {
        const cause = (error as { code?: string }).code === undefined && sessionError !== undefined ? sessionError : error;
        const where = `reader ${reader + 1} of ${this.readers} (${range ? describeRange(range) : 'starting'}) of ${describeVectorTarget(this.target)}`;
        this.readerFailure = { error: cause instanceof NcaBackupError ? named(cause, `${this.doing}: ${where}`, this.hint) : serverError(cause, `${this.doing}: ${where}`, this.hint) };
        this.queue.fail(this.readerFailure.error);
      }
    } finally {
      await client?.end().catch(() => undefined);
    }
  }

  private running?: Promise<void>;
  private complete = false;

  /** The rows in id order, a range at a time; readers start with the first pull. */
  async *rows(): AsyncGenerator<ScannedRow[]> {
    this.running = Promise.all(Array.from({ length: this.readers }, (_, r) => this.read(r))).then(() => undefined);
    try {
      for (let index = 0; index < this.ranges.length; index++) yield await this.queue.take();
      this.complete = true;
    } finally {
      await this.close();
    }
  }

  /** Stops readers still running (the consumer stopped: the sink failed) and waits until every one has ended. */
  async close(): Promise<void> {
    if (!this.complete) this.queue.fail(this.queue.failed?.error ?? new Error(`${COMPONENT}: the rows' consumer stopped`));
    await this.running;
  }
}
