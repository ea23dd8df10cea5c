/**
 * `backup.audit`: where the audit trail comes from and who may start restores. The stack creates a
 * multi-region CloudTrail trail with data events on both vaults unless `trail_arn` names an existing one
 * (which must then log what README "Audit and access" lists); restores and drills are started through an
 * operator role whose trust policy wants MFA no older than `operator_mfa_max_age_minutes`; audit records
 * stay in the vault's audit prefix for `record_retention_days`. Pure: the loader and the CDK app read it.
 */
import { ACCOUNT, integer, mapping, matching, PARTITION, REGION, type Issues } from './fields';

/** The vault's audit prefix, under storage.primary.path: `<prefix>audit/YYYY/MM/DD/<time>-<id>.json`. */
export const AUDIT_DIR = 'audit/';

export type AuditAction = 'backup' | 'restore' | 'restore-all' | 'drill' | 'prune' | 'deletion';
export const AUDIT_ACTIONS: readonly AuditAction[] = ['backup', 'restore', 'restore-all', 'drill', 'prune', 'deletion'];

/** What the audit function knows about the deployment, from its environment (infra/constructs/audit.ts). */
export interface AuditSettings {
  readonly bucket: string;
  readonly prefix: string;
  readonly kmsKeyId: string;
  /** State machine ARN → the action its executions are. */
  readonly machines: Readonly<Record<string, AuditAction>>;
  /** Role ARN → how records name it (e.g. the schedules' role → "schedule"). */
  readonly roles: Readonly<Record<string, string>>;
  /** The janitor's role ARN: its deletions are the prune step's. */
  readonly janitorRole?: string;
  /** The vault's region (and the event bus's). */
  readonly region: string;
}

/** How old an operator's MFA sign-in may be when the operator role is assumed (runbook: one hour). */
export const DEFAULT_OPERATOR_MFA_MAX_AGE_MINUTES = 60;
/** How long audit records are kept: a year and a month, so a yearly review still finds last year's. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 400;

export interface AuditConfig {
  /**
   * An existing CloudTrail trail that logs this stack's StartExecution calls and the vaults' object writes
   * and deletes; the stack then creates none. @default the stack creates its own trail
   */
  readonly trailArn?: string;
  /** aws:MultiFactorAuthAge bound (and the operator role's session length, at least an hour). @default 60 */
  readonly operatorMfaMaxAgeMinutes: number;
  /** Days an audit record is kept before lifecycle expires it (Object Lock retention still applies). @default 400 */
  readonly recordRetentionDays: number;
}

export const DEFAULT_AUDIT: AuditConfig = {
  operatorMfaMaxAgeMinutes: DEFAULT_OPERATOR_MFA_MAX_AGE_MINUTES,
  recordRetentionDays: DEFAULT_AUDIT_RETENTION_DAYS,
};

const TRAIL_ARN = new RegExp(`^arn:${PARTITION}:cloudtrail:${REGION.source.slice(1, -1)}:${ACCOUNT}:trail/[A-Za-z0-9._-]{3,128}$`);

export function parseAudit(value: unknown, issues: Issues): AuditConfig | undefined {
  const path = 'backup.audit';
  const map = mapping(value, path, ['trail_arn', 'operator_mfa_max_age_minutes', 'record_retention_days'], issues);
  if (!map) return undefined;
  const before = issues.list.length;
  const trailArn = 'trail_arn' in map ? matching(map.trail_arn, `${path}.trail_arn`, issues, TRAIL_ARN, 'a CloudTrail trail ARN (arn:aws:cloudtrail:<region>:<account>:trail/<name>)') : undefined;
  // 12 h: the longest session a role can have; 5 min: shorter would refuse most sign-ins at once.
  const age = 'operator_mfa_max_age_minutes' in map ? integer(map.operator_mfa_max_age_minutes, `${path}.operator_mfa_max_age_minutes`, issues, 5, 720) : DEFAULT_OPERATOR_MFA_MAX_AGE_MINUTES;
  const retention = 'record_retention_days' in map ? integer(map.record_retention_days, `${path}.record_retention_days`, issues, 1, 3650 * 3) : DEFAULT_AUDIT_RETENTION_DAYS;
  if (issues.list.length > before || age === undefined || retention === undefined) return undefined;
  return { ...(trailArn ? { trailArn } : {}), operatorMfaMaxAgeMinutes: age, recordRetentionDays: retention };
}

/** The deployment's audit settings: backup.yaml's section, or the defaults. */
export function auditOf(config: { readonly audit?: AuditConfig }): AuditConfig {
  return config.audit ?? DEFAULT_AUDIT;
}
