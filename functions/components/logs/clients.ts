/**
 * The AWS clients the logs component reads its sources with: CloudWatch Logs (FilterLogEvents) and
 * CloudWatch metrics (GetMetricData). Created like the configuration component's (config/clients.ts): an
 * endpoint override for the tests' substitutes, bounded requests, and the SDK's standard retry with
 * attempts enough to ride out throttling. FilterLogEvents has a low per-account quota (a few calls a
 * second, shared by every reader in the account and region), and a backup reads many pages of it in a row.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';

export interface LogsClients {
  readonly logs: CloudWatchLogsClient;
  readonly metrics: CloudWatchClient;
}

export interface LogsClientOptions {
  /** @default the SDK's (AWS_REGION in Lambda and Fargate) */
  readonly region?: string;
  /** A CloudWatch Logs substitute (tests); dummy credentials are used with it. @default AWS */
  readonly logsEndpoint?: string;
  /** A CloudWatch metrics substitute (tests); dummy credentials are used with it. @default AWS */
  readonly metricsEndpoint?: string;
  /** Attempts per request, the first included, under the SDK's standard retry mode. @default 8 */
  readonly maxAttempts?: number;
}

/**
 * A page that does not come fails the step instead of hanging it. FilterLogEvents over a 14-day scan may
 * search for a while before it answers (a page can be empty with a nextToken because of that): 60 s.
 */
const REQUEST_TIMEOUT_MS = 60_000;
/**
 * The standard mode's backoff (exponential, jittered, capped at 20 s) over 8 attempts waits up to about a
 * minute for a throttled page before it gives up; a backup reading a dozen groups one after another meets
 * throttling as a matter of course, and giving up after the default 3 attempts would fail it for nothing.
 */
const MAX_ATTEMPTS = 8;

export function createLogsClients(options: LogsClientOptions = {}): LogsClients {
  const common = {
    region: options.region,
    maxAttempts: options.maxAttempts ?? MAX_ATTEMPTS,
    retryMode: 'standard',
    requestHandler: { connectionTimeout: 10_000, requestTimeout: REQUEST_TIMEOUT_MS },
  };
  const local = (endpoint: string | undefined) =>
    endpoint ? { region: options.region ?? 'us-east-1', endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } } : {};
  return {
    logs: new CloudWatchLogsClient({ ...common, ...local(options.logsEndpoint) }),
    metrics: new CloudWatchClient({ ...common, ...local(options.metricsEndpoint) }),
  };
}

/** Closes the clients' connection pools (a CLI run or a test ends cleanly). */
export function destroyLogsClients(clients: LogsClients): void {
  clients.logs.destroy();
  clients.metrics.destroy();
}
