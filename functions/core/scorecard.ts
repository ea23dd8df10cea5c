/**
 * The restore drill scorecard (runbook "Backup Verification": results people look at): one self-contained
 * HTML page built from every drill record in the vault and each component's newest trusted backup. Per
 * component: its last drills, success rates, restore times against its RTO, the newest backup's age
 * against its RPO, and the failures with their causes; on top, one overall state.
 *
 * Rendering is pure (`scoreComponents`, `renderScorecard`); `buildScorecard` reads the vault and writes the
 * page. Everything shown comes from storage, which someone with write access to the vault can fill with
 * anything: every value is HTML-escaped, a record that is not one is shown as unreadable, and the page
 * carries no script and loads nothing (its Content-Security-Policy forbids both, should escaping ever slip).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DRILL_REPORTS_PREFIX, SCORECARD_KEY, drillScorecardKey } from '../../config/vault-layout';
import type { RuntimeVerification } from '../../config/verification';
import { isBreached, measureBackupAges, type BackupAge } from './backup-age';
import { isBackupId } from './backup-id';
import { authenticatorOf, type EngineContext } from './context';
import type { DrillResult } from './drill';
import { IntegrityError, InvalidInputError } from './errors';
import { classifyS3Error } from './s3-errors';
import type { BackupVault } from './storage';

/** Per component, its RPO and RTO in hours (0: none), as the runtime configuration resolves them. */
export type Objectives = RuntimeVerification['objectives'];

/** How many of a component's drills the page lists (and the "shown" success rate counts). */
export const DRILLS_SHOWN = 10;

/** One drill record as found in the vault: readable, or not, with why. */
export type DrillEntry =
  | { readonly kind: 'record'; readonly key: string; readonly record: DrillResult }
  | { readonly kind: 'unreadable'; readonly key: string; readonly drillId: string; readonly component: string; readonly problem: string };

export interface ScorecardInput {
  readonly generatedAt: Date;
  readonly drills: readonly DrillEntry[];
  /** Newest trusted backup per configured component (backup-age.ts); a component absent here was not measured. */
  readonly ages: readonly Pick<BackupAge, 'component' | 'ageHours' | 'backupId' | 'startedAt'>[];
  readonly objectives: Objectives;
}

export interface SuccessRate {
  readonly succeeded: number;
  /** Drills with a readable record: an unreadable one says nothing either way. */
  readonly of: number;
  /** Rounded; absent when there is no readable drill. */
  readonly percent?: number;
}

export interface ComponentScore {
  readonly component: string;
  readonly rpoHours: number;
  readonly rtoHours: number;
  /** Newest first. */
  readonly drills: readonly DrillEntry[];
  /** The newest DRILLS_SHOWN of `drills`. */
  readonly shown: readonly DrillEntry[];
  readonly rate: { readonly shown: SuccessRate; readonly all: SuccessRate };
  readonly lastDrill: 'succeeded' | 'failed' | 'unreadable' | 'none';
  /** The last drill's restore time against the RTO. */
  readonly rto: 'within' | 'over' | 'no-rto' | 'not-measured';
  /** The newest backup's age against the RPO; not-measured: the component is not configured (only drill records name it). */
  readonly age: { readonly state: 'within' | 'breached' | 'no-backup' | 'no-rpo' | 'not-measured'; readonly ageHours?: number; readonly backupId?: string };
  /** What needs someone's attention, in words. */
  readonly problems: readonly string[];
}

export interface Scorecard {
  readonly generatedAt: Date;
  readonly components: readonly ComponentScore[];
  readonly problems: number;
}

// ---------------------------------------------------------------------------------------------------------
// Records

const isText = (value: unknown): value is string => typeof value === 'string';
const isTime = (value: unknown): value is string => isText(value) && !Number.isNaN(Date.parse(value));
const isSeconds = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

/**
 * A stored value as a drill record, or why it is not one: the fields the scorecard shows must have their
 * types, and the record must name the drill and component its key does (a record copied elsewhere is not
 * that drill's).
 */
export function readDrillRecord(value: unknown, at: { readonly drillId: string; readonly component: string }): { record: DrillResult } | { problem: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problem: 'not a JSON object' };
  const r = value as Record<string, unknown>;
  const wrong: string[] = [];
  if (!isText(r.drillId)) wrong.push('drillId');
  if (!isText(r.component)) wrong.push('component');
  if (typeof r.succeeded !== 'boolean') wrong.push('succeeded');
  if (!isTime(r.startedAt)) wrong.push('startedAt');
  if (!isTime(r.finishedAt)) wrong.push('finishedAt');
  if ('backupId' in r && !isText(r.backupId)) wrong.push('backupId');
  if ('restoreSeconds' in r && !isSeconds(r.restoreSeconds)) wrong.push('restoreSeconds');
  if ('sample' in r && !isText(r.sample)) wrong.push('sample');
  const cause = r.cause as Record<string, unknown> | undefined;
  if ('cause' in r && (typeof cause !== 'object' || cause === null || !isText(cause.error) || !isText(cause.message))) wrong.push('cause');
  const sandbox = r.sandboxState as Record<string, unknown> | undefined;
  if ('sandboxState' in r && (typeof sandbox !== 'object' || sandbox === null || !isText(sandbox.state) || ('problem' in sandbox && !isText(sandbox.problem)))) wrong.push('sandboxState');
  if (wrong.length > 0) return { problem: `missing or malformed field(s): ${wrong.join(', ')}` };
  if (r.drillId !== at.drillId || r.component !== at.component) {
    return { problem: `the record is of drill ${String(r.drillId)} of ${String(r.component)}, but stored as drill ${at.drillId} of ${at.component}` };
  }
  return { record: value as DrillResult };
}

const entryDrillId = (entry: DrillEntry) => (entry.kind === 'record' ? entry.record.drillId : entry.drillId);
const entryComponent = (entry: DrillEntry) => (entry.kind === 'record' ? entry.record.component : entry.component);
const entryStartedAt = (entry: DrillEntry) => (entry.kind === 'record' ? entry.record.startedAt : '');

/** Newest first: drill ids start with their UTC time, so they sort as they ran. */
function newestFirst(a: DrillEntry, b: DrillEntry): number {
  const byId = entryDrillId(b).localeCompare(entryDrillId(a));
  return byId !== 0 ? byId : entryStartedAt(b).localeCompare(entryStartedAt(a));
}

// ---------------------------------------------------------------------------------------------------------
// Scores

function successRate(entries: readonly DrillEntry[]): SuccessRate {
  const readable = entries.flatMap((e) => (e.kind === 'record' ? [e.record] : []));
  const succeeded = readable.filter((r) => r.succeeded).length;
  return readable.length > 0 ? { succeeded, of: readable.length, percent: Math.round((100 * succeeded) / readable.length) } : { succeeded, of: 0 };
}

/** A drill's restore time against an RTO in hours (0: none). */
export function rtoState(restoreSeconds: number | undefined, rtoHours: number): 'within' | 'over' | 'no-rto' | 'not-measured' {
  if (restoreSeconds === undefined) return 'not-measured';
  if (!(rtoHours > 0)) return 'no-rto';
  return restoreSeconds > rtoHours * 3600 ? 'over' : 'within';
}

function scoreComponent(component: string, drills: readonly DrillEntry[], age: ScorecardInput['ages'][number] | undefined, objectives: Objectives): ComponentScore {
  const { rpoHours = 0, rtoHours = 0 } = (objectives as Record<string, { rpoHours: number; rtoHours: number } | undefined>)[component] ?? {};
  const sorted = [...drills].sort(newestFirst);
  const shown = sorted.slice(0, DRILLS_SHOWN);
  const last = sorted[0];
  const problems: string[] = [];
  let lastDrill: ComponentScore['lastDrill'] = 'none';
  let rto: ComponentScore['rto'] = 'not-measured';
  if (last?.kind === 'unreadable') {
    lastDrill = 'unreadable';
    problems.push(`${component}: the record of the last drill (${last.drillId}) is unreadable: ${last.problem}`);
  } else if (last) {
    const { record } = last;
    lastDrill = record.succeeded ? 'succeeded' : 'failed';
    if (!record.succeeded) problems.push(`${component}: the last drill (${record.drillId}) failed${record.cause ? `: ${record.cause.error}: ${record.cause.message}` : ''}`);
    rto = rtoState(record.restoreSeconds, rtoHours);
    if (rto === 'over') problems.push(`${component}: the last drill took ${formatSeconds(record.restoreSeconds!)}, over the RTO of ${formatHours(rtoHours)}`);
  }
  let ageScore: ComponentScore['age'] = { state: 'not-measured' };
  if (age) {
    const rpo = rpoHours > 0 ? rpoHours : undefined;
    const breached = isBreached({ rpoHours: rpo, ageHours: age.ageHours });
    const state = age.ageHours === undefined ? 'no-backup' : rpo === undefined ? 'no-rpo' : breached ? 'breached' : 'within';
    ageScore = { state, ...(age.ageHours !== undefined ? { ageHours: age.ageHours } : {}), ...(age.backupId ? { backupId: age.backupId } : {}) };
    if (breached) {
      problems.push(age.ageHours === undefined
        ? `${component}: no trusted backup, against an RPO of ${formatHours(rpoHours)}`
        : `${component}: the newest backup is ${formatHours(age.ageHours)} old, over the RPO of ${formatHours(rpoHours)}`);
    }
  }
  return { component, rpoHours, rtoHours, drills: sorted, shown, rate: { shown: successRate(shown), all: successRate(sorted) }, lastDrill, rto, age: ageScore, problems };
}

/** Each component's score: the configured ones first (in configuration order), then those only drill records name. */
export function scoreComponents(input: ScorecardInput): Scorecard {
  const names = [...input.ages.map((a) => a.component as string)];
  const recorded = [...new Set(input.drills.map(entryComponent))].filter((n) => !names.includes(n)).sort();
  const components = [...names, ...recorded].map((name) =>
    scoreComponent(name, input.drills.filter((d) => entryComponent(d) === name), input.ages.find((a) => a.component === name), input.objectives),
  );
  return { generatedAt: input.generatedAt, components, problems: components.reduce((n, c) => n + c.problems.length, 0) };
}

// ---------------------------------------------------------------------------------------------------------
// HTML

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text and attribute values alike: after this, no stored value can open a tag or leave an attribute. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${round(seconds, 1)} s`;
  if (seconds < 3600) return `${round(seconds / 60, 1)} min`;
  return `${round(seconds / 3600, 2)} h`;
}

export function formatHours(hours: number): string {
  return hours < 48 ? `${round(hours, 2)} h` : `${round(hours / 24, 1)} d`;
}

/** "2026-11-30 12:00 UTC"; a value that is not a time as it is (escaped by the caller). */
function formatTime(iso: string): string {
  const time = Date.parse(iso);
  return Number.isNaN(time) ? iso : `${new Date(time).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

const percentText = (rate: SuccessRate) => (rate.percent === undefined ? 'no readable drill' : `${rate.percent}% (${rate.succeeded} of ${rate.of})`);

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{padding:16px 24px;color:#fff}
header[data-status=ok]{background:#1a7f37}
header[data-status=problems]{background:#cf222e}
header h1{margin:0 0 4px;font-size:20px}
header .state{font-size:28px;font-weight:700;margin:0}
header ul{margin:8px 0 0;padding-left:20px}
main{padding:8px 24px 24px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:16px 0;padding:12px 16px}
section[data-status=problems]{border-left:6px solid #cf222e}
section[data-status=ok]{border-left:6px solid #1a7f37}
h2{margin:0 0 8px;font-size:18px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0 0 12px}
dt{font-weight:600}
dd{margin:0}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #d0d7de;vertical-align:top}
td.cause{word-break:break-word}
.succeeded,.within{color:#1a7f37;font-weight:600}
.failed,.unreadable,.over,.breached,.no-backup{color:#cf222e;font-weight:600}
.muted{color:#656d76}
svg{vertical-align:middle;background:#f6f8fa;border:1px solid #d0d7de}
`;

/** Restore times of the drills shown, oldest to newest, as bars; the RTO as a line when it is within the scale. */
function rtoTrend(score: ComponentScore): string {
  const drills = [...score.shown].reverse().flatMap((e) => (e.kind === 'record' ? [e.record] : []));
  const timed = drills.filter((d) => d.restoreSeconds !== undefined);
  if (timed.length === 0) return '<span class="muted">no drill restored completely yet</span>';
  const rtoSeconds = score.rtoHours * 3600;
  const slowest = Math.max(...timed.map((d) => d.restoreSeconds!));
  // Scaled to the slowest drill, up to the RTO when a drill comes close: restores of seconds against an
  // RTO of hours stay visible, and a line at the top edge would only say "far below".
  const scale = rtoSeconds > 0 && rtoSeconds <= slowest * 2 ? Math.max(slowest, rtoSeconds) * 1.1 : slowest * 1.1 || 1;
  const width = 24 * drills.length + 8;
  const height = 48;
  const bars = drills.map((d, i) => {
    const x = 4 + 24 * i;
    if (d.restoreSeconds === undefined) {
      return `<rect x="${x}" y="${height - 4}" width="18" height="4" fill="#cf222e" data-drill-id="${escapeHtml(d.drillId)}" data-rto="failed"><title>${escapeHtml(`${d.drillId}: failed, no restore time`)}</title></rect>`;
    }
    const state = rtoState(d.restoreSeconds, score.rtoHours);
    const h = Math.max(2, round((d.restoreSeconds / scale) * (height - 4), 1));
    const fill = state === 'over' ? '#cf222e' : '#2da44e';
    return `<rect x="${x}" y="${round(height - h, 1)}" width="18" height="${h}" fill="${fill}" data-drill-id="${escapeHtml(d.drillId)}" data-seconds="${escapeHtml(d.restoreSeconds)}" data-rto="${state}"><title>${escapeHtml(`${d.drillId}: ${formatSeconds(d.restoreSeconds)}`)}</title></rect>`;
  });
  const line = rtoSeconds > 0 && rtoSeconds <= scale
    ? `<line x1="0" x2="${width}" y1="${round(height - (rtoSeconds / scale) * (height - 4), 1)}" y2="${round(height - (rtoSeconds / scale) * (height - 4), 1)}" stroke="#cf222e" stroke-dasharray="4 2" data-rto-line="${rtoSeconds}"/>`
    : '';
  const newest = timed[timed.length - 1].restoreSeconds!;
  const against = score.rtoHours > 0 ? ` against an RTO of ${formatHours(score.rtoHours)}` : ' (no RTO)';
  const verdict = score.rto === 'over' ? ' <span class="over">over the RTO</span>'
    : score.rto === 'within' ? ' <span class="within">within the RTO</span>'
    : score.rto === 'not-measured' && score.lastDrill !== 'none' ? '; the last drill has no restore time' : '';
  return `<svg role="img" aria-label="restore time per drill, oldest to newest" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" data-rto-trend="">${bars.join('')}${line}</svg> `
    + `<span data-rto-summary="">newest ${formatSeconds(newest)}, slowest ${formatSeconds(slowest)}${against}${verdict}</span>`;
}

function ageText(score: ComponentScore): string {
  const { age } = score;
  const rpo = score.rpoHours > 0 ? ` against an RPO of ${formatHours(score.rpoHours)}` : ' (no RPO)';
  switch (age.state) {
    case 'not-measured':
      return '<span class="muted">not measured: the component is not in the configuration</span>';
    case 'no-backup':
      return `<span class="no-backup">no trusted backup</span>${rpo}`;
    default: {
      const label = age.state === 'breached' ? '<span class="breached">over the RPO</span>' : age.state === 'within' ? '<span class="within">within the RPO</span>' : '';
      return `${formatHours(age.ageHours!)} old (${escapeHtml(age.backupId ?? '')})${rpo} ${label}`;
    }
  }
}

function drillRow(entry: DrillEntry): string {
  if (entry.kind === 'unreadable') {
    return `<tr data-drill-id="${escapeHtml(entry.drillId)}" data-status="unreadable"><td class="muted">?</td><td>${escapeHtml(entry.drillId)}</td><td></td>`
      + `<td class="unreadable">unreadable record</td><td></td><td class="cause">${escapeHtml(`${entry.key}: ${entry.problem}`)}</td></tr>`;
  }
  const r = entry.record;
  const status = r.succeeded ? 'succeeded' : 'failed';
  return `<tr data-drill-id="${escapeHtml(r.drillId)}" data-status="${status}"><td>${escapeHtml(formatTime(r.startedAt))}</td><td>${escapeHtml(r.drillId)}</td>`
    + `<td>${escapeHtml(r.backupId ?? '')}</td><td class="${status}">${status}</td>`
    + `<td>${r.restoreSeconds !== undefined ? escapeHtml(formatSeconds(r.restoreSeconds)) : ''}</td>`
    + `<td class="cause">${r.cause ? escapeHtml(r.cause.error) : ''}</td></tr>`;
}

function failureItem(entry: DrillEntry): string {
  if (entry.kind === 'unreadable') return `<li data-drill-id="${escapeHtml(entry.drillId)}">${escapeHtml(`${entry.drillId}: unreadable record ${entry.key}: ${entry.problem}`)}</li>`;
  const r = entry.record;
  const cause = r.cause ? `${r.cause.error}: ${r.cause.message}` : 'no cause recorded';
  const sandbox = r.sandboxState?.state === 'drop-failed' ? ` The sandbox could not be dropped: ${r.sandboxState.problem ?? ''}` : '';
  const backup = r.backupId ? ` (backup ${r.backupId})` : '';
  return `<li data-drill-id="${escapeHtml(r.drillId)}"><strong>${escapeHtml(formatTime(r.startedAt))}</strong>${escapeHtml(backup)}: <span data-cause="">${escapeHtml(cause)}</span>${escapeHtml(sandbox)}</li>`;
}

function componentSection(score: ComponentScore): string {
  const status = score.problems.length > 0 ? 'problems' : 'ok';
  const failures = score.shown.filter((e) => e.kind === 'unreadable' || !e.record.succeeded);
  const older = score.drills.length - score.shown.length;
  return `<section class="component" data-component="${escapeHtml(score.component)}" data-status="${status}" data-last-drill="${score.lastDrill}" data-rto-state="${score.rto}" data-age-state="${score.age.state}">
<h2>${escapeHtml(score.component)}</h2>
<dl>
<dt>Last drill</dt><dd class="${score.lastDrill}" data-last-drill="">${score.lastDrill === 'none' ? 'no drill recorded' : score.lastDrill}</dd>
<dt>Success rate</dt><dd><span data-success-rate="shown" data-percent="${score.rate.shown.percent ?? ''}">${escapeHtml(percentText(score.rate.shown))}</span> over the last ${score.shown.length} drill(s); <span data-success-rate="all" data-percent="${score.rate.all.percent ?? ''}">${escapeHtml(percentText(score.rate.all))}</span> over all ${score.drills.length}</dd>
<dt>Restore time</dt><dd>${rtoTrend(score)}</dd>
<dt>Newest backup</dt><dd data-age="">${ageText(score)}</dd>
</dl>
${score.shown.length === 0 ? '<p class="muted">No drill recorded for this component.</p>' : `<table data-drills="">
<thead><tr><th>Started</th><th>Drill</th><th>Backup</th><th>Result</th><th>Restore time</th><th>Cause</th></tr></thead>
<tbody>
${score.shown.map(drillRow).join('\n')}
</tbody>
</table>${older > 0 ? `<p class="muted">${older} older drill(s) not listed.</p>` : ''}`}
${failures.length > 0 ? `<h3>Failures</h3>\n<ul data-failures="">\n${failures.map(failureItem).join('\n')}\n</ul>` : ''}
</section>`;
}

/** The scorecard as one HTML document: inline style, no script, nothing loaded from anywhere. */
export function renderScorecard(input: ScorecardInput): string {
  const card = scoreComponents(input);
  const status = card.problems === 0 ? 'ok' : 'problems';
  const generated = input.generatedAt.toISOString();
  const problems = card.components.flatMap((c) => c.problems.map((p) => `<li data-component="${escapeHtml(c.component)}">${escapeHtml(p)}</li>`));
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nca-backup restore drill scorecard</title>
<style>${STYLE}</style>
</head>
<body>
<header id="overall" data-status="${status}" data-problems="${card.problems}">
<h1>nca-backup restore drills and backup ages</h1>
<p class="state">${status === 'ok' ? 'OK' : `${card.problems} problem(s)`}</p>
<p>Generated <time datetime="${escapeHtml(generated)}">${escapeHtml(formatTime(generated))}</time>. OK means every component's last drill succeeded within its RTO and its newest backup is within its RPO.</p>
${problems.length > 0 ? `<ul id="problems">\n${problems.join('\n')}\n</ul>` : ''}
</header>
<main>
${card.components.length === 0 ? '<p>No component is configured and no drill is recorded.</p>' : card.components.map(componentSection).join('\n')}
</main>
</body>
</html>
`;
}

// ---------------------------------------------------------------------------------------------------------
// Vault

const RECORD_KEY = new RegExp(`^${DRILL_REPORTS_PREFIX.replace(/[/]/g, '\\/')}([^/]+)\\/([^/]+)\\.json$`);

/** How many records are read at once. */
const READ_CONCURRENCY = 8;

/** Every drill record under reports/drills/, each readable or said why not; a vault failure other than a damaged record throws. */
export async function readDrillEntries(vault: BackupVault): Promise<DrillEntry[]> {
  const keys = (await vault.listKeys(DRILL_REPORTS_PREFIX)).filter((key) => RECORD_KEY.test(key));
  const entries: DrillEntry[] = [];
  for (let i = 0; i < keys.length; i += READ_CONCURRENCY) {
    const batch = await Promise.all(keys.slice(i, i + READ_CONCURRENCY).map(async (key): Promise<DrillEntry | undefined> => {
      const [, drillId, component] = RECORD_KEY.exec(key)!;
      let value: unknown;
      try {
        value = await vault.getJson<unknown>(key);
      } catch (error) {
        if (!(error instanceof IntegrityError)) throw error;
        return { kind: 'unreadable', key, drillId, component, problem: 'not valid JSON' };
      }
      // Deleted between the listing and the read: nothing to show.
      if (value === undefined) return undefined;
      const read = readDrillRecord(value, { drillId, component });
      return 'record' in read ? { kind: 'record', key, record: read.record } : { kind: 'unreadable', key, drillId, component, problem: read.problem };
    }));
    entries.push(...batch.filter((e): e is DrillEntry => e !== undefined));
  }
  return entries;
}

/** Writes (replaces) an HTML object, encrypted with the vault's key like everything in it. */
async function putHtml(vault: BackupVault, key: string, html: string): Promise<void> {
  try {
    await vault.client.send(new PutObjectCommand({
      Bucket: vault.bucket,
      Key: vault.key(key),
      Body: html,
      ContentType: 'text/html; charset=utf-8',
      CacheControl: 'no-cache',
      ...vault.encryption,
    }));
  } catch (error) {
    throw classifyS3Error(error, `writing s3://${vault.bucket}/${vault.key(key)}`);
  }
}

export interface ScorecardOptions {
  /** The drill whose folder gets a copy of the page. @default the newest drill recorded */
  readonly drillId?: string;
}

export interface BuiltScorecard {
  /** The keys written (relative to the vault prefix): the scorecard, then the drill's copy. */
  readonly keys: readonly string[];
  readonly status: 'ok' | 'problems';
  readonly problems: number;
}

/**
 * Reads every drill record and each configured component's newest trusted backup, and writes the page to
 * reports/scorecard.html and into the drill's folder.
 */
export async function buildScorecard(ctx: EngineContext, objectives: Objectives, options: ScorecardOptions = {}): Promise<BuiltScorecard> {
  if (options.drillId !== undefined && !isBackupId(options.drillId)) {
    throw new InvalidInputError(`drill id '${options.drillId}' is not an id like 20261123T020000Z-7f3a: the scorecard copy goes under ${DRILL_REPORTS_PREFIX}<drill id>/.`);
  }
  const drills = await readDrillEntries(ctx.vault);
  const rpoHours = Object.fromEntries(Object.entries(objectives).flatMap(([name, o]) => (o && o.rpoHours > 0 ? [[name, o.rpoHours]] : [])));
  const now = ctx.now();
  const ages = await measureBackupAges(ctx.config, rpoHours, ctx.vault, authenticatorOf(ctx), now);
  const input: ScorecardInput = { generatedAt: now, drills, ages, objectives };
  const html = renderScorecard(input);
  // Only a drill id as drills make them names a folder: a stray key under reports/drills/ does not.
  const newest = drills.map(entryDrillId).filter(isBackupId).sort().pop();
  const drillId = options.drillId ?? newest;
  const keys = [SCORECARD_KEY, ...(drillId ? [drillScorecardKey(drillId)] : [])];
  for (const key of keys) await putHtml(ctx.vault, key, html);
  const { problems } = scoreComponents(input);
  return { keys, status: problems === 0 ? 'ok' : 'problems', problems };
}
