/** The CloudWatch client of the functions that publish metrics: the vault's region, or NCA_METRICS_ENDPOINT's local substitute. */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { setting } from '../../config/environment';

export function metricsClient(region: string | undefined, env: NodeJS.ProcessEnv = process.env): CloudWatchClient {
  const endpoint = setting(env, 'metricsEndpoint');
  return new CloudWatchClient({
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } } : {}),
  });
}
