/**
 * The scorecard's pure part: what counts as a problem (a failed or unreadable last drill, a last drill over
 * the RTO, a backup older than the RPO or none at all), success rates over the drills shown and over all,
 * and a page that shows stored text as text, whatever it holds.
 */
import type { DrillResult } from '../../functions/core/drill';
import { DRILLS_SHOWN, readDrillRecord, renderScorecard, scoreComponents, type DrillEntry, type ScorecardInput } from '../../functions/core/scorecard';

const NOW = new Date('2026-11-30T12:00:00.000Z');
const HOSTILE = `<script>alert(1)</script><img src=x onerror="alert(2)">'&`;

/** A drill record of `component`; the drill id starts with the day of November it ran. */
function drill(component: string, day: number, changes: Partial<DrillResult> = {}): DrillEntry {
  const drillId = `202611${String(day).padStart(2, '0')}T060000Z-a1b2c3`;
  const record: DrillResult = {
    drillId,
    component,
    succeeded: true,
    backupId: `202611${String(day).padStart(2, '0')}T020000Z-7f3a`,
    restoreSeconds: 30,
    sandboxState: { state: 'dropped' },
    startedAt: `2026-11-${String(day).padStart(2, '0')}T06:00:00.000Z`,
    finishedAt: `2026-11-${String(day).padStart(2, '0')}T06:00:30.000Z`,
    ...changes,
  };
  return { kind: 'record', key: `reports/drills/${drillId}/${component}.json`, record };
}

const failed = (component: string, day: number, message = 'the sample data retrieval failed') =>
  drill(component, day, { succeeded: false, restoreSeconds: undefined, cause: { error: 'VerificationError', message } });

function input(changes: Partial<ScorecardInput>): ScorecardInput {
  return {
    generatedAt: NOW,
    drills: [],
    ages: [{ component: 'postgres', ageHours: 3, backupId: '20261130T090000Z-7f3a' }],
    objectives: { postgres: { rpoHours: 24, rtoHours: 4 } },
    ...changes,
  };
}

const only = (i: ScorecardInput) => scoreComponents(i).components[0];

describe('scorecard scores', () => {
  test('a succeeded last drill within the RTO and a backup within the RPO: no problem, whatever failed before', () => {
    const card = scoreComponents(input({ drills: [failed('postgres', 1), drill('postgres', 2)] }));
    expect(card.problems).toBe(0);
    expect(card.components[0]).toMatchObject({ lastDrill: 'succeeded', rto: 'within', age: { state: 'within', ageHours: 3 } });
  });

  test('success rates count the drills shown (the newest ten) and all of them, newest first', () => {
    const drills = [failed('postgres', 1), failed('postgres', 2), ...Array.from({ length: DRILLS_SHOWN }, (_, i) => drill('postgres', 3 + i))];
    const score = only(input({ drills }));
    expect(score.shown.map((e) => (e.kind === 'record' ? e.record.drillId.slice(0, 8) : ''))).toEqual(Array.from({ length: 10 }, (_, i) => `202611${String(12 - i).padStart(2, '0')}`));
    expect(score.rate).toEqual({ shown: { succeeded: 10, of: 10, percent: 100 }, all: { succeeded: 10, of: 12, percent: 83 } });
  });

  test('a failed last drill is a problem naming its cause', () => {
    const score = only(input({ drills: [drill('postgres', 1), failed('postgres', 2, 'no row read back')] }));
    expect(score.lastDrill).toBe('failed');
    expect(score.rate.all).toEqual({ succeeded: 1, of: 2, percent: 50 });
    expect(score.problems).toEqual(['postgres: the last drill (20261102T060000Z-a1b2c3) failed: VerificationError: no row read back']);
  });

  test('a restore slower than the RTO is a problem; as fast as the RTO is not; an RTO of 0 judges nothing', () => {
    const rto = (seconds: number, rtoHours: number) => only(input({ drills: [drill('postgres', 1, { restoreSeconds: seconds })], objectives: { postgres: { rpoHours: 24, rtoHours } } }));
    expect(rto(4 * 3600, 4)).toMatchObject({ rto: 'within', problems: [] });
    expect(rto(4 * 3600 + 1, 4)).toMatchObject({ rto: 'over', problems: ['postgres: the last drill took 4 h, over the RTO of 4 h'] });
    expect(rto(100 * 3600, 0)).toMatchObject({ rto: 'no-rto', problems: [] });
  });

  test('a backup older than the RPO, or none while there is an RPO, is a problem; without an RPO the age is only shown', () => {
    const age = (ageHours: number | undefined, rpoHours: number) =>
      only(input({ ages: [{ component: 'postgres', ...(ageHours !== undefined ? { ageHours, backupId: 'b' } : {}) }], objectives: { postgres: { rpoHours, rtoHours: 4 } } }));
    expect(age(24, 24)).toMatchObject({ age: { state: 'within' }, problems: [] });
    expect(age(24.5, 24)).toMatchObject({ age: { state: 'breached' }, problems: ['postgres: the newest backup is 24.5 h old, over the RPO of 24 h'] });
    expect(age(undefined, 24)).toMatchObject({ age: { state: 'no-backup' }, problems: ['postgres: no trusted backup, against an RPO of 24 h'] });
    expect(age(1000, 0)).toMatchObject({ age: { state: 'no-rpo' }, problems: [] });
  });

  test('a component only drill records name is shown after the configured ones, its age not measured', () => {
    const card = scoreComponents(input({ drills: [drill('redis', 1), drill('postgres', 1)] }));
    expect(card.components.map((c) => [c.component, c.age.state])).toEqual([['postgres', 'within'], ['redis', 'not-measured']]);
  });

  test('an unreadable newest record is a problem: the last drill is not known to have succeeded', () => {
    const unreadable: DrillEntry = { kind: 'unreadable', key: 'reports/drills/20261105T060000Z-ffffff/postgres.json', drillId: '20261105T060000Z-ffffff', component: 'postgres', problem: 'not valid JSON' };
    const score = only(input({ drills: [drill('postgres', 1), unreadable] }));
    expect(score.lastDrill).toBe('unreadable');
    expect(score.rate.all).toEqual({ succeeded: 1, of: 1, percent: 100 });
    expect(score.problems).toEqual(['postgres: the record of the last drill (20261105T060000Z-ffffff) is unreadable: not valid JSON']);
  });
});

describe('drill records read from the vault', () => {
  const at = { drillId: '20261101T060000Z-a1b2c3', component: 'postgres' };
  const { record } = drill('postgres', 1) as Extract<DrillEntry, { kind: 'record' }>;

  test('a record with the fields the page shows is read as it is', () => {
    expect(readDrillRecord(JSON.parse(JSON.stringify(record)), at)).toEqual({ record });
  });

  test('a value lacking fields or with fields of the wrong type is not a record, and says which fields', () => {
    expect(readDrillRecord([1, 2], at)).toEqual({ problem: 'not a JSON object' });
    expect(readDrillRecord({ ...record, succeeded: 'yes', startedAt: 'yesterday', restoreSeconds: -1 }, at)).toEqual({ problem: 'missing or malformed field(s): succeeded, startedAt, restoreSeconds' });
    expect(readDrillRecord({ ...record, cause: { error: 'X', message: { html: '<b>' } } }, at)).toEqual({ problem: 'missing or malformed field(s): cause' });
  });

  test('a record stored under another drill or component than its own is not that drill\'s', () => {
    expect(readDrillRecord({ ...record, component: 'redis' }, at)).toEqual({ problem: 'the record is of drill 20261101T060000Z-a1b2c3 of redis, but stored as drill 20261101T060000Z-a1b2c3 of postgres' });
  });
});

describe('scorecard page', () => {
  test('shows stored text as text: a hostile component name, cause, backup id or unreadable key opens no tag and leaves no attribute', () => {
    const unreadable: DrillEntry = { kind: 'unreadable', key: `reports/drills/x/${HOSTILE}.json`, drillId: `x${HOSTILE}`, component: HOSTILE, problem: HOSTILE };
    const html = renderScorecard(input({
      drills: [failed('postgres', 2, HOSTILE), drill(HOSTILE, 1, { backupId: HOSTILE, drillId: `20261101T060000Z-${HOSTILE}` }), unreadable],
    }));
    expect(html).not.toMatch(/<script|<img|onerror="/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt;&#39;&amp;');
    // The only tags are the page's own.
    const tags = new Set([...html.matchAll(/<([a-z0-9]+)[\s>/]/gi)].map((m) => m[1].toLowerCase()));
    expect([...tags].filter((t) => !['html', 'head', 'meta', 'title', 'style', 'body', 'header', 'h1', 'h2', 'h3', 'p', 'time', 'ul', 'li', 'main', 'section', 'dl', 'dt', 'dd', 'span', 'svg', 'rect', 'line', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'strong'].includes(t))).toEqual([]);
  });

  test('loads nothing and runs nothing: no script, no external reference, a policy forbidding both', () => {
    const html = renderScorecard(input({ drills: [drill('postgres', 1)] }));
    expect(html).not.toMatch(/<script|\b(?:src|href)=|url\(|@import/i);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
  });

  test('the header says OK when nothing is wrong, else the count of problems, each listed', () => {
    expect(renderScorecard(input({ drills: [drill('postgres', 1)] }))).toMatch(/<header id="overall" data-status="ok" data-problems="0">[\s\S]*<p class="state">OK<\/p>/);
    const html = renderScorecard(input({ drills: [failed('postgres', 1)], ages: [{ component: 'postgres', ageHours: 30, backupId: 'b' }] }));
    expect(html).toMatch(/<header id="overall" data-status="problems" data-problems="2">[\s\S]*<p class="state">2 problem\(s\)<\/p>/);
    expect(html).toContain('<li data-component="postgres">postgres: the newest backup is 30 h old, over the RPO of 24 h</li>');
  });

  test('marks each component, its success rates, its restore times against the RTO and its backup\'s age against the RPO', () => {
    const html = renderScorecard(input({
      drills: [drill('postgres', 1, { restoreSeconds: 12 }), failed('postgres', 2)],
      objectives: { postgres: { rpoHours: 24, rtoHours: 4 } },
    }));
    expect(html).toContain('<section class="component" data-component="postgres" data-status="problems" data-last-drill="failed" data-rto-state="not-measured" data-age-state="within">');
    expect(html).toContain('<span data-success-rate="all" data-percent="50">50% (1 of 2)</span>');
    expect(html).toMatch(/<rect [^>]*data-drill-id="20261101T060000Z-a1b2c3" data-seconds="12" data-rto="within">/);
    expect(html).toMatch(/<rect [^>]*data-drill-id="20261102T060000Z-a1b2c3" data-rto="failed">/);
    expect(html).toContain('newest 12 s, slowest 12 s against an RTO of 4 h; the last drill has no restore time');
    expect(html).toContain('3 h old (20261130T090000Z-7f3a) against an RPO of 24 h <span class="within">within the RPO</span>');
  });
});
