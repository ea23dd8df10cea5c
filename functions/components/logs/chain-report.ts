/**
 * `nca-backup verify logs`: the report on the whole chain of logs backups. Pure: the command line lists
 * the backups and reads their manifests (and, on request, their artifacts); this module judges what it
 * found. Per source it sums the windows of the trusted backups and walks them with checkChain; every gap,
 * overlap, unusable manifest and damaged artifact is a break, and a chain with any break fails.
 *
 * An untrusted or damaged manifest is a break of its own: its windows are unknown (an untrusted manifest's
 * contents are whatever its writer wanted), so the events they held cannot be restored, and the gap it
 * leaves in the trusted chain is reported too, naming the unusable backups between its two sides.
 */
import { IntegrityError } from '../../core/errors';
import type { ArtifactSource } from '../types';
import { windowsOf, type WindowRecord } from './manifest-windows';
import { checkChain, iso, type ChainBreak } from './windows';

const COMPONENT = 'logs';

/** What re-reading a trusted backup's artifacts against their SHA-256 found (`verify logs --artifacts`). */
export type ArtifactCheck = { readonly intact: true; readonly artifacts: number; readonly bytes: number } | { readonly intact: false; readonly problem: string };

/** One backup of the component as its manifest was judged: trusted with its windows, or why it cannot be used. */
export type ChainMember =
  | { readonly backupId: string; readonly status: 'trusted'; readonly windows: readonly WindowRecord[]; readonly artifacts?: ArtifactCheck }
  | { readonly backupId: string; readonly status: 'untrusted' | 'damaged'; readonly problem: string; readonly key?: string };

/** A trusted backup's member: its windows, or `damaged` when its manifest's record of them does not check (windowsOf). */
export function trustedMember(source: ArtifactSource): ChainMember {
  const backupId = source.backup?.backupId ?? '';
  try {
    return { backupId, status: 'trusted', windows: windowsOf(source) };
  } catch (error) {
    if (error instanceof IntegrityError) return { backupId, status: 'damaged', problem: error.message };
    throw error;
  }
}

/** A gap or an overlap as the report shows it: ISO times, and for a gap the unusable backups that may have held it. */
export interface ReportedBreak {
  readonly from: string;
  readonly to: string;
  /** The backup whose window ends the covered part before the break. */
  readonly after: string;
  /** The backup whose window starts at the break. */
  readonly before: string;
  /** Gaps: the untrusted or damaged backups taken between `after` and `before`, whose unknown windows may have covered it. */
  readonly unusableBetween?: readonly string[];
}

export interface SourceReport {
  readonly source: string;
  readonly kind: WindowRecord['kind'];
  /** The earliest start and the latest end of its windows, ISO 8601. */
  readonly firstStart: string;
  readonly lastEnd: string;
  readonly windows: number;
  /** Events (log groups) or datapoints (metric sets) of all its windows. */
  readonly events: number;
  readonly bytes: number;
  readonly gaps: readonly ReportedBreak[];
  readonly overlaps: readonly ReportedBreak[];
}

export interface BackupReport {
  readonly backupId: string;
  readonly status: ChainMember['status'];
  /** Trusted: how many sources it covers and the events of its windows. */
  readonly sources?: number;
  readonly events?: number;
  /** Untrusted or damaged: why, and the manifest's key. */
  readonly problem?: string;
  readonly key?: string;
  readonly artifacts?: ArtifactCheck;
}

export interface ChainReport {
  readonly component: 'logs';
  /** True when no break was found: every source's windows meet, every manifest is trusted (and every artifact read back intact). */
  readonly whole: boolean;
  /** Oldest first. */
  readonly backups: readonly BackupReport[];
  readonly sources: readonly SourceReport[];
  readonly breaks: { readonly gaps: number; readonly overlaps: number; readonly unusableManifests: number; readonly damagedArtifacts: number };
}

/** The report on `members` (any order). The walk covers the trusted members' windows only. */
export function chainReport(members: readonly ChainMember[]): ChainReport {
  const ordered = [...members].sort((a, b) => (a.backupId < b.backupId ? -1 : a.backupId > b.backupId ? 1 : 0));
  const trusted = ordered.flatMap((m) => (m.status === 'trusted' ? [m] : []));
  const unusable = ordered.filter((m) => m.status !== 'trusted').map((m) => m.backupId);
  const { gaps, overlaps } = checkChain(trusted.map((m) => ({ backupId: m.backupId, windows: m.windows })));

  const between = (b: ChainBreak) => {
    const [low, high] = b.after < b.before ? [b.after, b.before] : [b.before, b.after];
    return unusable.filter((id) => id > low && id < high);
  };
  const shown = (b: ChainBreak, gap: boolean): ReportedBreak => {
    const inside = gap ? between(b) : [];
    return { from: iso(b.from), to: iso(b.to), after: b.after, before: b.before, ...(inside.length > 0 ? { unusableBetween: inside } : {}) };
  };

  const bySource = new Map<string, { kind: WindowRecord['kind']; start: number; end: number; windows: number; events: number; bytes: number }>();
  for (const m of trusted) {
    for (const w of m.windows) {
      const s = bySource.get(w.source);
      if (!s) bySource.set(w.source, { kind: w.kind, start: w.start, end: w.end, windows: 1, events: w.count, bytes: w.bytes });
      else bySource.set(w.source, { kind: s.kind, start: Math.min(s.start, w.start), end: Math.max(s.end, w.end), windows: s.windows + 1, events: s.events + w.count, bytes: s.bytes + w.bytes });
    }
  }
  const sources = [...bySource]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([source, s]): SourceReport => ({
      source,
      kind: s.kind,
      firstStart: iso(s.start),
      lastEnd: iso(s.end),
      windows: s.windows,
      events: s.events,
      bytes: s.bytes,
      gaps: gaps.filter((g) => g.source === source).map((g) => shown(g, true)),
      overlaps: overlaps.filter((o) => o.source === source).map((o) => shown(o, false)),
    }));

  const backups = ordered.map((m): BackupReport =>
    m.status === 'trusted'
      ? { backupId: m.backupId, status: m.status, sources: m.windows.length, events: m.windows.reduce((n, w) => n + w.count, 0), ...(m.artifacts ? { artifacts: m.artifacts } : {}) }
      : { backupId: m.backupId, status: m.status, problem: m.problem, ...(m.key ? { key: m.key } : {}) },
  );
  const breaks = {
    gaps: gaps.length,
    overlaps: overlaps.length,
    unusableManifests: unusable.length,
    damagedArtifacts: trusted.filter((m) => m.artifacts?.intact === false).length,
  };
  return { component: COMPONENT, whole: Object.values(breaks).every((n) => n === 0), backups, sources, breaks };
}

/**
 * The failure of a broken chain, or undefined when it is whole: an IntegrityError naming the first break
 * (a gap, else an overlap, else an unusable manifest, else a damaged artifact) and how many there are,
 * carrying the report as the command's `result`.
 */
export function chainBroken(report: ChainReport): (IntegrityError & { readonly result: ChainReport }) | undefined {
  if (report.whole) return undefined;
  const gap = report.sources.flatMap((s) => s.gaps.map((g) => ({ s, g })))[0];
  const overlap = report.sources.flatMap((s) => s.overlaps.map((o) => ({ s, o })))[0];
  const unusable = report.backups.find((b) => b.status !== 'trusted');
  const damaged = report.backups.flatMap((b) => (b.artifacts?.intact === false ? [{ backupId: b.backupId, problem: b.artifacts.problem }] : []))[0];
  const first = gap
    ? `a gap in ${JSON.stringify(gap.s.source)} from ${gap.g.from} to ${gap.g.to} between backups ${gap.g.after} and ${gap.g.before}: events ingested then are in no backup${gap.g.unusableBetween ? ` (or in ${gap.g.unusableBetween.join(', ')}, which cannot be used)` : ''}`
    : overlap
      ? `an overlap in ${JSON.stringify(overlap.s.source)} from ${overlap.o.from} to ${overlap.o.to} between backups ${overlap.o.after} and ${overlap.o.before}: events ingested then are in both`
      : unusable
        ? `backup ${unusable.backupId}'s manifest is ${unusable.status} (${unusable.problem}): its windows are unknown`
        : `backup ${damaged?.backupId}'s artifacts do not match its manifest: ${damaged?.problem}`;
  const { gaps, overlaps, unusableManifests, damagedArtifacts } = report.breaks;
  const counts = [`${gaps} gap(s)`, `${overlaps} overlap(s)`, `${unusableManifests} unusable manifest(s)`, `${damagedArtifacts} backup(s) with damaged artifacts`].join(', ');
  const error = new IntegrityError(`the chain of backups is broken (${counts}); the first: ${first}.`, {
    component: COMPONENT,
    hint: 'The result lists every break with the backups on both sides. A restore refuses a range across a gap; the events of a gap are still in CloudWatch only while the log group\'s retention keeps them.',
  });
  return Object.assign(error, { result: report });
}
