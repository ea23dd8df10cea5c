/**
 * Five-field Unix cron (as the runbook writes schedules) → EventBridge Scheduler's six-field `cron(...)`.
 *
 * The two dialects differ in ways that silently change a schedule if copied field by field:
 * - EventBridge wants exactly one of day-of-month / day-of-week to be `?`;
 * - Unix numbers weekdays 0-7 (0 and 7 are Sunday), EventBridge 1-7 (1 is Sunday), so weekdays are always
 *   emitted as names (SUN…SAT), which both dialects read the same way;
 * - when both day fields are restricted, Unix runs on days matching EITHER (Vixie cron), which EventBridge
 *   cannot express, so such a schedule is refused rather than approximated.
 * Pure: no I/O, no clock.
 */

/** A schedule that is not valid Unix cron or has no EventBridge equivalent; the message says why. */
export class CronError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CronError';
  }
}

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Names accepted for values, index + `nameBase` is the value. */
  readonly names?: readonly string[];
  readonly nameBase?: number;
}

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] as const;
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;

const MINUTE: FieldSpec = { name: 'minute', min: 0, max: 59 };
const HOUR: FieldSpec = { name: 'hour', min: 0, max: 23 };
const DAY_OF_MONTH: FieldSpec = { name: 'day-of-month', min: 1, max: 31 };
const MONTH: FieldSpec = { name: 'month', min: 1, max: 12, names: MONTH_NAMES, nameBase: 1 };
// 7 is Sunday too in Unix cron; it is folded onto 0 once parsed.
const DAY_OF_WEEK: FieldSpec = { name: 'day-of-week', min: 0, max: 7, names: DAY_NAMES, nameBase: 0 };

/** Longest month length, February counted with its leap day (a Feb 29 schedule does run, every four years). */
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** One comma-separated item of a field: `*`, `v`, `a-b`, each optionally `/step`. */
interface Item {
  /** Written as `*` (or `*` with a step). */
  readonly star: boolean;
  readonly from: number;
  readonly to: number;
  readonly step: number;
  /** Written as a single value with a step (`5/15`): runs from that value to the field's end. */
  readonly openEnded: boolean;
}

interface ParsedField {
  readonly text: string;
  readonly items: readonly Item[];
  readonly values: ReadonlySet<number>;
  /** Vixie cron's rule: a day field counts as "unrestricted" when it is written starting with `*`. */
  readonly startsWithStar: boolean;
  /** Every value of the field's range is selected. */
  readonly full: boolean;
}

function parseValue(text: string, spec: FieldSpec, whole: string): number {
  if (/^\d+$/.test(text)) {
    const value = Number(text);
    if (value < spec.min || value > spec.max) {
      throw new CronError(`${spec.name} ${value} is out of range ${spec.min}-${spec.max} in '${whole}'`);
    }
    return value;
  }
  const index = spec.names?.indexOf(text.toUpperCase()) ?? -1;
  if (index >= 0) return index + (spec.nameBase ?? 0);
  const allowed = spec.names ? `${spec.min}-${spec.max} or ${spec.names[0]}-${spec.names[spec.names.length - 1]}` : `${spec.min}-${spec.max}`;
  throw new CronError(`${spec.name} '${text}' is not a value; allowed: ${allowed} in '${whole}'`);
}

function parseItem(text: string, spec: FieldSpec, whole: string): Item {
  const match = /^([^/]+)(?:\/(.+))?$/.exec(text);
  if (!match) throw new CronError(`${spec.name} '${text}' is not a value, range or step in '${whole}'`);
  const [, base, stepText] = match;
  let step = 1;
  if (stepText !== undefined) {
    if (!/^\d+$/.test(stepText) || Number(stepText) < 1 || Number(stepText) > spec.max) {
      throw new CronError(`${spec.name} step '${stepText}' must be a whole number from 1 to ${spec.max} in '${whole}'`);
    }
    step = Number(stepText);
  }
  if (base === '*') return { star: true, from: spec.min, to: spec.max, step, openEnded: false };
  const range = /^([^-]+)-([^-]+)$/.exec(base);
  if (range) {
    const from = parseValue(range[1], spec, whole);
    const to = parseValue(range[2], spec, whole);
    if (from > to) throw new CronError(`${spec.name} range '${base}' runs backwards in '${whole}'`);
    return { star: false, from, to, step, openEnded: false };
  }
  const value = parseValue(base, spec, whole);
  return stepText === undefined
    ? { star: false, from: value, to: value, step, openEnded: false }
    : { star: false, from: value, to: spec.max, step, openEnded: true };
}

function parseField(text: string, spec: FieldSpec, whole: string): ParsedField {
  if (/[?#]|(^|[,\d])(L|W|LW)($|,)/i.test(text)) {
    throw new CronError(`${spec.name} '${text}' uses EventBridge-only syntax (? L W #); write Unix cron (e.g. *) in '${whole}'`);
  }
  const items = text.split(',').map((part) => {
    if (part === '') throw new CronError(`${spec.name} '${text}' has an empty list item in '${whole}'`);
    return parseItem(part, spec, whole);
  });
  const values = new Set<number>();
  for (const item of items) for (let v = item.from; v <= item.to; v += item.step) values.add(spec === DAY_OF_WEEK && v === 7 ? 0 : v);
  const size = spec === DAY_OF_WEEK ? 7 : spec.max - spec.min + 1;
  return { text, items, values, startsWithStar: text.startsWith('*'), full: values.size === size };
}

/** Minute, hour, day-of-month and month: EventBridge reads the same values, ranges and `start/step`. */
function renderNumeric(field: ParsedField, spec: FieldSpec): string {
  if (field.full) return '*';
  const parts = field.items.map((item) => {
    // `*/n` is written `min/n`: the form AWS documents.
    if (item.star) return `${spec.min}/${item.step}`;
    if (item.openEnded) return `${item.from}/${item.step}`;
    if (item.step === 1) return item.from === item.to ? `${item.from}` : `${item.from}-${item.to}`;
    // A bounded range with a step (`10-40/10`) is spelled out: AWS does not document that form.
    const values: number[] = [];
    for (let v = item.from; v <= item.to; v += item.step) values.push(v);
    return values.join(',');
  });
  return parts.join(',');
}

/** Weekdays as names in runs (MON-FRI), so Unix's 0-7 and EventBridge's 1-7 numbering never meet. */
function renderDaysOfWeek(values: ReadonlySet<number>): string {
  const days = [...values].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < days.length; ) {
    let j = i;
    while (j + 1 < days.length && days[j + 1] === days[j] + 1) j++;
    if (j - i >= 2) parts.push(`${DAY_NAMES[days[i]]}-${DAY_NAMES[days[j]]}`);
    else for (let k = i; k <= j; k++) parts.push(DAY_NAMES[days[k]]);
    i = j + 1;
  }
  return parts.join(',');
}

function checkDateExists(dom: ParsedField, month: ParsedField, whole: string): void {
  for (const m of month.values) for (const d of dom.values) if (d <= DAYS_IN_MONTH[m - 1]) return;
  const days = [...dom.values].sort((a, b) => a - b).join(',');
  const months = [...month.values].sort((a, b) => a - b).map((m) => MONTH_NAMES[m - 1]).join(',');
  throw new CronError(`day-of-month ${days} never occurs in ${months}, so '${whole}' would never run`);
}

/**
 * Converts five-field Unix cron ("m h dom mon dow", or @hourly/@daily/@weekly/@monthly/@yearly) into an
 * EventBridge Scheduler expression "cron(m h dom mon dow *)". Throws CronError naming the problem.
 */
export function toSchedulerCron(unix: string): string {
  const whole = unix.trim();
  if (/^(cron|rate|at)\(/i.test(whole)) {
    throw new CronError(`'${whole}' is an EventBridge expression; write five-field Unix cron like "0 2 * * *" (it is converted)`);
  }
  if (whole.startsWith('@')) {
    const expanded = MACROS[whole.toLowerCase()];
    if (!expanded) throw new CronError(`'${whole}' is not a schedule; allowed macros: ${Object.keys(MACROS).join(', ')}`);
    return toSchedulerCron(expanded);
  }
  const fields = whole.split(/\s+/).filter((f) => f !== '');
  if (fields.length !== 5) {
    throw new CronError(`'${whole}' has ${fields.length} fields; expected five: minute hour day-of-month month day-of-week, e.g. "0 2 * * *"`);
  }
  const minute = parseField(fields[0], MINUTE, whole);
  const hour = parseField(fields[1], HOUR, whole);
  const dom = parseField(fields[2], DAY_OF_MONTH, whole);
  const month = parseField(fields[3], MONTH, whole);
  const dow = parseField(fields[4], DAY_OF_WEEK, whole);

  let domOut: string;
  let dowOut: string;
  const andSemantics = dom.startsWithStar || dow.startsWithStar;
  if (dom.full && dow.full) {
    [domOut, dowOut] = ['*', '?'];
  } else if (!andSemantics && (dom.full || dow.full)) {
    // Unix ORs two restricted day fields; one of them matching every day means every day.
    [domOut, dowOut] = ['*', '?'];
  } else if (dow.full) {
    checkDateExists(dom, month, whole);
    [domOut, dowOut] = [renderNumeric(dom, DAY_OF_MONTH), '?'];
  } else if (dom.full) {
    [domOut, dowOut] = ['?', renderDaysOfWeek(dow.values)];
  } else {
    throw new CronError(
      andSemantics
        ? `'${whole}' restricts both day-of-month and day-of-week, which EventBridge Scheduler cannot express; set one of them to *`
        : `'${whole}' restricts both day-of-month and day-of-week (Unix cron runs when EITHER matches), which EventBridge Scheduler cannot express; set one of them to *`,
    );
  }
  return `cron(${renderNumeric(minute, MINUTE)} ${renderNumeric(hour, HOUR)} ${domOut} ${renderNumeric(month, MONTH)} ${dowOut} *)`;
}

/** Parsed fields of a five-field schedule (macros expanded); CronError as toSchedulerCron. */
function parseSchedule(unix: string): { minute: ParsedField; hour: ParsedField; dom: ParsedField; month: ParsedField; dow: ParsedField } {
  const whole = unix.trim();
  const expanded = whole.startsWith('@') ? MACROS[whole.toLowerCase()] : whole;
  if (!expanded) throw new CronError(`'${whole}' is not a schedule; allowed macros: ${Object.keys(MACROS).join(', ')}`);
  const fields = expanded.split(/\s+/).filter((f) => f !== '');
  if (fields.length !== 5) throw new CronError(`'${whole}' has ${fields.length} fields; expected five`);
  return {
    minute: parseField(fields[0], MINUTE, whole),
    hour: parseField(fields[1], HOUR, whole),
    dom: parseField(fields[2], DAY_OF_MONTH, whole),
    month: parseField(fields[3], MONTH, whole),
    dow: parseField(fields[4], DAY_OF_WEEK, whole),
  };
}

/**
 * The longest time between two consecutive runs of a schedule, in ms, over the four years from 2028-01-01
 * (a leap-year cycle, so a February 29 schedule shows its true gap), read in UTC: what a backup's age can
 * reach before the next run is due. Days follow the same rules as toSchedulerCron (only one day field
 * restricted, or both written from `*`).
 */
export function longestIntervalMs(unix: string): number {
  const { minute, hour, dom, month, dow } = parseSchedule(unix);
  const times = [...hour.values].sort((a, b) => a - b).flatMap((h) => [...minute.values].sort((a, b) => a - b).map((m) => (h * 60 + m) * 60_000));
  const start = Date.UTC(2028, 0, 1);
  const DAY = 86_400_000;
  let previous: number | undefined;
  let first: number | undefined;
  let longest = 0;
  for (let day = 0; day < 4 * 366 + 1; day++) {
    const at = new Date(start + day * DAY);
    const domOk = dom.values.has(at.getUTCDate());
    const dowOk = dow.values.has(at.getUTCDay());
    const runs = month.values.has(at.getUTCMonth() + 1) && (dom.full ? dowOk || dow.full : dow.full ? domOk : dom.startsWithStar || dow.startsWithStar ? domOk && dowOk : domOk || dowOk);
    if (!runs) continue;
    for (const t of times) {
      const when = start + day * DAY + t;
      if (previous !== undefined) longest = Math.max(longest, when - previous);
      first ??= when;
      previous = when;
    }
  }
  if (previous === undefined || first === undefined) throw new CronError(`'${unix.trim()}' never runs`);
  // A schedule that runs once in the span (yearly on Feb 29) wraps around: the gap to its next run.
  return longest > 0 ? longest : 4 * 365.25 * DAY;
}
