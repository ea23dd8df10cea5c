/**
 * How a backup lays out its dump, decided in one place: one `pg_dump -Fc` stream, or a schema archive
 * plus table-data archives dumped several at once (backup-tables.ts); and which codec compresses them.
 * The manifest records both (`source.dump`), so a restore and an operator know what they read.
 */
/** The rows of some tables, a custom archive of its own (`pg_dump -Fc --data-only -t …`). */
export const TABLE_DATA_CONTENT_TYPE = 'application/vnd.postgresql.custom-archive+table-data';

/**
 * The switch: a database at least this large, on a runner given more than one stream (parallelStreams),
 * is dumped table by table, several at once; a smaller one as one `pg_dump -Fc` stream. Below it the
 * extra pg_dump processes (each reads the whole catalog before it dumps its tables) cost more than the
 * second core gives back; the bench (bench/run.ts) measures the parallel path above it.
 */
export const PARALLEL_DUMP_MIN_BYTES = 256 * 1024 * 1024;

/** A table smaller than this shares its archive with other small tables: one pg_dump per table would cost more than its rows. */
export const SMALL_TABLE_BYTES = 16 * 1024 * 1024;
/** At most this many bytes of small tables per shared archive. */
export const SHARED_ARCHIVE_BYTES = 64 * 1024 * 1024;

const MiB = 1024 * 1024;
/** S3's smallest part but the last, and most parts in one upload. */
const S3_MIN_PART_BYTES = 5 * MiB;
const S3_MAX_PARTS = 10_000;

/**
 * The multipart budget of one stream of the per-table layout: 2 parts in flight each, parts of
 * 16 MiB / streams (at least S3's 5 MiB), so that the worker's memory does not grow with the number of
 * streams. Measured on a 410 MB database of two tables (CLI worker, peak RSS): one stream with the
 * vault's default (4 parts of 16 MiB) 240-268 MiB; 2 streams with the default 252-289 MiB, with 16 MiB
 * parts 2 in flight 293 MiB on the bench, with this budget 213-234 MiB. A part is large enough for
 * twice the table's size on disk in S3's 10,000 parts (an archive is compressed, but TOAST-compressed
 * values are dumped decompressed).
 */
export function uploadBudget(streams: number, tableBytes: number): { partSizeBytes: number; queueSize: number } {
  const shared = Math.max(S3_MIN_PART_BYTES, Math.min(16 * MiB, Math.floor((16 * MiB) / Math.max(1, streams))));
  const fits = Math.ceil((2 * tableBytes) / S3_MAX_PARTS / MiB) * MiB;
  return { partSizeBytes: Math.max(shared, fits), queueSize: 2 };
}

export type DumpLayoutName = 'single-stream' | 'per-table';

export function chooseLayout(databaseBytes: number, streams: number, minBytes = PARALLEL_DUMP_MIN_BYTES): DumpLayoutName {
  return streams > 1 && databaseBytes >= minBytes ? 'per-table' : 'single-stream';
}

/**
 * The codec pg_dump compresses with, by the client's major. pg_dump 16 and later have lz4 (a fraction of
 * gzip's CPU for a slightly larger archive). pg_dump 15 and earlier have only gzip, and there the level
 * matters most: measured here on the sample database's two largest tables dumped side by side
 * (2 cores), gzip level 6 (pg_dump's default) took 7.2 s, level 1 2.5 s (10% larger), and `-Z0` with
 * node's zlib at level 1 in the worker 3.0 s (every byte crosses a pipe uncompressed and is copied into
 * the libuv threadpool). Each pg_dump is a process of its own, so with several streams its compression
 * already uses several cores: compressing in the worker buys nothing and costs a copy, so it is not done.
 */
export interface DumpCompression {
  /** As recorded in the manifest: "lz4" or "gzip:1". */
  readonly codec: string;
  /** Who compresses: always pg_dump (see above). pg_restore reads the codec from each archive's header. */
  readonly compressedBy: 'pg_dump';
  readonly args: readonly string[];
}

export function dumpCompression(toolMajor: number): DumpCompression {
  if (toolMajor >= 16) return { codec: 'lz4', compressedBy: 'pg_dump', args: ['--compress=lz4'] };
  return { codec: 'gzip:1', compressedBy: 'pg_dump', args: ['--compress=1'] };
}

/** One table-data archive: its artifact and the tables whose rows it holds, as pg_restore prints them (`schema.name`). */
export interface TableDataPart {
  readonly artifact: string;
  readonly tables: readonly string[];
  readonly bytes: number;
}

/** What the manifest records under `source.dump`. */
export interface DumpLayout {
  readonly layout: DumpLayoutName;
  readonly compression: string;
  readonly compressedBy: 'pg_dump';
  /** per-table: the archive with everything but the listed tables' rows (schema, sequences, large objects, post-data). */
  readonly schemaArtifact?: string;
  readonly parts?: readonly TableDataPart[];
  /** per-table: how many pg_dump processes ran at once. */
  readonly streams?: number;
}

/** A table the per-table layout dumps on its own (or shares an archive with other small ones). */
export interface DumpTable {
  readonly schema: string;
  readonly name: string;
  readonly bytes: number;
}

/**
 * Groups the tables into archives, largest first (the longest dump starts first, so the streams end
 * together): a large table alone, small ones packed together up to SHARED_ARCHIVE_BYTES.
 */
export function planParts(tables: readonly DumpTable[]): DumpTable[][] {
  const sorted = [...tables].sort((a, b) => b.bytes - a.bytes);
  const parts: DumpTable[][] = [];
  let shared: DumpTable[] = [];
  let sharedBytes = 0;
  for (const table of sorted) {
    if (table.bytes >= SMALL_TABLE_BYTES) {
      parts.push([table]);
      continue;
    }
    if (shared.length > 0 && sharedBytes + table.bytes > SHARED_ARCHIVE_BYTES) {
      parts.push(shared);
      shared = [];
      sharedBytes = 0;
    }
    shared.push(table);
    sharedBytes += table.bytes;
  }
  if (shared.length > 0) parts.push(shared);
  return parts;
}

/**
 * A `-t`/`--exclude-table-data` pattern that matches exactly this table: inside double quotes pg_dump
 * takes every character literally (dots, `*`, `?`, regular-expression characters) and `""` as a quote.
 */
export function exactTablePattern(table: Pick<DumpTable, 'schema' | 'name'>): string {
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  return `${quote(table.schema)}.${quote(table.name)}`;
}

/** Whether a backup's artifacts are the per-table layout: told by the content types, so bare artifacts are recognised too. */
export const isTableDataArtifact = (artifact: { contentType: string }) => artifact.contentType === TABLE_DATA_CONTENT_TYPE;
