/**
 * The memory-tier export against a real Redis (started here; each test in its own namespace), the run's
 * PostgreSQL (a database per test) and the MongoDB wire-protocol test server (standalone, and a
 * replica-set one for snapshot reads):
 * export, damage, restore and fingerprints; one tier at a time; the consistency report; bad inputs and
 * damaged artifacts that must leave every tier as it was; empty stores.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import Redis from 'ioredis';
import { MongoClient } from 'mongodb';
import type { MemoryRuntimeSource, MemoryTier } from '../../infra/config/types';
import { connectMemory, memory, memoryEntry, parseMemoryRestoreOptions, type MemoryTarget } from '../../functions/components/memory';
import { IntegrityError, InvalidInputError, VersionMismatchError } from '../../functions/core/errors';
import type { ComponentBackupResult, Logger } from '../../functions/components/types';
import { damageSampleMemory, loadSampleMemory, type SampleMemorySummary } from '../../scripts/sample-nca-memory';
import { startRedis, type RunningRedis } from '../../scripts/local-servers';
import { fsArtifacts, readArtifact, type FsArtifacts } from '../support/fs-artifacts';
import { startMongoWireServer, type MongoWireServer } from '../support/mongo-wire-server';
import { createDatabase, sql, testPostgresUrl, urlFor } from '../support/postgres-db';

const quiet: Logger = { info: () => undefined, warn: () => undefined };
const DIMENSION = 16;

let redis: RunningRedis;
let mongo: MongoWireServer;
let replicaSet: MongoWireServer;
const cleanups: FsArtifacts[] = [];

beforeAll(async () => {
  [redis, mongo, replicaSet] = await Promise.all([startRedis(), startMongoWireServer(), startMongoWireServer({ replicaSet: true })]);
});
afterAll(async () => {
  cleanups.forEach((a) => a.cleanup());
  await Promise.all([redis?.stop(), mongo?.stop(), replicaSet?.stop()]);
});

/** One test's stores: its own Redis namespace, MongoDB database and PostgreSQL database. */
interface Stores {
  readonly namespace: string;
  readonly mongoDatabase: string;
  readonly pgDatabase: string;
  readonly mongoServer: MongoWireServer;
  readonly source: MemoryRuntimeSource;
  readonly env: NodeJS.ProcessEnv;
  readonly target: MemoryTarget;
  readonly urls: { redisUrl: string; mongoUrl: string; postgresUrl: string };
}

async function stores(label: string, options: { tiers?: MemoryTier[]; mongoServer?: MongoWireServer } = {}): Promise<Stores> {
  const suffix = randomBytes(3).toString('hex');
  const namespace = `${label}-${suffix}`;
  const mongoDatabase = `episodic_${label}_${suffix}`;
  const pgDatabase = await createDatabase(`mem_${label}`);
  const mongoServer = options.mongoServer ?? mongo;
  const source: MemoryRuntimeSource = {
    tiers: options.tiers ?? ['working', 'episodic', 'semantic'],
    workingNamespace: namespace,
    episodicCollection: 'memories',
    redis: { db: 0, keyPatterns: ['*'] },
    mongodb: { database: mongoDatabase },
    vector: { database: pgDatabase, table: 'semantic_memory' },
  };
  const env = { NCA_REDIS_URL: redis.url, NCA_MONGODB_URL: mongoServer.url, NCA_VECTOR_URL: testPostgresUrl() };
  return {
    namespace,
    mongoDatabase,
    pgDatabase,
    mongoServer,
    source,
    env,
    target: await connectMemory(source, env),
    urls: { redisUrl: redis.url, mongoUrl: mongoServer.url, postgresUrl: urlFor(pgDatabase) },
  };
}

async function sample(s: Stores, items = 200): Promise<SampleMemorySummary> {
  return loadSampleMemory(s.urls, { items, dimension: DIMENSION, namespace: s.namespace, mongoDatabase: s.mongoDatabase, seed: items });
}

async function damage(s: Stores) {
  return damageSampleMemory(s.urls, { namespace: s.namespace, mongoDatabase: s.mongoDatabase });
}

async function backupOf(target: MemoryTarget): Promise<{ artifacts: FsArtifacts; result: ComponentBackupResult }> {
  const artifacts = fsArtifacts();
  cleanups.push(artifacts);
  const result = await memory.backup(target, artifacts.sink, quiet);
  return { artifacts, result };
}

async function withRedisClient<T>(use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(redis.url);
  try {
    return await use(client);
  } finally {
    client.disconnect();
  }
}

async function withMongoClient<T>(s: Stores, use: (client: MongoClient) => Promise<T>): Promise<T> {
  const client = new MongoClient(s.mongoServer.url);
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

/** Every byte-level fact a failed restore must not change, on top of the fingerprint. */
async function storeState(s: Stores) {
  const keys = await withRedisClient(async (client) => (await client.keys(`memory:${s.namespace}:*`)).sort());
  const collections = await withMongoClient(s, async (client) => (await client.db(s.mongoDatabase).listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort());
  return { fingerprint: await memory.fingerprint(s.target), keys, collections };
}

describe('memory tiers: export, damage, restore', () => {
  let s: Stores;
  let summary: SampleMemorySummary;
  let backup: { artifacts: FsArtifacts; result: ComponentBackupResult };

  beforeAll(async () => {
    s = await stores('main');
    summary = await sample(s);
    backup = await backupOf(s.target);
  });

  test('one artifact per tier, fingerprints of what was written, and the facts of the three servers', () => {
    const { result } = backup;
    expect(result.artifacts.map((a) => [a.name, a.contentType])).toEqual([
      ['working.jsonl.gz', 'application/gzip'],
      ['episodic.jsonl.gz', 'application/gzip'],
      ['semantic.jsonl.gz', 'application/gzip'],
    ]);
    expect(result.fingerprint.working.count).toBe(summary.working.length);
    expect(result.fingerprint.episodic.count).toBe(summary.episodic.length);
    expect(result.fingerprint.semantic.count).toBe(summary.semantic.length);
    expect(result.source).toMatchObject({
      serverVersion: expect.stringMatching(/^redis 7\.\S+ \/ mongodb 7\.0\.14 \/ postgresql 15\.\S+$/),
      serverMajor: 1,
      database: 'memory-tiers',
      tiers: ['working', 'episodic', 'semantic'],
      embeddingDimension: DIMENSION,
      semantic: { database: s.pgDatabase, table: 'public.semantic_memory', dimension: DIMENSION, embeddingType: 'real[]' },
      working: { namespace: s.namespace, db: 0 },
      episodic: { database: s.mongoDatabase, collection: 'memories' },
    });
    // Three servers share no snapshot; the standalone MongoDB offers none either.
    expect(result.consistency.pointInTime).toBe(false);
    expect(result.consistency.method).toMatch(/share no snapshot/);
  });

  test('the consistency report counts orphans across tiers and embeddings of another dimension', () => {
    const report = backup.result.report as any;
    expect(report.crossTier.semanticWithoutEpisodic).toEqual({ count: summary.semanticOnly.length, examples: [...summary.semanticOnly].sort() });
    expect(report.crossTier.episodicWithoutSemantic).toEqual({ count: summary.episodicOnly.length, examples: [...summary.episodicOnly].sort() });
    expect(summary.semanticOnly.length).toBe(2);
    expect(report.tiers.episodic).toMatchObject({
      items: summary.episodic.length,
      dimension: DIMENSION,
      dimensionSource: 'most common',
      dimensionMismatches: { count: 1, examples: [{ id: summary.otherDimension.episodic[0], dimension: DIMENSION / 2 }] },
      modelViolations: { count: 0, examples: [] },
      read: { snapshot: false },
    });
    expect(report.tiers.semantic.dimensionMismatches).toEqual({ count: 1, examples: [{ id: summary.otherDimension.semantic[0], dimension: DIMENSION / 2 }] });
    expect(report.tiers.semantic.read).toEqual({ snapshot: true, method: expect.stringMatching(/REPEATABLE READ/) });
    expect(report.tiers.working).toMatchObject({ items: summary.working.length, withEmbedding: summary.working.length / 2, vanishedDuringExport: 0, read: { snapshot: false } });
  });

  test('each artifact is gzip JSONL: header, one valid item per line, trailer', () => {
    for (const tier of ['working', 'episodic', 'semantic'] as const) {
      const lines = gunzipSync(readArtifact(backup.artifacts, `${tier}.jsonl.gz`)).toString('utf8').split('\n');
      expect(lines.pop()).toBe('');
      const header = JSON.parse(lines[0]);
      expect(header).toEqual({ format: 'nca-memory-export', version: 1, tier, exportedAt: backup.result.report!.exportedAt, source: expect.any(Object) });
      expect(JSON.parse(lines[lines.length - 1])).toEqual({ format: 'nca-memory-export', end: true, tier, items: backup.result.fingerprint[tier].count });
      const items = lines.slice(1, -1).map((line) => JSON.parse(line));
      expect(items).toHaveLength(backup.result.fingerprint[tier].count);
      for (const item of items) {
        expect(Object.keys(item).every((k) => ['id', 'content', 'metadata', 'embedding', 'native'].includes(k))).toBe(true);
        expect(item.id).toMatch(/^[0-9a-f-]{36}$/);
      }
    }
    const episodic = gunzipSync(readArtifact(backup.artifacts, 'episodic.jsonl.gz')).toString('utf8').split('\n')[1];
    const item = JSON.parse(episodic);
    // BSON dates of the model's timestamps become ISO strings; the document's own fields keep Extended JSON.
    expect(item.metadata.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(new Date(item.native.fields.created_at.$date)).toEqual(new Date(item.metadata.created_at));
    expect(item.native.fields._id).toEqual({ $oid: expect.any(String) });
  });

  test('a damaged memory is restored in all three tiers: fingerprints equal, indexes and stats rebuilt, TTLs kept', async () => {
    const ttlId = summary.workingWithTtl[0];
    const ttlBefore = await withRedisClient((c) => c.pttl(`memory:${s.namespace}:${ttlId}`));
    const harm = await damage(s);
    expect(harm.working.deleted + harm.episodic.deleted + harm.semantic.deleted).toBeGreaterThan(0);
    const damaged = await memory.fingerprint(s.target);
    for (const tier of ['working', 'episodic', 'semantic']) expect(damaged[tier]).not.toEqual(backup.result.fingerprint[tier]);
    expect(await memory.targetExists(s.target)).toBe(true);

    await expect(memory.checkCompatibility(backup.result.source, s.target)).resolves.toEqual({ targetVersion: 'nca-memory-export 1' });
    const restored = await memory.restore(backup.artifacts.source(), s.target, {}, quiet);
    expect(restored).toMatchObject({
      replacedExisting: true,
      details: {
        tiers: {
          working: { items: summary.working.length, expiredSkipped: 0 },
          episodic: { items: summary.episodic.length },
          semantic: { items: summary.semantic.length },
        },
      },
    });
    expect(await memory.fingerprint(s.target)).toEqual(backup.result.fingerprint);
    const verification = await memory.verifyRestore!(backup.result.fingerprint, backup.artifacts.source(), s.target, {}, quiet);
    expect(verification).toEqual({ differences: [], objects: 3, details: {} });

    await withRedisClient(async (client) => {
      const prefix = `memory:${s.namespace}:`;
      const stats = await client.hgetall(`${prefix}stats`);
      expect(Number(stats.total_memories)).toBe(summary.working.length);
      const active = await client.smembers(`${prefix}index:status:active`);
      expect(Number(stats.active_memories)).toBe(active.length);
      expect(active.length).toBeGreaterThan(0);
      const metadata = JSON.parse((await client.get(`${prefix}metadata:${active[0]}`))!);
      expect(metadata.status).toBe('active');
      for (const tag of metadata.tags) expect(await client.sismember(`${prefix}index:tag:${tag}`, active[0])).toBe(1);
      const ttlAfter = await client.pttl(`${prefix}${ttlId}`);
      expect(ttlAfter).toBeGreaterThan(0);
      expect(ttlAfter).toBeLessThanOrEqual(ttlBefore);
      expect(await client.pttl(`${prefix}metadata:${ttlId}`)).toBeGreaterThan(0);
    });
    await withMongoClient(s, async (client) => {
      const coll = client.db(s.mongoDatabase).collection('memories');
      const names = (await coll.listIndexes().toArray()).map((i) => i.name).sort();
      expect(names).toEqual(['_id_', 'content_text', 'created_at_1', 'importance_1', 'last_accessed_1', 'memory_id_1', 'tags_1']);
      const doc = await coll.findOne({ memory_id: summary.episodic[0] });
      // Dates come back as BSON dates, where the NCA (pymongo) put them.
      expect(doc!.created_at).toBeInstanceOf(Date);
      expect(doc!.metadata.created_at).toBeInstanceOf(Date);
      const staging = (await client.db(s.mongoDatabase).listCollections().toArray()).filter((c) => c.name.includes('nca-restore'));
      expect(staging).toEqual([]);
    });
  });
});

describe('memory tiers: restoring some tiers', () => {
  test('restoring one tier leaves the other two exactly as they are', async () => {
    const s = await stores('one');
    await sample(s, 120);
    const { artifacts, result } = await backupOf(s.target);
    await damage(s);
    const damaged = await memory.fingerprint(s.target);

    const options = parseMemoryRestoreOptions({ tiers: ['semantic'] });
    expect(options).toEqual({ tiers: ['semantic'] });
    await expect(memory.checkCompatibility(result.source, s.target, options)).resolves.toBeDefined();
    const restored = await memory.restore(artifacts.source(), s.target, options, quiet);
    expect(Object.keys((restored.details as any).tiers)).toEqual(['semantic']);
    const after = await memory.fingerprint(s.target);
    expect(after.semantic).toEqual(result.fingerprint.semantic);
    expect(after.working).toEqual(damaged.working);
    expect(after.episodic).toEqual(damaged.episodic);
    expect((await memory.verifyRestore!(result.fingerprint, artifacts.source(), s.target, options, quiet)).differences).toEqual([]);

    await memory.restore(artifacts.source(), s.target, { tiers: ['working', 'episodic'] }, quiet);
    expect(await memory.fingerprint(s.target)).toEqual(result.fingerprint);
  });

  test('an unknown tier, an unknown option or a tier the backup lacks is refused before anything is written', async () => {
    const s = await stores('refuse');
    await sample(s, 60);
    const partial = await connectMemory({ ...s.source, tiers: ['working', 'semantic'] }, s.env);
    const { artifacts } = await backupOf(partial);
    await damage(s);
    const before = await storeState(s);

    expect(() => parseMemoryRestoreOptions({ tiers: ['working', 'procedural'] })).toThrow(
      new InvalidInputError('options.tiers: "procedural" is not a memory tier.', { component: 'memory', hint: 'Allowed: working, episodic, semantic (any combination).' }),
    );
    expect(() => parseMemoryRestoreOptions({ tier: 'working' })).toThrow(/options\.tier is not an option of the memory component/);
    expect(() => parseMemoryRestoreOptions({ tiers: [] })).toThrow(/options\.tiers must be a non-empty list/);
    expect(parseMemoryRestoreOptions({ tiers: 'semantic,working' })).toEqual({ tiers: ['working', 'semantic'] });

    await expect(memory.restore(artifacts.source(), s.target, { tiers: ['procedural'] as any }, quiet)).rejects.toThrow(/options\.tiers: "procedural" is not a memory tier/);
    const missing = memory.restore(artifacts.source(), s.target, { tiers: ['working', 'episodic'] }, quiet);
    await expect(missing).rejects.toThrow(InvalidInputError);
    await expect(missing).rejects.toThrow(/options\.tiers: the backup holds no episodic tier \(it has working, semantic\)/);
    expect(await storeState(s)).toEqual(before);

    // Without options.tiers a restore takes the backup's tiers, and leaves episodic alone.
    const restored = await memory.restore(artifacts.source(), s.target, {}, quiet);
    expect(Object.keys((restored.details as any).tiers)).toEqual(['working', 'semantic']);
    expect((await memory.fingerprint(s.target)).episodic).toEqual(before.fingerprint.episodic);
  });
});

describe('memory tiers: damaged artifacts leave every tier as it was', () => {
  let s: Stores;
  let backup: { artifacts: FsArtifacts; result: ComponentBackupResult };
  beforeAll(async () => {
    s = await stores('corrupt');
    await sample(s, 150);
    backup = await backupOf(s.target);
    await damage(s);
  });

  test.each(['working', 'episodic', 'semantic'] as const)('a flipped byte in %s.jsonl.gz: IntegrityError, no tier changed, no staging left', async (tier) => {
    const before = await storeState(s);
    const copy = fsArtifacts();
    cleanups.push(copy);
    for (const record of backup.artifacts.records) {
      const bytes = readArtifact(backup.artifacts, record.name);
      await copy.sink.write(record.name, Readable.from([bytes]), { contentType: record.contentType });
    }
    const name = `${tier}.jsonl.gz`;
    const bytes = readArtifact(copy, name);
    // Near the end: every item but the last few decodes, so the damage shows only at the digest check.
    bytes[bytes.length - 12] ^= 0xff;
    copy.corrupt(name, bytes);
    await expect(memory.restore(copy.source(), s.target, {}, quiet)).rejects.toThrow(IntegrityError);
    expect(await storeState(s)).toEqual(before);

    // In the middle: gzip fails first; the error is still the artifact's IntegrityError.
    const middle = readArtifact(backup.artifacts, name);
    middle[Math.floor(middle.length / 2)] ^= 0xff;
    copy.corrupt(name, middle);
    await expect(memory.restore(copy.source(), s.target, { tiers: [tier] }, quiet)).rejects.toThrow(IntegrityError);
    expect(await storeState(s)).toEqual(before);
  });

  test('an intact artifact that is not a memory export is refused by name, and nothing changes', async () => {
    const before = await storeState(s);
    const bad = fsArtifacts();
    cleanups.push(bad);
    await bad.sink.write('semantic.jsonl.gz', Readable.from([gzipSync('{"format":"nca-memory-export","version":1,"tier":"semantic","exportedAt":"x","source":{}}\n{"id":"a","embedding":[1,"x"]}\n')]));
    await expect(memory.restore(bad.source(), s.target, {}, quiet)).rejects.toThrow(
      /artifact semantic\.jsonl\.gz is not a valid nca-memory-export: it line 2: semantic item a has an embedding whose element 1 is not a finite number/,
    );
    expect(await storeState(s)).toEqual(before);
  });
});

describe('memory tiers: consistency, snapshots and source data problems', () => {
  test('on a replica set the episodic tier is read at a snapshot; one such tier alone is point-in-time', async () => {
    const s = await stores('snap', { mongoServer: replicaSet, tiers: ['episodic'] });
    const summary = await loadSampleMemory({ mongoUrl: replicaSet.url }, { items: 40, dimension: DIMENSION, mongoDatabase: s.mongoDatabase });
    const { result } = await backupOf(s.target);
    expect(result.consistency).toEqual({ pointInTime: true, method: expect.stringMatching(/^episodic: MongoDB snapshot session/) });
    expect((result.report as any).crossTier).toEqual({ skipped: expect.any(String) });
    expect(result.fingerprint).toEqual({ episodic: { count: summary.episodic.length, digest: expect.any(String) } });
    expect(await memory.fingerprint(s.target)).toEqual(result.fingerprint);
  });

  test('items breaking the NCA model are exported and reported; items that cannot be exported fail the backup by tier and id', async () => {
    const s = await stores('rules');
    const summary = await sample(s, 30);
    await sql(s.pgDatabase, `UPDATE semantic_memory SET metadata = jsonb_set(metadata, '{metadata,status}', '"pondering"') WHERE id = $1`, [summary.semantic[0]]);
    const { result } = await backupOf(s.target);
    expect((result.report as any).tiers.semantic.modelViolations).toEqual({
      count: 1,
      examples: [{ id: summary.semantic[0], problems: ['metadata.status "pondering" is not one of active|archived|consolidated|forgotten|decaying'] }],
    });

    const broken = summary.working[1];
    await withRedisClient((c) => c.hset(`memory:${s.namespace}:${broken}`, 'content', '{not json'));
    const artifacts = fsArtifacts();
    cleanups.push(artifacts);
    const failure = memory.backup(s.target, artifacts.sink, quiet);
    await expect(failure).rejects.toThrow(InvalidInputError);
    await expect(failure).rejects.toThrow(`working item ${broken}: hash field content is not JSON`);
    expect(artifacts.records.map((r) => r.name)).not.toContain('working.jsonl.gz');

    // A collection without the NCA's unique index can hold one memory_id twice: such a tier cannot be restored.
    const dup = await stores('dup', { tiers: ['episodic'] });
    const id = summary.episodic[3];
    await withMongoClient(dup, (client) => client.db(dup.mongoDatabase).collection('memories').insertMany([{ memory_id: id, content: { text: 'a' } }, { memory_id: id, content: { text: 'b' } }]));
    const duplicate = fsArtifacts();
    cleanups.push(duplicate);
    await expect(memory.backup(dup.target, duplicate.sink, quiet)).rejects.toThrow(`the episodic tier holds two items with id ${id}`);
    expect(duplicate.records).toEqual([]);
  });

  test('compatibility: a newer format and a semantic table of another dimension are refused, naming both', async () => {
    const s = await stores('dims');
    await sample(s, 30);
    const { result } = await backupOf(s.target);
    await expect(memory.checkCompatibility({ ...result.source, formatVersion: 2, serverMajor: 2 }, s.target)).rejects.toThrow(
      new VersionMismatchError('the backup is nca-memory-export version 2; this nca-backup reads version 1 and older.', {
        component: 'memory',
        hint: 'Restore with the nca-backup release that wrote the backup, or a newer one.',
      }).message,
    );
    const other = await stores('dims2');
    await loadSampleMemory({ postgresUrl: other.urls.postgresUrl }, { items: 30, dimension: DIMENSION * 2 });
    const wrong = memory.checkCompatibility(result.source, other.target);
    await expect(wrong).rejects.toThrow(VersionMismatchError);
    await expect(wrong).rejects.toThrow(`the backup's semantic embeddings have ${DIMENSION} dimensions; the target table ${other.pgDatabase}.public.semantic_memory holds ${DIMENSION * 2}-dimensional embeddings.`);
    // Not restoring the semantic tier, the table's dimension does not matter.
    await expect(memory.checkCompatibility(result.source, other.target, { tiers: ['working'] })).resolves.toBeDefined();
    // A tier the backup lacks is refused here too, before the workflow's safety backup.
    await expect(memory.checkCompatibility({ ...result.source, tiers: ['working', 'episodic'] }, s.target, { tiers: ['semantic'] })).rejects.toThrow(
      /options\.tiers: the backup holds no semantic tier \(it has working, episodic\)/,
    );
    // The restore itself refuses too (it learns the artifact's dimension while staging) and changes nothing.
    const before = await storeState(other);
    await expect(memory.restore((await backupOf(s.target)).artifacts.source(), other.target, {}, quiet)).rejects.toThrow(VersionMismatchError);
    expect(await storeState(other)).toEqual(before);
  });

  test('a working item that expired since the backup is skipped and counted; verification leaves it out', async () => {
    const s = await stores('ttl', { tiers: ['working'] });
    await sample(s, 20);
    const prefix = `memory:${s.namespace}:`;
    const ids = await withRedisClient(async (c) => (await c.keys(`${prefix}*`)).filter((k) => !k.slice(prefix.length).includes(':') && !k.endsWith(':stats')));
    await withRedisClient((c) => c.pexpire(ids[0], 3000));
    const { artifacts, result } = await backupOf(s.target);
    expect(result.fingerprint.working.count).toBe(ids.length);
    // Wait for Redis to expire it (polling, not a fixed sleep).
    while (await withRedisClient((c) => c.exists(ids[0]))) await new Promise((r) => setTimeout(r, 100));
    const restored = await memory.restore(artifacts.source(), s.target, {}, quiet);
    expect((restored.details as any).tiers.working).toMatchObject({ items: ids.length - 1, expiredSkipped: 1 });
    expect((await memory.fingerprint(s.target)).working.count).toBe(ids.length - 1);
    const verification = await memory.verifyRestore!(result.fingerprint, artifacts.source(), s.target, {}, quiet);
    expect(verification).toEqual({ differences: [], objects: 1, details: { working: { expiredSinceBackup: 1 } } });
  });
});

describe('memory tiers: empty stores and connections', () => {
  test('empty stores export zero items per tier; restoring that backup empties populated tiers', async () => {
    const empty = await stores('empty');
    const { artifacts, result } = await backupOf(empty.target);
    expect(Object.fromEntries(Object.entries(result.fingerprint).map(([tier, e]) => [tier, e.count]))).toEqual({ working: 0, episodic: 0, semantic: 0 });
    expect((result.report as any).tiers.semantic.tableExists).toBe(false);
    expect((result.report as any).crossTier).toEqual({ semanticWithoutEpisodic: { count: 0, examples: [] }, episodicWithoutSemantic: { count: 0, examples: [] } });
    expect(gunzipSync(readArtifact(artifacts, 'working.jsonl.gz')).toString().trim().split('\n')).toHaveLength(2);
    expect(await memory.targetExists(empty.target)).toBe(false);

    const full = await stores('full');
    await sample(full, 40);
    expect(await memory.targetExists(full.target)).toBe(true);
    const restored = await memory.restore(artifacts.source(), full.target, {}, quiet);
    expect(restored.replacedExisting).toBe(true);
    expect(await memory.targetExists(full.target)).toBe(false);
    expect(await memory.fingerprint(full.target)).toEqual(result.fingerprint);
  });

  test('a tier without its store, an unreachable store, or another targetDatabase is a clear error without secrets', async () => {
    const s = await stores('conn');
    const { mongodb: _m, ...withoutMongo } = s.source;
    await expect(connectMemory(withoutMongo, s.env)).rejects.toThrow(
      new InvalidInputError('the episodic tier is configured but sources.mongodb is not.', {
        component: 'memory',
        hint: 'Add sources.mongodb to backup.yaml, or remove episodic from sources.memory.tiers.',
      }).message,
    );
    await expect(connectMemory({ ...s.source, tiers: ['working'] }, {})).rejects.toThrow(/NCA_REDIS_URL/);
    const unreachable = await connectMemory({ ...s.source, tiers: ['working'] }, { NCA_REDIS_URL: 'redis://:pw-never-shown@127.0.0.1:1' });
    const failure = memory.targetExists(unreachable);
    await expect(failure).rejects.toMatchObject({ name: 'TransientError', message: expect.stringContaining('127.0.0.1:1') });
    await expect(failure).rejects.not.toThrow(/pw-never-shown/);
    // A database index the server lacks is refused, never silently replaced by db 0.
    const noSuchDb = await connectMemory({ ...s.source, tiers: ['working'], redis: { db: 200, keyPatterns: ['*'] } }, { NCA_REDIS_URL: redis.url });
    await expect(memory.targetExists(noSuchDb)).rejects.toMatchObject({ name: 'InvalidInputError', message: expect.stringMatching(/has no database 200/) });
    expect(memoryEntry.retarget(s.target, { targetDatabase: 'memory-tiers' })).toBe(s.target);
    expect(() => memoryEntry.retarget(s.target, { targetDatabase: 'sandbox' })).toThrow(/targetDatabase 'sandbox' cannot apply to the memory tiers/);

    const secret = await connectMemory(
      { ...s.source, redis: { db: 2, keyPatterns: ['*'], secretArn: 'arn:redis' }, mongodb: { database: 'e', secretArn: 'arn:mongo' } },
      { NCA_VECTOR_URL: testPostgresUrl() },
      async (arn) => (arn === 'arn:redis' ? JSON.stringify({ host: 'cache.internal', port: 6380, password: 'p' }) : JSON.stringify({ host: 'docdb.internal', username: 'u', password: 'p w' })),
    );
    expect(secret.working!.redis).toMatchObject({ host: 'cache.internal', port: 6380, tls: true, db: 2 });
    // The stores are reached as their own components reach them: the DocumentDB-style secret's credentials
    // travel as driver options, never in the URL that logs could show.
    expect(secret.episodic!.mongo).toMatchObject({ url: 'mongodb://docdb.internal:27017/', hosts: 'docdb.internal:27017', clientOptions: { tls: true, auth: { username: 'u', password: 'p w' } } });
  });

  test('describe and estimate read each configured store', async () => {
    const s = await stores('describe');
    await sample(s, 30);
    const described = await memory.describe(s.target);
    expect(described).toMatchObject({ database: 'memory-tiers', serverMajor: 1, embeddingDimension: DIMENSION, tiers: ['working', 'episodic', 'semantic'] });
    expect(await memory.estimate(s.target)).toBeGreaterThan(0);
  });
});
