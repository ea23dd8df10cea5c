/**
 * The backup workflow's finalize step publishes each backed-up component's size and duration
 * (NcaBackup/BackupBytes, BackupDurationSeconds) to the CloudWatch metrics substitute when the stack
 * switches it on; a metrics service that refuses them leaves the outcome as it was and logs a warning.
 */
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { handler } from '../../functions/handlers/finalize';
import type { BackupOutcomeInput } from '../../functions/core/backup-outcome';
import { startCloudWatchMetricsServer, type CloudWatchMetricsServer } from '../support/cloudwatch-metrics-server';

let metrics: CloudWatchMetricsServer;
let client: CloudWatchClient;
const START = Date.now();

beforeAll(async () => {
  metrics = await startCloudWatchMetricsServer();
  client = new CloudWatchClient({ region: 'us-west-2', endpoint: metrics.endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } });
});

afterAll(async () => {
  client.destroy();
  await metrics.stop();
});

async function published(metricName: string, component: string): Promise<number[]> {
  const out = await client.send(
    new GetMetricDataCommand({
      StartTime: new Date(START - 3600_000),
      EndTime: new Date(Date.now() + 3600_000),
      MetricDataQueries: [{ Id: 'q', MetricStat: { Metric: { Namespace: 'NcaBackup', MetricName: metricName, Dimensions: [{ Name: 'Component', Value: component }] }, Period: 60, Stat: 'Maximum' } }],
    }),
  );
  return out.MetricDataResults?.[0]?.Values ?? [];
}

/** Runs the deployed handler with the stack's switch and the substitute's endpoint, its log lines captured. */
async function finalize(input: BackupOutcomeInput) {
  const names = ['NCA_BACKUP_METRICS', 'NCA_METRICS_ENDPOINT', 'AWS_REGION'] as const;
  const saved = names.map((n) => process.env[n]);
  Object.assign(process.env, { NCA_BACKUP_METRICS: 'on', NCA_METRICS_ENDPOINT: metrics.endpoint, AWS_REGION: 'us-west-2' });
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const outcome = await handler(input);
    return { outcome, log: stderr.mock.calls.map(([line]) => String(line)).join('') };
  } finally {
    stderr.mockRestore();
    names.forEach((n, i) => (saved[i] === undefined ? delete process.env[n] : (process.env[n] = saved[i])));
  }
}

const INPUT: BackupOutcomeInput = {
  group: 'database',
  backupId: '20261101T000000Z-aaaa',
  results: [
    { component: 'postgres', status: 'SUCCEEDED', result: { bytes: 123_456, durationMs: 42_500, backupId: '20261101T000000Z-aaaa' } },
    // A deduplicating component: what it stored anew is its size.
    { component: 'models', status: 'SUCCEEDED', result: { bytes: 2_000, durationMs: 1_000, backupId: '20261101T000000Z-aaaa', sourceBytes: 9_000_000, storedBytes: 5_000 } },
    { component: 'redis', status: 'FAILED', error: 'SourceUnreachableError', cause: '{"errorMessage": "connection refused"}' },
  ],
};

test('per component that backed up: its stored bytes and its duration in seconds; a failed component publishes none', async () => {
  const { outcome, log } = await finalize(INPUT);
  expect(outcome.status).toBe('FAILED');
  expect(await published('BackupBytes', 'postgres')).toEqual([123_456]);
  expect(await published('BackupDurationSeconds', 'postgres')).toEqual([42.5]);
  expect(await published('BackupBytes', 'models')).toEqual([5_000]);
  expect(await published('BackupBytes', 'redis')).toEqual([]);
  expect(log).not.toContain('not published');
});

test('a metrics service that keeps refusing: the same outcome, and a warning saying the dashboard misses the points', async () => {
  metrics.failNext(3);
  const { outcome, log } = await finalize({ ...INPUT, results: INPUT.results.filter((r) => r.status === 'SUCCEEDED') });
  expect(outcome.status).toBe('SUCCEEDED');
  expect(outcome.succeeded.map((s) => s.component)).toEqual(['postgres', 'models']);
  expect(log).toMatch(/backup metrics not published.*the backups stand, the dashboard misses these points/);
});
