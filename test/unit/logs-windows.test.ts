/**
 * The logs component's window chain: consecutive backups' windows meet exactly, so an event (by its
 * ingestion time) is exported by exactly one backup, late events included, and a failed backup leaves
 * the window where it was. verify's chain check names every gap and overlap with the backups on both
 * sides, and a restore reads the backups covering its range or refuses, naming the missing span.
 */
import { IntegrityError, InvalidInputError } from '../../functions/core/errors';
import {
  checkChain,
  coveringChain,
  DAY_MS,
  HOUR_MS,
  inWindow,
  latestEnds,
  lateVisible,
  MINUTE_MS,
  planWindows,
  queryRange,
  tailSince,
  type BackupWindows,
  type Window,
  type WindowSource,
} from '../../functions/components/logs/windows';
import { thrown } from '../support/thrown';

const T0 = Date.parse('2026-11-20T01:00:00.000Z');
const API: WindowSource = { id: '/aws/lambda/neuroca-api', kind: 'log-group', retentionDays: 30 };
const AUDIT: WindowSource = { id: '/neuroca/audit', kind: 'log-group', retentionDays: 3 };
const FOREVER: WindowSource = { id: '/neuroca/forever', kind: 'log-group' };
const METRICS: WindowSource = { id: 'system', kind: 'metrics', periodMs: MINUTE_MS };

/** An event as the service stamps it: when it happened, and when it arrived. */
interface Event {
  readonly id: string;
  readonly timestamp: number;
  readonly ingestionTime: number;
}

/** What a backup keeps: the events it would read with queryRange's timestamp range, then by ingestion time. */
function exported(events: readonly Event[], window: Window): string[] {
  const range = queryRange(window);
  return events.filter((e) => e.timestamp >= range.startTime && e.timestamp <= range.endTime && inWindow(e.ingestionTime, window)).map((e) => e.id);
}

const backupAt = (backupId: string, windows: readonly Window[]): BackupWindows => ({ backupId, windows });

describe('planning windows', () => {
  test('a first backup looks back over the group retention, capped at 14 days, and ends the settle delay (1 hour) before now', () => {
    const [api, audit, forever, metrics] = planWindows(undefined, [API, AUDIT, FOREVER, METRICS], T0);
    expect(api).toEqual({ source: API.id, start: T0 - 14 * DAY_MS, end: T0 - HOUR_MS, basis: 'ingestion-time', first: true });
    expect(audit).toMatchObject({ start: T0 - 3 * DAY_MS, end: T0 - HOUR_MS });
    expect(forever).toMatchObject({ start: T0 - 14 * DAY_MS });
    expect(metrics).toMatchObject({ start: T0 - 14 * DAY_MS, end: T0 - HOUR_MS, basis: 'period-timestamp', first: true });
  });

  test('the lookback, its cap and the settle delay are configurable', () => {
    const [api, forever] = planWindows(undefined, [API, FOREVER], T0, { lookbackMs: DAY_MS, settleMs: 10 * MINUTE_MS });
    expect(api).toMatchObject({ start: T0 - DAY_MS, end: T0 - 10 * MINUTE_MS });
    expect(forever).toMatchObject({ start: T0 - DAY_MS });
    const [capped] = planWindows(undefined, [API], T0, { maxLookbackMs: 2 * DAY_MS });
    expect(capped.start).toBe(T0 - 2 * DAY_MS);
  });

  test('the next backup starts exactly where the previous one ended, per source; a new source starts from its lookback', () => {
    const first = planWindows(undefined, [API], T0);
    const next = planWindows(latestEnds([backupAt('b1', first)]), [API, AUDIT], T0 + DAY_MS);
    expect(next[0]).toMatchObject({ start: first[0].end, end: T0 + DAY_MS - HOUR_MS, first: false });
    expect(next[1]).toMatchObject({ start: T0 + DAY_MS - 3 * DAY_MS, first: true });
  });

  test('metric windows are aligned to the period, so that a period is exported whole and once', () => {
    const now = T0 + 12_345;
    const [w] = planWindows(undefined, [{ ...METRICS, periodMs: 5 * MINUTE_MS }], now);
    expect(w.start % (5 * MINUTE_MS)).toBe(0);
    expect(w.end % (5 * MINUTE_MS)).toBe(0);
    expect(w.end).toBeLessThanOrEqual(now - HOUR_MS);
  });

  test('backups closer together than the settle delay, or a clock that went back, make an empty window that still meets the chain', () => {
    const [w] = planWindows([{ source: API.id, end: T0 }], [API], T0 + 10 * MINUTE_MS);
    expect(w).toMatchObject({ start: T0, end: T0 });
    const [back] = planWindows([{ source: API.id, end: T0 }], [API], T0 - DAY_MS);
    expect(back).toMatchObject({ start: T0, end: T0 });
  });

  test('options that are not durations and manifests with broken windows are refused, naming them', () => {
    expect(thrown(InvalidInputError, () => planWindows(undefined, [API], T0, { settleMs: -1 })).message).toContain('settle must be a whole number of milliseconds');
    expect(thrown(InvalidInputError, () => planWindows(undefined, [API, API], T0)).message).toContain('listed twice');
    expect(thrown(IntegrityError, () => planWindows([{ source: API.id, end: Number.NaN }], [API], T0)).message).toContain('/aws/lambda/neuroca-api');
    expect(thrown(IntegrityError, () => planWindows([{ source: API.id, end: 1 }, { source: API.id, end: 2 }], [API], T0)).message).toContain('two windows');
  });
});

describe('exactly once', () => {
  test('an event ingested exactly at a boundary belongs to the window that starts there, and to no other', () => {
    const [w1] = planWindows(undefined, [API], T0);
    const [w2] = planWindows([{ source: API.id, end: w1.end }], [API], T0 + DAY_MS);
    const atBoundary: Event = { id: 'boundary', timestamp: w1.end, ingestionTime: w1.end };
    const justBefore: Event = { id: 'before', timestamp: w1.end - 1, ingestionTime: w1.end - 1 };
    expect(exported([atBoundary, justBefore], w1)).toEqual(['before']);
    expect(exported([atBoundary, justBefore], w2)).toEqual(['boundary']);
  });

  test('three consecutive daily backups with late and early events, and a failed backup in the middle: every event exported exactly once', () => {
    const events: Event[] = [];
    const day = (n: number) => T0 + n * DAY_MS;
    // Before each backup, events arrive: on time, up to 14 days late, up to 2 hours early, at the exact edges.
    for (let n = 0; n < 4; n++) {
      const arrive = day(n) - 3 * HOUR_MS;
      events.push({ id: `d${n}-on-time`, timestamp: arrive - 1000, ingestionTime: arrive });
      events.push({ id: `d${n}-13-days-late`, timestamp: arrive - 13 * DAY_MS, ingestionTime: arrive + 1 });
      events.push({ id: `d${n}-14-days-late`, timestamp: arrive - 14 * DAY_MS, ingestionTime: arrive + 2 });
      events.push({ id: `d${n}-2h-early`, timestamp: arrive + 2 * HOUR_MS, ingestionTime: arrive + 3 });
      events.push({ id: `d${n}-settling`, timestamp: day(n) - 30 * MINUTE_MS, ingestionTime: day(n) - 30 * MINUTE_MS }); // inside the settle delay
    }
    const chain: BackupWindows[] = [];
    const run = (n: number, fails = false) => {
      const windows = planWindows(chain.length ? latestEnds(chain) : undefined, [API], day(n));
      const visible = events.filter((e) => e.ingestionTime <= day(n)); // what has arrived when the backup reads
      const got = exported(visible, windows[0]);
      if (!fails) chain.push(backupAt(`b${n}`, windows));
      return fails ? [] : got;
    };
    const got = [...run(0), ...run(1), ...run(2, true), ...run(3)];
    // Each event ingested before the last window's end is exported once; those after wait for the next backup.
    const lastEnd = chain[chain.length - 1].windows[0].end;
    const expected = events.filter((e) => e.ingestionTime >= chain[0].windows[0].start && e.ingestionTime < lastEnd).map((e) => e.id);
    expect([...got].sort()).toEqual([...expected].sort());
    expect(new Set(got).size).toBe(got.length);
    expect(got).toContain('d2-13-days-late'); // arrived before the failed backup: the one after it exports it
    expect(got).not.toContain('d3-settling');
    expect(checkChain(chain)).toEqual({ gaps: [], overlaps: [] });
  });

  test('a failed backup does not advance the window: the retry starts where the last complete backup ended', () => {
    const b1 = planWindows(undefined, [API], T0);
    const chain = [backupAt('b1', b1)];
    planWindows(latestEnds(chain), [API], T0 + DAY_MS); // fails: writes no manifest, so the chain is unchanged
    const retry = planWindows(latestEnds(chain), [API], T0 + DAY_MS + HOUR_MS);
    expect(retry[0].start).toBe(b1[0].end);
  });

  test('an event that became visible only after its window was read is detected by the next backup, which sees it again', () => {
    const [w1] = planWindows(undefined, [API], T0);
    const [w2] = planWindows([{ source: API.id, end: w1.end }], [API], T0 + DAY_MS);
    const onTime: Event = { id: 'on-time', timestamp: w1.end - HOUR_MS, ingestionTime: w1.end - HOUR_MS };
    const slow: Event = { id: 'slow', timestamp: w1.end - 2 * HOUR_MS, ingestionTime: w1.end - 2 * HOUR_MS }; // not yet searchable when w1 was read
    const since = tailSince(w1);
    expect(since).toBe(queryRange(w2).startTime);
    const tail = (visible: readonly Event[]) => visible.filter((e) => e.timestamp >= since && exported(visible, w1).includes(e.id)).length;
    const recorded = { since, count: tail([onTime]) }; // what backup 1 exported and backup 2 will see again
    const seenByNext = tail([onTime, slow]); // backup 2's scan, by then both are searchable
    expect(lateVisible(recorded, seenByNext)).toBe(1);
    expect(lateVisible(recorded, 0)).toBe(0); // fewer: retention deleted some, nothing was missed
  });

  test('the timestamp scan holds every event the service accepts for the window: 14 days back, 2 hours ahead', () => {
    const w = { start: T0, end: T0 + DAY_MS };
    const range = queryRange(w);
    expect(range.startTime).toBeLessThanOrEqual(T0 - 14 * DAY_MS);
    expect(range.endTime).toBeGreaterThanOrEqual(T0 + DAY_MS + 2 * HOUR_MS);
    expect(queryRange(w, { lateArrivalMs: DAY_MS }).startTime).toBeGreaterThan(range.startTime);
  });
});

describe('verifying the chain', () => {
  const window = (source: string, start: number, end: number) => ({ source, start, end });

  test('a chain whose windows meet has no gap and no overlap, whatever order the backups are listed in', () => {
    const chain = [backupAt('b2', [window('a', 10, 20) as Window]), backupAt('b1', [window('a', 0, 10) as Window]), { backupId: 'b3', windows: [window('a', 20, 20), window('b', 5, 9)] }];
    expect(checkChain(chain)).toEqual({ gaps: [], overlaps: [] });
  });

  test('a deleted backup leaves a gap, a duplicate an overlap: each named with the span and the backups on both sides', () => {
    const chain: BackupWindows[] = [
      { backupId: 'b1', windows: [window('a', 0, 10), window('b', 0, 10)] },
      { backupId: 'b3', windows: [window('a', 20, 30), window('b', 8, 30)] },
    ];
    expect(checkChain(chain)).toEqual({
      gaps: [{ source: 'a', from: 10, to: 20, after: 'b1', before: 'b3' }],
      overlaps: [{ source: 'b', from: 8, to: 10, after: 'b1', before: 'b3' }],
    });
  });

  test('a window inside another is an overlap, and a malformed window is refused naming the backup', () => {
    expect(checkChain([{ backupId: 'b1', windows: [window('a', 0, 30)] }, { backupId: 'b2', windows: [window('a', 10, 20)] }]).overlaps).toEqual([{ source: 'a', from: 10, to: 20, after: 'b1', before: 'b2' }]);
    const error = thrown(IntegrityError, () => checkChain([{ backupId: 'b9', windows: [window('a', 30, 20)] }]));
    expect(error.message).toContain('b9');
    expect(error.message).toContain('ends');
  });
});

describe('the chain a restore reads', () => {
  const day = (n: number) => T0 + n * DAY_MS;
  const chain: BackupWindows[] = [0, 1, 2, 3].map((n) => ({ backupId: `b${n}`, windows: [{ source: API.id, start: day(n), end: day(n + 1) }] }));

  test('a range reads every backup whose window may hold its events: from 2 hours before it to 14 days after', () => {
    const plan = coveringChain(chain, day(1) + 3 * HOUR_MS, day(2));
    expect(plan.backups.map((b) => b.backupId)).toEqual(['b1', 'b2', 'b3']);
    expect(plan.backups[0].sources).toEqual([API.id]);
    const early = coveringChain(chain, day(1) + MINUTE_MS, day(1) + 2 * MINUTE_MS);
    expect(early.backups.map((b) => b.backupId)).toEqual(['b0', 'b1', 'b2', 'b3']);
  });

  test('a gap inside the span read is refused, naming it and the backups on both sides', () => {
    const withGap = chain.filter((b) => b.backupId !== 'b2');
    const error = thrown(InvalidInputError, () => coveringChain(withGap, day(1), day(2)));
    expect(error.message).toContain(`has a gap ${new Date(day(2)).toISOString()} .. ${new Date(day(3)).toISOString()} between backups b1 and b3`);
  });

  test('a range beyond the chain is refused, naming the span no backup holds', () => {
    expect(thrown(InvalidInputError, () => coveringChain(chain, day(3), day(5))).message).toContain(`${new Date(day(4)).toISOString()} .. ${new Date(day(5)).toISOString()} is in no backup yet`);
    expect(thrown(InvalidInputError, () => coveringChain(chain, day(-1), day(1))).message).toContain('is in no backup');
    expect(thrown(InvalidInputError, () => coveringChain(chain, day(1), day(1))).message).toContain('empty');
    expect(thrown(InvalidInputError, () => coveringChain(chain, day(1), day(2), { sources: ['/nope'] })).message).toContain('no backup covers "/nope"');
  });
});
