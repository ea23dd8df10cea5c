/**
 * The fingerprint of a live table (vector.fingerprint, the post-restore verification): its rows read the
 * way the backup reads them — by parallelStreams() connections sharing one exported snapshot, by id
 * ranges (parallel-scan.ts) — or by one cursor where the table cannot be split by its key. The digest is
 * the same either way (RowStats over the same rows in the same id order). After a restore the
 * verification reads every row again; with one cursor that read took about as long as the load itself.
 */
import type { Client } from 'pg';
import { parallelStreams } from '../../core/streams';
import type { Fingerprint } from '../types';
import type { VectorTarget } from './connection';
import { beginSnapshot, vectorFingerprint } from './fingerprint';
import type { VectorTableDefinition } from './format';
import { ParallelScan, ROWS_PER_RANGE, singleStreamReason } from './parallel-scan';
import { RowStats, scanRows } from './scan';
import { relationSql } from './sql';
import { detectTable, pgvectorSchema } from './table';

export interface LiveFingerprint {
  readonly fingerprint: Fingerprint;
  readonly stats: RowStats;
  readonly definition: VectorTableDefinition;
  /** Connections that read the rows (1: one cursor). */
  readonly readers: number;
}

export interface LiveFingerprintOptions {
  /** Connections reading the rows. Default parallelStreams(); 1 keeps the one cursor. */
  readonly streams?: number;
  /** Rows per id range. Default ROWS_PER_RANGE, as the backup. */
  readonly rowsPerRange?: number;
}

/** Reads `target`'s table on `client` and, when it splits, on more connections sharing its snapshot. */
export async function fingerprintLive(client: Client, target: VectorTarget, options: LiveFingerprintOptions = {}): Promise<LiveFingerprint> {
  const { streams = parallelStreams(), rowsPerRange = ROWS_PER_RANGE } = options;
  await beginSnapshot(client);
  let scan: ParallelScan | undefined;
  try {
    const definition = await detectTable(client, target, target.database);
    const relation = relationSql(target);
    const vectorSchema = await pgvectorSchema(client);
    if (streams > 1 && (await singleStreamReason(client, definition, relation)) === undefined) {
      scan = await ParallelScan.plan(client, target, definition, relation, vectorSchema, {
        streams,
        rowsPerRange,
        doing: 'fingerprint',
        hint: 'Nothing was written; the fingerprint can be taken again.',
      });
    }
    const stats = new RowStats(definition);
    for await (const batch of scan ? scan.rows() : scanRows(client, definition, relation, vectorSchema)) for (const row of batch) stats.add(row);
    return { fingerprint: vectorFingerprint(stats.digest, definition), stats, definition, readers: scan?.readers ?? 1 };
  } catch (error) {
    throw scan?.failure ?? error;
  } finally {
    await scan?.close();
    await client.query('ROLLBACK').catch(() => undefined);
  }
}
