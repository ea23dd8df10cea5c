/**
 * A deterministic sample of the NCA's memory tiers, written the way the NCA's own code writes them
 * (src/neuroca/memory/backends/redis/**, src/neuroca/db/repositories/ltm.py, memory/models/memory_item.py),
 * for the demo, the memory-tier tests and the workflow tests:
 * - working (Redis, RedisBackend's layout): every fifth item as a hash {id, created_at, content (plain
 *   text), summary}, its metadata as Python's json.dumps prints it (", " and ": " separators, the model's
 *   field order, tags a dict, 1.0 as "1.0", integers beyond 2^53), index:tag:{tag} per tags-dict key,
 *   index:status:{status}, the content word index index:content:{word}, and the stats hash counted with
 *   HINCRBY; some item hashes carry a one-hour TTL (their metadata keys do not);
 * - episodic (MongoDB, as pymongo stores LTM memories): every item except the semantic-only ones, with
 *   string content, title, summary, memory_type, importance (a double; some exactly 1.0), tags (a list),
 *   BSON dates, an int32 access_count, int64 sequence numbers (some beyond 2^53); the episodic-only
 *   documents are stored without a memory_id (named "_id:{...}" in the export); the LTM repository's indexes (its memory_id index is not unique: the
 *   repository's second, unique create_index on the same key fails against the first);
 * - semantic (PostgreSQL table): every item except the episodic-only ones;
 * - deliberate findings for the consistency report: about 1% semantic-only and 1% episodic-only ids
 *   (at least one each from 10 items), and from 20 items one episodic and one semantic item whose
 *   embedding has half the dimension (the semantic one only in a real[] table: vector(n) refuses it).
 * The same options always give the same items, ids and embeddings.
 */
import Redis from 'ioredis';
import { BSON, Double, Int32, Long, MongoClient, ObjectId, type IndexDescription } from 'mongodb';
import { Client } from 'pg';
import { DEFAULT_EPISODIC_COLLECTION, DEFAULT_WORKING_NAMESPACE } from '../functions/components/memory/descriptor';
import { quoteIdent } from '../functions/components/postgres/connection';
import { parseTableName } from '../functions/components/vector/names';
import { DEFAULT_VECTOR_TABLE } from '../functions/components/vector/descriptor';
import { seededRandom as random } from './seeded-random';

export interface SampleStores {
  readonly redisUrl?: string;
  readonly mongoUrl?: string;
  /** A PostgreSQL URL including the database. */
  readonly postgresUrl?: string;
}

export interface SampleMemoryOptions {
  readonly items: number;
  /** Floats per embedding; default 768. */
  readonly dimension?: number;
  /** Working memory namespace (memory:{namespace}:...); default "generic", as the NCA's factory writes it (and the config's default). */
  readonly namespace?: string;
  /** Episodic collection; default "ltm_memories", as the NCA's LTM repository writes it (and the config's default). Its database: the mongo URL's path, else `mongoDatabase`, else neuroca_episodic. */
  readonly collection?: string;
  readonly mongoDatabase?: string;
  /** Semantic table (created when missing: vector(n) where pgvector is installed, else real[]); default "semantic_memory". */
  readonly table?: string;
  readonly seed?: number;
  /**
   * Store one item per tier with half the dimension, for the cross-tier report; default true. Off when the
   * vector table must also back up natively, which refuses a table whose embeddings disagree.
   */
  readonly otherDimensionItems?: boolean;
}

export interface SampleMemorySummary {
  readonly working: readonly string[];
  readonly workingWithTtl: readonly string[];
  /** Episodic memories by their portable id: the memory_id, or "_id:" + the _id's Extended JSON where there is none. */
  readonly episodic: readonly string[];
  /** The episodic documents stored without a memory_id (the episodic-only ones), by portable id. */
  readonly episodicWithoutMemoryId: readonly string[];
  readonly semantic: readonly string[];
  readonly semanticOnly: readonly string[];
  readonly episodicOnly: readonly string[];
  /** Items stored with an embedding of another dimension, per tier. */
  readonly otherDimension: { readonly episodic: readonly string[]; readonly semantic: readonly string[] };
  readonly embeddingType: string;
}

const STATUSES = ['active', 'active', 'archived', 'consolidated', 'decaying'];
const TAGS = ['conversation', 'project', 'preference', 'fact', 'task', 'person', 'location'];
const WORDS = ['the', 'user', 'asked', 'about', 'deployment', 'schedule', 'memory', 'backup', 'neural', 'context', 'recall', 'plan', 'meeting', 'notes'];
const BASE_TIME = Date.UTC(2026, 0, 1);

/** A Python float: json.dumps prints it with its ".0" (1.0 stays "1.0"). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** Python's json.dumps (default arguments): ", " and ": " separators, keys in insertion order, ensure_ascii. */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof PyFloat) return Number.isInteger(value.value) ? `${value.value}.0` : String(value.value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  return `{${Object.entries(value as Record<string, unknown>).map(([k, v]) => `${pythonJson(k)}: ${pythonJson(v)}`).join(', ')}}`;
}

/** The NCA's RedisUtils.tokenize_content. */
export function ncaWords(content: string): Set<string> {
  let words = content.toLowerCase();
  for (const char of ',.;:!?"\'()[]{}') words = words.split(char).join(' ');
  return new Set(words.split(/\s+/).filter((w) => w !== ''));
}

/** The LTM repository's indexes as they end up on the collection. */
export const NCA_LTM_INDEXES: readonly IndexDescription[] = [
  { key: { memory_id: 1 }, name: 'memory_id_1' },
  { key: { created_at: -1 }, name: 'created_at_-1' },
  { key: { memory_type: 1 }, name: 'memory_type_1' },
  { key: { importance: -1 }, name: 'importance_-1' },
  { key: { tags: 1 }, name: 'tags_1' },
  { key: { last_accessed: -1 }, name: 'last_accessed_-1' },
  { key: { content: 'text', title: 'text', summary: 'text' }, name: 'content_text_title_text_summary_text' },
];

function uuid(rand: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16));
  hex[12] = '4';
  hex[16] = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

interface SampleItem {
  id: string;
  content: Record<string, unknown>;
  metadata: Record<string, unknown>;
  embedding: number[];
}

function sampleItems(options: SampleMemoryOptions): SampleItem[] {
  const rand = random(options.seed ?? 42);
  const dimension = options.dimension ?? 768;
  const round = (n: number, digits: number) => Number(n.toFixed(digits));
  return Array.from({ length: options.items }, (_, i) => {
    const id = uuid(rand);
    const words = Array.from({ length: 8 + Math.floor(rand() * 12) }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
    const created = new Date(BASE_TIME + i * 60_000).toISOString();
    const accessed = new Date(BASE_TIME + i * 60_000 + Math.floor(rand() * 86_400_000)).toISOString();
    const tags = [...new Set(Array.from({ length: 1 + Math.floor(rand() * 3) }, () => TAGS[Math.floor(rand() * TAGS.length)]))];
    return {
      id,
      content: {
        text: `Memory ${i}: ${words}.`,
        summary: `memory ${i} about ${tags[0]}`,
        json_data: i % 3 === 0 ? { turn: i, speaker: i % 2 ? 'user' : 'assistant' } : null,
        content_type: 'text',
        language: 'en',
      },
      metadata: {
        created_at: created,
        last_accessed: accessed,
        updated_at: created,
        status: STATUSES[i % STATUSES.length],
        importance: round(rand(), 3),
        strength: round(rand(), 3),
        access_count: Math.floor(rand() * 20),
        tags,
        source: 'conversation',
        tier: 'episodic',
        expires_at: null,
        priority: ['low', 'normal', 'high'][i % 3],
        embedding_model: 'all-mpnet-base-v2',
        embedding_dimensions: dimension,
      },
      // Four decimals: stored exactly by real[], vector and double alike, so the sample compares cleanly.
      embedding: Array.from({ length: dimension }, () => round(rand() * 2 - 1, 4)),
    };
  });
}

function plan(options: SampleMemoryOptions) {
  const n = options.items;
  const orphans = n >= 10 ? Math.max(1, Math.round(n * 0.01)) : 0;
  const semanticOnly = new Set(Array.from({ length: orphans }, (_, k) => n - 1 - k));
  const episodicOnly = new Set(Array.from({ length: orphans }, (_, k) => n - 1 - orphans - k));
  const halfDimension = n >= 20 && options.otherDimensionItems !== false ? { episodic: 1, semantic: 2 } : undefined;
  return { semanticOnly, episodicOnly, halfDimension };
}

const halve = (item: SampleItem): SampleItem => {
  const dimension = Math.max(1, Math.floor(item.embedding.length / 2));
  return { ...item, embedding: item.embedding.slice(0, dimension), metadata: { ...item.metadata, embedding_dimensions: dimension, embedding_model: 'all-MiniLM-L6-v2' } };
};

function mongoDatabaseOf(url: string, fallback?: string): string {
  const path = new URL(url).pathname.replace(/^\//, '');
  return path || fallback || 'neuroca_episodic';
}

/** A table name as the vector component reads it, quoted for SQL. */
function tableSql(table: string): string {
  const t = parseTableName(table, 'table', 'demo');
  return `${quoteIdent(t.schema)}.${quoteIdent(t.table)}`;
}

/** Python's datetime.isoformat() of a naive local time (microseconds, no zone), as the NCA writes created_at. */
const isoformat = (ms: number) => new Date(ms).toISOString().replace('Z', '').replace(/\.(\d{3})$/, '.$1000');

/** Two ids per fifty beyond 2^53: a JavaScript JSON.parse rounds them. */
const bigSequence = (i: number) => (i % 25 === 0 ? 9007199254740993n + BigInt(i) * 2n : BigInt(1000 + i));

/** A MemoryItem.metadata.dict() for the working tier, with the model's field order. */
function workingMetadata(item: SampleItem, i: number): Record<string, unknown> {
  const m = item.metadata;
  const tags = Object.fromEntries((m.tags as string[]).map((t, k) => [t, k === 0 ? true : `v${k}`]));
  return {
    created_at: isoformat(Date.parse(String(m.created_at))),
    last_accessed: isoformat(Date.parse(String(m.last_accessed))),
    status: m.status,
    importance: new PyFloat(i % 7 === 0 ? 1 : (m.importance as number)),
    strength: new PyFloat(1),
    access_count: m.access_count,
    tags,
    source: 'conversation',
    tier: 'stm',
    embedding_model: m.embedding_model,
    embedding_dimensions: m.embedding_dimensions,
    additional_metadata: { sequence: bigSequence(i), 'caf\u00e9': 'na\u00efve' },
  };
}

async function loadWorking(url: string, items: SampleItem[], namespace: string): Promise<{ ids: string[]; withTtl: string[] }> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    const ids: string[] = [];
    const withTtl: string[] = [];
    const prefix = `memory:${namespace}:`;
    const pipeline = redis.pipeline();
    items.forEach((item, i) => {
      if (i % 5 !== 0) return;
      const metadata = workingMetadata(item, i);
      const text = String(item.content.text);
      // RedisUtils.prepare_memory_data, then RedisCRUD.create's pipeline and indexing.
      pipeline.hset(`${prefix}${item.id}`, 'id', item.id, 'created_at', String(metadata.created_at), 'content', text, 'summary', String(item.content.summary));
      pipeline.set(`${prefix}metadata:${item.id}`, pythonJson(metadata));
      pipeline.hincrby(`${prefix}stats`, 'total_memories', 1);
      pipeline.hincrby(`${prefix}stats`, `${metadata.status}_memories`, 1);
      for (const word of ncaWords(text)) pipeline.sadd(`${prefix}index:content:${word}`, item.id);
      for (const tag of Object.keys(metadata.tags as object)) pipeline.sadd(`${prefix}index:tag:${tag}`, item.id);
      pipeline.sadd(`${prefix}index:status:${metadata.status}`, item.id);
      if (i % 15 === 0) {
        pipeline.pexpire(`${prefix}${item.id}`, 3_600_000);
        withTtl.push(item.id);
      }
      ids.push(item.id);
    });
    await pipeline.exec();
    return { ids, withTtl };
  } finally {
    redis.disconnect();
  }
}

/** The portable id the memory export gives an episodic document without a memory_id. */
const idOfUnnamed = (_id: ObjectId) => `_id:${BSON.EJSON.stringify(_id)}`;

/** Writes the episodic documents; those whose item id is in `unnamed` without a memory_id. Returns the portable ids. */
async function loadEpisodic(url: string, items: SampleItem[], database: string, collection: string, unnamed: ReadonlySet<string>): Promise<string[]> {
  const client = new MongoClient(url);
  await client.connect();
  try {
    const coll = client.db(database).collection(collection);
    await coll.createIndexes([...NCA_LTM_INDEXES]);
    // As pymongo stores the NCA's values: datetimes as BSON dates, floats as doubles (1.0 too), ints as
    // int32 when they fit, else int64.
    const docs = items.map((item, i) => {
      const m = item.metadata;
      const doc: Record<string, unknown> = {
        // A deterministic ObjectId, so the same options name the same documents.
        _id: ObjectId.createFromHexString(item.id.replace(/-/g, '').slice(0, 24)),
        ...(unnamed.has(item.id) ? {} : { memory_id: item.id }),
        content: String(item.content.text),
        title: `memory ${i}`,
        summary: String(item.content.summary),
        memory_type: ['episodic', 'semantic', 'procedural'][i % 3],
        importance: new Double(i % 7 === 0 ? 1 : (m.importance as number)),
        tags: m.tags,
        created_at: new Date(String(m.created_at)),
        last_accessed: new Date(String(m.last_accessed)),
        access_count: new Int32(m.access_count as number),
        embedding: item.embedding.map((v) => new Double(v)),
        metadata: { source: 'conversation', sequence: Long.fromBigInt(bigSequence(i)), strength: new Double(1), embedding_model: m.embedding_model },
      };
      return doc;
    });
    for (let i = 0; i < docs.length; i += 500) await coll.insertMany(docs.slice(i, i + 500), { ordered: true });
    return docs.map((doc) => (typeof doc.memory_id === 'string' ? doc.memory_id : idOfUnnamed(doc._id as ObjectId)));
  } finally {
    await client.close();
  }
}

async function loadSemantic(url: string, items: SampleItem[], table: string, dimension: number): Promise<{ ids: string[]; embeddingType: string }> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const t = parseTableName(table, 'table', 'demo');
    const sql = tableSql(table);
    const pgvector = (await client.query("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).rowCount === 1;
    if (pgvector) await client.query('CREATE EXTENSION IF NOT EXISTS vector');
    const embeddingType = pgvector ? `vector(${dimension})` : 'real[]';
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(t.schema)}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${sql} (id text PRIMARY KEY, embedding ${embeddingType}, metadata jsonb)`);
    const cast = pgvector ? `::real[]::vector(${dimension})` : '::real[]';
    for (let i = 0; i < items.length; i += 200) {
      const batch = items.slice(i, i + 200);
      const values: unknown[] = [];
      const rows = batch.map((item, k) => {
        values.push(item.id, `{${item.embedding.join(',')}}`, JSON.stringify({ content: item.content, metadata: { ...item.metadata, tier: 'semantic' } }));
        return `($${3 * k + 1}, $${3 * k + 2}${cast}, $${3 * k + 3}::jsonb)`;
      });
      await client.query(`INSERT INTO ${sql} (id, embedding, metadata) VALUES ${rows.join(', ')}`, values);
    }
    return { ids: items.map((item) => item.id), embeddingType };
  } finally {
    await client.end();
  }
}

/** Writes the sample into the stores given (any of the three); returns which ids went where. */
export async function loadSampleMemory(stores: SampleStores, options: SampleMemoryOptions): Promise<SampleMemorySummary> {
  const items = sampleItems(options);
  const { semanticOnly, episodicOnly, halfDimension } = plan(options);
  const dimension = options.dimension ?? 768;
  const episodicItems = items.map((item, i) => (halfDimension?.episodic === i ? halve(item) : item)).filter((_, i) => !semanticOnly.has(i));
  const working = stores.redisUrl ? await loadWorking(stores.redisUrl, items, options.namespace ?? DEFAULT_WORKING_NAMESPACE) : { ids: [], withTtl: [] };
  // The episodic-only memories are the ones the LTM repository stored without a memory_id.
  const unnamed = new Set([...episodicOnly].map((i) => items[i].id));
  const unnamedIds = new Map([...unnamed].map((id) => [id, idOfUnnamed(ObjectId.createFromHexString(id.replace(/-/g, '').slice(0, 24)))]));
  const episodicIds = stores.mongoUrl
    ? await loadEpisodic(stores.mongoUrl, episodicItems, mongoDatabaseOf(stores.mongoUrl, options.mongoDatabase), options.collection ?? DEFAULT_EPISODIC_COLLECTION, unnamed)
    : [];
  let semantic: string[] = [];
  let embeddingType = 'none';
  let semanticHalf: string[] = [];
  if (stores.postgresUrl) {
    const check = new Client({ connectionString: stores.postgresUrl });
    await check.connect();
    const pgvector = (await check.query("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).rowCount === 1;
    await check.end();
    const semanticItems = items
      .map((item, i) => (!pgvector && halfDimension?.semantic === i ? halve(item) : item))
      .filter((_, i) => !episodicOnly.has(i));
    semanticHalf = !pgvector && halfDimension ? [items[halfDimension.semantic].id] : [];
    ({ ids: semantic, embeddingType } = await loadSemantic(stores.postgresUrl, semanticItems, options.table ?? DEFAULT_VECTOR_TABLE, dimension));
  }
  return {
    working: working.ids,
    workingWithTtl: working.withTtl,
    episodic: episodicIds,
    episodicWithoutMemoryId: stores.mongoUrl ? [...unnamedIds.values()] : [],
    semantic,
    semanticOnly: [...semanticOnly].map((i) => items[i].id),
    episodicOnly: [...episodicOnly].map((i) => (stores.mongoUrl ? unnamedIds.get(items[i].id)! : items[i].id)),
    otherDimension: { episodic: stores.mongoUrl && halfDimension ? [items[halfDimension.episodic].id] : [], semantic: semanticHalf },
    embeddingType,
  };
}

export interface SampleDamage {
  readonly working: { readonly deleted: number; readonly changed: number };
  readonly episodic: { readonly deleted: number; readonly changed: number };
  readonly semantic: { readonly deleted: number; readonly changed: number };
}

/** Deletes the items whose id starts with 0 or 1 (about one in eight) and changes one more in each store given. */
export async function damageSampleMemory(stores: SampleStores, options: Omit<SampleMemoryOptions, 'items'> = {}): Promise<SampleDamage> {
  const damage = { working: { deleted: 0, changed: 0 }, episodic: { deleted: 0, changed: 0 }, semantic: { deleted: 0, changed: 0 } };
  const doomed = (id: string) => id.startsWith('0') || id.startsWith('1');
  if (stores.redisUrl) {
    const redis = new Redis(stores.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      const prefix = `memory:${options.namespace ?? DEFAULT_WORKING_NAMESPACE}:`;
      const ids: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500, 'TYPE', 'hash');
        cursor = next;
        for (const key of keys) {
          const rest = key.slice(prefix.length);
          if (rest !== 'stats' && !rest.includes(':')) ids.push(rest);
        }
      } while (cursor !== '0');
      ids.sort();
      for (const id of ids.filter(doomed)) {
        await redis.del(`${prefix}${id}`, `${prefix}metadata:${id}`);
        damage.working.deleted++;
      }
      const survivor = ids.find((id) => !doomed(id));
      if (survivor) {
        // A faulty writer: the metadata re-serialised by JavaScript (big integers rounded), a tag index
        // lost, a TTL dropped.
        const metadata = JSON.parse((await redis.get(`${prefix}metadata:${survivor}`)) ?? '{}');
        await redis.set(`${prefix}metadata:${survivor}`, JSON.stringify({ ...metadata, status: 'forgotten' }));
        const tags = await redis.keys(`${prefix}index:tag:*`);
        if (tags.length > 0) await redis.del(tags.sort()[0]);
        const expiring = [];
        for (const id of ids) if ((await redis.pttl(`${prefix}${id}`)) > 0) expiring.push(id);
        if (expiring.length > 0) await redis.persist(`${prefix}${expiring[0]}`);
        damage.working.changed = 1;
      }
    } finally {
      redis.disconnect();
    }
  }
  if (stores.mongoUrl) {
    const client = new MongoClient(stores.mongoUrl);
    await client.connect();
    try {
      const coll = client.db(mongoDatabaseOf(stores.mongoUrl, options.mongoDatabase)).collection(options.collection ?? DEFAULT_EPISODIC_COLLECTION);
      damage.episodic.deleted = (await coll.deleteMany({ memory_id: { $regex: '^[01]' } })).deletedCount;
      const survivor = await coll.find({ memory_id: { $exists: true } }, { sort: { memory_id: 1 }, limit: 1 }).next();
      if (survivor) {
        // A faulty consolidation: the content overwritten, an int64 turned into a double.
        await coll.updateOne({ _id: survivor._id }, { $set: { content: 'overwritten by a faulty consolidation', 'metadata.sequence': new Double(1000) } });
        damage.episodic.changed = 1;
      }
    } finally {
      await client.close();
    }
  }
  if (stores.postgresUrl) {
    const client = new Client({ connectionString: stores.postgresUrl });
    await client.connect();
    try {
      const t = tableSql(options.table ?? DEFAULT_VECTOR_TABLE);
      damage.semantic.deleted = (await client.query(`DELETE FROM ${t} WHERE id LIKE '0%' OR id LIKE '1%'`)).rowCount ?? 0;
      const changed = await client.query(`UPDATE ${t} SET embedding[1] = 0.5 WHERE id = (SELECT min(id) FROM ${t})`).catch(async () =>
        // pgvector has no element assignment: replace the vector's first value through an array.
        client.query(`UPDATE ${t} SET embedding = (0.5 || (embedding::real[])[2:])::vector WHERE id = (SELECT min(id) FROM ${t})`),
      );
      damage.semantic.changed = changed.rowCount ?? 0;
    } finally {
      await client.end();
    }
  }
  return damage;
}
