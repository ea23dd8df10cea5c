/**
 * The memory-tier export against a real Redis (started here; each test in its own namespace), the run's
 * PostgreSQL (a database per test) and the MongoDB wire-protocol test server (standalone, and a
 * replica-set one for snapshot reads):
 * export, damage, restore and fingerprints; one tier at a time; the consistency report; bad inputs and
 * damaged artifacts that must leave every tier as it was; empty stores.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import Redis from 'ioredis';
import { BSON, MongoClient, type Document } from 'mongodb';
import type { MemoryRuntimeSource, MemoryTier } from '../../functions/components/memory/descriptor';
import { connectMemory, memory, memoryEntry, parseMemoryRestoreOptions, type MemoryTarget } from '../../functions/components/memory';
import { IntegrityError, InvalidInputError, VersionMismatchError } from '../../functions/core/errors';
import type { ComponentBackupResult } from '../../functions/components/types';
import { damageSampleMemory, loadSampleMemory, NCA_LTM_INDEXES, ncaWords, type SampleMemorySummary } from '../../scripts/sample-nca-memory';
import { startRedis, type RunningRedis } from '../../scripts/local-servers';
import { backupToFs, fsArtifacts, readArtifact, type FsArtifacts } from '../support/fs-artifacts';
import { startMongoWireServer, type MongoWireServer } from '../support/mongo-wire-server';
import { createDatabase, pgvectorInstalled, sql, testPostgresUrl, urlFor } from '../support/postgres-db';
import { silentLogger as quiet } from '../../functions/core/logger';

const DIMENSION = 16;
/** Where pgvector is installed the sample's semantic table is vector(n) (as the NCA's own), else real[]. */
const PGVECTOR = pgvectorInstalled();

let redis: RunningRedis;
let mongo: MongoWireServer;
let replicaSet: MongoWireServer;

beforeAll(async () => {
  [redis, mongo, replicaSet] = await Promise.all([startRedis(), startMongoWireServer(), startMongoWireServer({ replicaSet: true })]);
});
afterAll(async () => {
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
    episodicCollection: 'ltm_memories',
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

const backupOf = (target: MemoryTarget) => backupToFs(memory, target, quiet);

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

/**
 * Every key under a namespace as the Redis server itself reports it, without our code: TYPE, OBJECT
 * ENCODING, PEXPIRETIME and the value bytes (sorted where the type is unordered), plus the DUMP payload
 * where it is stable. A hashtable-encoded hash or set DUMPs in its table's iteration order, which any
 * rebuild changes (DUMP, RESTORE, DUMP differs on the same server), so those compare by value.
 */
async function redisKeys(namespace: string): Promise<Record<string, string>> {
  return withRedisClient(async (c) => {
    const out: Record<string, string> = {};
    for (const key of await c.keysBuffer(`memory:${namespace}:*`)) {
      const type = await c.type(key);
      const encoding = String(await c.object('ENCODING', key));
      const hex = (b: Buffer) => b.toString('hex');
      let value: string;
      if (type === 'string') value = hex((await c.getBuffer(key))!);
      else if (type === 'hash') value = Object.entries(await c.hgetallBuffer(key)).map(([f, v]) => `${Buffer.from(f).toString('hex')}=${hex(v)}`).sort().join(',');
      else if (type === 'set') value = (await c.smembersBuffer(key)).map(hex).sort().join(',');
      else value = `unexpected type ${type}`;
      const dump = encoding === 'hashtable' ? 'by value' : hex((await c.dumpBuffer(key))!);
      out[key.toString('latin1')] = [type, encoding, String(await c.call('PEXPIRETIME', key)), value, dump].join('|');
    }
    return out;
  });
}

/** A redisKeys entry without its DUMP bytes and encoding: the value and deadline. */
const valueOf = (state: string) => {
  const [type, , deadline, value] = state.split('|');
  return { type, deadline, value };
};

/** Every document's BSON bytes as the server returns them, by _id. */
async function mongoDocs(s: Stores): Promise<Record<string, string>> {
  return withMongoClient(s, async (client) => {
    const out: Record<string, string> = {};
    for (const doc of await client.db(s.mongoDatabase).collection('ltm_memories').find({}, { raw: true }).toArray()) {
      const bytes = doc as unknown as Buffer;
      out[BSON.EJSON.stringify(BSON.deserialize(bytes)._id)] = Buffer.from(bytes).toString('hex');
    }
    return out;
  });
}

/**
 * Inserts documents as the given BSON bytes, in one OP_MSG with a document sequence, as another driver
 * (pymongo, the shell) may have written them: the Node driver cannot produce BSON undefined or a
 * repeated field name.
 */
async function insertRaw(s: Stores, docs: readonly Buffer[]): Promise<Document> {
  const int32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32LE(n); return b; };
  const body = Buffer.from(BSON.serialize({ insert: 'ltm_memories', $db: s.mongoDatabase }));
  const sequence = Buffer.concat([Buffer.from('documents\0'), ...docs]);
  const sections = Buffer.concat([int32(0), Buffer.from([0]), body, Buffer.from([1]), int32(sequence.length + 4), sequence]);
  const message = Buffer.concat([int32(16 + sections.length), int32(1), int32(0), int32(2013), sections]);
  return new Promise((resolve, reject) => {
    const socket = connect(s.mongoServer.port, '127.0.0.1', () => socket.write(message));
    let reply = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      reply = Buffer.concat([reply, chunk]);
      if (reply.length >= 4 && reply.length >= reply.readInt32LE(0)) {
        socket.end();
        resolve(BSON.deserialize(reply.subarray(21)));
      }
    });
    socket.on('error', reject);
  });
}

/** Replaces a document by one whose values are the same but whose BSON types `change` alters (as a careless writer would). */
async function retype(s: Stores, memoryId: string, change: (doc: Document) => void): Promise<void> {
  await withMongoClient(s, async (client) => {
    const coll = client.db(s.mongoDatabase).collection('ltm_memories');
    const raw = (await coll.find({ memory_id: memoryId }, { raw: true }).toArray())[0] as unknown as Buffer;
    const doc = BSON.deserialize(raw, { promoteValues: false });
    change(doc);
    await coll.deleteOne({ memory_id: memoryId });
    await coll.insertOne(doc);
  });
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
      serverMajor: 2,
      database: 'memory-tiers',
      tiers: ['working', 'episodic', 'semantic'],
      embeddingDimension: DIMENSION,
      semantic: { database: s.pgDatabase, table: 'public.semantic_memory', dimension: DIMENSION, embeddingType: PGVECTOR ? `vector(${DIMENSION})` : 'real[]' },
      working: { namespace: s.namespace, db: 0 },
      episodic: { database: s.mongoDatabase, collection: 'ltm_memories' },
    });
    // Three servers share no snapshot; the standalone MongoDB offers none either.
    expect(result.consistency.pointInTime).toBe(false);
    expect(result.consistency.method).toMatch(/share no snapshot/);
  });

  test('the consistency report counts orphans across tiers and embeddings of another dimension', () => {
    const report = backup.result.report as any;
    expect(report.crossTier.semanticWithoutEpisodic).toEqual({ count: summary.semanticOnly.length, examples: [...summary.semanticOnly].sort() });
    // The episodic-only documents have no memory_id: exported all the same, named by their _id.
    expect(report.crossTier.episodicWithoutSemantic).toEqual({ count: summary.episodicOnly.length, examples: [...summary.episodicOnly].sort() });
    expect(summary.episodicOnly).toEqual(summary.episodicWithoutMemoryId);
    expect(summary.episodicOnly[0]).toMatch(/^_id:\{"\$oid":"[0-9a-f]{24}"\}$/);
    expect(summary.semanticOnly.length).toBe(2);
    expect(report.warnings).toBeUndefined();
    expect(report.tiers.episodic).toMatchObject({
      items: summary.episodic.length,
      dimension: DIMENSION,
      dimensionSource: 'most common',
      dimensionMismatches: { count: 1, examples: [{ id: summary.otherDimension.episodic[0], dimension: DIMENSION / 2 }] },
      modelViolations: { count: 0, examples: [] },
      read: { snapshot: false },
    });
    // A vector(n) column refuses an embedding of another length, so only a real[] table can hold one.
    expect(report.tiers.semantic.dimensionMismatches).toEqual(
      PGVECTOR ? { count: 0, examples: [] } : { count: 1, examples: [{ id: summary.otherDimension.semantic[0], dimension: DIMENSION / 2 }] },
    );
    expect(report.tiers.semantic.read).toEqual({ snapshot: true, method: expect.stringMatching(/REPEATABLE READ/) });
    // The NCA keeps no embedding in Redis.
    expect(report.tiers.working).toMatchObject({ items: summary.working.length, withEmbedding: 0, vanishedDuringExport: 0, read: { snapshot: false } });
    expect(report.tiers.working.keys).toBeGreaterThan(2 * summary.working.length);
  });

  test('each artifact is gzip JSONL: header, one valid item or record per line, trailer', () => {
    const records: Record<string, number> = {};
    for (const tier of ['working', 'episodic', 'semantic'] as const) {
      const lines = gunzipSync(readArtifact(backup.artifacts, `${tier}.jsonl.gz`)).toString('utf8').split('\n');
      expect(lines.pop()).toBe('');
      const header = JSON.parse(lines[0]);
      expect(header).toEqual({
        format: 'nca-memory-export',
        version: 2,
        tier,
        exportedAt: backup.result.report!.exportedAt,
        source: expect.any(Object),
        normalises: expect.arrayContaining([expect.any(String)]),
        ...(tier === 'semantic' ? {} : { records: expect.any(String) }),
      });
      const body = lines.slice(1, -1).map((line) => JSON.parse(line));
      const items = body.filter((line) => !('record' in line));
      records[tier] = body.length - items.length;
      const trailer = JSON.parse(lines[lines.length - 1]);
      expect(trailer).toEqual({ format: 'nca-memory-export', end: true, tier, items: backup.result.fingerprint[tier].count, ...(records[tier] > 0 ? { records: records[tier] } : {}) });
      expect(items).toHaveLength(backup.result.fingerprint[tier].count);
      for (const item of items) {
        expect(Object.keys(item).every((k) => ['id', 'content', 'metadata', 'embedding', 'native'].includes(k))).toBe(true);
        expect(item.id).toMatch(/^([0-9a-f-]{36}|_id:\{"\$oid":"[0-9a-f]{24}"\})$/);
      }
    }
    // One record per document; working: every key under the namespace, index sets and stats included.
    expect(records.episodic).toBe(backup.result.fingerprint.episodic.count);
    expect(records.working).toBe((backup.result.report as any).tiers.working.keys);
    expect(records.semantic).toBe(0);
    const episodic = gunzipSync(readArtifact(backup.artifacts, 'episodic.jsonl.gz')).toString('utf8').split('\n');
    const item = episodic.filter((line) => line !== '').map((line) => JSON.parse(line)).find((line) => line.id !== undefined && !line.id.startsWith('_id:'));
    // The LTM repository's string content; the document's own fields keep Extended JSON.
    expect(typeof item.content).toBe('string');
    expect(item.native.fields.created_at).toEqual({ $date: expect.any(String) });
    expect(item.native.fields._id).toEqual({ $oid: expect.any(String) });
  });

  test('a damaged memory is restored in all three tiers as it was: every key\'s value, encoding and deadline, every document\'s BSON bytes', async () => {
    // Independent of our code: what the servers say before the damage.
    const keysBefore = await redisKeys(s.namespace);
    const docsBefore = await mongoDocs(s);
    const harm = await damage(s);
    expect(harm.working.deleted + harm.episodic.deleted + harm.semantic.deleted).toBeGreaterThan(0);
    const damaged = await memory.fingerprint(s.target);
    for (const tier of ['working', 'episodic', 'semantic']) expect(damaged[tier]).not.toEqual(backup.result.fingerprint[tier]);
    expect(await redisKeys(s.namespace)).not.toEqual(keysBefore);
    expect(await memory.targetExists(s.target)).toBe(true);

    const { targetVersion, room } = await memory.checkCompatibility(backup.result.source, s.target);
    expect(targetVersion).toBe('nca-memory-export 2');
    // Not judged (the export records no tier sizes), but each store's free room is shown where it tells.
    expect(room).toMatchObject({
      verdict: 'unknown',
      parts: {
        working: { verdict: 'unknown', reason: expect.stringContaining('does not record what the working tier takes') },
        episodic: { verdict: 'unknown', availableBytes: expect.any(Number), available: 'dbStats fsTotalSize - fsUsedSize' },
        semantic: { verdict: 'unknown', reason: expect.stringContaining('PostgreSQL reports no free disk space over SQL') },
      },
    });
    const restored = await memory.restore(backup.artifacts.source(), s.target, {}, quiet);
    expect(restored).toMatchObject({
      replacedExisting: true,
      details: {
        tiers: {
          working: { items: summary.working.length, expiredSkipped: 0, keysRestored: Object.keys(keysBefore).length, mode: 'native records (RESTORE ... ABSTTL)' },
          episodic: { items: summary.episodic.length, mode: 'native records (BSON as it was)' },
          semantic: { items: summary.semantic.length },
        },
      },
    });
    expect(await memory.fingerprint(s.target)).toEqual(backup.result.fingerprint);
    const verification = await memory.verifyRestore!(backup.result.fingerprint, backup.artifacts.source(), s.target, {}, quiet);
    expect(verification).toEqual({ differences: [], objects: 3, details: {} });

    // Every key: type, encoding, value bytes, PEXPIRETIME (and DUMP bytes where the encoding makes them stable).
    expect(await redisKeys(s.namespace)).toEqual(keysBefore);
    // Every document: its BSON bytes (int64 stays int64, a double 1.0 stays a double).
    expect(await mongoDocs(s)).toEqual(docsBefore);

    await withRedisClient(async (client) => {
      const prefix = `memory:${s.namespace}:`;
      const withTtl = summary.workingWithTtl[0];
      expect(Number(await client.call('PEXPIRETIME', `${prefix}${withTtl}`))).toBeGreaterThan(Date.now());
      // The NCA set no TTL on metadata keys: none was added.
      expect(await client.pttl(`${prefix}metadata:${withTtl}`)).toBe(-1);
      // The NCA's tag, status and text search still find the items.
      for (const id of summary.working.slice(0, 10)) {
        const text = (await client.get(`${prefix}metadata:${id}`))!;
        expect(text).toMatch(/^\{"created_at": "/);
        const metadata = JSON.parse(text);
        for (const tag of Object.keys(metadata.tags)) expect(await client.smembers(`${prefix}index:tag:${tag}`)).toContain(id);
        expect(await client.smembers(`${prefix}index:status:${metadata.status}`)).toContain(id);
        const content = (await client.hget(`${prefix}${id}`, 'content'))!;
        for (const word of ncaWords(content)) expect(await client.sismember(`${prefix}index:content:${word}`, id)).toBe(1);
      }
      const big = summary.working.find((_, k) => k % 5 === 0)!;
      expect(await client.get(`${prefix}metadata:${big}`)).toMatch(/"sequence": 9007199254740993[, }]/);
    });
    await withMongoClient(s, async (client) => {
      const coll = client.db(s.mongoDatabase).collection('ltm_memories');
      const names = (await coll.listIndexes().toArray()).map((i) => i.name).sort();
      expect(names).toEqual(['_id_', ...NCA_LTM_INDEXES.map((i) => i.name!)].sort());
      const raw = (await coll.find({ memory_id: summary.working[0] }, { raw: true }).toArray())[0] as unknown as Buffer;
      const doc = BSON.deserialize(raw, { promoteValues: false });
      expect(doc.metadata.sequence).toBeInstanceOf(BSON.Long);
      expect(doc.metadata.sequence.toString()).toBe('9007199254740993');
      expect(doc.importance).toBeInstanceOf(BSON.Double);
      expect(doc.importance.valueOf()).toBe(1);
      expect(doc.access_count).toBeInstanceOf(BSON.Int32);
      expect(await coll.countDocuments({ memory_id: { $exists: false } })).toBe(summary.episodicWithoutMemoryId.length);
      const staging = (await client.db(s.mongoDatabase).listCollections().toArray()).filter((c) => c.name.includes('nca-restore'));
      expect(staging).toEqual([]);
    });
  });

  test('the fingerprint is over what is stored: a reformatted metadata string, a dropped TTL, an int64 become double or a double 1.0 become int32 fail verification', async () => {
    const prefix = `memory:${s.namespace}:`;
    const id = summary.working[1];
    const cases: [string, () => Promise<unknown>, 'working' | 'episodic'][] = [
      // The same JSON value, printed the JavaScript way.
      ['metadata rewritten compactly', () => withRedisClient(async (c) => c.set(`${prefix}metadata:${id}`, JSON.stringify(JSON.parse((await c.get(`${prefix}metadata:${id}`))!)))), 'working'],
      ['TTL removed', () => withRedisClient((c) => c.persist(`${prefix}${summary.workingWithTtl[0]}`)), 'working'],
      ['TTL moved by 1 ms', () => withRedisClient(async (c) => c.pexpireat(`${prefix}${summary.workingWithTtl[0]}`, Number(await c.call('PEXPIRETIME', `${prefix}${summary.workingWithTtl[0]}`)) + 1)), 'working'],
      ['int64 stored as a double of the same value', () => retype(s, summary.working[0], (doc) => (doc.metadata.sequence = new BSON.Double(Number(doc.metadata.sequence.toString())))), 'episodic'],
      ['double 1.0 stored as int32 1', () => retype(s, summary.working[0], (doc) => (doc.importance = new BSON.Int32(1))), 'episodic'],
    ];
    for (const [what, change, tier] of cases) {
      await memory.restore(backup.artifacts.source(), s.target, { tiers: [tier] }, quiet);
      expect((await memory.fingerprint(s.target))[tier]).toEqual(backup.result.fingerprint[tier]);
      await change();
      const after = await memory.fingerprint(s.target);
      expect({ what, changed: after[tier].digest !== backup.result.fingerprint[tier].digest, count: after[tier].count }).toEqual({ what, changed: true, count: backup.result.fingerprint[tier].count });
      const verification = await memory.verifyRestore!(backup.result.fingerprint, backup.artifacts.source(), s.target, { tiers: [tier] }, quiet);
      expect(verification.differences.map((d) => d.object)).toEqual([tier]);
    }
    await memory.restore(backup.artifacts.source(), s.target, {}, quiet);
    expect(await memory.fingerprint(s.target)).toEqual(backup.result.fingerprint);
  });

  test('into a Redis that cannot read the payloads, the portable items are written and the NCA\'s index sets and stats rebuilt as it builds them', async () => {
    const keysBefore = await redisKeys(s.namespace);
    // The same export, claiming payloads of an RDB version no Redis reads yet.
    const lines = gunzipSync(readArtifact(backup.artifacts, 'working.jsonl.gz')).toString('utf8').split('\n');
    const header = JSON.parse(lines[0]);
    lines[0] = JSON.stringify({ ...header, source: { ...header.source, rdbVersion: 999 } });
    const future = fsArtifacts();
    await future.sink.write('working.jsonl.gz', Readable.from([gzipSync(lines.join('\n'))]), { contentType: 'application/gzip' });
    await damage(s);
    const restored = await memory.restore(future.source(), s.target, {}, quiet);
    expect((restored.details as any).tiers.working).toMatchObject({ items: summary.working.length, mode: expect.stringMatching(/^portable items \(the target redis 7\S+ reads up to RDB version \d+; the backup's payloads are RDB version 999\)$/) });

    const after = await redisKeys(s.namespace);
    expect(Object.keys(after).sort()).toEqual(Object.keys(keysBefore).sort());
    for (const [key, state] of Object.entries(keysBefore)) {
      const rest = key.slice(`memory:${s.namespace}:`.length);
      // Index sets and stats as the NCA builds them; item hashes as they were; TTLs on the same keys.
      if (rest.startsWith('index:') || rest === 'stats' || !rest.includes(':')) expect({ key, ...valueOf(after[key]) }).toEqual({ key, ...valueOf(state) });
    }
    // Metadata is the same JSON value printed compactly (the header's `normalises` says so), big integers exact.
    await withRedisClient(async (c) => {
      const big = summary.working[0];
      const text = (await c.get(`memory:${s.namespace}:metadata:${big}`))!;
      expect(text).toMatch(/"sequence":9007199254740993[,}]/);
      expect(text).not.toMatch(/", "/);
    });
    expect(header.normalises.join(' ')).toMatch(/Python json\.dumps spacing/);
    await memory.restore(backup.artifacts.source(), s.target, {}, quiet);
    expect(await redisKeys(s.namespace)).toEqual(keysBefore);
  });
});

describe('memory tiers: the semantic table row by row', () => {
  test('a restore writes back each row\'s id, embedding and metadata text as PostgreSQL printed them (jsonb 1.0 stays 1.0, big integers exact)', async () => {
    const s = await stores('rows', { tiers: ['semantic'] });
    const summary = await loadSampleMemory({ postgresUrl: urlFor(s.pgDatabase) }, { items: 60, dimension: DIMENSION, seed: 60 });
    await sql(s.pgDatabase, `UPDATE semantic_memory SET metadata = jsonb_set(metadata, '{metadata,extra}', '{"importance": 1.0, "sequence": 9007199254740993, "ratio": 2.50}') WHERE id = $1`, [summary.semantic[0]]);
    const rows = () => sql(s.pgDatabase, 'SELECT id, embedding::text AS embedding, metadata::text AS metadata FROM semantic_memory ORDER BY id');
    const before = await rows();
    const changed = (before as { id: string; metadata: string }[]).find((r) => r.id === summary.semantic[0])!.metadata;
    expect(changed).toMatch(/"extra": \{"ratio": 2\.50, "sequence": 9007199254740993, "importance": 1\.0\}/);
    const { artifacts, result } = await backupOf(s.target);
    await sql(s.pgDatabase, 'DELETE FROM semantic_memory WHERE id = $1', [summary.semantic[0]]);
    await sql(s.pgDatabase, `UPDATE semantic_memory SET metadata = jsonb_set(metadata, '{metadata,importance}', '1.0') WHERE id = $1`, [summary.semantic[1]]);
    expect((await memory.fingerprint(s.target)).semantic).not.toEqual(result.fingerprint.semantic);
    await memory.restore(artifacts.source(), s.target, {}, quiet);
    const after = await rows();
    // Compared as one text, so a failure shows the first difference instead of every row.
    expect(after.length).toBe(before.length);
    expect(JSON.stringify(after) === JSON.stringify(before)).toBe(true);
    expect(await memory.fingerprint(s.target)).toEqual(result.fingerprint);
  });
});

describe('memory tiers: episodic documents byte for byte', () => {
  /** A document as field/value pairs in the order a Python dict keeps them. */
  const ordered = (...fields: Array<[string, unknown]>) => new Map<string, unknown>(fields);
  const bytesOf = (doc: unknown) => Buffer.from(BSON.serialize(doc as Document));

  test('a restore writes every document\'s stored bytes: integer-like keys stay where they were, top level and nested, and verification passes', async () => {
    const s = await stores('order', { tiers: ['episodic'] });
    const docs = [
      ordered(['_id', new BSON.ObjectId()], ['memory_id', 'm1'], ['7', 'a top-level integer-like key'], ['content', 'plain text'],
        ['metadata', ordered(['tags', ordered(['b', 1], ['2', 2], ['10', 3])], ['importance', new BSON.Double(1)], ['links', [ordered(['z', 1], ['0', 2]), [ordered(['3', 'x'], ['a', 'y'])]]])]),
      ordered(['_id', 2], ['content', ordered(['text', 'no memory_id'], ['1', new BSON.Int32(1)])], ['big', BSON.Long.fromString('9007199254740993')],
        ['d', BSON.Decimal128.fromString('1.000')], ['old', new Date(-1e12)], ['sym', new BSON.BSONSymbol('s')], ['re', new BSON.BSONRegExp('a', 'imx')],
        ['ts', new BSON.Timestamp({ t: 1, i: 2 })], ['bin', new BSON.Binary(Buffer.from([0, 0, 0x80, 0xbf]), 0x80)], ['code', new BSON.Code('f()', { '9': 1, a: 2 })], ['min', new BSON.MinKey()]),
    ];
    await insertRaw(s, docs.map(bytesOf));
    const before = await mongoDocs(s);
    // The server holds the bytes as written (independent of our code).
    expect(Object.values(before)).toEqual(expect.arrayContaining(docs.map((d) => bytesOf(d).toString('hex'))));

    const { artifacts, result } = await backupOf(s.target);
    await withMongoClient(s, (client) => client.db(s.mongoDatabase).collection('ltm_memories').deleteMany({}));
    await memory.restore(artifacts.source(), s.target, {}, quiet);
    expect(await mongoDocs(s)).toEqual(before);
    expect((await memory.verifyRestore!(result.fingerprint, artifacts.source(), s.target, {}, quiet)).differences).toEqual([]);
  });

  test('a document no driver value writes back exactly (BSON undefined, a date beyond JS\'s range, a field twice) fails the backup naming its _id; nothing is stored', async () => {
    const s = await stores('odd', { tiers: ['episodic'] });
    const good = bytesOf(ordered(['_id', 1], ['memory_id', 'fine'], ['content', 'x']));
    // {_id: 2, u: undefined, n: null}: 0x06 is a deprecated type no Node value encodes to.
    const withUndefined = Buffer.from('00000000' + '105f69640002000000' + '067500' + '0a6e00' + '00', 'hex');
    withUndefined.writeInt32LE(withUndefined.length, 0);
    const hugeDate = bytesOf(ordered(['_id', 3], ['when', new Date(0)]));
    hugeDate.writeBigInt64LE(9_000_000_000_000_000n, hugeDate.indexOf(Buffer.from('097768656e00', 'hex')) + 6);
    const twice = bytesOf(ordered(['_id', 4], ['a', 1], ['b', 2]));
    twice[twice.indexOf(Buffer.from('106200', 'hex')) + 1] = 0x61;
    for (const [id, odd] of [[2, withUndefined], [3, hugeDate], [4, twice]] as const) {
      await withMongoClient(s, (client) => client.db(s.mongoDatabase).collection('ltm_memories').deleteMany({}));
      await insertRaw(s, [good, odd]);
      expect(Object.keys(await mongoDocs(s))).toEqual(expect.arrayContaining([String(id)]));
      const artifacts = fsArtifacts();
      const failure = memory.backup(s.target, artifacts.sink, quiet);
      await expect(failure).rejects.toThrow(InvalidInputError);
      await expect(failure).rejects.toThrow(`episodic document _id ${id} in ${s.mongoDatabase}.ltm_memories: its BSON cannot be written back byte for byte`);
      expect(artifacts.records.map((r) => r.name)).not.toContain('episodic.jsonl.gz');
    }
  });
});

describe('memory tiers: working data JSON cannot carry, and big values', () => {
  test('Python NaN/Infinity metadata, list metadata and a float-bytes embedding are exported; a restore puts back every byte, from records or from items', async () => {
    const s = await stores('py', { tiers: ['working'] });
    const p = `memory:${s.namespace}:`;
    const embedding = Buffer.from(new Float32Array([-1, 0.25, 3.5]).buffer);
    // As the NCA's RedisBackend (Python json.dumps, allow_nan by default) and a binary writer leave them.
    const nanMetadata = '{"status": "active", "importance": NaN, "tags": {"a": 1}, "strength": Infinity}';
    await withRedisClient(async (c) => {
      await c.hset(`${p}m1`, 'id', 'm1', 'content', 'plain text', 'created_at', '2026-01-01T00:00:00.5', 'embedding', embedding);
      await c.set(`${p}metadata:m1`, nanMetadata);
      await c.hset(`${p}m2`, 'id', 'm2', 'content', 'another');
      await c.set(`${p}metadata:m2`, '[1, 2]');
      await c.pexpire(`${p}metadata:m2`, 3_600_000);
      await c.sadd(`${p}index:tag:a`, 'm1');
      await c.sadd(`${p}index:status:active`, 'm1');
      for (const [word, id] of [['plain', 'm1'], ['text', 'm1'], ['another', 'm2']]) await c.sadd(`${p}index:content:${word}`, id);
      await c.hset(`${p}stats`, 'total_memories', 2, 'active_memories', 1);
    });
    const keysBefore = await redisKeys(s.namespace);
    const { artifacts, result } = await backupOf(s.target);
    const lines = gunzipSync(readArtifact(artifacts, 'working.jsonl.gz')).toString('utf8').split('\n');
    const header = JSON.parse(lines[0]);
    expect(header.normalises.join(' ')).toMatch(/NaN, Infinity or -Infinity/);
    const items = new Map(lines.slice(1).filter((l) => l).map((l) => JSON.parse(l)).filter((l) => typeof l.id === 'string').map((l) => [l.id, l]));
    expect(items.get('m1')).toMatchObject({ metadata: { status: 'active', importance: null, strength: null }, native: { metadataText: nanMetadata, binaryFields: [{ field: 'embedding', base64: embedding.toString('base64') }] } });
    expect(items.get('m2')).toMatchObject({ native: { metadataText: '[1, 2]' } });

    await withRedisClient((c) => c.del(`${p}m1`, `${p}metadata:m2`, `${p}index:tag:a`));
    await memory.restore(artifacts.source(), s.target, {}, quiet);
    expect(await redisKeys(s.namespace)).toEqual(keysBefore);
    expect((await memory.verifyRestore!(result.fingerprint, artifacts.source(), s.target, {}, quiet)).differences).toEqual([]);

    // From the portable items (a Redis that cannot read the payloads): the stored text and bytes are written back.
    lines[0] = JSON.stringify({ ...header, source: { ...header.source, rdbVersion: 999 } });
    const future = fsArtifacts();
    await future.sink.write('working.jsonl.gz', Readable.from([gzipSync(lines.join('\n'))]), { contentType: 'application/gzip' });
    await withRedisClient((c) => c.del(`${p}m1`, `${p}metadata:m1`, `${p}metadata:m2`));
    const restored = await memory.restore(future.source(), s.target, {}, quiet);
    expect((restored.details as any).tiers.working.mode).toMatch(/^portable items/);
    const after = await redisKeys(s.namespace);
    expect(Object.keys(after).sort()).toEqual(Object.keys(keysBefore).sort());
    for (const [key, state] of Object.entries(keysBefore)) expect({ key, ...valueOf(after[key]) }).toEqual({ key, ...valueOf(state) });
  });
  test('big values are read a few at a time: one read transaction per key above the byte budget, not 200 keys whatever their size', async () => {
    const s = await stores('big', { tiers: ['working'] });
    const p = `memory:${s.namespace}:`;
    await withRedisClient(async (c) => {
      for (let i = 0; i < 4; i++) await c.set(`${p}blob${i}`, Buffer.alloc(12 * 1024 * 1024, i));
      await c.set(`${p}small`, 'x');
    });
    const execs = () => withRedisClient(async (c) => Number(/cmdstat_exec:calls=(\d+)/.exec(await c.info('commandstats'))?.[1] ?? 0));
    const before = await execs();
    const { artifacts } = await backupOf(s.target);
    // Each 12 MB key in a transaction of its own (the server counts them, independent of our code).
    expect((await execs()) - before).toBeGreaterThanOrEqual(4);
    const keysBefore = await redisKeys(s.namespace);
    await withRedisClient((c) => c.del(`${p}blob1`));
    await memory.restore(artifacts.source(), s.target, {}, quiet);
    expect(await redisKeys(s.namespace)).toEqual(keysBefore);
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
    expect(result.consistency).toEqual({ pointInTime: true, method: expect.stringMatching(/^episodic: one snapshot session on replica set/) });
    expect((result.report as any).crossTier).toEqual({ skipped: expect.any(String) });
    expect(result.fingerprint).toEqual({ episodic: { count: summary.episodic.length, digest: expect.any(String) } });
    expect(await memory.fingerprint(s.target)).toEqual(result.fingerprint);
  });

  test('items breaking the NCA model are exported and reported; metadata that is not JSON travels as its text', async () => {
    const s = await stores('rules');
    const summary = await sample(s, 30);
    await sql(s.pgDatabase, `UPDATE semantic_memory SET metadata = jsonb_set(metadata, '{metadata,status}', '"pondering"') WHERE id = $1`, [summary.semantic[0]]);
    const { result } = await backupOf(s.target);
    expect((result.report as any).tiers.semantic.modelViolations).toEqual({
      count: 1,
      examples: [{ id: summary.semantic[0], problems: ['metadata.status "pondering" is not one of active|archived|consolidated|forgotten|decaying'] }],
    });

    // Content that is not JSON is the NCA's normal case (plain text); metadata that is not JSON travels as its text.
    const broken = summary.working[1];
    await withRedisClient((c) => c.hset(`memory:${s.namespace}:${broken}`, 'content', '{not json'));
    expect((await backupOf(s.target)).result.fingerprint.working.count).toBe(summary.working.length);
    await withRedisClient((c) => c.set(`memory:${s.namespace}:metadata:${broken}`, '{not json'));
    const notJson = await backupOf(s.target);
    const item = gunzipSync(readArtifact(notJson.artifacts, 'working.jsonl.gz')).toString('utf8').split('\n').map((l) => (l ? JSON.parse(l) : {})).find((l) => l.id === broken);
    expect(item).toMatchObject({ native: { metadataText: '{not json' } });
    expect(item.metadata).toBeUndefined();

    // The LTM repository's memory_id index is not unique: one memory_id twice is reported, exported and restored.
    const dup = await stores('dup', { tiers: ['episodic'] });
    const id = summary.episodic[3];
    await withMongoClient(dup, (client) => client.db(dup.mongoDatabase).collection('ltm_memories').insertMany([{ memory_id: id, content: 'a' }, { memory_id: id, content: 'b' }]));
    const duplicate = await backupOf(dup.target);
    expect((duplicate.result.report as any).tiers.episodic.duplicateIds).toEqual({ count: 1, examples: [id] });
    const docs = await mongoDocs(dup);
    await withMongoClient(dup, (client) => client.db(dup.mongoDatabase).collection('ltm_memories').deleteMany({}));
    await memory.restore(duplicate.artifacts.source(), dup.target, {}, quiet);
    expect(await mongoDocs(dup)).toEqual(docs);
  });

  test('compatibility: a newer format and a semantic table of another dimension are refused, naming both', async () => {
    const s = await stores('dims');
    await sample(s, 30);
    const { result } = await backupOf(s.target);
    await expect(memory.checkCompatibility({ ...result.source, formatVersion: 3, serverMajor: 3 }, s.target)).rejects.toThrow(
      new VersionMismatchError('the backup is nca-memory-export version 3; this nca-backup reads version 2 and older.', {
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

  (PGVECTOR ? test : test.skip)(`into a vector(n) table: a backup of another dimension is a table mismatch, one odd item is named${PGVECTOR ? '' : ' (skipped: pgvector is not installed on this machine)'}`, async () => {
    // The source keeps real[] (it can hold an odd length); the target is the NCA's vector(16) table.
    const s = await stores('oddvec', { tiers: ['semantic'] });
    await sql(s.pgDatabase, 'CREATE TABLE semantic_memory (id text PRIMARY KEY, embedding real[], metadata jsonb)');
    await loadSampleMemory({ postgresUrl: s.urls.postgresUrl }, { items: 30, dimension: DIMENSION, seed: 30 });
    await sql(s.pgDatabase, `INSERT INTO semantic_memory VALUES ('odd-one', '{0.5,0.25}', '{}')`);
    const { artifacts } = await backupOf(s.target);

    const into = await stores('oddvecinto', { tiers: ['semantic'] });
    await loadSampleMemory({ postgresUrl: into.urls.postgresUrl }, { items: 10, dimension: DIMENSION, seed: 10 });
    expect((await sql(into.pgDatabase, `SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'semantic_memory'::regclass AND attname = 'embedding'`))[0].type).toBe(`vector(${DIMENSION})`);
    const before = await sql(into.pgDatabase, 'SELECT id, embedding::text, metadata::text FROM semantic_memory ORDER BY id');
    const attempt = memory.restore(artifacts.source(), into.target, {}, quiet);
    await expect(attempt).rejects.toThrow(InvalidInputError);
    await expect(attempt).rejects.toThrow(`semantic item odd-one has a 2-dimensional embedding; column embedding of ${into.pgDatabase}.public.semantic_memory is vector(${DIMENSION}).`);
    expect(await sql(into.pgDatabase, 'SELECT id, embedding::text, metadata::text FROM semantic_memory ORDER BY id')).toEqual(before);

    // Without the odd item the same backup restores, and the vector(16) column holds the source's values.
    await sql(s.pgDatabase, `DELETE FROM semantic_memory WHERE id = 'odd-one'`);
    await memory.restore((await backupOf(s.target)).artifacts.source(), into.target, {}, quiet);
    expect(await sql(into.pgDatabase, 'SELECT id, embedding::real[]::text AS e FROM semantic_memory ORDER BY id')).toEqual(
      await sql(s.pgDatabase, 'SELECT id, embedding::text AS e FROM semantic_memory ORDER BY id'),
    );
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
  test('empty tiers export zero items with a warning in the report and the log; restoring that backup empties populated tiers', async () => {
    const empty = await stores('empty');
    // The collection and the table exist, empty; the namespace has no key.
    await withMongoClient(empty, (client) => client.db(empty.mongoDatabase).createCollection('ltm_memories'));
    await sql(empty.pgDatabase, 'CREATE TABLE semantic_memory (id text PRIMARY KEY, embedding real[], metadata jsonb)');
    const warned: { message: string; fields?: Record<string, unknown> }[] = [];
    const artifacts = fsArtifacts();
    const result = await memory.backup(empty.target, artifacts.sink, { info: () => undefined, warn: (message, fields) => warned.push({ message, fields }) });
    expect(Object.fromEntries(Object.entries(result.fingerprint).map(([tier, e]) => [tier, e.count]))).toEqual({ working: 0, episodic: 0, semantic: 0 });
    const report = result.report as any;
    expect(report.warnings).toEqual([
      `the working tier is empty: no memory was found in Redis keys memory:${empty.namespace}:* in database 0. Check the configuration if memories were expected there.`,
      `the episodic tier is empty: no memory was found in MongoDB collection ${empty.mongoDatabase}.ltm_memories. Check the configuration if memories were expected there.`,
      `the semantic tier is empty: no memory was found in table ${empty.pgDatabase}.public.semantic_memory. Check the configuration if memories were expected there.`,
    ]);
    expect(report.tiers.episodic.warning).toBe(report.warnings[1]);
    expect(warned.map((w) => [w.message, w.fields?.tier])).toEqual([
      ['memory tier is empty', 'working'],
      ['memory tier is empty', 'episodic'],
      ['memory tier is empty', 'semantic'],
    ]);
    expect(report.crossTier).toEqual({ semanticWithoutEpisodic: { count: 0, examples: [] }, episodicWithoutSemantic: { count: 0, examples: [] } });
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

  test('a configured collection or table that does not exist fails the backup naming it, and nothing is stored', async () => {
    const s = await stores('missing');
    await sample(s, 20);
    const wrongCollection = await connectMemory({ ...s.source, episodicCollection: 'memories' }, s.env);
    const artifacts = fsArtifacts();
    const failure = memory.backup(wrongCollection, artifacts.sink, quiet);
    await expect(failure).rejects.toThrow(InvalidInputError);
    await expect(failure).rejects.toThrow(`memory: the episodic collection ${s.mongoDatabase}.memories does not exist.`);
    const wrongTable = await connectMemory({ ...s.source, vector: { database: s.pgDatabase, table: 'memory.semantic' } }, s.env);
    const table = memory.backup(wrongTable, artifacts.sink, quiet);
    await expect(table).rejects.toThrow(InvalidInputError);
    await expect(table).rejects.toThrow(`memory: the semantic table ${s.pgDatabase}.memory.semantic does not exist.`);
    expect(artifacts.records).toEqual([]);
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
    expect(described).toMatchObject({ database: 'memory-tiers', serverMajor: 2, embeddingDimension: DIMENSION, tiers: ['working', 'episodic', 'semantic'] });
    expect(await memory.estimate(s.target)).toBeGreaterThan(0);
  });
});
