/**
 * A memory tier that matches nothing backs up 0 items: the backup succeeds, but the warning the component
 * records must reach the execution's output and the "Backup Succeeded" event, on Lambda and on Fargate.
 * Runs the real backup ASL and handlers against a real Redis and s3rver.
 */
import { localWorker, workflowHarness, type WorkflowResult } from '../../scripts/local-workflows';
import { startRedis, type RunningRedis } from '../../scripts/local-servers';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, testS3Client } from '../support/s3';
import Redis from 'ioredis';

let redis: RunningRedis;

beforeAll(async () => {
  redis = await startRedis();
  // Memory in another namespace: the configured one matches nothing, as after a misnamed working_namespace.
  const client = new Redis(redis.url);
  await client.hset('memory:generic:m1', { id: 'm1', content: 'a memory the configuration does not name' });
  client.disconnect();
});

afterAll(async () => {
  await redis.stop();
});

async function backUp(force: 'lambda' | 'fargate'): Promise<{ result: WorkflowResult; events: { DetailType: string; Detail: string }[] }> {
  const bucket = await createTestBucket(testS3Client());
  const redisSource = { db: 0, keyPatterns: ['*'] };
  const config = testRuntimeConfig({
    bucket,
    runner: { force, maxConcurrency: 2 },
    components: {
      memory: {
        group: 'memory_tiers',
        source: { tiers: ['working'], workingNamespace: 'misnamed', episodicCollection: 'ltm_memories', redis: redisSource },
        worker: localWorker('memory'),
      },
    },
  });
  const harness = workflowHarness(config, { NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT!, NCA_REDIS_URL: redis.url });
  const result = await harness.run('backup', { group: 'memory_tiers', trigger: 'manual' });
  return { result, events: harness.events as { DetailType: string; Detail: string }[] };
}

describe.each(['lambda', 'fargate'] as const)('an empty memory tier backed up on %s', (runner) => {
  test('succeeds, and its warning is in the execution output and the Backup Succeeded event', async () => {
    const { result, events } = await backUp(runner);
    expect({ status: result.status, error: result.error, cause: result.cause }).toEqual({ status: 'SUCCEEDED' });
    const warning = expect.stringMatching(/^the working tier is empty: no memory was found in .*misnamed.*Check the configuration/);
    expect(result.output.components).toEqual([expect.objectContaining({ component: 'memory', runner, warnings: [warning] })]);
    const succeeded = events.filter((e) => e.DetailType === 'Backup Succeeded').map((e) => JSON.parse(e.Detail));
    expect(succeeded).toEqual([expect.objectContaining({ component: 'memory', warnings: [warning] })]);
  });
});
