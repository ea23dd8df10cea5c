/**
 * What a logs backup records about each source in its manifest (`source.windows`), and the one check of
 * that record when it is read back: the next backup starts where it ends, `verify logs` walks it and a
 * restore picks its artifacts by it, so a malformed or tampered record fails loudly (IntegrityError naming
 * the backup) instead of moving a window.
 */
import { IntegrityError } from '../../core/errors';
import type { ArtifactSource } from '../types';
import { isArtifactOf, type ArtifactKind } from './artifact-names';
import type { BackupWindows } from './windows';

const COMPONENT = 'logs';

/** One source's window in a backup. */
export interface WindowRecord {
  /** A log group's name, or `metrics:<set id>`. */
  readonly source: string;
  readonly kind: 'log-group' | 'metrics';
  /** [start, end) in ms: of ingestion time (log groups) or of the period timestamp (metrics). */
  readonly start: number;
  readonly end: number;
  readonly basis: 'ingestion-time' | 'period-timestamp';
  /** True when the start came from the lookback, not from a previous backup's end. */
  readonly first: boolean;
  /** The artifact holding the window's events (datapoints). */
  readonly artifact: string;
  /** Events (datapoints) in the artifact. */
  readonly count: number;
  /** Their JSON Lines bytes before compression. */
  readonly bytes: number;
  /** The span of their timestamps; absent when the window was empty. */
  readonly firstTimestamp?: number;
  readonly lastTimestamp?: number;
  /** Log groups: the events kept stamped at or after `since` (read.ts, the next backup's late-visibility check). */
  readonly tail?: { readonly since: number; readonly count: number };
}

const kindOf = (record: WindowRecord): ArtifactKind => (record.kind === 'metrics' ? 'metrics' : 'events');
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The windows a trusted backup records, each checked; an IntegrityError names the backup and the field. */
export function windowsOf(backup: ArtifactSource): WindowRecord[] {
  const backupId = backup.backup?.backupId;
  const raw = backup.backup?.source.windows;
  const fail = (problem: string) => new IntegrityError(`the manifest's source.windows ${problem}.`, { component: COMPONENT, backupId, hint: 'The manifest was not written by this version of nca-backup or was altered: verify the backup.' });
  if (!Array.isArray(raw)) throw fail('is missing or not a list');
  return raw.map((w: unknown, i): WindowRecord => {
    if (typeof w !== 'object' || w === null) throw fail(`[${i}] is not a record`);
    const r = w as Record<string, unknown>;
    if (typeof r.source !== 'string' || r.source === '') throw fail(`[${i}] names no source`);
    if (r.kind !== 'log-group' && r.kind !== 'metrics') throw fail(`[${i}].kind is ${JSON.stringify(r.kind)}`);
    if (r.basis !== (r.kind === 'metrics' ? 'period-timestamp' : 'ingestion-time')) throw fail(`[${i}].basis is ${JSON.stringify(r.basis)}`);
    if (!isTime(r.start) || !isTime(r.end) || r.end < r.start) throw fail(`[${i}] of ${JSON.stringify(r.source)} is not a time range`);
    if (!isTime(r.count) || !isTime(r.bytes)) throw fail(`[${i}] of ${JSON.stringify(r.source)} has no count or bytes`);
    if (r.firstTimestamp !== undefined && !isTime(r.firstTimestamp)) throw fail(`[${i}].firstTimestamp is not a time`);
    if (r.lastTimestamp !== undefined && !isTime(r.lastTimestamp)) throw fail(`[${i}].lastTimestamp is not a time`);
    const record = r as unknown as WindowRecord;
    // A tampered record could point a source at another source's file, or at a file the manifest does not check.
    if (typeof r.artifact !== 'string' || !isArtifactOf(kindOf(record), record.source, r.artifact)) throw fail(`[${i}] of ${JSON.stringify(r.source)} names the artifact ${JSON.stringify(r.artifact)}, not its own`);
    if (!backup.artifacts.some((a) => a.name === r.artifact)) throw fail(`[${i}] names the artifact ${r.artifact}, which the manifest does not list`);
    if (r.tail !== undefined) {
      const t = r.tail as Record<string, unknown>;
      if (typeof t !== 'object' || t === null || !isTime(t.since) || !isTime(t.count)) throw fail(`[${i}].tail is not {since, count}`);
    }
    return record;
  });
}

/** A backup's windows in the form windows.ts walks. */
export function chainEntry(backup: ArtifactSource): BackupWindows {
  return { backupId: backup.backup?.backupId ?? '', windows: windowsOf(backup) };
}
