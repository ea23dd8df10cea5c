/** Where the postgres backup switches to the per-table layout, which codec it picks, and how it groups tables. */
import {
  chooseLayout,
  dumpCompression,
  exactTablePattern,
  PARALLEL_DUMP_MIN_BYTES,
  planParts,
  SHARED_ARCHIVE_BYTES,
  SMALL_TABLE_BYTES,
  uploadBudget,
} from '../../functions/components/postgres/dump-layout';

const MiB = 1024 * 1024;

describe('the postgres dump layout', () => {
  test('per table only with more than one stream and a database at least PARALLEL_DUMP_MIN_BYTES large', () => {
    expect(chooseLayout(PARALLEL_DUMP_MIN_BYTES, 2)).toBe('per-table');
    expect(chooseLayout(PARALLEL_DUMP_MIN_BYTES - 1, 8)).toBe('single-stream');
    expect(chooseLayout(10 * PARALLEL_DUMP_MIN_BYTES, 1)).toBe('single-stream');
    expect(chooseLayout(0, 2, 0)).toBe('per-table');
  });

  test('lz4 from pg_dump 16, gzip level 1 before it; always compressed by pg_dump', () => {
    expect(dumpCompression(17)).toEqual({ codec: 'lz4', compressedBy: 'pg_dump', args: ['--compress=lz4'] });
    expect(dumpCompression(16).codec).toBe('lz4');
    expect(dumpCompression(15)).toEqual({ codec: 'gzip:1', compressedBy: 'pg_dump', args: ['--compress=1'] });
  });

  test('large tables alone, largest first; small ones share archives up to SHARED_ARCHIVE_BYTES', () => {
    const t = (name: string, bytes: number) => ({ schema: 's', name, bytes });
    const small = Array.from({ length: 10 }, (_, i) => t(`small${i}`, SMALL_TABLE_BYTES - 1));
    const parts = planParts([t('mid', 100 * MiB), ...small, t('huge', 900 * MiB)]);
    expect(parts[0].map((x) => x.name)).toEqual(['huge']);
    expect(parts[1].map((x) => x.name)).toEqual(['mid']);
    const shared = parts.slice(2);
    expect(shared.flat()).toHaveLength(10);
    for (const group of shared) expect(group.reduce((sum, x) => sum + x.bytes, 0)).toBeLessThanOrEqual(SHARED_ARCHIVE_BYTES);
    expect(planParts([])).toEqual([]);
  });

  test('the streams share the single stream\'s parts in flight; a part fits twice the table in S3\'s 10,000 parts', () => {
    expect(uploadBudget(1, 100 * MiB)).toEqual({ partSizeBytes: 16 * MiB, queueSize: 2 });
    expect(uploadBudget(2, 100 * MiB)).toEqual({ partSizeBytes: 8 * MiB, queueSize: 2 });
    expect(uploadBudget(4, 100 * MiB)).toEqual({ partSizeBytes: 5 * MiB, queueSize: 2 });
    expect(uploadBudget(8, 100 * MiB).partSizeBytes).toBe(5 * MiB);
    const huge = uploadBudget(8, 200 * 1024 * MiB);
    expect(huge.partSizeBytes * 10_000).toBeGreaterThanOrEqual(2 * 200 * 1024 * MiB);
  });

  test('a table pattern is exact: every name quoted, quotes doubled', () => {
    expect(exactTablePattern({ schema: 'we"ird', name: 'spa ce*?' })).toBe('"we""ird"."spa ce*?"');
    expect(exactTablePattern({ schema: 'a.b', name: 'C' })).toBe('"a.b"."C"');
  });
});
