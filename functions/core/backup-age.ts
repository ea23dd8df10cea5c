/**
 * RPO monitoring: per configured component, how old its newest complete backup is (from the trusted
 * manifest's `startedAt`, the data's point in time) against its recovery point objective. A forged or
 * damaged manifest never counts (catalog.ts `resolveBackup`). A component with no trusted backup publishes
 * no age at all: the alarm treats missing data as breaching, so "no backup" pages like "too old".
 */
import { PutMetricDataCommand, type CloudWatchClient, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import type { ComponentName, GroupName } from '../../config/types';
import { resolveBackup } from './catalog';
import { BackupNotFoundError, InvalidInputError, AccessDeniedError, TransientError } from './errors';
import type { Logger } from '../components/types';
import type { ManifestAuthenticator } from './manifest-mac';
import type { VaultRuntimeConfig } from './runtime-config';
import type { BackupVault } from './storage';
import { BACKUP_AGE_METRIC, COMPONENT_DIMENSION, METRICS_NAMESPACE, RPO_HOURS_FIELD, RPO_METRIC } from '../../config/backup-age-metrics';

export interface BackupAge {
  readonly component: ComponentName;
  readonly group: GroupName;
  /** Absent: no RPO (no schedule and none configured); the age is published, not judged. */
  readonly rpoHours?: number;
  /** Absent: no trusted backup. */
  readonly ageHours?: number;
  readonly backupId?: string;
  readonly startedAt?: string;
  /** Older than the RPO, or no backup at all while there is an RPO. */
  readonly breached: boolean;
}

const HOUR_MS = 3_600_000;

/** Hours from `startedAt` to `now`, to two decimals (a 15-minute schedule does not need finer). */
export function ageHours(startedAt: string, now: Date): number {
  return Math.round(((now.getTime() - Date.parse(startedAt)) / HOUR_MS) * 100) / 100;
}

export function isBreached(age: Pick<BackupAge, 'rpoHours' | 'ageHours'>): boolean {
  if (age.rpoHours === undefined) return false;
  return age.ageHours === undefined || age.ageHours > age.rpoHours;
}

/** The schedule input's RPOs, checked: each a positive number of hours for a configured component. */
export function rpoHoursFromEvent(event: unknown, config: VaultRuntimeConfig): Readonly<Record<string, number>> {
  const raw = typeof event === 'object' && event !== null ? (event as Record<string, unknown>)[RPO_HOURS_FIELD] : undefined;
  const where = `the event's ${RPO_HOURS_FIELD}`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidInputError(`${where} must be an object of component name to hours; it is set by the stack (infra/constructs/backup-age.ts), redeploy it.`);
  }
  for (const [name, hours] of Object.entries(raw)) {
    if (!(name in config.components)) throw new InvalidInputError(`${where}.${name}: not a configured component (${Object.keys(config.components).join(', ')}).`);
    if (typeof hours !== 'number' || !(hours > 0)) throw new InvalidInputError(`${where}.${name}: ${JSON.stringify(hours)} is not a positive number of hours.`);
  }
  return raw as Record<string, number>;
}

/** Every configured component's backup age at `now`; a vault error other than "no backup" fails the run. */
export async function measureBackupAges(
  config: VaultRuntimeConfig,
  rpoHours: Readonly<Record<string, number>>,
  vault: BackupVault,
  authenticator: ManifestAuthenticator,
  now: Date,
): Promise<BackupAge[]> {
  const ages: BackupAge[] = [];
  for (const [name, { group }] of Object.entries(config.components) as [ComponentName, { group: GroupName }][]) {
    const rpo = rpoHours[name];
    let found: Omit<BackupAge, 'breached'> = { component: name, group, ...(rpo !== undefined ? { rpoHours: rpo } : {}) };
    try {
      const manifest = await resolveBackup(vault, authenticator, group, name, 'latest');
      found = { ...found, ageHours: ageHours(manifest.startedAt, now), backupId: manifest.backupId, startedAt: manifest.startedAt };
    } catch (error) {
      if (!(error instanceof BackupNotFoundError)) throw error;
    }
    ages.push({ ...found, breached: isBreached(found) });
  }
  return ages;
}

/** The datapoints to publish: the age of each component that has a backup, the RPO of each that has one. */
export function metricData(ages: readonly BackupAge[], now: Date): MetricDatum[] {
  return ages.flatMap((age) => {
    const Dimensions = [{ Name: COMPONENT_DIMENSION, Value: age.component }];
    const data: MetricDatum[] = [];
    if (age.ageHours !== undefined) data.push({ MetricName: BACKUP_AGE_METRIC, Dimensions, Timestamp: now, Value: age.ageHours, Unit: 'None' });
    if (age.rpoHours !== undefined) data.push({ MetricName: RPO_METRIC, Dimensions, Timestamp: now, Value: age.rpoHours, Unit: 'None' });
    return data;
  });
}

/** PutMetricData takes at most 1000 datapoints a call; a configuration has a few dozen at most. */
const MAX_DATUMS_PER_CALL = 1000;

/** Measures and publishes; the result says per component what was found (and the log says who has no backup). */
export async function monitorBackupAges(
  config: VaultRuntimeConfig,
  rpoHours: Readonly<Record<string, number>>,
  deps: { readonly vault: BackupVault; readonly authenticator: ManifestAuthenticator; readonly metrics: CloudWatchClient; readonly log: Logger; readonly now?: Date },
): Promise<BackupAge[]> {
  const now = deps.now ?? new Date();
  const ages = await measureBackupAges(config, rpoHours, deps.vault, deps.authenticator, now);
  const data = metricData(ages, now);
  for (let i = 0; i < data.length; i += MAX_DATUMS_PER_CALL) {
    try {
      await deps.metrics.send(new PutMetricDataCommand({ Namespace: METRICS_NAMESPACE, MetricData: data.slice(i, i + MAX_DATUMS_PER_CALL) }));
    } catch (error) {
      const { name, message } = error as Error;
      const text = `could not publish ${METRICS_NAMESPACE} metrics (${name}: ${message}); the RPO alarms see missing data and go off after their evaluation periods.`;
      throw /AccessDenied/.test(name) ? new AccessDeniedError(`${text} The function's role needs cloudwatch:PutMetricData in namespace ${METRICS_NAMESPACE}.`) : new TransientError(text);
    }
  }
  for (const age of ages) {
    if (age.ageHours === undefined) deps.log.warn('no trusted backup', { component: age.component, rpoHours: age.rpoHours });
    else if (age.breached) deps.log.warn('RPO breached', { component: age.component, ageHours: age.ageHours, rpoHours: age.rpoHours, backupId: age.backupId });
  }
  return ages;
}
