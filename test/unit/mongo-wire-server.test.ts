/**
 * The MongoDB wire-protocol test server behaves as its header says, through the official driver: the
 * behaviour the mongodb component and the memory-tier export rely on (byte-exact storage, duplicate keys,
 * cursors, snapshot reads), so a test that passes against it passes for the right reason.
 */
import { BSON, MongoBulkWriteError, MongoClient, MongoServerError, type Document } from 'mongodb';
import { startMongoWireServer, type MongoWireServer } from '../support/mongo-wire-server';

/** Documents with any _id (the driver's default schema insists on ObjectId). */
type Loose = { _id?: number | BSON.ObjectId; [field: string]: unknown };

let server: MongoWireServer;
let rs: MongoWireServer;
let client: MongoClient;
let rsClient: MongoClient;

beforeAll(async () => {
  [server, rs] = await Promise.all([startMongoWireServer({ version: '6.0.20' }), startMongoWireServer({ replicaSet: true })]);
  [client, rsClient] = await Promise.all([new MongoClient(server.url).connect(), new MongoClient(rs.url).connect()]);
});

afterAll(async () => {
  await Promise.all([client.close(), rsClient.close()]);
  await Promise.all([server.stop(), rs.stop()]);
});

test('hello and buildInfo report the version and, for a replica set, its name', async () => {
  expect(server.url).toBe(`mongodb://127.0.0.1:${server.port}/?directConnection=true`);
  expect((await client.db('admin').command({ buildInfo: 1 })).version).toBe('6.0.20');
  expect((await client.db('admin').command({ hello: 1 })).setName).toBeUndefined();
  expect((await rsClient.db('admin').command({ hello: 1 })).setName).toBe('rs0');
});

test('documents come back as the bytes that were sent, across getMore batches, with _id moved first', async () => {
  const coll = client.db('bytes').collection<Loose>('docs');
  // Maps keep the field order as written ("10" after "b"), which a JS object would not.
  const docs = Array.from({ length: 250 }, (_, i) => new Map<string, unknown>([['b', new BSON.Double(i)], ['10', BSON.Long.fromNumber(i)], ['_id', i]]));
  await coll.insertMany(docs as never[]);
  const raw = (await coll.find({}, { sort: { _id: -1 }, raw: true, batchSize: 30 }).toArray()) as unknown as Buffer[];
  expect(raw).toHaveLength(250);
  const expected = BSON.serialize(new Map<string, unknown>([['_id', 249], ['b', new BSON.Double(249)], ['10', BSON.Long.fromNumber(249)]]) as never);
  expect(Buffer.from(raw[0]).equals(Buffer.from(expected))).toBe(true);
  expect(await coll.countDocuments({ b: { $gte: 200 } })).toBe(50);
  expect(await coll.find({ _id: { $in: [3, 4] } }, { projection: { _id: 1 } }).toArray()).toEqual([{ _id: 3 }, { _id: 4 }]);
});

test('unique indexes refuse duplicates with 11000: ordered inserts stop, unordered ones go on', async () => {
  const coll = client.db('dups').collection<Loose>('m');
  await coll.createIndex({ memory_id: 1 }, { unique: true });
  await coll.insertOne({ _id: 1, memory_id: 'a' });
  const ordered = coll.insertMany([{ memory_id: 'b' }, { memory_id: 'a' }, { memory_id: 'c' }]);
  await expect(ordered).rejects.toBeInstanceOf(MongoBulkWriteError);
  await expect(ordered).rejects.toMatchObject({ code: 11000, insertedCount: 1 });
  const unordered = coll.insertMany([{ _id: 1, memory_id: 'x' }, { memory_id: 'd' }], { ordered: false });
  await expect(unordered).rejects.toMatchObject({ code: 11000, insertedCount: 1 });
  expect((await coll.find({}, { sort: { memory_id: 1 } }).toArray()).map((d) => d.memory_id)).toEqual(['a', 'b', 'd']);
  await expect(coll.createIndex({ memory_id: 1 }, { unique: true, name: 'memory_id_1' })).resolves.toBe('memory_id_1');
});

test('collections and indexes: create, list, rename over a target, drop; text indexes listed as mongod lists them', async () => {
  const db = client.db('ddl');
  await db.createCollection('a', { validator: { x: { $type: 'int' } } });
  await expect(db.createCollection('a')).rejects.toMatchObject({ code: 48 });
  await db.collection('a').createIndex({ 'content.text': 'text' });
  expect((await db.collection('a').listIndexes().toArray())[1]).toEqual({
    v: 2,
    key: { _fts: 'text', _ftsx: 1 },
    name: 'content.text_text',
    weights: { 'content.text': 1 },
    default_language: 'english',
    language_override: 'language',
    textIndexVersion: 3,
  });
  await db.collection('b').insertOne({ old: true });
  await db.renameCollection('a', 'b', { dropTarget: true });
  const listed = await db.listCollections().toArray();
  expect(listed.map((c) => c.name)).toEqual(['b']);
  expect((listed[0] as Document).options).toEqual({ validator: { x: { $type: 'int' } } });
  expect(await db.collection('b').countDocuments()).toBe(0);
  expect(await db.collection('b').drop()).toBe(true);
  await expect(db.command({ noSuchThing: 1 })).rejects.toMatchObject({ code: 59 });
});

test('snapshot reads: a replica set reads at one cluster time; a standalone refuses them', async () => {
  const coll = rsClient.db('snap').collection('m');
  await coll.insertMany([{ n: 1 }, { n: 2 }]);
  const session = rsClient.startSession({ snapshot: true });
  try {
    expect(await coll.countDocuments({}, { session })).toBe(2);
    await coll.insertOne({ n: 3 });
    expect(await coll.find({}, { session }).toArray()).toHaveLength(2);
    expect(await coll.countDocuments()).toBe(3);
  } finally {
    await session.endSession();
  }
  const standaloneSession = client.startSession({ snapshot: true });
  try {
    await expect(client.db('snap').collection('m').find({}, { session: standaloneSession }).toArray()).rejects.toBeInstanceOf(MongoServerError);
  } finally {
    await standaloneSession.endSession();
  }
  await expect(rsClient.db('snap').command({ find: 'm', readConcern: { level: 'snapshot', atClusterTime: new BSON.Timestamp({ t: 1, i: 0 }) } })).rejects.toMatchObject({ code: 239 });
});

test('updates and deletes', async () => {
  const coll = client.db('writes').collection<Loose>('m');
  await coll.insertMany([{ _id: 1, n: 1 }, { _id: 2, n: 2 }]);
  await coll.updateOne({ _id: 1 }, { $set: { n: 10 } });
  await coll.replaceOne({ _id: 3 }, { n: 3 }, { upsert: true });
  await coll.deleteMany({ n: 2 });
  expect(await coll.find({}, { sort: { _id: 1 } }).toArray()).toEqual([{ _id: 1, n: 10 }, { _id: 3, n: 3 }]);
});
