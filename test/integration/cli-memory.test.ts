/**
 * `nca-backup` on the memory stores: the real bin script in a child process, restore options given as
 * flags and as --options JSON, against a real Redis, the run's PostgreSQL, the MongoDB wire-protocol
 * server and s3rver.
 */
import Redis from 'ioredis';
import { startRedis, type RunningServer } from '../../scripts/local-servers';
import { damageSampleMemory, loadSampleMemory } from '../../scripts/sample-nca-memory';
import { startMongoWireServer } from '../support/mongo-wire-server';
import { createDatabase, testPostgresUrl, urlFor } from '../support/postgres-db';
import { cliEnv, runCli, writeBackupYaml, type CliRun } from '../support/cli';
import { createTestBucket, testS3Client } from '../support/s3';

const servers: { stop(): Promise<void> }[] = [];
let env: NodeJS.ProcessEnv;
let configFile: string;
let redisUrl: string;

function cli(...args: string[]): Promise<CliRun> {
  return runCli(env, [...args, '--config', configFile]);
}

async function keyCount(): Promise<number> {
  const redis = new Redis(redisUrl);
  try {
    return await redis.dbsize();
  } finally {
    redis.disconnect();
  }
}

beforeAll(async () => {
  const [redis, mongo] = await Promise.all([startRedis(), startMongoWireServer()]);
  servers.push(redis as RunningServer, mongo);
  redisUrl = redis.url;
  const database = await createDatabase('climem');
  await loadSampleMemory({ redisUrl, mongoUrl: mongo.url, postgresUrl: urlFor(database) }, { items: 200, dimension: 16, otherDimensionItems: false });
  const bucket = await createTestBucket(testS3Client(), 'climem');
  configFile = writeBackupYaml(
    `backup:
  storage:
    primary: { type: "s3", bucket: "neuroca-backups", region: "us-west-2", path: "/backups" }
    secondary: { type: "s3", bucket: "neuroca-dr-backups", region: "eu-central-1", path: "/backups" }
  sources:
    redis: { key_patterns: ["memory:*"] }
    mongodb: {}
    vector: { database: "${database}" }
    memory: {}
`,
  );
  env = cliEnv(bucket, { NCA_REDIS_URL: redisUrl, NCA_MONGODB_URL: mongo.url, NCA_VECTOR_URL: testPostgresUrl(), AWS_REGION: 'us-west-2' });
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

describe('nca-backup on the memory stores', () => {
  test('redis: backup, then a merge restore by flag puts deleted keys back and keeps a key the backup never had', async () => {
    const backup = await cli('backup', 'redis');
    expect(backup.code).toBe(0);
    expect(backup.json).toMatchObject({ component: 'redis', group: 'database' });
    const keys = await keyCount();

    await damageSampleMemory({ redisUrl });
    const extra = new Redis(redisUrl);
    await extra.set('memory:working:added-after-backup', 'x');
    extra.disconnect();
    expect(await keyCount()).toBeLessThan(keys);

    const restore = await cli('restore', 'redis', '--backup-id', 'latest', '--mode', 'merge');
    expect(restore.code).toBe(0);
    expect(restore.json).toMatchObject({ options: { mode: 'merge' }, fingerprintMatch: true, details: { mode: 'merge', skippedExpired: 0 } });
    // Merge leaves keys outside the backup alone.
    expect(await keyCount()).toBe(keys + 1);
  });

  test('memory: --tiers restores the chosen tiers; an unknown tier is refused naming options.tiers, exit 1', async () => {
    const backup = await cli('backup', 'memory');
    expect(backup.code).toBe(0);
    expect(backup.json).toMatchObject({ component: 'memory', group: 'memory_tiers' });

    const bad = await cli('restore', 'memory', '--backup-id', 'latest', '--tiers', 'working,longterm');
    expect(bad.code).toBe(1);
    expect(bad.json.error).toBe('InvalidInputError');
    expect(bad.json.message).toMatch(/options\.tiers/);

    const restore = await cli('restore', 'memory', '--backup-id', 'latest', '--options', '{"tiers": ["semantic"]}', '--skip-safety-backup');
    expect(restore.code).toBe(0);
    expect(restore.json).toMatchObject({ component: 'memory', options: { tiers: ['semantic'] }, fingerprintMatch: true });
  });

  test('options a component does not take, and malformed --options, are refused before anything runs', async () => {
    const mongo = await cli('restore', 'mongodb', '--backup-id', 'latest', '--mode', 'merge');
    expect(mongo.code).toBe(1);
    expect(mongo.json.message).toMatch(/options\.mode/);
    const malformed = await cli('restore', 'redis', '--backup-id', 'latest', '--options', '{mode: merge}');
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/--options must be a JSON object/);
  });
});
