/**
 * Episodic memory in MongoDB (sources.mongodb.database, collection sources.memory.episodic_collection):
 * documents {memory_id, content, metadata, embedding, created_at, importance, tags, last_accessed} with
 * a unique index on memory_id, indexes on created_at, importance, tags, last_accessed and a text index
 * on content.text and content.summary.
 *
 * Portable values: content, metadata and the other document fields are MongoDB relaxed Extended JSON
 * (JSON numbers; dates as {"$date": "..."}, ObjectIds as {"$oid": "..."}), except the model's metadata
 * timestamps (created_at, last_accessed, updated_at, expires_at), which are plain ISO-8601 strings like
 * the other tiers'. A restore writes a timestamp back as a BSON date when it is in the exact form a date
 * prints as ("2026-01-02T03:04:05.678Z"), else as the string it is. The document fields outside the model
 * (_id, created_at, importance, tags, last_accessed, ...) travel verbatim in native.fields. BSON's
 * int32/int64/double distinction is not kept (the mongodb component's backup keeps it).
 *
 * Reading: on a replica set (or mongos) one snapshot session (read concern "snapshot"): the whole
 * collection at one cluster time; a snapshot must be read within the server's
 * minSnapshotHistoryWindowInSeconds (300 s by default). On a standalone server (or one that refuses
 * snapshot reads, like DocumentDB) a plain cursor: no snapshot, and the report says so.
 *
 * Restoring: items go into a staging collection in the same database, built with the NCA's indexes
 * plus any other index the target collection has; `renameCollection ... dropTarget` swaps it in only
 * once every tier is staged. A failure drops the staging collection: the target is untouched.
 */
import { randomBytes } from 'node:crypto';
import { BSON, type ClientSession, type Collection, type Document, type MongoClient } from 'mongodb';
import { InvalidInputError } from '../../core/errors';
import { COMPONENT, type ExportHeader } from './format';
import { METADATA_TIMESTAMPS, isObject, type JsonObject, type MemoryItem } from './item';
import { openMongo, withMongo, type MemoryTarget } from './connection';
import type { StageResult, TierSource, TierStager } from './tier';

const { EJSON } = BSON;

type Episodic = NonNullable<MemoryTarget['episodic']>;

const BATCH = 500;

/** The NCA's indexes on the episodic collection. */
export const EPISODIC_INDEXES: readonly Document[] = [
  { key: { memory_id: 1 }, name: 'memory_id_1', unique: true },
  { key: { created_at: 1 }, name: 'created_at_1' },
  { key: { importance: 1 }, name: 'importance_1' },
  { key: { tags: 1 }, name: 'tags_1' },
  { key: { last_accessed: 1 }, name: 'last_accessed_1' },
  { key: { 'content.text': 'text', 'content.summary': 'text' }, name: 'content_text' },
];

const toPortable = (value: unknown): unknown => EJSON.serialize(value, { relaxed: true });
const fromPortable = (value: unknown): unknown => EJSON.deserialize(value as Document, { relaxed: true });

const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function withTimestampsAsStrings(metadata: unknown): unknown {
  if (!isObject(metadata)) return metadata;
  const out: JsonObject = { ...metadata };
  for (const key of METADATA_TIMESTAMPS) {
    const value = out[key];
    // Relaxed EJSON drops a zero millisecond part; toISOString's one form is what a restore turns back into a date.
    if (isObject(value) && Object.keys(value).length === 1 && typeof value.$date === 'string') out[key] = new Date(value.$date).toISOString();
  }
  return out;
}

function withTimestampsAsDates(metadata: unknown): unknown {
  if (!isObject(metadata)) return metadata;
  const out: JsonObject = { ...metadata };
  for (const key of METADATA_TIMESTAMPS) {
    const value = out[key];
    if (typeof value === 'string' && ISO_DATE.test(value) && new Date(value).toISOString() === value) out[key] = { $date: value };
  }
  return out;
}

export function episodicItem(doc: Document): MemoryItem {
  const { memory_id: id, content, metadata, embedding, ...others } = doc;
  if (typeof id !== 'string' || id === '') {
    throw new InvalidInputError(`episodic document ${EJSON.stringify(doc._id ?? null)} has no memory_id string.`, {
      component: COMPONENT,
      hint: 'Every NCA episodic memory carries its memory_id: fix or delete the document (the mongodb component\'s backup keeps it).',
    });
  }
  const item: MemoryItem = { id };
  if (content !== undefined) item.content = toPortable(content) as MemoryItem['content'];
  if (metadata !== undefined) item.metadata = withTimestampsAsStrings(toPortable(metadata)) as MemoryItem['metadata'];
  if (embedding !== undefined) item.embedding = toPortable(embedding) as number[] | null;
  if (Object.keys(others).length > 0) item.native = { fields: toPortable(others) as JsonObject };
  return item;
}

function dateOf(value: unknown): Date | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const date = new Date(typeof value === 'number' && value < 1e11 ? value * 1000 : value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** The document a restore writes: the item's own document fields, else the NCA's derived ones. */
export function episodicDocument(item: MemoryItem): Document {
  const metadata = item.metadata;
  let fields: Document;
  if (item.native?.fields) fields = fromPortable(item.native.fields) as Document;
  else {
    fields = {};
    const created = dateOf(metadata?.created_at);
    if (created) fields.created_at = created;
    if (typeof metadata?.importance === 'number') fields.importance = metadata.importance;
    if (Array.isArray(metadata?.tags)) fields.tags = metadata.tags;
    const accessed = dateOf(metadata?.last_accessed);
    if (accessed) fields.last_accessed = accessed;
  }
  const { _id, ...rest } = fields;
  const doc: Document = _id === undefined ? {} : { _id };
  doc.memory_id = item.id;
  if (item.content !== undefined) doc.content = fromPortable(item.content);
  if (metadata !== undefined) doc.metadata = fromPortable(withTimestampsAsDates(metadata));
  if (item.embedding !== undefined) doc.embedding = item.embedding;
  return Object.assign(doc, rest);
}

export async function mongoVersion(client: MongoClient): Promise<string> {
  try {
    return String((await client.db('admin').command({ buildInfo: 1 })).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
}

/** A snapshot session when the deployment offers snapshot reads, with why not otherwise. */
async function snapshotSession(client: MongoClient, collection: Collection): Promise<{ session?: ClientSession; method: string }> {
  const hello = await client.db('admin').command({ hello: 1 }).catch(() => ({}) as Document);
  if (!hello.setName && hello.msg !== 'isdbgrid') {
    return { method: 'MongoDB cursor without snapshot (a standalone server offers no snapshot reads)' };
  }
  const session = client.startSession({ snapshot: true });
  try {
    // The first read fixes the snapshot's cluster time; a server that refuses snapshots says so here.
    await collection.find({}, { session, limit: 1, projection: { _id: 1 } }).toArray();
    return { session, method: 'MongoDB snapshot session (read concern "snapshot"): the collection at one cluster time' };
  } catch (error) {
    await session.endSession().catch(() => undefined);
    return { method: `MongoDB cursor without snapshot (the server refused a snapshot read: ${(error as Error).message})` };
  }
}

export async function openEpisodicSource(episodic: Episodic): Promise<TierSource> {
  const client = await openMongo(episodic.mongo);
  try {
    const version = await mongoVersion(client);
    const collection = client.db(episodic.database).collection(episodic.collection);
    const { session, method } = await snapshotSession(client, collection);
    return {
      tier: 'episodic',
      version,
      description: { store: 'mongodb', database: episodic.database, collection: episodic.collection },
      declaredDimension: null,
      read: { snapshot: session !== undefined, method },
      async *items() {
        const cursor = collection.find({}, { session, batchSize: BATCH });
        try {
          for await (const doc of cursor) yield episodicItem(doc);
        } finally {
          await cursor.close().catch(() => undefined);
        }
      },
      facts: () => ({}),
      close: async () => {
        await session?.endSession().catch(() => undefined);
        await client.close().catch(() => undefined);
      },
    };
  } catch (error) {
    await client.close().catch(() => undefined);
    throw error;
  }
}

async function collectionExists(client: MongoClient, episodic: Episodic): Promise<boolean> {
  const found = await client.db(episodic.database).listCollections({ name: episodic.collection }, { nameOnly: true }).toArray();
  return found.length > 0;
}

const keyOf = (spec: Document) => JSON.stringify(spec.key);
const isText = (spec: Document) => Object.values(spec.key as Document).includes('text') || '_fts' in (spec.key as Document);

/** The target's own indexes (they survive the swap), plus each NCA index it lacks. */
function indexesFor(existing: readonly Document[]): Document[] {
  const kept = existing.filter((spec) => spec.name !== '_id_').map(({ v: _v, ns: _ns, ...spec }) => spec);
  const names = new Set(kept.map((spec) => spec.name));
  const keys = new Set(kept.map(keyOf));
  const hasText = kept.some(isText);
  const added = EPISODIC_INDEXES.filter((spec) => !names.has(spec.name) && !keys.has(keyOf(spec)) && !(isText(spec) && hasText));
  return [...kept, ...added];
}

export async function openEpisodicStager(episodic: Episodic): Promise<TierStager> {
  const client = await openMongo(episodic.mongo);
  const db = client.db(episodic.database);
  const stagingName = `${episodic.collection}.nca-restore-${randomBytes(4).toString('hex')}`;
  let staged = false;
  try {
    const exists = await collectionExists(client, episodic);
    const target = db.collection(episodic.collection);
    const hadItems = exists && (await target.findOne({}, { projection: { _id: 1 } })) !== null;
    const existingIndexes = exists ? await target.listIndexes().toArray() : [];
    return {
      tier: 'episodic',
      hadItems,
      async stage(_header: ExportHeader, items: AsyncIterable<MemoryItem>): Promise<StageResult> {
        staged = true;
        const staging = db.collection(stagingName);
        // Indexes first: this creates the collection even for an empty tier, and the unique index
        // refuses a duplicate memory_id while staging rather than after the swap.
        const indexes = indexesFor(existingIndexes);
        await db.command({ createIndexes: stagingName, indexes });
        let batch: Document[] = [];
        let written = 0;
        const flush = async () => {
          if (batch.length === 0) return;
          await staging.insertMany(batch, { ordered: false });
          written += batch.length;
          batch = [];
        };
        for await (const item of items) {
          batch.push(episodicDocument(item));
          if (batch.length >= BATCH) await flush();
        }
        await flush();
        return { items: written, collection: `${episodic.database}.${episodic.collection}`, indexes: indexes.map((spec) => spec.name) };
      },
      async commit() {
        await db.renameCollection(stagingName, episodic.collection, { dropTarget: true });
        staged = false;
        await client.close().catch(() => undefined);
      },
      async abort() {
        if (staged) await db.collection(stagingName).drop().catch(() => undefined);
        staged = false;
        await client.close().catch(() => undefined);
      },
    };
  } catch (error) {
    await client.close().catch(() => undefined);
    throw error;
  }
}

export async function episodicExists(episodic: Episodic): Promise<boolean> {
  return withMongo(episodic.mongo, async (client) => {
    const doc = await client.db(episodic.database).collection(episodic.collection).findOne({}, { projection: { _id: 1 } });
    return doc !== null;
  });
}

/** collStats' size where the server has it; else documents × the database's average document size. */
export async function episodicEstimate(episodic: Episodic): Promise<number> {
  return withMongo(episodic.mongo, async (client) => {
    const db = client.db(episodic.database);
    try {
      return Number((await db.command({ collStats: episodic.collection })).size ?? 0);
    } catch {
      const count = await db.collection(episodic.collection).estimatedDocumentCount().catch(() => 0);
      const average = Number((await db.command({ dbStats: 1 }).catch(() => ({}) as Document)).avgObjSize ?? 0);
      return Math.round(count * average);
    }
  });
}

export async function episodicVersion(episodic: Episodic): Promise<string> {
  return withMongo(episodic.mongo, mongoVersion);
}
