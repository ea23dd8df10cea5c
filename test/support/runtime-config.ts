/**
 * The runtime config a deployment hands its functions (config/runtime-config.ts), for tests: one
 * place that knows its shape, so a test names only what its behaviour depends on (the bucket, the
 * components, the runner's limits). Free of the AWS SDK, so unit tests can use it.
 */
import type { RuntimeConfig, WorkerRef } from '../../functions/core/runtime-config';

/** The SSE-KMS key of every test vault; s3rver ignores it, tests assert that it is sent (support/s3.ts). */
export const TEST_KMS_KEY = 'arn:aws:kms:us-west-2:123456789012:key/00000000-1111-2222-3333-444444444444';

/** A worker with placeholder ARNs, for tests of the control plane that never invoke it. */
export const TEST_WORKER: WorkerRef = {
  functionName: 'arn:fn',
  taskDefinitionArn: 'arn:td',
  containerName: 'worker',
  subnets: ['s-1'],
  securityGroups: ['sg-1'],
};

type Fields = Omit<RuntimeConfig, 'bucket' | 'runner' | 'components'>;

export interface TestRuntimeConfig extends Partial<Fields> {
  /** Default: a bucket name for tests that never reach S3. */
  readonly bucket?: string;
  readonly components: RuntimeConfig['components'];
  /** Merged over the defaults: Lambda up to 2 GiB, one component at a time. */
  readonly runner?: Partial<RuntimeConfig['runner']>;
}

/**
 * A deployment in us-west-2 writing under "backups/" with the test KMS key, Lambda up to 2 GiB and one
 * component at a time, unless `config` says otherwise.
 */
export function testRuntimeConfig(config: TestRuntimeConfig): RuntimeConfig {
  const { runner, ...rest } = config;
  return {
    bucket: 'nca-vault-unused',
    prefix: 'backups/',
    region: 'us-west-2',
    kmsKeyId: TEST_KMS_KEY,
    ...rest,
    runner: { lambdaMaxBytes: 2 * 1024 ** 3, maxConcurrency: 1, ...runner },
  };
}
