/**
 * Audit records: one small JSON document per thing that happened to the backups (a backup, restore, drill,
 * prune or deletion started or finished), made from the events AWS sends (Step Functions status changes,
 * CloudTrail API calls) or by the CLI, written once into the vault's audit prefix and sent to EventBridge.
 * The shaping is pure; the writing is `recordAudit`. The format is README "Audit records".
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { AUDIT_ACTIONS, AUDIT_DIR, type AuditAction, type AuditSettings } from '../../config/audit';
import { isBackupId } from './backup-id';
import { InvalidInputError, TransientError } from './errors';
import { PreconditionFailedError, type BackupVault } from './storage';

export const AUDIT_RECORD_VERSION = 1;
export const AUDIT_EVENT_SOURCE = 'nca-backup';
export const AUDIT_DETAIL_TYPE = 'Audit Record';

export { AUDIT_DIR, type AuditAction, type AuditSettings };
export type AuditOutcome = 'succeeded' | 'failed' | 'timed-out' | 'aborted';

export interface AuditRecord {
  readonly version: typeof AUDIT_RECORD_VERSION;
  /** Stable for one happening: the same source event always gives the same id (redeliveries write nothing new). */
  readonly id: string;
  /** ISO 8601, UTC: when it happened (the source event's time). */
  readonly time: string;
  readonly action: AuditAction;
  /** started: the request (who asked); finished: the outcome. A deletion is one record, phase finished. */
  readonly phase: 'started' | 'finished';
  /**
   * Who: an IAM ARN (the role, not the session, for assumed roles, plus the session name in `session`),
   * `schedule <name>` for the stack's schedules, `lifecycle` for S3 lifecycle; null when the source event
   * does not say (a status change: read the started record of the same executionArn).
   */
  readonly principal: string | null;
  /** The session name of an assumed role (often the person's user name), when there was one. */
  readonly session?: string;
  /** CloudTrail's sessionContext.attributes.mfaAuthenticated, when the source says. */
  readonly mfa?: boolean;
  /** Why: "scheduled", "config-change", "manual", "operator", "cli", "lifecycle" … as the source says. */
  readonly trigger?: string;
  readonly components: readonly string[];
  readonly backupIds: readonly string[];
  /** Only on phase finished. */
  readonly outcome?: AuditOutcome;
  readonly executionArn?: string;
  /** Deletions: the object keys (at most MAX_KEYS, `truncated` set when there were more). */
  readonly keys?: readonly string[];
  readonly truncated?: boolean;
  /** A failure's error name and cause, shortened. */
  readonly error?: { readonly name: string; readonly cause?: string };
}

/** Keys listed in one deletion record. */
export const MAX_KEYS = 100;
const MAX_CAUSE = 500;

/** NCA_AUDIT_SETTINGS as the stack writes it; an InvalidInputError naming what is wrong otherwise. */
export function parseAuditSettings(value: string | undefined): AuditSettings {
  const fail = (what: string) => new InvalidInputError(`NCA_AUDIT_SETTINGS ${what}; the stack sets it (infra/constructs/audit.ts)`);
  if (!value) throw fail('is not set');
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    throw fail('is not JSON');
  }
  if (!isObject(raw)) throw fail('is not a JSON object');
  for (const field of ['bucket', 'kmsKeyId', 'region'] as const) if (!text(raw[field])) throw fail(`has no ${field}`);
  if (typeof raw.prefix !== 'string') throw fail('has no prefix');
  const machines = isObject(raw.machines) ? raw.machines : {};
  for (const [arn, action] of Object.entries(machines)) if (!AUDIT_ACTIONS.includes(action as AuditAction)) throw fail(`names ${arn} with an unknown action ${String(action)}`);
  const roles = isObject(raw.roles) ? raw.roles : {};
  return {
    bucket: String(raw.bucket),
    prefix: raw.prefix,
    kmsKeyId: String(raw.kmsKeyId),
    region: String(raw.region),
    machines: machines as Record<string, AuditAction>,
    roles: Object.fromEntries(Object.entries(roles).filter(([, v]) => typeof v === 'string')) as Record<string, string>,
    ...(text(raw.janitorRole) ? { janitorRole: text(raw.janitorRole) } : {}),
  };
}

export function auditRecordKey(record: Pick<AuditRecord, 'time' | 'id'>): string {
  const [date] = record.time.split('T');
  const [year, month, day] = date.split('-');
  return `${AUDIT_DIR}${year}/${month}/${day}/${record.time.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${record.id}.json`;
}

/** A short stable id for a source event. */
export function auditId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 20);
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function parsed(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}

/** Backup ids and component names found anywhere in a workflow's input or output (`backupId(s)`, a restore-all's `systemId`, `component(s)`). */
export function idsIn(...documents: unknown[]): { backupIds: string[]; components: string[] } {
  const backupIds = new Set<string>();
  const components = new Set<string>();
  const visit = (value: unknown, depth: number) => {
    if (depth > 8) return;
    if (Array.isArray(value)) value.forEach((v) => visit(v, depth + 1));
    if (!isObject(value)) return;
    for (const [key, v] of Object.entries(value)) {
      const values = Array.isArray(v) ? v : [v];
      const strings = values.filter((x): x is string => typeof x === 'string');
      if (key === 'backupId' || key === 'backupIds' || key === 'systemId') strings.forEach((id) => isBackupId(id) && backupIds.add(id));
      else if (key === 'component' || key === 'components') strings.forEach((c) => /^[a-z][a-z0-9_-]{0,30}$/.test(c) && components.add(c));
      // A list of per-component results (a restore-all's report) holds the names and ids one level down.
      values.forEach((x) => typeof x !== 'string' && visit(x, depth + 1));
    }
  };
  documents.forEach((d) => visit(parsed(d), 0));
  return { backupIds: [...backupIds].sort(), components: [...components].sort() };
}

/** The role ARN behind an assumed-role session ARN (`arn:aws:sts::1:assumed-role/R/s` → `arn:aws:iam::1:role/R`), else the ARN. */
export function principalOf(identity: unknown, settings: Pick<AuditSettings, 'roles'>): { principal: string | null; session?: string; mfa?: boolean } {
  if (!isObject(identity)) return { principal: null };
  const context = isObject(identity.sessionContext) ? identity.sessionContext : {};
  const issuer = isObject(context.sessionIssuer) ? text(context.sessionIssuer.arn) : undefined;
  const mfa = isObject(context.attributes) ? context.attributes.mfaAuthenticated : undefined;
  const arn = text(identity.arn);
  const session = arn && identity.type === 'AssumedRole' ? arn.slice(arn.lastIndexOf('/') + 1) : undefined;
  const who = issuer ?? arn ?? text(identity.invokedBy) ?? null;
  const named = who ? settings.roles[who] : undefined;
  return { principal: named ?? who, ...(session && !named ? { session } : {}), ...(mfa === 'true' || mfa === 'false' ? { mfa: mfa === 'true' } : {}) };
}

const OUTCOMES: Record<string, AuditOutcome> = { SUCCEEDED: 'succeeded', FAILED: 'failed', TIMED_OUT: 'timed-out', ABORTED: 'aborted' };

/**
 * The audit record an EventBridge event stands for, or undefined for events that are not audited (a
 * RUNNING status change, whose start the CloudTrail StartExecution record already states with its
 * principal; an execution of another state machine; a read).
 */
export function auditRecordOf(event: unknown, settings: AuditSettings): AuditRecord | undefined {
  if (!isObject(event) || !isObject(event.detail)) return undefined;
  const detail = event.detail;
  const time = text(event.time) ?? new Date(0).toISOString();
  const eventId = text(event.id) ?? auditId(JSON.stringify(event));
  const detailType = event['detail-type'];

  if (event.source === 'aws.states' && detailType === 'Step Functions Execution Status Change') {
    const action = settings.machines[String(detail.stateMachineArn)];
    const outcome = OUTCOMES[String(detail.status)];
    if (!action || !outcome) return undefined;
    const ids = idsIn(detail.input, detail.output);
    const error = text(detail.error);
    return {
      version: AUDIT_RECORD_VERSION,
      id: auditId(eventId),
      time: stopTime(detail.stopDate) ?? time,
      action,
      phase: 'finished',
      principal: null,
      ...triggerOf(detail.input),
      components: ids.components,
      backupIds: ids.backupIds,
      outcome,
      executionArn: text(detail.executionArn),
      ...(error ? { error: { name: error, ...(text(detail.cause) ? { cause: text(detail.cause)!.slice(0, MAX_CAUSE) } : {}) } } : {}),
    };
  }

  if (detailType === 'AWS API Call via CloudTrail') {
    const request = isObject(detail.requestParameters) ? detail.requestParameters : {};
    const who = principalOf(detail.userIdentity, settings);
    const failed = text(detail.errorCode);
    if (detail.eventSource === 'states.amazonaws.com' && detail.eventName === 'StartExecution') {
      const action = settings.machines[String(request.stateMachineArn)];
      if (!action) return undefined;
      const response = isObject(detail.responseElements) ? detail.responseElements : {};
      const ids = idsIn(request.input);
      return {
        version: AUDIT_RECORD_VERSION,
        id: auditId(eventId),
        time: text(detail.eventTime) ?? time,
        action,
        phase: 'started',
        ...who,
        ...(triggerOf(request.input) ?? (who.principal?.startsWith('schedule') ? { trigger: 'scheduled' } : {})),
        components: ids.components,
        backupIds: ids.backupIds,
        ...(failed ? { outcome: 'failed' as const, error: { name: failed, ...(text(detail.errorMessage) ? { cause: text(detail.errorMessage)!.slice(0, MAX_CAUSE) } : {}) } } : {}),
        executionArn: text(response.executionArn),
      };
    }
    if (detail.eventSource === 's3.amazonaws.com' && /^DeleteObject(s|Version)?$/.test(String(detail.eventName))) {
      const keys = deletedKeys(detail);
      const identity = isObject(detail.userIdentity) ? detail.userIdentity : {};
      const issuer = isObject(identity.sessionContext) && isObject(identity.sessionContext.sessionIssuer) ? text(identity.sessionContext.sessionIssuer.arn) : undefined;
      const prune = !!settings.janitorRole && issuer === settings.janitorRole;
      return deletion(eventId, text(detail.eventTime) ?? time, prune ? 'prune' : 'deletion', who, keys, String(detail.eventName), failed, settings);
    }
    return undefined;
  }

  if (event.source === 'aws.s3' && detailType === 'Object Deleted') {
    const key = isObject(detail.object) ? text(detail.object.key) : undefined;
    // An audit record's own expiration is not recorded: that record would expire in turn, for ever.
    if (key?.startsWith(`${settings.prefix}${AUDIT_DIR}`)) return undefined;
    const lifecycle = detail.reason === 'Lifecycle Expiration';
    return deletion(eventId, time, 'deletion', lifecycle ? { principal: 'lifecycle' } : { principal: text(detail.requester) ?? null }, key ? [key] : [], lifecycle ? 'lifecycle' : String(detail.reason ?? 'DeleteObject'), undefined, settings);
  }
  return undefined;
}

function deletion(
  eventId: string,
  time: string,
  action: 'prune' | 'deletion',
  who: { principal: string | null; session?: string; mfa?: boolean },
  keys: string[],
  trigger: string,
  failed: string | undefined,
  settings: Pick<AuditSettings, 'prefix'>,
): AuditRecord {
  // Keys relative to the vault prefix name the component and backup id (<group>/<component>/<backupId>/…).
  const relative = keys.map((k) => (k.startsWith(settings.prefix) ? k.slice(settings.prefix.length) : k));
  const components = new Set<string>();
  const backupIds = new Set<string>();
  for (const key of relative) {
    const [, component, id] = key.split('/');
    if (component && /^[a-z][a-z0-9_-]{0,30}$/.test(component)) components.add(component);
    if (id && isBackupId(id)) backupIds.add(id);
  }
  return {
    version: AUDIT_RECORD_VERSION,
    id: auditId(eventId),
    time,
    action,
    phase: 'finished',
    ...who,
    trigger,
    components: [...components].sort(),
    backupIds: [...backupIds].sort(),
    outcome: failed ? 'failed' : 'succeeded',
    keys: keys.slice(0, MAX_KEYS),
    ...(keys.length > MAX_KEYS ? { truncated: true } : {}),
    ...(failed ? { error: { name: failed } } : {}),
  };
}

/** The object keys a CloudTrail S3 delete event names: requestParameters.key, or the resources' object ARNs. */
function deletedKeys(detail: Json): string[] {
  const request = isObject(detail.requestParameters) ? detail.requestParameters : {};
  const bucket = text(request.bucketName);
  if (text(request.key)) return [text(request.key)!];
  const resources = Array.isArray(detail.resources) ? detail.resources : [];
  return resources.flatMap((r) => {
    const arn = isObject(r) && r.type === 'AWS::S3::Object' ? text(r.ARN) : undefined;
    const prefix = bucket ? `arn:aws:s3:::${bucket}/` : undefined;
    if (!arn) return [];
    const at = prefix && arn.includes(prefix) ? arn.indexOf(prefix) + prefix.length : arn.indexOf('/') + 1;
    return at > 0 ? [arn.slice(at)] : [];
  });
}

function triggerOf(input: unknown): { trigger: string } | undefined {
  const value = parsed(input);
  const trigger = isObject(value) ? text(value.trigger) : undefined;
  return trigger ? { trigger: trigger.slice(0, 64) } : undefined;
}

function stopTime(value: unknown): string | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? new Date(value).toISOString() : undefined;
}

/** Where audit records go besides the vault: EventBridge (functions/core/event-bus.ts), or a test's sink. */
export interface AuditEventSink {
  put(record: AuditRecord): Promise<void>;
}

/**
 * Writes `record` once into the vault's audit prefix (If-None-Match: a redelivered event finds its record
 * there and leaves it as it is) and sends it to the event bus. Returns whether this call wrote it. A failed
 * write throws the vault's typed error (StorageError, AccessDeniedError, TransientError): the event is
 * retried by EventBridge, the record is never dropped in silence.
 */
export async function recordAudit(record: AuditRecord, vault: BackupVault, bus: AuditEventSink): Promise<boolean> {
  let written = true;
  try {
    await vault.putJson(auditRecordKey(record), record, { ifNoneMatch: '*' });
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw error;
    written = false;
  }
  try {
    await bus.put(record);
  } catch (error) {
    throw new TransientError(`audit record ${record.id} is in the vault but could not be sent to EventBridge: ${(error as Error).message}`, {
      hint: 'EventBridge retries the event; the vault keeps the first copy of the record.',
    });
  }
  return written;
}

/**
 * The record of an operation an operator ran with the CLI outside AWS (backup, restore, drill). What is
 * known honestly is the local user and host, not an IAM identity: `principal` says `cli <user>@<host>`
 * and CloudTrail holds the IAM identity of the S3 writes the run made.
 */
export function cliAuditRecord(input: {
  readonly action: AuditAction;
  readonly user: string;
  readonly host: string;
  readonly time: Date;
  readonly components: readonly string[];
  readonly backupIds: readonly string[];
  readonly error?: Error;
}): AuditRecord {
  const time = input.time.toISOString();
  return {
    version: AUDIT_RECORD_VERSION,
    id: auditId('cli', time, input.action, input.user, input.host, ...input.components, ...input.backupIds, randomBytes(8).toString('hex')),
    time,
    action: input.action,
    phase: 'finished',
    principal: `cli ${input.user}@${input.host}`,
    trigger: 'cli',
    components: [...input.components].sort(),
    backupIds: [...input.backupIds].filter(isBackupId).sort(),
    outcome: input.error ? 'failed' : 'succeeded',
    ...(input.error ? { error: { name: input.error.name, cause: input.error.message.slice(0, MAX_CAUSE) } } : {}),
  };
}

/**
 * Runs a CLI operation and records it. A record that cannot be written does not turn a finished backup or
 * restore into a failure (a retried restore would do harm): the result says `audit: { recorded: false,
 * error }` and the log warns; the operation's own error, when it failed, is thrown as it was.
 */
export async function withCliAudit<T>(
  what: { readonly action: AuditAction; readonly components: readonly string[]; readonly backupIds: readonly string[] },
  sinks: { readonly vault: BackupVault; readonly bus?: AuditEventSink; readonly warn: (message: string) => void },
  run: () => Promise<T>,
): Promise<T | (T & { audit: { recorded: false; error: string } })> {
  const record = (error?: Error) => cliAuditRecord({ ...what, user: userInfo().username, host: hostname(), time: new Date(), ...(error ? { error } : {}) });
  const write = async (r: AuditRecord): Promise<string | undefined> => {
    try {
      await recordAudit(r, sinks.vault, sinks.bus ?? { put: async () => undefined });
      return undefined;
    } catch (error) {
      const message = `the audit record of this ${what.action} was not written: ${(error as Error).message}`;
      sinks.warn(message);
      return message;
    }
  };
  let result: T;
  try {
    result = await run();
  } catch (error) {
    await write(record(error as Error));
    throw error;
  }
  const problem = await write(record());
  return problem && typeof result === 'object' && result !== null ? { ...result, audit: { recorded: false as const, error: problem } } : result;
}
