/**
 * The mongodb component through the official driver against the wire-protocol test server
 * (test/support/mongo-wire-server.ts; no MongoDB server installs on the test machines): backup and restore
 * round trips of episodic memories with every common BSON type and the NCA's indexes, the mongodump layout
 * of the archive, fingerprints, collection selection, retargeting, snapshot consistency on a replica set,
 * and bad inputs that must leave the target as it was.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BSON, MongoClient, type Db, type Document } from 'mongodb';
import { connectMongo, mongodb, mongodbEntry, parseMongoRestoreOptions, withDatabase, type MongoTarget } from '../../functions/components/mongodb';
import { bsonDocuments, escapeCollectionName } from '../../functions/components/mongodb/archive';
import { IntegrityError, InvalidInputError, TransientError, VersionMismatchError } from '../../functions/core/errors';
import type { ArtifactSink, Logger } from '../../functions/components/types';
import { sinkAfter } from '../support/artifact-streams';
import { backupToFs, fsArtifacts, readArtifact, type FsArtifacts } from '../support/fs-artifacts';
import { startMongoWireServer, type MongoWireServer } from '../support/mongo-wire-server';

const { Binary, Decimal128, Double, Int32, Long, ObjectId } = BSON;

const warnings: string[] = [];
const quiet: Logger = { info: () => undefined, warn: (message) => void warnings.push(message) };

let standalone: MongoWireServer;
let replicaSet: MongoWireServer;
let client: MongoClient;
let rsClient: MongoClient;

beforeAll(async () => {
  [standalone, replicaSet] = await Promise.all([startMongoWireServer(), startMongoWireServer({ replicaSet: true })]);
  client = await new MongoClient(standalone.url).connect();
  rsClient = await new MongoClient(replicaSet.url).connect();
});

afterAll(async () => {
  await Promise.all([client?.close(), rsClient?.close()]);
  await Promise.all([standalone?.stop(), replicaSet?.stop()]);
});

const targetOn = (server: MongoWireServer, database: string, extra: { collections?: string[] } = {}) =>
  connectMongo({ database, ...extra }, { NCA_MONGODB_URL: server.url });

const SPECIAL = 'episodes/2026 café';

/** An episodic memory as the NCA stores it, with the BSON types a backup must carry unchanged. */
function memory(i: number): Document {
  const created = new Date(Date.UTC(2026, 0, 1) + i * 3_600_000);
  return {
    _id: new ObjectId(),
    memory_id: randomUUID(),
    content: {
      text: `Conversation ${i} about the garden, the weather and plans for the weekend.`,
      summary: `garden talk ${i}`,
      // A Map keeps field order as written: integer-like keys after others, which a JS object would reorder.
      json_data: new Map<string, unknown>([['speaker', `user-${i % 7}`], ['10', 'ten'], ['2', { turns: new Int32(i % 5) }]]),
      content_type: 'text/plain',
      language: i % 3 === 0 ? 'de' : 'en',
    },
    metadata: {
      status: ['active', 'archived', 'consolidated', 'forgotten', 'decaying'][i % 5],
      strength: new Double(0.5),
      access_count: new Int32(i % 11),
      source: 'dialogue',
      tier: 'episodic',
      expires_at: null,
      priority: Long.fromNumber(i * 1_000_000_007),
      embedding_model: 'nomic-embed-text',
      embedding_dimensions: new Int32(8),
      updated_at: created,
    },
    embedding: Array.from({ length: 8 }, (_, k) => new Double(Math.sin(i + k))),
    created_at: created,
    importance: new Double((i % 10) / 10),
    tags: ['episodic', `topic-${i % 4}`],
    last_accessed: new Date(created.getTime() + 60_000),
    attachment: new Binary(Buffer.from(`audio-${i}`), 0),
    score: Decimal128.fromString(`${i}.125`),
  };
}

/** The NCA's episodic database: memories with their indexes, a validated log, a special name, an empty one. */
async function loadEpisodic(db: Db, memories = 300): Promise<void> {
  const coll = db.collection('memories');
  await coll.insertMany(Array.from({ length: memories }, (_, i) => memory(i)));
  await coll.createIndex({ memory_id: 1 }, { unique: true });
  await coll.createIndex({ created_at: -1 });
  await coll.createIndex({ importance: -1 });
  await coll.createIndex({ tags: 1 });
  await coll.createIndex({ last_accessed: 1 });
  await coll.createIndex({ 'content.text': 'text', 'content.summary': 'text' }, { weights: { 'content.summary': 5 }, name: 'content_text' });
  await db.createCollection('consolidation_log', { validator: { importance: { $gte: 0 } }, validationLevel: 'moderate' });
  await db.collection<{ _id: number }>('consolidation_log').insertMany(Array.from({ length: 40 }, (_, i) => ({ _id: i, at: new Date(i * 1000), moved: Long.fromNumber(i), note: null })));
  await db.collection(SPECIAL).insertMany([{ title: 'first' }, { title: 'second', nested: { deep: [1, [2, { x: 3 }]] } }]);
  await db.createCollection('empty_buffer');
}

const backupOf = (target: MongoTarget, sink?: (artifacts: FsArtifacts) => ArtifactSink) => backupToFs(mongodb, target, quiet, sink);

let sequence = 0;
const dbName = (label: string) => `${label}_${++sequence}`;

async function episodicTarget(server: MongoWireServer, c: MongoClient, label: string, memories?: number) {
  const name = dbName(label);
  await loadEpisodic(c.db(name), memories);
  return { name, target: await targetOn(server, name) };
}

const userCollections = async (db: Db) => (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();

describe('mongodb backup and restore', () => {
  test('a restore into another database reproduces every document byte for byte, the options and the indexes', async () => {
    const { name, target } = await episodicTarget(standalone, client, 'roundtrip');
    const { artifacts, result } = await backupOf(target);

    expect(result.artifacts).toEqual([expect.objectContaining({ name: `${name}.tar`, contentType: 'application/x-tar' })]);
    expect(result.source).toMatchObject({ serverVersion: '7.0.14', serverMajor: 7, database: name, collections: 4, replicaSet: null });
    expect(result.consistency.pointInTime).toBe(false);
    expect(result.consistency.method).toMatch(/standalone/);
    expect(result.fingerprint.memories.count).toBe(300);
    expect(result.fingerprint['memories#metadata'].count).toBe(7);
    expect(result.fingerprint.consolidation_log.count).toBe(40);
    expect(result.fingerprint[SPECIAL].count).toBe(2);
    expect(result.fingerprint.empty_buffer.count).toBe(0);
    expect(result.report).toMatchObject({ collections: ['consolidation_log', 'empty_buffer', SPECIAL, 'memories'], documents: 342 });
    expect(await mongodb.fingerprint(target)).toEqual(result.fingerprint);

    const copy = withDatabase(target, `${name}_copy`);
    expect(await mongodb.targetExists(copy)).toBe(false);
    const restored = await mongodb.restore(artifacts.source(), copy, {}, quiet);
    expect(restored).toEqual({ target: `${name}_copy`, replacedExisting: false, details: { collections: ['consolidation_log', 'empty_buffer', SPECIAL, 'memories'], documents: 342, indexes: 6 } });
    expect(await mongodb.targetExists(copy)).toBe(true);
    expect(await mongodb.fingerprint(copy)).toEqual(result.fingerprint);
    await expect(mongodb.verifyRestore!(result.fingerprint, artifacts.source(), copy, {}, quiet)).resolves.toMatchObject({ differences: [], objects: 8 });

    // What an application reads back: the same values with the same BSON types, and working indexes.
    const original = await client.db(name).collection('memories').findOne({}, { sort: { _id: 1 }, promoteValues: false });
    const back = await client.db(`${name}_copy`).collection('memories').findOne({ _id: original!._id }, { promoteValues: false });
    expect(back).toEqual(original);
    expect(back!.score).toBeInstanceOf(Decimal128);
    expect(back!.metadata.priority).toBeInstanceOf(Long);
    expect(back!.attachment).toBeInstanceOf(Binary);
    const indexes = await client.db(`${name}_copy`).collection('memories').listIndexes().toArray();
    expect(indexes.map((i) => i.name)).toEqual(['_id_', 'memory_id_1', 'created_at_-1', 'importance_-1', 'tags_1', 'last_accessed_1', 'content_text']);
    expect(indexes.find((i) => i.name === 'memory_id_1')).toMatchObject({ unique: true });
    expect(indexes.find((i) => i.name === 'content_text')).toMatchObject({ key: { _fts: 'text', _ftsx: 1 }, weights: { 'content.summary': 5, 'content.text': 1 } });
    await expect(client.db(`${name}_copy`).collection('memories').insertOne({ memory_id: original!.memory_id })).rejects.toMatchObject({ code: 11000 });
    const options = ((await client.db(`${name}_copy`).listCollections({ name: 'consolidation_log' }).toArray())[0] as Document).options;
    expect(options).toEqual({ validator: { importance: { $gte: 0 } }, validationLevel: 'moderate' });
  });

  test('numbers keep their BSON types and values: an int64 beyond 2^53 or small enough for int32, a double 1.0 or -0.0, an int32', async () => {
    const name = dbName('numbers');
    const docs: Document[] = [
      { _id: 1, memory_id: 'a', sequence: Long.fromString('9007199254740993'), importance: new Double(1), count: new Int32(1) },
      { _id: 2, memory_id: 'b', sequence: Long.fromNumber(7), importance: new Double(-0), count: new Int32(-2147483648) },
      { _id: 3, memory_id: 'c', nested: { values: [Long.fromString('-9223372036854775808'), new Double(2), new Int32(2)] } },
    ];
    await client.db(name).collection<Document>('ltm_memories').insertMany(docs);
    const rawDocs = async (db: string) =>
      (await client.db(db).collection('ltm_memories').find({}, { raw: true, sort: { _id: 1 } }).toArray()).map((d) => Buffer.from(d as unknown as Buffer).toString('hex'));
    // Independent of the component: the bytes the driver itself encodes for these documents.
    const expected = docs.map((d) => Buffer.from(BSON.serialize(d)).toString('hex'));
    expect(await rawDocs(name)).toEqual(expected);

    const target = await targetOn(standalone, name);
    const { artifacts, result } = await backupOf(target);
    const copy = withDatabase(target, `${name}_copy`);
    await mongodb.restore(artifacts.source(), copy, {}, quiet);
    expect(await rawDocs(`${name}_copy`)).toEqual(expected);
    expect(await mongodb.fingerprint(copy)).toEqual(result.fingerprint);
    const back = await client.db(`${name}_copy`).collection('ltm_memories').findOne({ _id: 1 as never }, { promoteValues: false });
    expect(back!.sequence).toEqual(Long.fromString('9007199254740993'));
    expect(back!.importance).toBeInstanceOf(Double);
  });

  test('the archive is mongodump\'s directory layout in parts: metadata first, then parts of raw documents in _id order, each collection closed by its done file', async () => {
    const { name, target } = await episodicTarget(standalone, client, 'layout', 50);
    const { artifacts, result } = await backupOf(target);
    expect(result.source).toMatchObject({ formatVersion: 2 });
    const tarFile = join(artifacts.dir, `${name}.tar`);
    const listed = execFileSync('tar', ['-tf', tarFile], { encoding: 'utf8' }).trim().split('\n');
    const special = escapeCollectionName(SPECIAL);
    expect(special).toBe('episodes%2F2026%20caf%C3%A9');
    expect(listed.slice(0, 6)).toEqual([
      'nca-backup-format.json',
      `${name}/`,
      `${name}/consolidation_log.metadata.json`,
      `${name}/empty_buffer.metadata.json`,
      `${name}/${special}.metadata.json`,
      `${name}/memories.metadata.json`,
    ]);
    // Collections are read in parallel, so their entries interleave; each one's part comes before its done file.
    const data = listed.slice(6);
    expect([...data].sort()).toEqual(
      [
        ...['consolidation_log', special, 'memories'].flatMap((file) => [`${name}/${file}.bson.000000`, `${name}/${file}.done.json`]),
        `${name}/empty_buffer.done.json`,
      ].sort(),
    );
    for (const file of ['consolidation_log', special, 'memories']) expect(data.indexOf(`${name}/${file}.bson.000000`)).toBeLessThan(data.indexOf(`${name}/${file}.done.json`));

    const dir = mkdtempSync(join(tmpdir(), 'nca-mongodump-'));
    try {
      execFileSync('tar', ['-xf', tarFile, '-C', dir]);
      expect(JSON.parse(readFileSync(join(dir, 'nca-backup-format.json'), 'utf8'))).toEqual({ format: 'nca-backup mongodb archive', version: 2, partBytes: 4 * 1024 * 1024 });
      // What the README tells a mongorestore user to do: join each collection's parts into its .bson file.
      for (const collection of ['consolidation_log', 'empty_buffer', SPECIAL, 'memories']) {
        const file = escapeCollectionName(collection);
        const parts = readdirSync(join(dir, name)).filter((f) => f.startsWith(`${file}.bson.`)).sort();
        writeFileSync(join(dir, name, `${file}.bson`), Buffer.concat(parts.map((part) => readFileSync(join(dir, name, part)))));
        expect(JSON.parse(readFileSync(join(dir, name, `${file}.done.json`), 'utf8'))).toEqual({ collectionName: collection, documents: result.fingerprint[collection].count, bytes: expect.any(Number), parts: parts.length });
      }
      for (const collection of ['consolidation_log', 'empty_buffer', SPECIAL, 'memories']) {
        const file = escapeCollectionName(collection);
        const bson = readFileSync(join(dir, name, `${file}.bson`));
        // Parse the file independently of the component: length-prefixed documents back to back.
        const docs: Document[] = [];
        for (let p = 0; p < bson.length; p += bson.readInt32LE(p)) docs.push(BSON.deserialize(bson.subarray(p, p + bson.readInt32LE(p))));
        expect(docs).toHaveLength(result.fingerprint[collection].count);
        const ids = docs.map((d) => String(d._id));
        expect(ids).toEqual([...ids].sort((a, b) => (typeof docs[0]._id === 'number' ? Number(a) - Number(b) : a < b ? -1 : 1)));
        // The fingerprint digest is the SHA-256 of exactly this file.
        expect(createHash('sha256').update(bson).digest('hex')).toBe(result.fingerprint[collection].digest);

        const meta = BSON.EJSON.parse(readFileSync(join(dir, name, `${file}.metadata.json`), 'utf8'), { relaxed: false }) as Document;
        expect(Object.keys(meta)).toEqual(['options', 'indexes', 'uuid', 'collectionName', 'type']);
        expect(meta).toMatchObject({ collectionName: collection, type: 'collection', uuid: expect.stringMatching(/^[0-9a-f]{32}$/) });
        expect(meta.indexes[0]).toEqual({ v: new Int32(2), key: { _id: new Int32(1) }, name: '_id_' });
      }
      const memoriesMeta = JSON.parse(readFileSync(join(dir, name, 'memories.metadata.json'), 'utf8'));
      // Canonical extended JSON, as mongodump writes it.
      expect(memoriesMeta.indexes[1]).toEqual({ v: { $numberInt: '2' }, key: { memory_id: { $numberInt: '1' } }, name: 'memory_id_1', unique: true });
      expect(memoriesMeta.indexes.map((i: Document) => i.name)).toContain('content_text');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the fingerprint sees a changed value, an extra document and a missing index; a restore over the damage repairs it', async () => {
    const { name, target } = await episodicTarget(standalone, client, 'damaged', 100);
    const { artifacts, result } = await backupOf(target);
    const db = client.db(name);
    await db.collection('memories').updateOne({}, { $set: { 'content.summary': 'tampered' } });
    let after = await mongodb.fingerprint(target);
    expect(after.memories.count).toBe(100);
    expect(after.memories.digest).not.toBe(result.fingerprint.memories.digest);
    expect(after.consolidation_log).toEqual(result.fingerprint.consolidation_log);

    await db.collection<{ _id: number; note: string }>('consolidation_log').insertOne({ _id: 999, note: 'extra' });
    await db.collection('memories').createIndex({ 'metadata.status': 1 });
    after = await mongodb.fingerprint(target);
    expect(after.consolidation_log.count).toBe(41);
    expect(after['memories#metadata'].count).toBe(8);
    expect(after['memories#metadata'].digest).not.toBe(result.fingerprint['memories#metadata'].digest);

    // A collection the backup does not have stays: drop-and-replace covers the restored collections only.
    await db.collection('scratch').insertOne({ keep: true });
    expect(await mongodb.targetExists(target)).toBe(true);
    const restored = await mongodb.restore(artifacts.source(), target, {}, quiet);
    expect(restored).toMatchObject({ target: name, replacedExisting: true });
    const { scratch, 'scratch#metadata': _scratchMetadata, ...restoredFingerprint } = await mongodb.fingerprint(target);
    expect(scratch.count).toBe(1);
    expect(restoredFingerprint).toEqual(result.fingerprint);
    expect(await userCollections(db)).toEqual(['consolidation_log', 'empty_buffer', SPECIAL, 'memories', 'scratch']);
    await expect(mongodb.verifyRestore!(result.fingerprint, artifacts.source(), target, {}, quiet)).resolves.toMatchObject({ differences: [] });
  });

  test('a selection restores only the named collections; verification covers exactly those', async () => {
    const { name, target } = await episodicTarget(standalone, client, 'selection', 30);
    const { artifacts, result } = await backupOf(target);
    const copy = withDatabase(target, `${name}_memories`);
    const options = parseMongoRestoreOptions({ collections: ['memories', SPECIAL] });
    const restored = await mongodb.restore(artifacts.source(), copy, options, quiet);
    expect(restored.details).toMatchObject({ collections: [SPECIAL, 'memories'], documents: 32 });
    expect(await userCollections(client.db(`${name}_memories`))).toEqual([SPECIAL, 'memories']);
    const verification = await mongodb.verifyRestore!(result.fingerprint, artifacts.source(), copy, options, quiet);
    expect(verification).toMatchObject({ differences: [], objects: 4 });

    // Damage after the restore fails the verification of the selection.
    await client.db(`${name}_memories`).collection('memories').deleteOne({});
    const failed = await mongodb.verifyRestore!(result.fingerprint, artifacts.source(), copy, options, quiet);
    expect(failed.differences).toEqual([expect.objectContaining({ object: 'memories', expected: result.fingerprint.memories })]);
  });

  test('the registry entry retargets to another database name and refuses one MongoDB cannot have', async () => {
    const target = await mongodbEntry.connect({ database: 'neuroca_episodic' }, { NCA_MONGODB_URL: standalone.url });
    expect(target.database).toBe('neuroca_episodic');
    expect(mongodbEntry.retarget(target, {}).database).toBe('neuroca_episodic');
    expect(mongodbEntry.retarget(target, { targetDatabase: 'episodic_restored' }).database).toBe('episodic_restored');
    expect(() => mongodbEntry.retarget(target, { targetDatabase: 'a/b' })).toThrow(/targetDatabase 'a\/b' is not a MongoDB database name/);
    expect(() => mongodbEntry.retarget(target, { targetDatabase: 'has.dot' })).toThrow(InvalidInputError);
  });

  test('an empty database backs up as an empty archive with a warning, and restores as nothing', async () => {
    const name = dbName('empty');
    const target = await targetOn(standalone, name);
    warnings.length = 0;
    const { artifacts, result } = await backupOf(target);
    expect(result.fingerprint).toEqual({});
    expect(result.source.collections).toBe(0);
    expect(result.report).toMatchObject({ collections: [], documents: 0, warnings: [expect.stringMatching(/no collections/)] });
    expect(warnings).toContain('nothing to back up');
    expect(execFileSync('tar', ['-tf', join(artifacts.dir, `${name}.tar`)], { encoding: 'utf8' }).trim()).toBe(`nca-backup-format.json\n${name}/`);
    const restored = await mongodb.restore(artifacts.source(), withDatabase(target, `${name}_copy`), {}, quiet);
    expect(restored).toEqual({ target: `${name}_copy`, replacedExisting: false, details: { collections: [], documents: 0, indexes: 0 } });
  });

  test('estimate is the data size of the database, about the size of the archive', async () => {
    const { target } = await episodicTarget(standalone, client, 'estimate', 80);
    const estimate = await mongodb.estimate(target);
    const { result } = await backupOf(target);
    expect(estimate).toBeGreaterThan(0);
    expect(estimate).toBeLessThanOrEqual(result.artifacts[0].bytes);
    expect(estimate).toBeGreaterThan(result.artifacts[0].bytes * 0.8);
  });

  test('configured collections: only those are backed up; a configured collection that does not exist is an error', async () => {
    const { name } = await episodicTarget(standalone, client, 'configured', 20);
    const only = await targetOn(standalone, name, { collections: ['memories'] });
    const { result } = await backupOf(only);
    expect(Object.keys(result.fingerprint).sort()).toEqual(['memories', 'memories#metadata']);
    const missing = await targetOn(standalone, name, { collections: ['memories', 'semantic'] });
    await expect(mongodb.backup(missing, fsArtifacts().sink, quiet)).rejects.toThrow(/sources\.mongodb\.collections names "semantic", not in database/);
  });
});

describe('mongodb consistency', () => {
  /** A sink that writes to the collection before it reads the archive: after the size pass, before the data pass. */
  const writingSink = (c: MongoClient, database: string) => (artifacts: FsArtifacts): ArtifactSink =>
    sinkAfter(artifacts.sink, () => c.db(database).collection('memories').insertOne(memory(10_000)));

  test('on a replica set every collection is read at one snapshot: writes during the backup are not in it', async () => {
    const { name, target } = await episodicTarget(replicaSet, rsClient, 'snapshot', 60);
    const before = await mongodb.fingerprint(target);
    const { artifacts, result } = await backupOf(target, writingSink(rsClient, name));
    expect(result.consistency.pointInTime).toBe(true);
    expect(result.consistency.method).toMatch(/snapshot/);
    expect(result.source.replicaSet).toBe('rs0');
    expect(result.fingerprint).toEqual(before);
    expect(await rsClient.db(name).collection('memories').countDocuments()).toBe(61);

    const copy = withDatabase(target, `${name}_copy`);
    await mongodb.restore(artifacts.source(), copy, {}, quiet);
    expect(await mongodb.fingerprint(copy)).toEqual(result.fingerprint);
  });

  test('on a standalone a collection written during the backup is read once: the archive and its fingerprint agree', async () => {
    const { name, target } = await episodicTarget(standalone, client, 'busy', 60);
    const { artifacts, result } = await backupOf(target, writingSink(client, name));
    expect(result.consistency.pointInTime).toBe(false);
    expect([60, 61]).toContain(result.fingerprint.memories.count);
    const copy = withDatabase(target, `${name}_copy`);
    await mongodb.restore(artifacts.source(), copy, {}, quiet);
    expect(await mongodb.fingerprint(copy)).toEqual(result.fingerprint);
  });
});

describe('mongodb failures leave the target as it was', () => {
  async function damagedTarget(label: string, memories = 120) {
    const { name, target } = await episodicTarget(standalone, client, label, memories);
    // A collection after "memories", larger than the chunk the digest check holds back until the end.
    await client.db(name).collection('word_index').insertMany(Array.from({ length: 300 }, (_, i) => ({ word: `w${i}`, postings: 'x'.repeat(500) })));
    const backup = await backupOf(target);
    // The target moves on after the backup, so "unchanged" is distinguishable from "restored".
    await client.db(name).collection('memories').deleteMany({ importance: { $lt: 0.5 } });
    await client.db(name).collection('fresh').insertOne({ since: 'backup' });
    return { name, target, ...backup, before: await mongodb.fingerprint(target), collections: await userCollections(client.db(name)) };
  }

  // The archive is larger than one read chunk, so damage early in it reaches the restore before the digest
  // check at the end: whether the damaged data was staged ("collection read memories") or refused as
  // unparseable, the restore must replace nothing.
  test.each([
    ['its last byte (held back until the digest is checked)', (bytes: Buffer) => [bytes.length - 1, 0xff], true],
    ['a document\'s text, the archive still parsing (every collection is staged, then thrown away)', (bytes: Buffer) => [bytes.indexOf('garden talk 40'), 0x01], true],
    // The entry's 512-byte header starts with its name; the first document's length follows the header.
    ['a document length, the archive no longer parsing', (bytes: Buffer, name: string) => [bytes.indexOf(`${name}/memories.bson`) + 512, 0xff], false],
  ] as const)('a corrupted artifact, damaged in %s, is an IntegrityError and nothing is replaced', async (_where, damage, staged) => {
    const { name, target, artifacts, before, collections } = await damagedTarget('corrupt', 1500);
    const file = `${name}.tar`;
    const bytes = readArtifact(artifacts, file);
    expect(bytes.length).toBeGreaterThan(1024 * 1024);
    const [offset, mask] = damage(bytes, name);
    expect(offset).toBeGreaterThan(0);
    bytes[offset] ^= mask;
    artifacts.corrupt(file, bytes);
    const progress: string[] = [];
    const log: Logger = { info: (message, fields) => void progress.push(`${message} ${fields?.collection ?? ''}`), warn: () => undefined };
    await expect(mongodb.restore(artifacts.source(), target, {}, log)).rejects.toThrow(IntegrityError);
    // Collections are read in parallel, so which one ends the archive (in its last bytes, held back) varies:
    // "staged" means documents reached a staging collection; a broken first part of memories means it never did.
    if (staged) expect(progress.some((line) => line.startsWith('collection read'))).toBe(true);
    else expect(progress.includes('collection read memories')).toBe(false);
    expect(await mongodb.fingerprint(target)).toEqual(before);
    expect(await userCollections(client.db(name))).toEqual(collections);
  });

  test('a selection naming a collection the backup lacks is refused before anything is written', async () => {
    const { name, target, artifacts, before, collections } = await damagedTarget('missing');
    const failure = mongodb.restore(artifacts.source(), target, parseMongoRestoreOptions({ collections: ['memories', 'semantic_memory'] }), quiet);
    await expect(failure).rejects.toThrow(InvalidInputError);
    await expect(failure).rejects.toThrow(/options\.collections names "semantic_memory", not in this backup.*holds: consolidation_log, empty_buffer/);
    expect(await mongodb.fingerprint(target)).toEqual(before);
    expect(await userCollections(client.db(name))).toEqual(collections);
  });

  test('bad restore options name the field and what is allowed', () => {
    expect(parseMongoRestoreOptions({})).toEqual({});
    expect(parseMongoRestoreOptions({ collections: ['memories'] })).toEqual({ collections: ['memories'] });
    expect(() => parseMongoRestoreOptions({ tables: ['x'] })).toThrow(/unknown restore option options\.tables.*options\.collections/);
    expect(() => parseMongoRestoreOptions({ targetDatabase: 'x' })).toThrow(/options\.targetDatabase/);
    expect(() => parseMongoRestoreOptions({ collections: 'memories' })).toThrow(/options\.collections must be a non-empty list/);
    expect(() => parseMongoRestoreOptions({ collections: [] })).toThrow(/options\.collections must be a non-empty list/);
    expect(() => parseMongoRestoreOptions({ collections: ['system.users'] })).toThrow(/options\.collections/);
    expect(() => parseMongoRestoreOptions({ collections: ['a', 'a'] })).toThrow(/options\.collections lists a more than once/);
  });

  test('an older major version is refused before the restore, naming both versions; same or newer passes', async () => {
    const { target } = await episodicTarget(standalone, client, 'versions', 5);
    const described = await mongodb.describe(target);
    expect(described).toMatchObject({ serverVersion: '7.0.14', serverMajor: 7, collections: 4 });
    const older = await startMongoWireServer({ version: '6.0.20' });
    const newer = await startMongoWireServer({ version: '8.0.4' });
    try {
      const failure = mongodb.checkCompatibility(described, await targetOn(older, 'restored'));
      await expect(failure).rejects.toThrow(VersionMismatchError);
      await expect(failure).rejects.toThrow(/MongoDB 7\.0\.14; the target server runs 6\.0\.20/);
      await expect(mongodb.checkCompatibility(described, await targetOn(newer, 'restored'))).resolves.toMatchObject({ targetVersion: '8.0.4' });
      await expect(mongodb.checkCompatibility(described, target)).resolves.toMatchObject({ targetVersion: '7.0.14' });
    } finally {
      await Promise.all([older.stop(), newer.stop()]);
    }
  });
});

describe('mongodb connections', () => {
  const source = { database: 'neuroca_episodic' };

  test('NCA_MONGODB_URL wins; a DocumentDB-style secret gives TLS and credentials that never show', async () => {
    const secret = JSON.stringify({ host: 'docdb.cluster-x.eu-west-1.docdb.amazonaws.com', port: 27017, username: 'backup', password: 'pa55-word' });
    const fetch = async () => secret;
    const local = await connectMongo({ ...source, secretArn: 'arn:secret' }, { NCA_MONGODB_URL: standalone.url }, fetch);
    expect(local.url).toBe(standalone.url);

    const docdb = await connectMongo({ ...source, secretArn: 'arn:secret', collections: ['memories'] }, {}, fetch);
    expect(docdb.hosts).toBe('docdb.cluster-x.eu-west-1.docdb.amazonaws.com:27017');
    expect(docdb.clientOptions).toMatchObject({ tls: true, retryWrites: false, auth: { username: 'backup', password: 'pa55-word' } });
    expect(docdb.url).not.toContain('pa55-word');
    expect(docdb.collections).toEqual(['memories']);
    const plain = await connectMongo({ ...source, secretArn: 'arn:plain' }, {}, async () => JSON.stringify({ host: 'h', username: 'u', password: 'p', ssl: 'false' }));
    expect(plain.clientOptions.tls).toBe(false);

    const uri = await connectMongo({ ...source, secretArn: 'arn:secret' }, {}, async () => JSON.stringify({ uri: 'mongodb+srv://u:s3cret@cluster0.example.net/?retryWrites=true' }));
    expect(uri.hosts).toBe('cluster0.example.net');
    expect(uri.database).toBe('neuroca_episodic');
  });

  test('missing or unusable connection settings are clear errors without secrets in them', async () => {
    await expect(connectMongo(source, {})).rejects.toThrow(/no connection for MongoDB.*secret_arn/);
    await expect(connectMongo({ ...source, url: 'mongodb://u:hunter2@h:1/' }, {})).rejects.toThrow(/sources\.mongodb\.url carries a password/);
    await expect(connectMongo({ ...source, secretArn: 'arn:s' }, {}, async () => 'not json')).rejects.toThrow(/secret arn:s is not JSON/);
    await expect(connectMongo({ ...source, secretArn: 'arn:s' }, {}, async () => '{"username":"u"}')).rejects.toThrow(/neither uri nor host/);
    const bad = connectMongo(source, { NCA_MONGODB_URL: 'postgres://u:hunter2@h/' });
    await expect(bad).rejects.toThrow(/NCA_MONGODB_URL is not a mongodb:\/\//);
    await expect(bad).rejects.not.toThrow(/hunter2/);
  });

  test('an unreachable server is a TransientError naming the hosts, never the password', async () => {
    const closed = await startMongoWireServer();
    await closed.stop();
    const target = await connectMongo(source, { NCA_MONGODB_URL: `mongodb://backup:hunter2@127.0.0.1:${closed.port}/?directConnection=true&serverSelectionTimeoutMS=300` });
    const failure = mongodb.estimate(target);
    await expect(failure).rejects.toThrow(TransientError);
    await expect(failure).rejects.toThrow(new RegExp(`cannot reach MongoDB at 127\\.0\\.0\\.1:${closed.port}`));
    await expect(failure).rejects.not.toThrow(/hunter2/);
  });
});

describe('mongodb archive parsing', () => {
  test('documents split across chunks of any size come out whole; a truncated file is an error', async () => {
    const docs = [memory(1), memory(2), { _id: 3 }].map((d) => Buffer.from(BSON.serialize(d)));
    const file = Buffer.concat(docs);
    for (const size of [1, 3, 7, 64, file.length]) {
      const chunks = async function* () {
        for (let p = 0; p < file.length; p += size) yield file.subarray(p, p + size);
      };
      const out: Buffer[] = [];
      for await (const doc of bsonDocuments(chunks(), 'x.bson')) out.push(Buffer.from(doc));
      expect(out).toEqual(docs);
    }
    const truncated = async function* () {
      yield file.subarray(0, file.length - 3);
    };
    await expect((async () => {
      for await (const _doc of bsonDocuments(truncated(), 'x.bson'));
    })()).rejects.toThrow(/x\.bson ends inside a BSON document/);
  });
});
