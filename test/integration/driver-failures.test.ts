/**
 * One retry classification per driver, used everywhere: every MongoDB failure becomes a typed error naming
 * the component (mongoFailure), and the memory component's tiers go through the same classifiers as the
 * redis and mongodb components (no classification of its own). Failures are injected for real: the
 * MongoDB wire-protocol test server and a real Redis are stopped while a restore is under way.
 */
import Redis from 'ioredis';
import { MongoClient, MongoNetworkError, MongoParseError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { connectMemory, memory } from '../../functions/components/memory';
import { connectMongo, mongoFailure, withClient, type MongoTarget } from '../../functions/components/mongodb/connection';
import type { ArtifactSource } from '../../functions/components/types';
import type { MemoryRuntimeSource } from '../../functions/components/memory/descriptor';
import { startRedis, type RunningRedis } from '../../scripts/local-servers';
import { loadSampleMemory } from '../../scripts/sample-nca-memory';
import { gatedSource, sinkAfter } from '../support/artifact-streams';
import { fsArtifacts, type FsArtifacts } from '../support/fs-artifacts';
import { startMongoWireServer, type MongoWireServer } from '../support/mongo-wire-server';
import { silentLogger as quiet } from '../../functions/core/logger';

const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A target whose secret-shaped options carry a password, to prove no message echoes it. */
const TARGET: MongoTarget = {
  url: 'mongodb://db.example:27017/',
  clientOptions: { auth: { username: 'nca', password: 's3cr3t-pw' } },
  hosts: 'db.example:27017',
  database: 'neuroca_episodic',
};

describe('mongoFailure: every driver failure becomes a typed error naming the component', () => {
  // The driver's own error classes, as it raises them: a server reply, its labels, its parse errors.
  const reply = (code: number, codeName: string, labels: string[] = []) => new MongoServerError({ ok: 0, code, codeName, errmsg: `${codeName} on s3cr3t-pw`, errorLabels: labels });
  test.each([
    ['a node that stepped down (NotWritablePrimary)', reply(10107, 'NotWritablePrimary'), 'TransientError'],
    ['a server shutting down (InterruptedAtShutdown)', reply(11600, 'InterruptedAtShutdown'), 'TransientError'],
    ['a write the server labels RetryableWriteError', reply(64, 'WriteConcernFailed', ['RetryableWriteError']), 'TransientError'],
    ['a transaction the server labels TransientTransactionError', reply(112, 'WriteConflict', ['TransientTransactionError']), 'TransientError'],
    ['a snapshot that expired (SnapshotTooOld)', reply(239, 'SnapshotTooOld'), 'TransientError'],
    ['a network error', new MongoNetworkError('connection 3 to db.example:27017 closed'), 'TransientError'],
    ['refused credentials', reply(18, 'AuthenticationFailed'), 'InvalidInputError'],
    ['missing privileges', reply(13, 'Unauthorized'), 'InvalidInputError'],
    ['a connection string the driver cannot parse', new MongoParseError('Invalid scheme in mongodb://nca:s3cr3t-pw@db'), 'InvalidInputError'],
    ['a duplicate key', reply(11000, 'DuplicateKey'), 'ToolError'],
    ['a command the server does not know', reply(59, 'CommandNotFound'), 'ToolError'],
    ['an error that is not the driver\'s', new Error('socket hang up'), 'ToolError'],
  ])('%s', (_, error, name) => {
    const failure = mongoFailure(error, TARGET, 'reading collection x');
    expect(failure.name).toBe(name);
    expect(failure.message).toMatch(/^mongodb: /);
    expect(failure.message).toContain('db.example:27017');
    expect(failure.message).not.toContain('s3cr3t-pw');
    expect(mongoFailure(error, TARGET, 'reading collection x', { component: 'memory' }).message).toMatch(/^memory: /);
  });

  test('a server selection that timed out is TransientError', () => {
    const selection = new MongoServerSelectionError('Server selection timed out after 10 ms', { type: 'Unknown', servers: new Map(), stale: false, compatible: true, heartbeatFrequencyMS: 0, localThresholdMS: 0 } as never);
    expect(mongoFailure(selection, TARGET, 'connecting').name).toBe('TransientError');
  });
});

describe('the mongodb component against a real wire-protocol server', () => {
  let server: MongoWireServer;
  let target: MongoTarget;

  beforeEach(async () => {
    server = await startMongoWireServer();
    cleanups.push(() => server.stop());
    target = await connectMongo({ database: 'faults' }, { NCA_MONGODB_URL: `${server.url}${server.url.includes('?') ? '&' : '?'}serverSelectionTimeoutMS=500` });
  });

  test('a command the server refuses (CommandNotFound) is ToolError naming mongodb, not the driver\'s MongoServerError', async () => {
    const failure = withClient(target, 'asking for the replica set status', (client) => client.db('admin').command({ replSetGetStatus: 1 }));
    await expect(failure).rejects.toMatchObject({ name: 'ToolError', message: expect.stringMatching(/^mongodb: MongoDB at .* failed while asking for the replica set status \(CommandNotFound 59\)/) });
  });

  test('the server stopped in the middle of a cursor is TransientError naming mongodb', async () => {
    await withClient(target, 'loading', (client) => client.db('faults').collection('c').insertMany(Array.from({ length: 50 }, (_, i) => ({ i }))));
    const failure = withClient(target, 'reading collection c', async (client) => {
      const cursor = client.db('faults').collection('c').find({}, { batchSize: 5 });
      await cursor.next();
      await server.stop();
      return cursor.toArray();
    });
    await expect(failure).rejects.toMatchObject({ name: 'TransientError', message: expect.stringMatching(/^mongodb: cannot reach MongoDB at .* while reading collection c/) });
  });
});

describe('the memory component uses the drivers\' classifiers', () => {
  let redis: RunningRedis;
  let mongo: MongoWireServer;
  let backup: FsArtifacts;
  let source: MemoryRuntimeSource;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    [redis, mongo] = await Promise.all([startRedis(), startMongoWireServer()]);
    cleanups.push(() => redis.stop(), () => mongo.stop());
    await loadSampleMemory({ redisUrl: redis.url, mongoUrl: mongo.url }, { items: 60, dimension: 8, seed: 3 });
    source = { tiers: ['working', 'episodic'], workingNamespace: 'generic', episodicCollection: 'ltm_memories', redis: { db: 0, keyPatterns: ['*'] }, mongodb: { database: 'neuroca_episodic' } };
    env = { NCA_REDIS_URL: redis.url, NCA_MONGODB_URL: mongo.url };
    backup = fsArtifacts();
    cleanups.push(() => backup.cleanup());
    await memory.backup(await connectMemory(source, env), backup.sink, quiet);
  });

  /** The backup's artifacts, each released only after `fault` ran: the stores were opened, the restore is under way. */
  function afterFault(fault: () => Promise<void>): ArtifactSource {
    let injected: Promise<void> | undefined;
    return gatedSource(backup.source(), () => (injected ??= fault()));
  }

  async function workingKeys(): Promise<Record<string, string>> {
    const client = new Redis(redis.url);
    try {
      const keys = (await client.keys('*')).sort();
      const dumps = await Promise.all(keys.map(async (k) => [k, (await client.dumpBuffer(k))!.toString('base64')] as const));
      return Object.fromEntries(dumps);
    } finally {
      client.disconnect();
    }
  }

  test('MongoDB stopped during a restore: TransientError naming memory, and the working tier is untouched', async () => {
    const target = await connectMemory(source, env);
    const before = await workingKeys();
    const failure = memory.restore(afterFault(() => mongo.stop()), target, {}, quiet);
    await expect(failure).rejects.toMatchObject({ name: 'TransientError', message: expect.stringMatching(/^memory: cannot reach MongoDB at .* while staging the episodic tier/) });
    // The episodic stage failed before any commit: the Redis transaction was discarded, every key is as it was.
    expect(await workingKeys()).toEqual(before);
  }, 30_000);

  test('Redis stopped during a restore: TransientError naming memory, and the episodic tier is untouched', async () => {
    const target = await connectMemory(source, env);
    const fingerprint = async () => (await memory.fingerprint(await connectMemory({ ...source, tiers: ['episodic'] }, env))).episodic;
    const before = await fingerprint();
    const failure = memory.restore(afterFault(() => redis.stop()), target, {}, quiet);
    await expect(failure).rejects.toMatchObject({ name: 'TransientError', message: expect.stringMatching(/^memory: cannot reach Redis at .* while (staging the working tier|connecting)/) });
    expect(await fingerprint()).toEqual(before);
  }, 30_000);

  test('MongoDB stopped between staging and its commit: the error says which tiers changed, and never advises putting the safety backup back', async () => {
    const target = await connectMemory(source, env);
    const before = await workingKeys();
    const watcher = new MongoClient(mongo.url);
    cleanups.push(() => watcher.close());
    const db = watcher.db('neuroca_episodic');
    const documents = await db.collection('ltm_memories').countDocuments();
    const intact = backup.source();
    // The episodic artifact flows at once; the working one only after every episodic document is staged and
    // the server is gone, so staging succeeds everywhere and the episodic commit (its rename) meets a dead server.
    const stagedThenStopped = (async () => {
      for (;;) {
        const staging = (await db.listCollections({}, { nameOnly: true }).toArray()).find((c) => c.name.startsWith('ltm_memories.nca-restore-'));
        if (staging && (await db.collection(staging.name).countDocuments()) === documents) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await watcher.close();
      await mongo.stop();
    })();
    const gated = gatedSource(intact, (name) => (name.startsWith('episodic') ? undefined : stagedThenStopped));
    const failure = memory.restore(gated, target, {}, quiet);
    await expect(failure).rejects.toMatchObject({
      name: 'TransientError',
      message: expect.stringMatching(/^memory: committing the episodic tier failed: cannot reach MongoDB at .* No tier was replaced; the episodic tier and working still hold what they held before this restore\. Repeating this restore once the store is reachable again is safe/),
    });
    const message = ((await failure.catch((error: Error) => error)) as Error).message;
    expect(message).toContain('do not restore it over these stores');
    expect(message).not.toMatch(/or restore the safety backup/);
    // The working tier's transaction was discarded: every key is as it was.
    expect(await workingKeys()).toEqual(before);
  }, 30_000);

  test('MongoDB stopped before a fingerprint: TransientError naming memory', async () => {
    const target = await connectMemory({ ...source, tiers: ['episodic'] }, { ...env, NCA_MONGODB_URL: `${mongo.url}${mongo.url.includes('?') ? '&' : '?'}serverSelectionTimeoutMS=500` });
    await mongo.stop();
    await expect(memory.fingerprint(target)).rejects.toMatchObject({ name: 'TransientError', message: expect.stringMatching(/^memory: cannot reach MongoDB at /) });
  });
});

describe('the memory export uses the drivers\' classifiers', () => {
  test('MongoDB stopped while the episodic tier is exported: TransientError naming memory, and nothing is stored', async () => {
    const [redis, mongo] = await Promise.all([startRedis(), startMongoWireServer()]);
    cleanups.push(() => redis.stop(), () => mongo.stop());
    // More documents than one cursor batch (500): the export must go back to the server after it stopped.
    await loadSampleMemory({ mongoUrl: mongo.url }, { items: 1200, dimension: 4, seed: 5 });
    const target = await connectMemory({ tiers: ['episodic'], workingNamespace: 'generic', episodicCollection: 'ltm_memories', mongodb: { database: 'neuroca_episodic' } }, { NCA_MONGODB_URL: mongo.url });
    const artifacts = fsArtifacts();
    cleanups.push(() => artifacts.cleanup());
    // The export has opened its cursor and streams into this artifact: the server goes away now.
    const sink = sinkAfter(artifacts.sink, () => mongo.stop());
    await expect(memory.backup(target, sink, quiet)).rejects.toMatchObject({ name: 'TransientError', message: expect.stringMatching(/^memory: cannot reach MongoDB at .* while exporting the episodic tier/) });
    expect(artifacts.records).toEqual([]);
  }, 30_000);
});

