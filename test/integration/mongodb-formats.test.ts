/**
 * The mongodb component's archive formats and parallel paths (issue 16), through the official driver
 * against the wire-protocol test server: format 2 (each collection read once, several at a time, in tar
 * parts) and format 1 (what backups before issue 16 hold) give the same fingerprint on the same hostile
 * data and both restore to it with parallel insert batches; a read failing in one collection fails the
 * whole backup and leaves no manifest; a parallel restore refused part-way leaves the target as it was.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { BSON, Long, MongoClient, type Db, type Document } from 'mongodb';
import { connectMongo, mongodb, withDatabase, type MongoTarget } from '../../functions/components/mongodb';
import { backupMongo } from '../../functions/components/mongodb/backup';
import { FORMAT1_WRITER } from '../../functions/components/mongodb/format1';
import { PART_BYTES } from '../../functions/components/mongodb/parts-writer';
import { runBackup } from '../../functions/core/backup-run';
import { InvalidInputError } from '../../functions/core/errors';
import type { ArtifactSink, ComponentBackupResult, Logger } from '../../functions/components/types';
import { manifestKey } from '../../config/vault-layout';
import { backupToFs, fsArtifacts, type FsArtifacts } from '../support/fs-artifacts';
import { startMongoWireServer, type MongoWireServer } from '../support/mongo-wire-server';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, testS3Client, vaultOf } from '../support/s3';
import { rejection } from '../support/thrown';

const { Binary, Double, Int32 } = BSON;

const quiet: Logger = { info: () => undefined, warn: () => undefined };

let server: MongoWireServer;
let client: MongoClient;
const savedStreams = process.env.NCA_STREAMS;

beforeAll(async () => {
  // More streams than this machine's cores: the parallel paths interleave for real.
  process.env.NCA_STREAMS = '4';
  server = await startMongoWireServer();
  client = await new MongoClient(server.url).connect();
});

afterAll(async () => {
  if (savedStreams === undefined) delete process.env.NCA_STREAMS;
  else process.env.NCA_STREAMS = savedStreams;
  await client?.close();
  await server?.stop();
});

const targetOf = (database: string) => connectMongo({ database }, { NCA_MONGODB_URL: server.url });
const userCollections = async (db: Db) => (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
const format1Backup = (target: MongoTarget) =>
  backupToFs({ backup: (t: MongoTarget, sink: ArtifactSink, log: Logger) => backupMongo(t, sink, log, FORMAT1_WRITER) }, target, quiet);
const factsOf = (result: ComponentBackupResult, source = result.source) => ({ backupId: '20261201T000000Z-mongo1', fingerprint: result.fingerprint, source });

/** Names that look like the archive's own suffixes, dots, unicode; field names with dots and $. */
const HOSTILE_NAMES = ['a.b.c', 'x.bson.000001', 'y.done', 'z.metadata', 'épisodes 日本 🧠'];

async function loadHostile(db: Db): Promise<void> {
  // Several parts: about 3 KB a document.
  await db.collection<{ _id: BSON.Int32 }>('long_memories').insertMany(
    Array.from({ length: 3000 }, (_, i) => ({
      _id: new Int32(i),
      memory_id: `m-${i}`,
      'content.text': `Erinnerung ${i}: 東京の庭 🌱 `.repeat(80),
      metadata: { '$score': new Double(i / 3), 'a.b': [new Int32(i), Long.fromNumber(i * 2 ** 40)], ü: null },
    })),
  );
  await db.collection('long_memories').createIndex({ memory_id: 1 }, { unique: true });
  // One document just under MongoDB's 16 MiB limit: a part of its own, larger than PART_BYTES.
  await db.collection('big').insertOne({ _id: 'big' as never, payload: new Binary(Buffer.alloc(16 * 1024 * 1024 - 200, 7)) });
  await db.collection('big').insertOne({ _id: 'small' as never, note: 'after the big one' });
  for (const [i, name] of HOSTILE_NAMES.entries()) {
    await db.collection(name).insertMany(Array.from({ length: 5 + i }, (_, k) => ({ k, name, 'dotted.field': `${name}#${k}`, nested: { '$ref_like': k } })));
  }
  // Many small collections, every third one empty.
  for (let i = 0; i < 40; i++) {
    const name = `small_${String(i).padStart(3, '0')}`;
    if (i % 3 === 0) await db.createCollection(name);
    else await db.collection(name).insertMany(Array.from({ length: i % 5 }, (_, k) => ({ i, k })).concat([{ i, k: -1 }]));
  }
  await db.createCollection('empty', { validator: { k: { $gte: 0 } } });
}

describe('mongodb archive formats', () => {
  let database: string;
  let target: MongoTarget;
  let live: Record<string, { count: number; digest: string }>;
  let v2: { artifacts: FsArtifacts; result: ComponentBackupResult };
  let v1: { artifacts: FsArtifacts; result: ComponentBackupResult };

  beforeAll(async () => {
    database = 'hostile';
    await loadHostile(client.db(database));
    target = await targetOf(database);
    live = await mongodb.fingerprint(target);
    v2 = await backupToFs(mongodb, target, quiet);
    v1 = await format1Backup(target);
  }, 120_000);

  test('format 2 (read once, in parallel) and format 1 (read twice, in turn) fingerprint the same hostile data alike', async () => {
    expect(Object.keys(live)).toHaveLength(2 * (2 + HOSTILE_NAMES.length + 40 + 1));
    expect(v2.result.fingerprint).toEqual(live);
    expect(v1.result.fingerprint).toEqual(live);
    expect(v2.result.source).toMatchObject({ formatVersion: 2 });
    expect(v1.result.source).toMatchObject({ formatVersion: 1 });
    expect(v2.result.report).toEqual(v1.result.report);

    const headers: tar.Header[] = [];
    const extract = tar.extract();
    Readable.from([readFileSync(`${v2.artifacts.dir}/${database}.tar`)]).pipe(extract as unknown as NodeJS.WritableStream);
    for await (const entry of extract) {
      headers.push(entry.header);
      entry.resume();
    }
    const parts = (file: string) => headers.filter((h) => h.name.startsWith(`${database}/${file}.bson.`));
    expect(parts('long_memories').length).toBeGreaterThanOrEqual(3);
    expect(parts('long_memories').every((h) => (h.size ?? 0) <= PART_BYTES)).toBe(true);
    expect(parts('big').map((h) => h.size! > PART_BYTES)).toEqual([true, false]);
    expect(parts('x.bson.000001').map((h) => h.name)).toEqual([`${database}/x.bson.000001.bson.000000`]);
    expect(parts('empty')).toEqual([]);
  });

  test.each([
    ['format 2', () => v2, (r: ComponentBackupResult) => r.source],
    // A manifest written before issue 16 records no formatVersion.
    ['format 1 (what backups before issue 16 hold)', () => v1, ({ source: { formatVersion: _v, ...source } }: ComponentBackupResult) => source],
  ])('a backup in %s restores with parallel batches to the same fingerprint, indexes and options', async (label, backup, recorded) => {
    const { artifacts, result } = backup();
    const copy = withDatabase(target, `hostile_copy_${label.slice(7, 8)}`);
    const restored = await mongodb.restore(artifacts.source(factsOf(result, recorded(result))), copy, {}, quiet);
    expect(restored.details).toMatchObject({ documents: result.report!.documents, indexes: 1 });
    expect(await mongodb.fingerprint(copy)).toEqual(live);
    await expect(mongodb.verifyRestore!(result.fingerprint, artifacts.source(), copy, {}, quiet)).resolves.toMatchObject({ differences: [] });
    const back = await client.db(copy.database).collection('long_memories').findOne({ _id: new Int32(7) as never }, { promoteValues: false });
    expect(back).toMatchObject({ 'content.text': expect.stringContaining('東京の庭 🌱'), metadata: { '$score': new Double(7 / 3) } });
  });

  test('a manifest and an archive that disagree on the format are refused before anything is written', async () => {
    const copy = withDatabase(target, 'hostile_mismatch');
    const failure = mongodb.restore(v2.artifacts.source(factsOf(v2.result, { ...v2.result.source, formatVersion: 1 })), copy, {}, quiet);
    await expect(failure).rejects.toThrow(InvalidInputError);
    await expect(failure).rejects.toThrow(/the manifest records archive format 1, the archive is format 2/);
    expect(await userCollections(client.db('hostile_mismatch'))).toEqual([]);
  });
});

/** A tar built from the archive formats' spec (archive.ts), independent of the component's writers. */
async function tarOf(entries: readonly { name: string; body?: Buffer }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk) => void chunks.push(chunk as Buffer));
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const { name, body } of entries) {
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      if (body) pack.entry({ name }, body, done);
      else pack.entry({ name, type: 'directory' }, done);
    });
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

const metadataOf = (collectionName: string, indexes: Document[] = []) =>
  Buffer.from(BSON.EJSON.stringify({ options: {}, indexes: [{ v: 2, key: { _id: 1 }, name: '_id_' }, ...indexes], collectionName, type: 'collection' }, { relaxed: false }));
const bson = (docs: readonly Document[]) => Buffer.concat(docs.map((d) => BSON.serialize(d)));

async function storedArchive(database: string, bytes: Buffer): Promise<FsArtifacts> {
  const artifacts = fsArtifacts();
  await artifacts.sink.write(`${database}.tar`, Readable.from([bytes]), { contentType: 'application/x-tar' });
  return artifacts;
}

describe('mongodb restores of archives built from the formats\' spec', () => {
  test('format 1 (mongodump\'s layout, one .bson per collection) restores', async () => {
    const docs = Array.from({ length: 2500 }, (_, i) => ({ _id: i, memory_id: `m${i}`, text: `memory ${i}` }));
    const bytes = await tarOf([
      { name: 'spec1/' },
      { name: 'spec1/memories.metadata.json', body: metadataOf('memories', [{ v: 2, key: { memory_id: 1 }, name: 'memory_id_1', unique: true }]) },
      { name: 'spec1/caf%C3%A9.metadata.json', body: metadataOf('café') },
      { name: 'spec1/memories.bson', body: bson(docs) },
      { name: 'spec1/caf%C3%A9.bson', body: Buffer.alloc(0) },
    ]);
    const artifacts = await storedArchive('spec1', bytes);
    const copy = await targetOf('spec1_copy');
    const restored = await mongodb.restore(artifacts.source(), copy, {}, quiet);
    expect(restored.details).toEqual({ collections: ['memories', 'café'], documents: 2500, indexes: 1 });
    const fingerprint = await mongodb.fingerprint(copy);
    expect(fingerprint.memories.count).toBe(2500);
    expect(fingerprint['café'].count).toBe(0);
    expect(await client.db('spec1_copy').collection('memories').countDocuments({ text: 'memory 2499' })).toBe(1);
  });

  test('a parallel restore refused part-way (a duplicate _id in a later part) replaces nothing and leaves no staging collection', async () => {
    const database = 'refused';
    const db = client.db(database);
    await db.collection('memories').insertMany([{ _id: 'kept' as never, text: 'what the target held' }]);
    await db.collection('notes').insertOne({ note: 'another collection' });
    const before = await mongodb.fingerprint(await targetOf(database));
    const collections = await userCollections(db);

    const part = (p: number) => Array.from({ length: 1000 }, (_, i) => ({ _id: p * 1000 + i, text: `part ${p} document ${i}` }));
    const parts = [0, 1, 2, 3, 4].map(part);
    parts[3][500]._id = 17; // already in part 0: the server refuses it, after earlier batches went in
    const bytes = await tarOf([
      { name: 'nca-backup-format.json', body: Buffer.from(JSON.stringify({ format: 'nca-backup mongodb archive', version: 2, partBytes: PART_BYTES })) },
      { name: `${database}/` },
      { name: `${database}/memories.metadata.json`, body: metadataOf('memories') },
      { name: `${database}/notes.metadata.json`, body: metadataOf('notes') },
      ...parts.map((docs, p) => ({ name: `${database}/memories.bson.00000${p}`, body: bson(docs) })),
      { name: `${database}/memories.done.json`, body: Buffer.from(JSON.stringify({ collectionName: 'memories', documents: 5000, bytes: bson(parts.flat()).length, parts: 5 })) },
      { name: `${database}/notes.bson.000000`, body: bson([{ _id: 1, note: 'from the archive' }]) },
      { name: `${database}/notes.done.json`, body: Buffer.from(JSON.stringify({ collectionName: 'notes', documents: 1, bytes: bson([{ _id: 1, note: 'from the archive' }]).length, parts: 1 })) },
    ]);
    const artifacts = await storedArchive(database, bytes);
    const error = await rejection(mongodb.restore(artifacts.source(), await targetOf(database), {}, quiet));
    expect(error.name).toBe('ToolError');
    expect(error.message).toMatch(/failed while restoring.*(11000|duplicate key)/i);
    expect(await mongodb.fingerprint(await targetOf(database))).toEqual(before);
    expect(await userCollections(db)).toEqual(collections);
  });
});

describe('a read failing in one collection', () => {
  const saved = process.env.NCA_STREAMS;
  afterEach(() => void (process.env.NCA_STREAMS = saved));

  test('fails the whole backup with a typed error naming the collection; the attempt leaves no manifest and no object', async () => {
    process.env.NCA_STREAMS = '2';
    const database = 'cursorfail';
    const db = client.db(database);
    // Larger than two of the server's 16 MiB batches: its cursor stays open on the server while it is read.
    for (let start = 0; start < 400; start += 50) {
      await db.collection('a_big').insertMany(Array.from({ length: 50 }, (_, i) => ({ _id: start + i, blob: 'x'.repeat(100_000) })) as never[]);
    }
    await db.collection('b_small').insertMany([{ n: 1 }, { n: 2 }]);
    await db.collection('c_small').insertMany([{ n: 3 }]);
    const bucket = await createTestBucket(testS3Client());
    const vault = vaultOf(bucket);
    const config = testRuntimeConfig({ bucket, components: { mongodb: { group: 'database', source: { database } } } as never });
    // Once a small collection is in (a_big, read beside it, is far from done), every open cursor is killed
    // by another client, as an operator's killCursors or a server's cursor timeout would.
    let killed: Promise<unknown> | undefined;
    const log: Logger = {
      info: (message) => {
        if (message !== 'collection backed up' || killed) return;
        killed = db.command({ killCursors: 'a_big', cursors: Array.from({ length: 200 }, (_, i) => Long.fromNumber(i + 1)) });
      },
      warn: () => undefined,
    };
    const backupId = '20261201T000000Z-c0501a';
    const ctx = { config, vault, env: { ...process.env, NCA_MONGODB_URL: server.url }, log, runner: 'lambda', now: () => new Date() };

    const error = await rejection(runBackup(ctx, { component: 'mongodb', backupId, trigger: 'manual' }));
    expect(killed).toBeDefined();
    await killed;
    expect(error.name).toBe('ToolError');
    expect(error.message).toMatch(/failed while backing up collection "a_big" \(CursorNotFound 43\)/);
    expect(await vault.listKeys(manifestKey('database', 'mongodb', backupId).replace(/manifest\.json$/, ''))).toEqual([]);
    // The source is as it was.
    expect(await db.collection('a_big').countDocuments()).toBe(400);
  }, 60_000);
});
