/**
 * The configuration's "after changes" backups: which EventBridge events name a configuration change, and
 * the debounce that turns a burst of them (a deploy that writes 200 parameters) into one backup. Pure: the
 * handler (functions/handlers/config-change.ts) starts the execution.
 *
 * Events read (only the item's name is taken from them, never anything else of the request):
 * - Parameter Store: `source: aws.ssm`, `detail-type: Parameter Store Change`, `detail.name` (every
 *   operation: Create, Update, Delete, LabelParameterVersion).
 * - Secrets Manager API calls via CloudTrail: `source: aws.secretsmanager`, `detail-type: AWS API Call via
 *   CloudTrail`, `detail.eventName` one of SECRET_CHANGE_CALLS, the secret as the call named it
 *   (`requestParameters.secretId`, a name or an ARN; CreateSecret's `requestParameters.name`). A call that
 *   failed (`detail.errorCode`) changed nothing.
 * - Secrets Manager rotation: `detail-type: AWS Service Event via CloudTrail`, `eventName: RotationSucceeded`,
 *   `detail.additionalEventData.SecretId`.
 * - S3 via EventBridge notifications: `source: aws.s3`, `detail-type: Object Created | Object Deleted`,
 *   named `s3://<detail.bucket.name>/<detail.object.key>` (the key as the event gives it).
 */
import { FILE_CHANGE, PARAMETER_CHANGE, SECRET_CHANGE, SECRET_CHANGE_CALLS } from '../../config/change-events';

export type ChangedKind = 'parameter' | 'secret' | 'file';

export interface ChangedItem {
  readonly kind: ChangedKind;
  /** The parameter's name, the secret's name or ARN, or the object's s3:// URL: a name, never a value. */
  readonly name: string;
}


/**
 * The longest `changed` name an execution input carries, in UTF-8 bytes (a Parameter Store name's limit);
 * longer names are cut. Bytes, not characters: the name also travels in a Fargate step's command, and
 * RunTask's overrides are limited to 8 KB.
 */
export const MAX_CHANGED_BYTES = 2048;

/** `name` cut to at most `max` UTF-8 bytes, ending in "…" when it was cut (never inside a character). */
function cut(name: string, max: number): string {
  if (Buffer.byteLength(name, 'utf8') <= max) return name;
  let out = '';
  let bytes = Buffer.byteLength('…', 'utf8');
  for (const char of name) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > max) break;
    out += char;
    bytes += size;
  }
  return `${out}…`;
}

type Json = Record<string, unknown>;

const objectAt = (value: unknown): Json | undefined => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined);
const nonEmpty = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/**
 * The name as it is recorded: control characters (possible in an S3 key) written as \uXXXX, so a manifest
 * or a log line shows them instead of acting on a terminal; cut to MAX_CHANGED_BYTES.
 */
function item(kind: ChangedKind, name: string | undefined): ChangedItem | undefined {
  if (name === undefined) return undefined;
  const shown = name.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return { kind, name: cut(shown, MAX_CHANGED_BYTES) };
}

/** The configuration item an EventBridge event says changed, or undefined when the event is no configuration change. */
export function changedItem(event: unknown): ChangedItem | undefined {
  const e = objectAt(event);
  const detail = objectAt(e?.detail);
  if (!e || !detail) return undefined;
  const detailType = e['detail-type'];
  switch (e.source) {
    case PARAMETER_CHANGE.source:
      return detailType === PARAMETER_CHANGE.detailType ? item('parameter', nonEmpty(detail.name)) : undefined;
    case SECRET_CHANGE.source: {
      if (detailType === 'AWS Service Event via CloudTrail') {
        return detail.eventName === SECRET_CHANGE.rotation ? item('secret', nonEmpty(objectAt(detail.additionalEventData)?.SecretId)) : undefined;
      }
      if (detailType !== SECRET_CHANGE.apiCall || detail.errorCode !== undefined) return undefined;
      if (!(SECRET_CHANGE_CALLS as readonly unknown[]).includes(detail.eventName)) return undefined;
      const request = objectAt(detail.requestParameters);
      return item('secret', nonEmpty(request?.secretId) ?? nonEmpty(request?.name));
    }
    case FILE_CHANGE.source: {
      if (!(FILE_CHANGE.detailTypes as readonly unknown[]).includes(detailType)) return undefined;
      const bucket = nonEmpty(objectAt(detail.bucket)?.name);
      const key = nonEmpty(objectAt(detail.object)?.key);
      return bucket && key ? item('file', `s3://${bucket}/${key}`) : undefined;
    }
    default:
      return undefined;
  }
}

/** The debounce window: every change handled within one window is backed up by one execution. */
export const CHANGE_WINDOW_SECONDS = 300;
/** How long after its window closes the execution waits before it reads: the burst's last writes settle. */
export const CHANGE_SETTLE_SECONDS = 60;
/** Execution names of change-triggered backups start with this, then the window's start (UTC, to the minute). */
export const CHANGE_EXECUTION_PREFIX = 'configuration-change-';

export interface ChangeWindow {
  /** The window's execution name, e.g. configuration-change-20261130T1525Z (Step Functions: ≤ 80 of [A-Za-z0-9-_]). */
  readonly executionName: string;
  /** When the execution may start reading: the window's end plus CHANGE_SETTLE_SECONDS, ISO 8601 UTC to the second. */
  readonly notBefore: string;
}

const WINDOW_MS = CHANGE_WINDOW_SECONDS * 1000;

/**
 * The window `now` falls in, by the handler's clock (windows are aligned on the UTC epoch, so on every
 * fifth minute). Why the handler's clock and not the event's `time`: a change made at t is handled at
 * h ≥ t. The execution of window(h) is either started by this call or was started earlier in the same
 * window; either way it waits until notBefore = end of window(h) + settle > h ≥ t before it reads, so it
 * reads the change. With the event's time instead, a late event (CloudTrail delivers in minutes, and a
 * Lambda retry comes later still) would name a window whose execution may already have read, and the
 * change would wait for the weekly backup. The settle time also absorbs a clock difference of up to
 * CHANGE_SETTLE_SECONDS between the handler and Step Functions, whose clock runs the Wait state.
 */
export function changeWindow(now: Date): ChangeWindow {
  const start = Math.floor(now.getTime() / WINDOW_MS) * WINDOW_MS;
  const stamp = new Date(start).toISOString(); // 2026-11-30T15:25:00.000Z
  const executionName = `${CHANGE_EXECUTION_PREFIX}${stamp.slice(0, 10).replace(/-/g, '')}T${stamp.slice(11, 16).replace(':', '')}Z`;
  const notBefore = new Date(start + WINDOW_MS + CHANGE_SETTLE_SECONDS * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return { executionName, notBefore };
}
