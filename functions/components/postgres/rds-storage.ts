/**
 * An RDS instance's free disk, from its CloudWatch metric FreeStorageSpace (AWS/RDS, per DBInstanceIdentifier,
 * published every minute): the one place a restore can learn it, as PostgreSQL reports none over SQL. Reading
 * it needs cloudwatch:GetMetricData; a failure or a missing datapoint is a reason for `unknown`, never a
 * failed restore.
 */
import { GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { metricsClient } from '../../core/metrics-client';
import type { PostgresTarget } from './connection';

/** How far back a datapoint still describes the instance's disk. */
const LOOKBACK_MS = 30 * 60 * 1000;
const TIMEOUT_MS = 10_000;

export type FreeStorage = { readonly bytes: number; readonly at: string } | { readonly problem: string };

export async function rdsFreeStorage(rds: NonNullable<PostgresTarget['rds']>, now = new Date()): Promise<FreeStorage> {
  const client = metricsClient(undefined, rds.metricsEndpoint ? { NCA_METRICS_ENDPOINT: rds.metricsEndpoint } : {});
  const instance = `RDS instance ${rds.instanceId}`;
  try {
    const answer = await client.send(
      new GetMetricDataCommand({
        StartTime: new Date(now.getTime() - LOOKBACK_MS),
        EndTime: now,
        ScanBy: 'TimestampDescending',
        MetricDataQueries: [
          {
            Id: 'free',
            MetricStat: {
              Metric: { Namespace: 'AWS/RDS', MetricName: 'FreeStorageSpace', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: rds.instanceId }] },
              Period: 60,
              Stat: 'Minimum',
            },
          },
        ],
      }),
      { abortSignal: AbortSignal.timeout(TIMEOUT_MS) },
    );
    const result = answer.MetricDataResults?.find((r) => r.Id === 'free');
    const bytes = result?.Values?.[0];
    const at = result?.Timestamps?.[0];
    if (bytes === undefined || at === undefined) return { problem: `CloudWatch has no FreeStorageSpace of ${instance} in the last 30 minutes` };
    return { bytes, at: at.toISOString() };
  } catch (error) {
    const message = (error as Error).message?.replace(/\s+/g, ' ').slice(0, 200) ?? String(error);
    return { problem: `could not read FreeStorageSpace of ${instance} from CloudWatch (${(error as Error).name}: ${message})` };
  } finally {
    client.destroy();
  }
}
