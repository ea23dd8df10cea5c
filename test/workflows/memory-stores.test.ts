/**
 * The memory stores through the real state machines: Redis (working memory), MongoDB (episodic memory,
 * on the wire-protocol test server), the vector table (semantic memory) in the database group, and the
 * memory-tier export in the memory_tiers group. Every Task runs the real handler against real Redis,
 * PostgreSQL and s3rver.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { componentEntry } from '../../functions/components';
import type { Fingerprint } from '../../functions/components/types';
import type { ComponentName } from '../../config/types';
import type { RuntimeConfig } from '../../functions/core/runtime-config';
import { localWorker, workflowHarness, type WorkflowHarness } from '../../scripts/local-workflows';
import { startRedis, type RunningServer } from '../../scripts/local-servers';
import { damageSampleMemory, loadSampleMemory, type SampleStores } from '../../scripts/sample-nca-memory';
import { startMongoWireServer } from '../support/mongo-wire-server';
import { createDatabase, sql, testPostgresUrl, urlFor } from '../support/postgres-db';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, testS3Client } from '../support/s3';
import { expectSucceeded } from '../support/workflow-results';

const DIMENSION = 48;
const servers: { stop(): Promise<void> }[] = [];
let stores: SampleStores;
let env: Record<string, string>;
let database: string;

beforeAll(async () => {
  const [redis, mongo] = await Promise.all([startRedis(), startMongoWireServer({ replicaSet: true })]);
  servers.push(redis as RunningServer, mongo);
  database = await createDatabase('semantic');
  stores = { redisUrl: redis.url, mongoUrl: mongo.url, postgresUrl: urlFor(database) };
  env = {
    NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT!,
    NCA_REDIS_URL: redis.url,
    NCA_MONGODB_URL: mongo.url,
    NCA_VECTOR_URL: testPostgresUrl(),
  };
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

async function setup(options: { force?: 'lambda' | 'fargate' } = {}): Promise<{ harness: WorkflowHarness; config: RuntimeConfig; bucket: string }> {
  const bucket = await createTestBucket(testS3Client());
  const redis = { db: 0, keyPatterns: ['*'] };
  const mongodb = { database: 'neuroca_episodic' };
  const vector = { database, table: 'semantic_memory' };
  const config = testRuntimeConfig({
    bucket,
    runner: { force: options.force, maxConcurrency: 2 },
    components: {
      redis: { group: 'database', source: redis, worker: localWorker('redis') },
      mongodb: { group: 'database', source: mongodb, worker: localWorker('mongodb') },
      vector: { group: 'database', source: vector, worker: localWorker('vector') },
      memory: {
        group: 'memory_tiers',
        source: { tiers: ['working', 'episodic', 'semantic'], workingNamespace: 'generic', episodicCollection: 'ltm_memories', redis, mongodb, vector },
        worker: localWorker('memory'),
      },
    },
  });
  return { harness: workflowHarness(config, env), config, bucket };
}

async function fingerprintOf(config: RuntimeConfig, component: ComponentName): Promise<Fingerprint> {
  const entry = componentEntry(component);
  const target = await entry.connect(config.components[component]!.source as never, { ...process.env, ...env });
  return entry.component.fingerprint(target);
}

async function fingerprints(config: RuntimeConfig): Promise<Record<string, Fingerprint>> {
  const names: ComponentName[] = ['redis', 'mongodb', 'vector', 'memory'];
  return Object.fromEntries(await Promise.all(names.map(async (n) => [n, await fingerprintOf(config, n)] as const)));
}

describe('memory stores through the state machines', () => {
  let config: RuntimeConfig;
  let harness: WorkflowHarness;
  let original: Record<string, Fingerprint>;
  let bucket: string;
  let sample: Awaited<ReturnType<typeof loadSampleMemory>>;

  beforeAll(async () => {
    ({ config, harness, bucket } = await setup());
    sample = await loadSampleMemory(stores, { items: 400, dimension: DIMENSION, otherDimensionItems: false });
    original = await fingerprints(config);
  });

  test('the database group backs up Redis, MongoDB and the vector table; each restore brings back its fingerprint', async () => {
    const backup = await harness.run('backup', { group: 'database', trigger: 'scheduled' });
    expectSucceeded(backup);
    expect(backup.output.components.map((c: { component: string }) => c.component).sort()).toEqual(['mongodb', 'redis', 'vector']);
    const succeeded = harness.events.filter((e) => e.DetailType === 'Backup Succeeded').map((e) => JSON.parse(e.Detail).component);
    expect(succeeded.sort()).toEqual(['mongodb', 'redis', 'vector']);

    const damage = await damageSampleMemory(stores);
    expect(damage.working.deleted + damage.episodic.deleted + damage.semantic.deleted).toBeGreaterThan(0);
    const damaged = await fingerprints(config);
    for (const name of ['redis', 'mongodb', 'vector']) expect(damaged[name]).not.toEqual(original[name]);

    for (const component of ['redis', 'mongodb', 'vector'] as const) {
      const restore = await harness.run('restore', { component, backupId: 'latest' });
      expectSucceeded(restore);
      expect(restore.output).toMatchObject({ component, backupId: backup.output.backupId, fingerprintMatch: true });
      expect(restore.output.safetyBackup).toMatchObject({ skipped: false, backupId: expect.stringMatching(/-safety$/) });
      expect(await fingerprintOf(config, component)).toEqual(original[component]);
      // The NCA keeps whole items ({content, metadata}) in the metadata column: the model is found inside.
      if (component === 'vector') expect(restore.output.details).toMatchObject({ dimension: DIMENSION, embeddingModels: ['all-mpnet-base-v2'] });
    }
    // The memory export reads the same stores: all three tiers are whole again.
    expect(await fingerprintOf(config, 'memory')).toEqual(original.memory);
  });

  test('the memory tiers export with a cross-tier report; a restore of two tiers leaves the third as it is', async () => {
    const backup = await harness.run('backup', { group: 'memory_tiers' });
    expectSucceeded(backup);
    expect(backup.output.components).toEqual([expect.objectContaining({ component: 'memory' })]);
    const stored = await testS3Client().send(new GetObjectCommand({ Bucket: bucket, Key: `backups/memory/memory/${backup.output.backupId}/manifest.json` }));
    const manifest = JSON.parse(await stored.Body!.transformToString());
    expect(manifest.artifacts.map((a: { name: string }) => a.name).sort()).toEqual(['episodic.jsonl.gz', 'semantic.jsonl.gz', 'working.jsonl.gz']);
    expect(manifest.report.tiers.episodic.items).toBe(sample.episodic.length);
    expect(manifest.report.tiers.semantic.items).toBe(sample.semantic.length);
    expect(manifest.report.crossTier.semanticWithoutEpisodic.count).toBe(sample.semanticOnly.length);
    expect(manifest.report.crossTier.episodicWithoutSemantic.count).toBe(sample.episodicOnly.length);
    expect(sample.semanticOnly.length).toBeGreaterThan(0);

    await damageSampleMemory(stores);
    const damaged = await fingerprintOf(config, 'memory');
    expect(damaged.semantic).not.toEqual(original.memory.semantic);

    const restore = await harness.run('restore', { component: 'memory', backupId: 'latest', options: { tiers: ['working', 'episodic'] } });
    expectSucceeded(restore);
    expect(restore.output).toMatchObject({ component: 'memory', fingerprintMatch: true, options: { tiers: ['working', 'episodic'] } });
    const after = await fingerprintOf(config, 'memory');
    expect(after.working).toEqual(original.memory.working);
    expect(after.episodic).toEqual(original.memory.episodic);
    expect(after.semantic).toEqual(damaged.semantic);

    // Put the semantic tier back too, for the tests that follow.
    expectSucceeded(await harness.run('restore', { component: 'memory', backupId: 'latest', options: { tiers: ['semantic'] }, skipSafetyBackup: true }));
    expect(await fingerprintOf(config, 'memory')).toEqual(original.memory);
  });

  test('an unknown tier fails at Resolve, before any worker step', async () => {
    const calls = harness.calls.length;
    const restore = await harness.run('restore', { component: 'memory', backupId: 'latest', options: { tiers: ['working', 'longterm'] } });
    expect(restore.status).toBe('FAILED');
    expect(restore.error).toBe('InvalidInputError');
    expect(restore.cause).toMatch(/options\.tiers/);
    expect(restore.cause).toMatch(/longterm/);
    expect(harness.calls.slice(calls).map((c) => c.payload?.operation).filter(Boolean)).toEqual([]);
  });

  test('a vector restore over a table of another dimension stops at CheckCompatibility, before the safety backup', async () => {
    await sql(database, `CREATE TABLE semantic_other (id text PRIMARY KEY, embedding real[], metadata jsonb)`);
    await sql(database, `INSERT INTO semantic_other VALUES ('x', array_fill(0.25::real, ARRAY[8]), '{}')`);
    const calls = harness.calls.length;
    const refused = await harness.run('restore', { component: 'vector', backupId: 'latest', options: { targetTable: 'semantic_other' } });
    expect(refused.status).toBe('FAILED');
    expect(refused.error).toBe('VersionMismatchError');
    expect(refused.cause).toMatch(/dimension 48; the existing table public.semantic_other .* dimension 8/);
    expect(harness.calls.slice(calls).map((c) => c.payload?.operation)).not.toContain('safety-backup');
    expect(await sql(database, 'SELECT count(*)::int AS n FROM semantic_other')).toEqual([{ n: 1 }]);

    const allowed = await harness.run('restore', { component: 'vector', backupId: 'latest', options: { targetTable: 'semantic_other', allowDimensionChange: true } });
    expectSucceeded(allowed);
    expect(allowed.output).toMatchObject({ fingerprintMatch: true, details: { table: 'public.semantic_other', dimension: DIMENSION } });
  });

  test('a corrupted MongoDB artifact fails at VerifyArtifacts and leaves the episodic store untouched', async () => {
    const { harness: own, bucket } = await setup();
    const backup = await own.run('backup', { group: 'database', components: ['mongodb'] });
    expectSucceeded(backup);
    const client = testS3Client();
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `backups/database/mongodb/${backup.output.backupId}/` }));
    const archive = listed.Contents!.map((o) => o.Key!).find((k) => k.endsWith('.tar'))!;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: archive, Body: Buffer.alloc(1024) }));
    await damageSampleMemory({ mongoUrl: stores.mongoUrl });
    const before = await fingerprintOf(config, 'mongodb');

    const restore = await own.run('restore', { component: 'mongodb', backupId: backup.output.backupId });
    expect(restore.status).toBe('FAILED');
    expect(restore.error).toBe('IntegrityError');
    expect(own.calls.map((c) => c.payload?.operation)).not.toContain('restore');
    expect(await fingerprintOf(config, 'mongodb')).toEqual(before);

    // The first test's intact backup puts it right.
    expectSucceeded(await harness.run('restore', { component: 'mongodb', backupId: 'latest', skipSafetyBackup: true }));
    expect(await fingerprintOf(config, 'mongodb')).toEqual(original.mongodb);
  });
});

describe('memory stores on Fargate', () => {
  test('Redis backs up and merges back through the Fargate task (the CLI in a child process)', async () => {
    const { harness, config } = await setup({ force: 'fargate' });
    await loadSampleMemory({ redisUrl: stores.redisUrl }, { items: 100, dimension: DIMENSION, namespace: 'fargate', seed: 7 });
    const before = await fingerprintOf(config, 'redis');
    const backup = await harness.run('backup', { group: 'database', components: ['redis'] });
    expectSucceeded(backup);
    expect(backup.output.components).toEqual([expect.objectContaining({ component: 'redis', runner: 'fargate' })]);

    await damageSampleMemory({ redisUrl: stores.redisUrl }, { namespace: 'fargate' });
    const restore = await harness.run('restore', { component: 'redis', backupId: 'latest', options: { mode: 'merge' } });
    expectSucceeded(restore);
    expect(restore.output).toMatchObject({ runner: 'fargate', fingerprintMatch: true, options: { mode: 'merge' } });
    // Merge writes back what the backup holds; keys deleted since are back, so the keyspace is as before.
    expect(await fingerprintOf(config, 'redis')).toEqual(before);
  });

  test('MongoDB, the vector table and the memory export run on Fargate too, and restore there', async () => {
    const { harness, config } = await setup({ force: 'fargate' });
    const before = { mongodb: await fingerprintOf(config, 'mongodb'), vector: await fingerprintOf(config, 'vector'), memory: await fingerprintOf(config, 'memory') };
    const database = await harness.run('backup', { group: 'database', components: ['mongodb', 'vector'] });
    expectSucceeded(database);
    expect(database.output.components.map((c: { runner: string }) => c.runner)).toEqual(['fargate', 'fargate']);
    const tiers = await harness.run('backup', { group: 'memory_tiers' });
    expectSucceeded(tiers);
    expect(tiers.output.components).toEqual([expect.objectContaining({ component: 'memory', runner: 'fargate' })]);

    await damageSampleMemory({ mongoUrl: stores.mongoUrl, postgresUrl: stores.postgresUrl });
    for (const component of ['mongodb', 'vector'] as const) {
      const restore = await harness.run('restore', { component, backupId: 'latest' });
      expectSucceeded(restore);
      expect(restore.output).toMatchObject({ runner: 'fargate', fingerprintMatch: true });
      expect(await fingerprintOf(config, component)).toEqual(before[component]);
    }
    await damageSampleMemory({ mongoUrl: stores.mongoUrl, postgresUrl: stores.postgresUrl });
    expect(await fingerprintOf(config, 'memory')).not.toEqual(before.memory);
    const memory = await harness.run('restore', { component: 'memory', backupId: 'latest', options: { tiers: ['episodic', 'semantic'] } });
    expectSucceeded(memory);
    expect(memory.output).toMatchObject({ runner: 'fargate', fingerprintMatch: true });
    expect(await fingerprintOf(config, 'memory')).toEqual(before.memory);
  });
});
