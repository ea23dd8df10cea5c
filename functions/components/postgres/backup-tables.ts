/**
 * The per-table layout of a backup (dump-layout.ts decides when): every pg_dump reads the one exported
 * snapshot (--snapshot), so the archives together are one point in time.
 *  - the schema archive, `<database>.dump`: `pg_dump -Fc --exclude-table-data=<each listed table>`, i.e.
 *    everything (pre-data, sequence values, large objects, the rows of tables not listed such as
 *    extension configuration tables, post-data) but the listed tables' rows;
 *  - table-data archives, `<database>.tables-NNNN.dump`: `pg_dump -Fc --data-only -t <table>…`, a large
 *    table alone, small ones together, largest first, `streams` of them at once.
 *
 * Why per-table custom archives and not `pg_dump -Fd -j`: a directory dump writes every table file to
 * local disk and is only complete (toc.dat) when the last table is, and pg_restore -Fd reads it back only
 * from a directory, so both the backup and the restore would stage the database on disk (Lambda has
 * 512 MB to 10 GB of it, Fargate 20-200 GB). Custom archives stream from pg_dump's stdout straight to
 * the vault and back into pg_restore's stdin, each a stock archive `pg_restore` reads on its own.
 */
import type { Client } from 'pg';
import type { ArtifactRecord, ArtifactSink, Logger } from '../types';
import type { PostgresTarget } from './connection';
import { DumpStreams } from './dump-streams';
import { exactTablePattern, planParts, TABLE_DATA_CONTENT_TYPE, uploadBudget, type DumpCompression, type DumpLayout, type DumpTable, type TableDataPart } from './dump-layout';
import { forEachLimit } from '../../core/parallel';

/**
 * The tables whose rows pg_dump dumps, in the snapshot's catalog: ordinary tables and leaf partitions
 * outside the system schemas, temporary tables and extensions (an extension's configuration tables are
 * dumped by pg_dump's own rules, in the schema archive). pg_table_size takes the AccessShareLock pg_dump
 * and the fingerprint take on every table anyway, under the transaction's lock_timeout.
 */
const DUMP_TABLES_SQL = `
  SELECT n.nspname AS schema, c.relname AS name, pg_table_size(c.oid)::text AS bytes
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND c.relpersistence <> 't'
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;

export async function listDumpTables(client: Client): Promise<DumpTable[]> {
  const { rows } = await client.query<{ schema: string; name: string; bytes: string }>(DUMP_TABLES_SQL);
  return rows.map((row) => ({ schema: row.schema, name: row.name, bytes: Number(row.bytes) }));
}

export const tablePartName = (base: string, index: number) => `${base}.tables-${String(index + 1).padStart(4, '0')}.dump`;

export interface PerTableDump {
  /** The schema archive's pg_dump: its stdout carries the sequence values (archive.ts). */
  readonly schemaStdout: NodeJS.ReadableStream;
  /** Every archive, the schema archive first, once all are stored. */
  readonly finished: Promise<{ artifacts: ArtifactRecord[]; layout: DumpLayout }>;
  readonly streams: DumpStreams;
}

export function dumpPerTable(options: {
  target: PostgresTarget;
  sink: ArtifactSink;
  tables: readonly DumpTable[];
  /** Arguments every pg_dump gets: --snapshot, --lock-wait-timeout, compression, --dbname. */
  common: readonly string[];
  compression: DumpCompression;
  schemaArtifact: string;
  schemaContentType: string;
  streams: number;
  log: Logger;
}): PerTableDump {
  const { target, sink, tables, common, compression, streams, log } = options;
  const dumps = new DumpStreams(target, sink);
  const base = options.schemaArtifact.replace(/\.dump$/, '');
  const planned = planParts(tables);
  const parts: TableDataPart[] = planned.map((group, index) => ({
    artifact: tablePartName(base, index),
    tables: group.map((t) => `${t.schema}.${t.name}`),
    bytes: group.reduce((sum, t) => sum + t.bytes, 0),
  }));
  // The schema archive is mostly catalog reads: it runs beside the table streams, not in one of them.
  // Its size is not known ahead (large objects, rows of tables not listed): one part in flight, parts of 16 MiB.
  const schema = dumps.start([...common, ...tables.map((t) => `--exclude-table-data=${exactTablePattern(t)}`)], options.schemaArtifact, options.schemaContentType, {
    queueSize: 1,
    partSizeBytes: 16 * 1024 * 1024,
  });
  const records: ArtifactRecord[] = new Array(parts.length);
  const tableData = forEachLimit(planned, streams, async (group, index) => {
    const args = [...common, '--data-only', ...group.flatMap((t) => ['-t', exactTablePattern(t)])];
    records[index] = await dumps.start(args, parts[index].artifact, TABLE_DATA_CONTENT_TYPE, uploadBudget(streams, parts[index].bytes)).finished;
    log.info('table data archive stored', { artifact: parts[index].artifact, tables: group.length, tableBytes: parts[index].bytes, bytes: records[index].bytes });
  });
  tableData.catch((error: unknown) => dumps.stop(error));
  const finished = Promise.all([schema.finished, tableData]).then(([schemaRecord]) => ({
    artifacts: [schemaRecord, ...records],
    layout: { layout: 'per-table' as const, compression: compression.codec, compressedBy: compression.compressedBy, schemaArtifact: options.schemaArtifact, parts, streams },
  }));
  return { schemaStdout: schema.dump.child.stdout!, finished, streams: dumps };
}
