/**
 * The AWS clients the configuration component reads (and a restore writes) its stores with: Parameter
 * Store, Secrets Manager and the S3 buckets configuration files live in. Created like the vault's and
 * KMS's clients (core/storage.ts, core/kms.ts): an endpoint override for the tests' substitutes, bounded
 * requests, and the SDK's standard retry, with attempts enough to ride out the ThrottlingException a
 * listing of a few hundred parameters meets (Parameter Store's read quota is tens of calls a second).
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../core/storage';

export interface ConfigClients {
  readonly ssm: SSMClient;
  readonly secretsManager: SecretsManagerClient;
  /** For the configuration files' buckets (not the vault). */
  readonly s3: S3Client;
}

export interface ConfigClientOptions {
  /** @default the SDK's (AWS_REGION in Lambda and Fargate) */
  readonly region?: string;
  /** A Parameter Store substitute (tests); dummy credentials are used with it. @default AWS */
  readonly ssmEndpoint?: string;
  /** A Secrets Manager substitute (tests); dummy credentials are used with it. @default AWS */
  readonly secretsManagerEndpoint?: string;
  /** An S3-compatible endpoint for the configuration files (s3rver). @default AWS */
  readonly s3Endpoint?: string;
  /** Attempts per request, the first included, under the SDK's standard retry mode. @default 6 */
  readonly maxAttempts?: number;
}

/** A store that does not answer fails the step instead of hanging it. Values are small: 10 s is ample. */
const REQUEST_TIMEOUT_MS = 10_000;
/**
 * The standard mode's backoff (exponential, jittered, capped at 20 s) over 6 attempts waits up to about
 * 30 s for a throttled call before it gives up, where the default 3 attempts give up after a second or two.
 */
const MAX_ATTEMPTS = 6;

export function createConfigClients(options: ConfigClientOptions = {}): ConfigClients {
  const common = {
    region: options.region,
    maxAttempts: options.maxAttempts ?? MAX_ATTEMPTS,
    retryMode: 'standard',
    requestHandler: { connectionTimeout: REQUEST_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
  };
  const local = (endpoint: string | undefined) =>
    endpoint ? { region: options.region ?? 'us-east-1', endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } } : {};
  return {
    ssm: new SSMClient({ ...common, ...local(options.ssmEndpoint) }),
    secretsManager: new SecretsManagerClient({ ...common, ...local(options.secretsManagerEndpoint) }),
    s3: createS3Client({ region: options.region, endpoint: options.s3Endpoint }),
  };
}

/** Closes the clients' connection pools (a CLI run or a test ends cleanly). */
export function destroyConfigClients(clients: ConfigClients): void {
  clients.ssm.destroy();
  clients.secretsManager.destroy();
  clients.s3.destroy();
}
