/**
 * Loads a backup of the per-table layout (backup-tables.ts) into the staging database:
 *  1. the schema archive's pre-data section (types, tables, functions; no indexes or constraints yet);
 *  2. the table-data archives, `streams` pg_restore processes at once, largest first, each streamed from
 *     the vault into pg_restore's stdin; each table read for the fingerprint as soon as its archive is in;
 *  3. the schema archive's data section (sequence values, large objects, rows of tables not dumped on
 *     their own), after the table archives so that its sequence values (the ones the fingerprint
 *     recorded) are the last written;
 *  4. the post-data section (indexes, constraints, triggers) with `pg_restore -j streams`, beside the
 *     reads of the tables not read yet.
 * The schema archive alone is kept in a temporary file: `pg_restore -j` and a section-by-section restore
 * need a seekable archive, and it holds no rows of the tables dumped on their own. A failure of any
 * stream kills the other pg_restore processes; the caller drops the staging database.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { forEachLimit } from '../../core/parallel';
import type { ArtifactRecord, ArtifactSource, FingerprintEntry, Logger } from '../types';
import type { PostgresTarget } from './connection';
import { isTableDataArtifact } from './dump-layout';
import type { RowsAsLoaded } from './fingerprint';
import { feedTool, runTool, type RunningTool } from './tools';

type Timer = <T>(step: string, work: () => Promise<T>) => Promise<T>;

export interface PerTableLoad {
  readonly source: ArtifactSource;
  readonly schemaArtifact: string;
  /** The staging database as a target, and its name. */
  readonly staging: PostgresTarget;
  readonly stagingName: string;
  /** pg_restore arguments every run gets (--exit-on-error, --no-password, owners). */
  readonly common: readonly string[];
  readonly streams: number;
  readonly context: { component: string; backupId?: string };
  readonly rows?: RowsAsLoaded;
  readonly timed: Timer;
  readonly log: Logger;
}

export const hasTableDataArtifacts = (source: ArtifactSource) => source.artifacts.some(isTableDataArtifact);

/**
 * The tables each table-data archive holds, as the manifest records them (`source.dump.parts`); only
 * used to read tables as soon as they are loaded, so a manifest without them (or bare artifacts) only
 * means every table is read at the end.
 */
function tablesByArtifact(source: ArtifactSource): Map<string, string[]> {
  const parts = (source.backup?.source.dump as { parts?: unknown } | undefined)?.parts;
  const out = new Map<string, string[]>();
  if (!Array.isArray(parts)) return out;
  for (const part of parts as { artifact?: unknown; tables?: unknown }[]) {
    if (typeof part?.artifact === 'string' && Array.isArray(part.tables)) out.set(part.artifact, part.tables.filter((t): t is string => typeof t === 'string'));
  }
  return out;
}

export async function loadPerTable(load: PerTableLoad): Promise<Map<string, FingerprintEntry> | undefined> {
  const { source, staging, stagingName, common, context, rows, timed, log } = load;
  const dir = mkdtempSync(join(tmpdir(), 'nca-pg-schema-'));
  const schemaFile = join(dir, 'schema.dump');
  const running = new Set<RunningTool>();
  let failed = false;
  const restore = async (args: readonly string[], input?: ArtifactRecord) => {
    if (failed) return;
    const tool = runTool(staging, 'pg_restore', [...common, ...args, '--dbname', stagingName], context);
    running.add(tool);
    try {
      if (input) await feedTool(source.open(input.name), tool, context);
      else {
        tool.child.stdin!.end();
        await tool.done;
      }
    } catch (error) {
      // The first failure stops the others: nothing keeps loading a staging database about to be dropped.
      failed = true;
      for (const other of running) if (other !== tool) other.child.kill('SIGKILL');
      throw error;
    } finally {
      running.delete(tool);
    }
  };
  try {
    await timed('schemaFetchMs', () => pipeline(source.open(load.schemaArtifact), createWriteStream(schemaFile)));
    const parts = source.artifacts.filter(isTableDataArtifact).sort((a, b) => b.bytes - a.bytes);
    const tables = tablesByArtifact(source);
    log.info('pg_restore of the per-table layout started', { staging: stagingName, tableArchives: parts.length, streams: load.streams });
    await timed('loadMs', async () => {
      await restore(['--section=pre-data', schemaFile]);
      await forEachLimit(parts, load.streams, async (part) => {
        await restore(['--data-only'], part);
        for (const table of tables.get(part.name) ?? []) rows?.loaded(table);
      });
      await restore(['--section=data', schemaFile]);
    });
    log.info('tables loaded; building indexes and constraints while the rest of the rows are read for the fingerprint', { staging: stagingName });
    const postData = timed('postDataMs', () => restore([`--jobs=${load.streams}`, '--section=post-data', schemaFile]));
    const read = rows ? timed('rowsMs', () => rows.finish()) : Promise.resolve(undefined);
    const [built, digests] = await Promise.allSettled([postData, read]);
    if (built.status === 'rejected') throw built.reason;
    if (digests.status === 'rejected') throw digests.reason;
    return digests.value;
  } finally {
    for (const tool of running) tool.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
