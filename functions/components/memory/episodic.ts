/**
 * Episodic memory in MongoDB (sources.mongodb.database, collection sources.memory.episodic_collection):
 * documents {memory_id, content, metadata, embedding, created_at, importance, tags, last_accessed} with
 * a unique index on memory_id, indexes on created_at, importance, tags, last_accessed and a text index
 * on content.text and content.summary.
 *
 * The NCA's own LTM repository writes collection `ltm_memories` with string content, a title and summary,
 * memory_type, importance, tags, timestamps and an embedding; documents written without a memory_id exist.
 *
 * Native records: every document's BSON bytes exactly as the server returns them (a `raw: true` cursor);
 * the fingerprint is the multiset of their SHA-256s, so a changed number type (int64 -> double, double
 * 1.0 -> int32 1) or any changed byte fails verification. A restore into MongoDB inserts each document
 * as nested Maps in stored field order (raw-bson.ts: a plain object would put "2" before "b"), values
 * unpromoted (Int32, Long, Double, Decimal128 stay their BSON types), so re-encoding gives the same bytes,
 * into a staging collection with the backup's indexes. A document no value re-encodes exactly
 * (EPISODIC_REFUSES) fails the backup naming its _id.
 *
 * Portable items (for other stores): content, metadata and the other document fields as MongoDB relaxed
 * Extended JSON (JSON numbers, so int32/int64/double lose their type but not their value: an int64
 * beyond ±2^53 stays {"$numberLong": "..."}; dates as {"$date": "..."}, ObjectIds as {"$oid": "..."}),
 * except the model's metadata timestamps (created_at, last_accessed, updated_at, expires_at), which are
 * plain ISO-8601 strings like the other tiers'. A restore from items writes a timestamp back as a BSON date
 * when it is in the exact form a date prints as ("2026-01-02T03:04:05.678Z"), else as the string it is.
 * The document fields outside the model (_id, created_at, importance, tags, title, ...) travel in
 * native.fields. A document without a memory_id gets the id "_id:" + its _id's Extended JSON, marked
 * native.noMemoryId (a restore from items does not invent a memory_id for it).
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
import { BSON, type Collection, type Document, type MongoClient } from 'mongodb';
import { silentLogger } from '../../core/logger';
import { openReadView, serverFacts, type ServerFacts } from '../mongodb/snapshot';
import { InvalidInputError } from '../../core/errors';
import { COMPONENT, type ExportHeader } from './format';
import { METADATA_TIMESTAMPS, isObject, type JsonObject, type MemoryItem } from './item';
import { openMongo, withMongo, type MemoryTarget } from './connection';
import { exactDocument } from './raw-bson';
import type { StageResult, TierEntry, TierLine, TierSource, TierStager } from './tier';

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

export const EPISODIC_RECORDS = 'every document as {bson: base64 of its BSON bytes as the server returned them}';

export const EPISODIC_NORMALISES = [
  'numbers: relaxed Extended JSON, so int32, int64 and double are JSON numbers (values kept, BSON types not; an int64 beyond ±2^53 stays {"$numberLong"})',
  'metadata timestamps (created_at, last_accessed, updated_at, expires_at) as ISO-8601 strings; other dates as {"$date"}',
  'field order within content and metadata objects is kept, except that integer-like keys ("2", "10") come first, as JavaScript orders them; the item\'s own keys are sorted',
];

/**
 * What the native records cannot carry: a document holding BSON undefined, a date beyond JS Date's
 * range (±8.64e15 ms), a field name twice, or an array with keys other than 0, 1, 2... has no value the
 * driver writes back to the same bytes, so the backup refuses it by name rather than restore it changed.
 */
export const EPISODIC_REFUSES = 'documents whose BSON no driver value re-encodes exactly: BSON undefined (0x06), dates beyond ±8.64e15 ms, repeated field names, arrays with non-sequential keys';

/** The _id of a stored document for an error message, however odd the rest of it is. */
function idOf(bytes: Buffer): string {
  try {
    return EJSON.stringify(BSON.deserialize(bytes, { promoteValues: false, bsonRegExp: true })._id ?? null);
  } catch {
    return '(undecodable)';
  }
}

function notExact(bytes: Buffer, where: string, hint: string): InvalidInputError {
  return new InvalidInputError(
    `episodic document _id ${idOf(bytes)} ${where}: its BSON cannot be written back byte for byte (it holds BSON undefined, a date beyond ±8.64e15 ms, a repeated field name or an array with non-sequential keys).`,
    { component: COMPONENT, hint },
  );
}

/** Longs (decoded with promoteLongs: false) as JSON numbers when exact, else as canonical {"$numberLong"}. */
function exactLongs(value: unknown): unknown {
  if (value instanceof BSON.Long) return Number.isSafeInteger(value.toNumber()) ? value.toNumber() : { $numberLong: value.toString() };
  if (Array.isArray(value)) return value.map(exactLongs);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Document = {};
    for (const [k, v] of Object.entries(value)) out[k] = exactLongs(v);
    return out;
  }
  return value;
}

const toPortable = (value: unknown): unknown => EJSON.serialize(exactLongs(value), { relaxed: true });
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

/** The portable item of a document decoded with promoteLongs: false. */
export function episodicItem(doc: Document): MemoryItem {
  const { memory_id: memoryId, content, metadata, embedding, ...rest } = doc;
  const hasId = typeof memoryId === 'string' && memoryId !== '';
  // Without a memory_id the document is still a memory: its _id names it (and a non-string memory_id stays a field).
  const others: Document = hasId || memoryId === undefined ? rest : { ...rest, memory_id: memoryId };
  const id = hasId ? (memoryId as string) : `_id:${EJSON.stringify(doc._id ?? null)}`;
  const item: MemoryItem = { id };
  if (content !== undefined) item.content = toPortable(content) as MemoryItem['content'];
  if (metadata !== undefined) item.metadata = withTimestampsAsStrings(toPortable(metadata)) as MemoryItem['metadata'];
  if (embedding !== undefined) item.embedding = toPortable(embedding) as number[] | null;
  if (Object.keys(others).length > 0 || !hasId) item.native = { ...(Object.keys(others).length > 0 ? { fields: toPortable(others) as JsonObject } : {}), ...(hasId ? {} : { noMemoryId: true as const }) };
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
    if (metadata?.tags !== undefined && metadata.tags !== null) fields.tags = Array.isArray(metadata.tags) ? metadata.tags : Object.keys(metadata.tags);
    const accessed = dateOf(metadata?.last_accessed);
    if (accessed) fields.last_accessed = accessed;
  }
  const { _id, ...rest } = fields;
  const doc: Document = _id === undefined ? {} : { _id };
  if (!item.native?.noMemoryId) doc.memory_id = item.id;
  if (item.content !== undefined) doc.content = fromPortable(item.content);
  if (metadata !== undefined) doc.metadata = fromPortable(withTimestampsAsDates(metadata));
  if (item.embedding !== undefined) doc.embedding = item.embedding;
  return Object.assign(doc, rest);
}

/** The server's version, or "unknown" when it will not say (a describe never fails on it). */
const mongoVersion = (client: MongoClient): Promise<string> => serverFacts(client).then((facts) => facts.version, () => 'unknown');

/** The collection's indexes as listIndexes gives them, without _id_ (always there) and the server's v/ns. */
async function indexSpecs(collection: Collection): Promise<Document[]> {
  const specs = await collection.listIndexes().toArray().catch(() => [] as Document[]);
  return specs.filter((spec) => spec.name !== '_id_').map(({ v: _v, ns: _ns, ...spec }) => spec);
}

/**
 * The tier's reader. For a backup (`mustExist`), a collection that does not exist is an error naming it:
 * a misnamed collection would otherwise give a healthy-looking backup of nothing.
 */
export async function openEpisodicSource(episodic: Episodic, mustExist = false): Promise<TierSource> {
  const client = await openMongo(episodic.mongo);
  try {
    const facts = await serverFacts(client).catch(() => ({ version: 'unknown', major: 0 }) as ServerFacts);
    const version = facts.version;
    const exists = await collectionExists(client, episodic);
    if (!exists && mustExist) {
      throw new InvalidInputError(`the episodic collection ${episodic.database}.${episodic.collection} does not exist.`, {
        component: COMPONENT,
        hint: 'Check sources.mongodb.database and sources.memory.episodic_collection (the NCA writes ltm_memories); nothing was backed up.',
      });
    }
    const collection = client.db(episodic.database).collection(episodic.collection);
    const indexes = exists ? await indexSpecs(collection) : [];
    // The mongodb component's read view: one snapshot session on a replica set, with why not otherwise.
    const view = await openReadView(client, client.db(episodic.database), facts, exists ? episodic.collection : undefined, silentLogger);
    const session = view.session;
    return {
      tier: 'episodic',
      version,
      description: { store: 'mongodb', database: episodic.database, collection: episodic.collection, indexes },
      declaredDimension: null,
      read: { snapshot: view.consistency.pointInTime, method: view.consistency.method },
      async *entries(): AsyncGenerator<TierEntry> {
        // Raw BSON: what the server holds, byte for byte; the portable item is decoded from the same bytes.
        const cursor = collection.find({}, { session, batchSize: BATCH, raw: true });
        try {
          for await (const doc of cursor) {
            const bytes = doc as unknown as Buffer;
            if (!exactDocument(bytes)) throw notExact(bytes, 'in ' + episodic.database + '.' + episodic.collection, 'Rewrite that field in the source (e.g. undefined as null) and run the backup again; nothing was stored for this tier.');
            yield { record: { bson: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') }, stored: bytes };
            yield { item: episodicItem(BSON.deserialize(bytes, { promoteLongs: false })) };
          }
        } finally {
          await cursor.close().catch(() => undefined);
        }
      },
      facts: () => ({ collectionExists: exists }),
      close: async () => {
        await view.end();
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

/** A document from its native record, as nested Maps in stored field order: re-encoding gives the same bytes. */
function documentOf(record: JsonObject): Document {
  if (typeof record.bson !== 'string') {
    throw new InvalidInputError('an episodic record has no bson.', { component: COMPONENT, hint: 'The artifact passed its checksum, so it was written this way: restore another backup id and report the problem.' });
  }
  const bytes = Buffer.from(record.bson, 'base64');
  const doc = exactDocument(bytes);
  // A backup taken before such documents were refused may hold one: stop rather than write it changed.
  if (!doc) throw notExact(bytes, 'in the backup', 'Nothing was swapped in: the target collection is as it was. Restore from the portable items into another store, or fix that document by hand.');
  return doc as unknown as Document;
}

/** The backup's indexes (from the export header), plus the target's own ones it lacks. */
function backupIndexes(header: ExportHeader, existing: readonly Document[]): Document[] {
  const fromBackup = (Array.isArray(header.source.indexes) ? header.source.indexes : []) as Document[];
  const names = new Set(fromBackup.map((spec) => spec.name));
  const keys = new Set(fromBackup.map(keyOf));
  const extra = existing.filter((spec) => spec.name !== '_id_' && !names.has(spec.name) && !keys.has(keyOf(spec))).map(({ v: _v, ns: _ns, ...spec }) => spec);
  return [...fromBackup, ...extra];
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
      async stage(header: ExportHeader, lines: AsyncIterable<TierLine>): Promise<StageResult> {
        staged = true;
        const native = header.version >= 2 && header.records !== undefined;
        const staging = db.collection(stagingName);
        // Indexes first: this creates the collection even for an empty tier, and a unique index
        // refuses a duplicate while staging rather than after the swap.
        const indexes = native ? backupIndexes(header, existingIndexes) : indexesFor(existingIndexes);
        if (indexes.length > 0) await db.command({ createIndexes: stagingName, indexes });
        else await db.createCollection(stagingName);
        let batch: Document[] = [];
        let written = 0;
        let items = 0;
        const flush = async () => {
          if (batch.length === 0) return;
          // forceServerObjectId: the driver would otherwise set an _id property on a document it cannot see in a Map.
          await staging.insertMany(batch, { ordered: false, forceServerObjectId: native });
          written += batch.length;
          batch = [];
        };
        for await (const line of lines) {
          if (line.item) items++;
          const doc = native ? line.record && documentOf(line.record) : line.item && episodicDocument(line.item);
          if (!doc) continue;
          batch.push(doc);
          if (batch.length >= BATCH) await flush();
        }
        await flush();
        return {
          items: native ? items : written,
          documents: written,
          mode: native ? 'native records (BSON as it was)' : `portable items (the export, version ${header.version}, holds no native records)`,
          collection: `${episodic.database}.${episodic.collection}`,
          indexes: indexes.map((spec) => spec.name),
        };
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
