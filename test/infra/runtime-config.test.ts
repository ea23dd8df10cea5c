/** infra/runtime-config.ts: backup.yaml + deployed names → the NCA_RUNTIME_CONFIG every function receives. */
import { deployedRuntimeConfig } from '../../infra/runtime-config';
import { configWith, fixtureConfig } from './fixture-config';

const WORKER = {
  functionName: 'nca-postgres-worker',
  taskDefinitionArn: 'arn:aws:ecs:us-west-2:123456789012:task-definition/nca-postgres:3',
  containerName: 'postgres-worker',
  subnets: ['subnet-1'],
  securityGroups: ['sg-1'],
};

describe('deployedRuntimeConfig', () => {
  test('vault, key and runner settings from the config; the worker only when given', () => {
    const config = fixtureConfig();
    expect(deployedRuntimeConfig(config, { kmsKeyId: 'key-arn' })).toEqual({
      bucket: 'neuroca-backups',
      prefix: 'backups/',
      region: 'us-west-2',
      kmsKeyId: 'key-arn',
      runner: { lambdaMaxBytes: 2 * 1024 ** 3, maxConcurrency: 4 },
      components: { postgres: { group: 'database', source: { database: 'neuroca_db' } } },
    });
    expect(deployedRuntimeConfig(config, { kmsKeyId: 'key-arn', workers: { postgres: WORKER } }).components.postgres?.worker).toEqual(WORKER);
  });

  test('keeps the secret ARN and a forced runner, drops the local-only URL, lists only configured components', () => {
    const config = configWith((c) => {
      c.sources.postgres = { database: 'db', secretArn: 'arn:aws:secretsmanager:us-west-2:1:secret:x-AbCdEf', url: 'postgres://user@localhost/db' };
      c.runner.force = 'fargate';
    });
    const runtime = deployedRuntimeConfig(config, { kmsKeyId: 'k' });
    expect(runtime.components.postgres?.source).toEqual({ database: 'db', secretArn: 'arn:aws:secretsmanager:us-west-2:1:secret:x-AbCdEf' });
    expect(runtime.runner.force).toBe('fargate');
    expect(deployedRuntimeConfig(configWith((c) => delete c.sources.postgres), { kmsKeyId: 'k' }).components).toEqual({});
  });
});
