/**
 * Restore drills of the components beside the databases, backed up and drilled through the state machines
 * (backup.asl.json, restore-test.asl.json; core/drill.ts runDrill directly where a test injects damage): memory (real Redis, the MongoDB wire-protocol server, the run's PostgreSQL), config (the Parameter
 * Store, Secrets Manager and KMS substitutes, s3rver), models (s3rver), logs (the CloudWatch Logs
 * substitute), vector (PostgreSQL) and mongodb. Each drill restores its latest backup into a sandbox,
 * reads a sample back and removes the sandbox; that nothing is left is asked of each server itself. A
 * damaged backup fails its drill with the cause in the vault's record, the sandbox removed all the same;
 * a sandbox on the production server and index is refused, the same index on another server is not.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CloudWatchLogsClient, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetParametersByPathCommand } from '@aws-sdk/client-ssm';
import { ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import Redis from 'ioredis';
import { MongoClient } from 'mongodb';
import { backupPrefix } from '../../config/vault-layout';
import { newBackupId } from '../../functions/core/backup-id';
import { runBackup } from '../../functions/core/backup-run';
import type { EngineContext } from '../../functions/core/context';
import { runDrill, type DrillOptions, type DrillResult } from '../../functions/core/drill';
import { verificationOf } from '../../functions/core/drill-plan';
import type { ComponentName } from '../../config/types';
import { localWorker, workflowHarness } from '../../scripts/local-workflows';
import { expectSucceeded } from '../support/workflow-results';
import { silentLogger } from '../../functions/core/logger';
import type { RuntimeConfig } from '../../functions/core/runtime-config';
import { loadSampleMemory } from '../../scripts/sample-nca-memory';
import { startRedis, type RunningRedis } from '../../scripts/local-servers';
import { startCloudWatchLogsServer, type CloudWatchLogsServer } from '../support/cloudwatch-logs-server';
import { startConfigStores, type ConfigStores } from '../support/config-stores';
import { startMongoWireServer, type MongoWireServer } from '../support/mongo-wire-server';
import { createDatabase, sql, testPostgresUrl, urlFor } from '../support/postgres-db';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, listKeys, readObject, testS3Client, vaultOf } from '../support/s3';
import { drillDatabases } from '../support/drill-sandboxes';

jest.setTimeout(60_000);

let s3: S3Client;
let redis: RunningRedis;
let otherRedis: RunningRedis;
let mongo: MongoWireServer;
let logs: CloudWatchLogsServer;
let stores: ConfigStores;
let vault: string;
let files: string;

beforeAll(async () => {
  s3 = testS3Client();
  [redis, otherRedis, mongo, logs, vault, files] = await Promise.all([
    startRedis(),
    startRedis(),
    startMongoWireServer(),
    startCloudWatchLogsServer(),
    createTestBucket(s3, 'drills'),
    createTestBucket(s3, 'drill-files'),
  ]);
  stores = await startConfigStores({ s3, bucket: files });
});
afterAll(async () => {
  await Promise.all([redis?.stop(), otherRedis?.stop(), mongo?.stop(), logs?.stop(), stores?.stop()]);
});

const env = () => ({
  ...process.env,
  NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT,
  NCA_POSTGRES_URL: testPostgresUrl(),
  NCA_REDIS_URL: redis.url,
  NCA_MONGODB_URL: mongo.url,
  NCA_LOGS_ENDPOINT: logs.endpoint,
  ...stores.endpoints,
});

const context = (components: RuntimeConfig['components']): EngineContext => ({
  config: testRuntimeConfig({ bucket: vault, components }),
  vault: vaultOf(vault),
  env: env(),
  log: silentLogger,
  runner: 'test',
  now: () => new Date(),
});

let n = 0;
const id = () => newBackupId(new Date(), `drl${++n}${Math.random().toString(36).slice(2, 6)}`);
const verification = (extra: Partial<DrillOptions['verification']> = {}): DrillOptions['verification'] => ({ recoveryPoint: 'latest', windowDays: 30, keepHours: 0, ...extra });

/**
 * A backup of the component, then a drill of it, both through the state machines (backup.asl.json,
 * restore-test.asl.json) with the component's worker; `extra` is the deployment's backup.verification.
 */
async function backupAndDrill(ctx: EngineContext, component: string, extra: Partial<DrillOptions['verification']> = {}): Promise<{ backupId: string; drill: DrillResult }> {
  const components = Object.fromEntries(Object.entries(ctx.config.components).map(([name, c]) => [name, { ...c, worker: localWorker(name) }]));
  const config: RuntimeConfig = { ...ctx.config, components, verification: { ...verificationOf(ctx.config), ...extra } };
  const harness = workflowHarness(config, Object.fromEntries(Object.entries(ctx.env).filter((e): e is [string, string] => e[1] !== undefined)));
  const backup = await harness.run('backup', { group: config.components[component as ComponentName]!.group, components: [component] });
  expectSucceeded(backup);
  const drilled = await harness.run('restore-test', { components: [component] });
  if (drilled.status === 'SUCCEEDED') return { backupId: backup.output.backupId, drill: drilled.output.drills[0] };
  // A failed drill fails the execution; its record in the vault says why.
  const drillId = harness.calls.find((c) => c.payload?.operation === 'drill')?.payload.drillId;
  const record = drillId ? await vaultOf(vault).getJson<DrillResult>(`reports/drills/${drillId}/${component}.json`) : undefined;
  if (!record) throw new Error(`the drill of ${component} failed without a record: ${drilled.error}: ${drilled.cause}`);
  return { backupId: backup.output.backupId, drill: record };
}

/** The drill's result when it failed: what the test output should show. */
function succeeded(drill: DrillResult): void {
  expect(drill.succeeded ? true : drill).toBe(true);
}

// What each server itself says is left of drill sandboxes.
async function mongoDrillDatabases(): Promise<string[]> {
  const client = await new MongoClient(mongo.url).connect();
  try {
    return (await client.db('admin').admin().listDatabases()).databases.map((d) => d.name).filter((name) => name.startsWith('nca_drill_'));
  } finally {
    await client.close();
  }
}
async function redisKeys(server: RunningRedis, db: number): Promise<number> {
  const client = new Redis(server.url, { db });
  try {
    return await client.dbsize();
  } finally {
    client.disconnect();
  }
}

describe('restore drills of every component', () => {
  const memorySource = (namespace: string, mongoDatabase: string, pgDatabase: string) => ({
    memory: {
      group: 'memory_tiers' as const,
      source: { tiers: ['working', 'episodic', 'semantic'], workingNamespace: namespace, episodicCollection: 'ltm_memories', redis: { db: 0, keyPatterns: ['*'] }, mongodb: { database: mongoDatabase }, vector: { database: pgDatabase, table: 'semantic_memory' } },
    },
  });

  async function memorySetup(label: string) {
    const namespace = `drill-${label}`;
    const mongoDatabase = `episodic_${label}`;
    const pgDatabase = await createDatabase(`drill_mem_${label}`);
    await loadSampleMemory({ redisUrl: redis.url, mongoUrl: mongo.url, postgresUrl: urlFor(pgDatabase) }, { items: 30, dimension: 8, namespace, mongoDatabase, seed: 7 });
    return { namespace, ctx: context(memorySource(namespace, mongoDatabase, pgDatabase) as never) };
  }

  test('memory: the three tiers restored into db 15, a scratch MongoDB and a scratch PostgreSQL database, an item of each read, all removed', async () => {
    const { namespace, ctx } = await memorySetup('ok');
    const productionKeys = await redisKeys(redis, 0);
    const { backupId, drill } = await backupAndDrill(ctx, 'memory');
    succeeded(drill);
    expect(drill).toMatchObject({ component: 'memory', backupId, sandboxState: { state: 'dropped' }, sample: 'an item of each of the working, episodic, semantic tier(s)' });
    expect(drill.sandbox).toBe(`db15 namespace ${namespace} + nca_drill_${drill.drillId.replace('-', '').toLowerCase()}`);
    expect(await redisKeys(redis, 15)).toBe(0);
    expect(await redisKeys(redis, 0)).toBe(productionKeys);
    expect(await mongoDrillDatabases()).toEqual([]);
    expect(await drillDatabases(drill.drillId)).toEqual([]);
  });

  test('memory: a damaged tier artifact fails the drill with IntegrityError in the record, and every sandbox store is emptied', async () => {
    const { ctx } = await memorySetup('bad');
    const backupId = id();
    const manifest = await runBackup(ctx, { component: 'memory', backupId, trigger: 'manual' });
    const episodic = manifest.artifacts.find((a) => a.name.includes('episodic'))!;
    await s3.send(new PutObjectCommand({ Bucket: vault, Key: `backups/${backupPrefix('memory_tiers', 'memory', backupId)}${episodic.name}`, Body: 'overwritten' }));

    const drill = await runDrill(ctx, 'memory', { drillId: id(), verification: verification() });
    expect(drill).toMatchObject({ succeeded: false, backupId, cause: { error: 'IntegrityError' }, sandboxState: { state: 'dropped' } });
    expect(drill.restoreSeconds).toBeUndefined();
    const record = JSON.parse((await readObject(s3, vault, `backups/${drill.recordKey}`)).toString());
    expect(record).toMatchObject({ succeeded: false, cause: { error: 'IntegrityError', message: expect.stringContaining(episodic.name) } });
    expect(await redisKeys(redis, 15)).toBe(0);
    expect(await mongoDrillDatabases()).toEqual([]);
    expect(await drillDatabases(drill.drillId)).toEqual([]);
  });

  test('config: parameters, secrets and files restored under nca-drill-<id>, a parameter read back, every copy deleted', async () => {
    const ctx = context({
      config: { group: 'configuration', source: { parameterPaths: ['/neuroca'], secrets: ['neuroca/'], files: [{ bucket: files, prefix: 'config/' }], envelopeKeyId: stores.envelopeKeyId } },
    } as never);
    const { drill } = await backupAndDrill(ctx, 'config');
    succeeded(drill);
    const prefix = `nca-drill-${drill.drillId.toLowerCase()}`;
    expect(drill).toMatchObject({ sandbox: prefix, sandboxState: { state: 'dropped' }, sample: expect.stringMatching(new RegExp(`^parameter /${prefix}/neuroca/`)) });
    const parameters = await stores.ssm.send(new GetParametersByPathCommand({ Path: `/${prefix}`, Recursive: true }));
    expect(parameters.Parameters ?? []).toEqual([]);
    const secrets = await stores.secrets.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }] }));
    expect(secrets.SecretList ?? []).toEqual([]);
    expect(await listKeys(s3, files, `${prefix}/`)).toEqual([]);
    expect(await stores.parameter('/neuroca/db/host')).toBe('db.internal');
  });

  test('models: the files restored under s3://<bucket>/nca-drill/<id>/, the smallest hashed against the index, the prefix emptied', async () => {
    await s3.send(new PutObjectCommand({ Bucket: files, Key: 'llm/adapter.safetensors', Body: Buffer.alloc(4096, 7) }));
    await s3.send(new PutObjectCommand({ Bucket: files, Key: 'llm/config.json', Body: '{"layers": 12}' }));
    const ctx = context({ models: { group: 'model_weights', source: { paths: [{ kind: 's3', bucket: files, prefix: 'llm/' }], include: ['**'], exclude: [] } } } as never);
    const { drill } = await backupAndDrill(ctx, 'models');
    succeeded(drill);
    expect(drill).toMatchObject({ sandbox: `s3://${files}/nca-drill/${drill.drillId.toLowerCase()}/`, sandboxState: { state: 'dropped' }, sample: expect.stringMatching(/^config\.json \(14 bytes\) read back/) });
    expect(await listKeys(s3, files, 'nca-drill/')).toEqual([]);
    expect((await listKeys(s3, files, 'llm/')).sort()).toEqual(['llm/adapter.safetensors', 'llm/config.json']);
  });

  test('logs: one group restored into <restore prefix>drill-<id>/<group>, an event read back, the group deleted', async () => {
    const now = Date.now();
    logs.putEvents('/nca/drill-app', 'api', Array.from({ length: 25 }, (_, i) => ({ timestamp: now - 120_000 + i, message: `event ${i}`, ingestionTime: now - 90_000 })));
    const ctx = context({
      logs: { group: 'logs', source: { logGroups: ['/nca/drill-app'], logGroupPrefixes: [], metrics: [], settleMinutes: 0, lateArrivalHours: 336, restoreLogGroupPrefix: '/nca-backup/restored/' } },
    } as never);
    const { drill } = await backupAndDrill(ctx, 'logs');
    succeeded(drill);
    const group = `/nca-backup/restored/drill-${drill.drillId.toLowerCase()}/nca/drill-app`;
    expect(drill).toMatchObject({ sandbox: `log group ${group}`, sandboxState: { state: 'dropped' }, sample: `an event of ${group}` });
    const client = new CloudWatchLogsClient({ region: 'us-east-1', endpoint: logs.endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } });
    try {
      expect((await client.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/nca-backup/restored/drill-' }))).logGroups).toEqual([]);
    } finally {
      client.destroy();
    }
  });

  test('vector: the table restored into a scratch database, a row read, the database dropped', async () => {
    const database = await createDatabase('drill_vector');
    await sql(database, `CREATE TABLE semantic_memory (id text PRIMARY KEY, embedding real[] NOT NULL, content text);
      INSERT INTO semantic_memory SELECT 'm' || i, ARRAY[i, i + 0.5, i * 2]::real[], 'memory ' || i FROM generate_series(1, 40) AS i`);
    const ctx = context({ vector: { group: 'memory_tiers', source: { database, table: 'semantic_memory' } } } as never);
    const { drill } = await backupAndDrill(ctx, 'vector');
    succeeded(drill);
    expect(drill).toMatchObject({ sandbox: `nca_drill_${drill.drillId.replace('-', '').toLowerCase()}`, sandboxState: { state: 'dropped' }, sample: expect.stringMatching(/^a row of /) });
    expect(await drillDatabases(drill.drillId)).toEqual([]);
  });

  test('mongodb: restored into a scratch database, a document of each collection read, the database dropped', async () => {
    const client = await new MongoClient(mongo.url).connect();
    try {
      await client.db('drill_episodic').collection('memories').insertMany(Array.from({ length: 20 }, (_, i) => ({ i, text: `memory ${i}` })));
      await client.db('drill_episodic').collection('sessions').insertMany([{ user: 'a' }, { user: 'b' }]);
    } finally {
      await client.close();
    }
    const ctx = context({ mongodb: { group: 'database', source: { database: 'drill_episodic' } } } as never);
    const { drill } = await backupAndDrill(ctx, 'mongodb');
    succeeded(drill);
    expect(drill).toMatchObject({ sandboxState: { state: 'dropped' }, sample: 'a document of each of 2 collection(s)' });
    expect(await mongoDrillDatabases()).toEqual([]);
  });

  test('redis: a sandbox on the production server and index is refused; the same index on another server is the sandbox', async () => {
    const client = new Redis(redis.url, { db: 4 });
    await client.flushdb();
    for (let i = 0; i < 10; i++) await client.set(`session:${i}`, `v${i}`);
    client.disconnect();
    const ctx = context({ redis: { group: 'database', source: { db: 4, keyPatterns: ['*'] } } } as never);
    const refused = await backupAndDrill(ctx, 'redis', { sandbox: { redis: { db: 4 } } });
    expect(refused.drill).toMatchObject({ succeeded: false, cause: { error: 'InvalidInputError', message: expect.stringContaining('is the production target') }, sandboxState: { state: 'not-created' } });
    expect(await redisKeys(redis, 4)).toBe(10);

    const elsewhere = await runDrill(ctx, 'redis', { drillId: id(), verification: verification({ sandbox: { redis: { url: otherRedis.url, db: 4 } } }) });
    succeeded(elsewhere);
    expect(elsewhere).toMatchObject({ sandbox: '4', sample: 'a key of db4', sandboxState: { state: 'dropped' } });
    expect(await redisKeys(otherRedis, 4)).toBe(0);
    expect(await redisKeys(redis, 4)).toBe(10);
  });
});

describe('drill sandboxes that are not the obvious ones', () => {
  test('memory: a working-tier sandbox on the production index is refused before anything is written', async () => {
    const pgDatabase = await createDatabase('drill_mem_refused');
    await loadSampleMemory({ redisUrl: redis.url, mongoUrl: mongo.url, postgresUrl: urlFor(pgDatabase) }, { items: 5, dimension: 8, namespace: 'drill-refused', mongoDatabase: 'episodic_refused', seed: 3 });
    const ctx = context({
      memory: {
        group: 'memory_tiers',
        source: { tiers: ['working', 'episodic', 'semantic'], workingNamespace: 'drill-refused', episodicCollection: 'ltm_memories', redis: { db: 0, keyPatterns: ['*'] }, mongodb: { database: 'episodic_refused' }, vector: { database: pgDatabase, table: 'semantic_memory' } },
      },
    } as never);
    const { drill } = await backupAndDrill(ctx, 'memory', { sandbox: { redis: { db: 0 } } });
    expect(drill).toMatchObject({ succeeded: false, cause: { error: 'InvalidInputError', message: expect.stringContaining('working tier (redis) db0') }, sandboxState: { state: 'not-created' } });
    expect(await mongoDrillDatabases()).toEqual([]);
    expect(await drillDatabases(drill.drillId)).toEqual([]);
  });

  test('logs: a backup of two log groups goes to files in a scratch directory, a line read back, the directory deleted', async () => {
    const now = Date.now();
    for (const group of ['/nca/drill-a', '/nca/drill-b']) logs.putEvents(group, 'api', Array.from({ length: 5 }, (_, i) => ({ timestamp: now - 120_000 + i, message: `${group} ${i}`, ingestionTime: now - 90_000 })));
    const ctx = context({
      logs: { group: 'logs', source: { logGroups: ['/nca/drill-a', '/nca/drill-b'], logGroupPrefixes: [], metrics: [], settleMinutes: 0, lateArrivalHours: 336, restoreLogGroupPrefix: '/nca-backup/restored/' } },
    } as never);
    const { drill } = await backupAndDrill(ctx, 'logs');
    succeeded(drill);
    expect(drill.sandbox).toBe(join(tmpdir(), `nca-drill-${drill.drillId.toLowerCase()}-logs`));
    expect(drill).toMatchObject({ sandboxState: { state: 'dropped' }, sample: expect.stringMatching(/^a line of /) });
    expect(existsSync(drill.sandbox!)).toBe(false);
  });
});
