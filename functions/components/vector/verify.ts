/**
 * Post-restore verification: the restored table's fingerprint must equal the backup's, and a sample of
 * stored vectors — up to SAMPLE_ROWS rows spread evenly over the backup — is read back from the server
 * and compared bit for bit with the records in rows.bin (streamed again, through the digest check).
 * The fingerprint proves the whole; the sample shows, row by row, that what the server now returns is
 * what was backed up, and names the rows that are not.
 */
import type { Client } from 'pg';
import type { ArtifactSource, Fingerprint, Logger, RestoreVerification } from '../types';
import { describeVectorTarget, withTable, withVectorClient, type VectorTarget } from './connection';
import { beginSnapshot } from './fingerprint';
import { extraColumns, ROWS_ARTIFACT, RowsDecoder, type VectorRecord, type VectorTableDefinition } from './format';
import type { VectorRestoreOptions } from './options';
import { readDefinition, restoreTableName } from './restore';
import { fingerprintLive } from './live-fingerprint';
import { recordFromRow, type RawRow } from './scan';
import { relationSql, selectRowsSql } from './sql';
import { tableExists } from './table';

export const SAMPLE_ROWS = 100;
const REPORTED_IDS = 10;

/** Ordinals 0 ≤ o < rows spread evenly, at most `size` of them, first and last-ish included. */
export function sampleOrdinals(rows: number, size = SAMPLE_ROWS): number[] {
  const k = Math.min(size, rows);
  return Array.from({ length: k }, (_, i) => Math.floor((i * rows) / k));
}

/** The backup's records at the sampled ordinals, read from rows.bin in one pass. */
async function sampleBackup(source: ArtifactSource, ordinals: number[]): Promise<VectorRecord[]> {
  const wanted = new Set(ordinals);
  const decoder = new RowsDecoder();
  const sample: VectorRecord[] = [];
  let ordinal = 0;
  for await (const chunk of source.open(ROWS_ARTIFACT)) {
    decoder.push(chunk as Buffer);
    for (let record = decoder.next(); record !== undefined; record = decoder.next()) {
      if (wanted.has(ordinal) && record.id !== null) sample.push(record);
      ordinal += 1;
    }
  }
  decoder.finish();
  return sample;
}

type Mismatch = 'missing' | 'embedding' | 'metadata' | 'columns';

function compareRecords(expected: VectorRecord, actual: VectorRecord | undefined): Mismatch | undefined {
  if (!actual) return 'missing';
  const sameEmbedding = expected.embedding === null || actual.embedding === null ? expected.embedding === actual.embedding : expected.embedding.equals(actual.embedding);
  if (!sameEmbedding) return 'embedding';
  if (expected.metadata !== actual.metadata) return 'metadata';
  if (JSON.stringify(expected.extras) !== JSON.stringify(actual.extras)) return 'columns';
  return undefined;
}

/** The sampled rows as the server returns them now, printed with the backup's session-independent settings. */
async function storedRecords(client: Client, definition: VectorTableDefinition, ids: string[]): Promise<Map<string, VectorRecord>> {
  await beginSnapshot(client);
  try {
    const { rows } = await client.query<RawRow>(selectRowsSql(definition, relationSql(definition), { byIds: true }), [ids]);
    const extraCount = extraColumns(definition).length;
    return new Map(rows.map((row) => [row.id as string, recordFromRow(row, definition, extraCount)]));
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

export async function verifyVectorRestore(
  expected: Fingerprint,
  source: ArtifactSource,
  target: VectorTarget,
  options: VectorRestoreOptions,
  log: Logger,
): Promise<RestoreVerification> {
  const name = restoreTableName(target, options);
  const into = withTable(target, name);
  const backup = await readDefinition(source);
  return withVectorClient(into, async (client) => {
    if (!(await tableExists(client, name))) {
      return {
        objects: Object.keys(expected).length,
        differences: Object.entries(expected).map(([object, entry]) => ({ object, expected: entry, problem: `table ${describeVectorTarget(into)} does not exist` })),
      };
    }
    const { fingerprint: actual, definition } = await fingerprintLive(client, into);
    const differences: RestoreVerification['differences'][number][] = [];
    for (const object of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
      const [want, got] = [expected[object], actual[object]];
      if (!want || !got || want.count !== got.count || want.digest !== got.digest) differences.push({ object, expected: want, actual: got });
    }

    const sample = await sampleBackup(source, sampleOrdinals(backup.rows));
    const stored = sample.length === 0 ? new Map<string, VectorRecord>() : await storedRecords(client, definition, sample.map((r) => r.id as string));
    const mismatches = sample.flatMap((record) => {
      const problem = compareRecords(record, stored.get(record.id as string));
      return problem ? [{ id: record.id as string, problem }] : [];
    });
    if (mismatches.length > 0) {
      const listed = mismatches.slice(0, REPORTED_IDS).map((m) => `${m.id} (${m.problem})`).join(', ');
      differences.push({ object: `${ROWS_ARTIFACT} sample`, problem: `${mismatches.length} of ${sample.length} sampled rows differ from the backup bit for bit: ${listed}` });
    }
    log.info('vector restore verified', { target: describeVectorTarget(into), sampled: sample.length, mismatched: mismatches.length, differences: differences.length });
    return {
      objects: Object.keys(expected).length,
      differences,
      details: { sampled: sample.length, mismatched: mismatches.length, ...(mismatches.length > 0 ? { mismatchedIds: mismatches.slice(0, REPORTED_IDS) } : {}) },
    };
  });
}
