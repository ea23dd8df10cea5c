/**
 * Working memory in Redis, in the NCA's layout under `memory:{ns}:` ({ns} = sources.memory.working_namespace):
 *   memory:{ns}:{id}                 hash: id, created_at, content (JSON of the content object), summary,
 *                                    embedding (JSON list of floats, when the item has one: our choice of place,
 *                                    so the metadata JSON stays exactly the item's metadata)
 *   memory:{ns}:metadata:{id}        string: the metadata as JSON
 *   memory:{ns}:index:tag:{tag}      set of ids          (derived: rebuilt by a restore)
 *   memory:{ns}:index:status:{st}    set of ids          (derived: rebuilt by a restore)
 *   memory:{ns}:stats                hash: total_memories, {status}_memories, last_updated (derived: recomputed)
 *
 * Reading: SCAN (TYPE hash) in batches, each batch's hashes, metadata and TTLs fetched in one pipeline.
 * Redis has no snapshot: items are read over the SCAN's duration, and an item deleted or expired while
 * the SCAN runs is counted as vanished, not exported. Other hash fields than content and embedding
 * (id, created_at, summary, last_modified, ...) travel verbatim in native.fields; a TTL as native.expireAt.
 *
 * Restoring: one MULTI on a connection that never reconnects: UNLINK of every key under the namespace,
 * then the items, their index sets and the stats, EXEC only once every tier is staged. A damaged artifact
 * (or any failure) ends in DISCARD: nothing changed. Items already expired are skipped and counted.
 * Limits: the NCA's content word index (memory:{ns}:index:content:*) is not rebuilt; needs Redis 6+
 * (SCAN TYPE); single-node or primary endpoint (no cluster mode); EXEC blocks Redis for a time
 * proportional to the namespace (working memory is small by design).
 */
import type Redis from 'ioredis';
import { InvalidInputError } from '../../core/errors';
import { COMPONENT, type ExportHeader } from './format';
import { isObject, type JsonObject, type MemoryItem } from './item';
import { describeRedis, openRedis, withRedis, type MemoryTarget } from './connection';
import type { StageResult, TierSource, TierStager } from './tier';

type Working = NonNullable<MemoryTarget['working']>;

const SCAN_COUNT = 500;
/** Commands queued into the MULTI before waiting for their QUEUED replies (bounds what is in flight). */
const QUEUE_BATCH = 1000;

export function workingKeys(namespace: string) {
  const prefix = `memory:${namespace}:`;
  return {
    prefix,
    /** SCAN pattern of every key under the namespace (glob characters in the namespace escaped). */
    pattern: `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`,
    item: (id: string) => `${prefix}${id}`,
    metadata: (id: string) => `${prefix}metadata:${id}`,
    tag: (tag: string) => `${prefix}index:tag:${tag}`,
    status: (status: string) => `${prefix}index:status:${status}`,
    stats: `${prefix}stats`,
    /** The item id of a key under the namespace, or undefined for metadata, index and stats keys. */
    idOf(key: string): string | undefined {
      if (!key.startsWith(prefix)) return undefined;
      const rest = key.slice(prefix.length);
      if (rest === '' || rest === 'stats' || rest.startsWith('metadata:') || rest.startsWith('index:')) return undefined;
      return rest;
    },
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function text(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new InvalidInputError(`${what} is not UTF-8 text.`, { component: COMPONENT, hint: 'The memory export carries the NCA\'s JSON layout; back this key up with the redis component.' });
  }
}

function json(value: string, what: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw new InvalidInputError(`${what} is not JSON.`, {
      component: COMPONENT,
      hint: 'Fix or delete the item in Redis (the redis component\'s backup keeps it as it is).',
    });
  }
}

/** One item from its hash, metadata string and PTTL; undefined when the hash vanished while being read. */
export function workingItem(id: string, hash: Record<string, Buffer>, metadata: Buffer | null, pttl: number, now: number): MemoryItem | undefined {
  if (Object.keys(hash).length === 0) return undefined;
  const where = `working item ${id}:`;
  const item: MemoryItem = { id };
  const fields: JsonObject = {};
  let embedding: unknown;
  for (const [field, bytes] of Object.entries(hash)) {
    const value = text(bytes, `${where} hash field ${field}`);
    if (field === 'content') {
      const content = json(value, `${where} hash field content`);
      if (content !== null && !isObject(content)) {
        throw new InvalidInputError(`${where} hash field content is JSON but not an object.`, { component: COMPONENT, hint: 'The NCA stores the content object as JSON.' });
      }
      item.content = content;
    } else if (field === 'embedding') {
      embedding = json(value, `${where} hash field embedding`);
    } else fields[field] = value;
  }
  if (metadata !== null) {
    const parsed = json(text(metadata, `${where} metadata`), `${where} metadata`);
    if (parsed !== null && !isObject(parsed)) throw new InvalidInputError(`${where} metadata is JSON but not an object.`, { component: COMPONENT });
    item.metadata = parsed;
  }
  if (embedding !== undefined) item.embedding = embedding as number[] | null;
  const native: MemoryItem['native'] = {};
  if (Object.keys(fields).length > 0) native.fields = fields;
  if (pttl > 0) native.expireAt = now + pttl;
  if (Object.keys(native).length > 0) item.native = native;
  return item;
}

export async function redisVersion(client: Redis): Promise<string> {
  const info = await client.info('server');
  return /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? /valkey_version:([^\r\n]+)/.exec(info)?.[1] ?? 'unknown';
}

/** Item keys under the namespace, SCAN batch by batch. */
async function* itemIds(client: Redis, keys: ReturnType<typeof workingKeys>): AsyncGenerator<string[]> {
  let cursor = '0';
  do {
    const [next, found] = await client.scanBuffer(cursor, 'MATCH', keys.pattern, 'COUNT', SCAN_COUNT, 'TYPE', 'hash');
    cursor = next.toString();
    const ids: string[] = [];
    for (const key of found) {
      const id = keys.idOf(text(key, `key ${key.toString('hex')} (hex)`));
      if (id !== undefined) ids.push(id);
    }
    if (ids.length > 0) yield ids;
  } while (cursor !== '0');
}

export async function openWorkingSource(working: Working): Promise<TierSource> {
  const client = await openRedis(working.redis);
  try {
    const version = await redisVersion(client);
    const keys = workingKeys(working.namespace);
    let vanished = 0;
    return {
      tier: 'working',
      version,
      description: { store: 'redis', db: working.redis.db, namespace: working.namespace },
      declaredDimension: null,
      read: { snapshot: false, method: 'Redis SCAN in batches (no snapshot: items are read over the scan\'s duration)' },
      async *items() {
        // SCAN may return a key twice; working memory is small, so a Set of seen ids is cheap.
        const seen = new Set<string>();
        for await (const batch of itemIds(client, keys)) {
          const ids = batch.filter((id) => !seen.has(id));
          const pipeline = client.pipeline();
          for (const id of ids) {
            pipeline.hgetallBuffer(keys.item(id));
            pipeline.getBuffer(keys.metadata(id));
            pipeline.pttl(keys.item(id));
          }
          const replies = (await pipeline.exec()) ?? [];
          const now = Date.now();
          for (let i = 0; i < ids.length; i++) {
            const [hash, metadata, pttl] = [replies[3 * i], replies[3 * i + 1], replies[3 * i + 2]];
            const error = hash[0] ?? metadata[0] ?? pttl[0];
            if (error) throw error;
            seen.add(ids[i]);
            const item = workingItem(ids[i], hash[1] as Record<string, Buffer>, metadata[1] as Buffer | null, pttl[1] as number, now);
            if (item) yield item;
            else vanished++;
          }
        }
      },
      facts: () => ({ vanishedDuringExport: vanished }),
      close: async () => void client.disconnect(),
    };
  } catch (error) {
    client.disconnect();
    throw error;
  }
}

/** The hash a restore writes: the item's own hash fields, else the NCA's (id, created_at, summary). */
function hashOf(item: MemoryItem): Record<string, string> {
  const hash: Record<string, string> = {};
  if (item.native?.fields) {
    for (const [field, value] of Object.entries(item.native.fields)) hash[field] = typeof value === 'string' ? value : JSON.stringify(value);
  } else {
    hash.id = item.id;
    const created = item.metadata?.created_at;
    if (created !== undefined && created !== null) hash.created_at = String(created);
    if (typeof item.content?.summary === 'string') hash.summary = item.content.summary;
  }
  if (item.content !== undefined) hash.content = JSON.stringify(item.content);
  if (item.embedding !== undefined) hash.embedding = JSON.stringify(item.embedding);
  return hash;
}

async function workingHasItems(client: Redis, keys: ReturnType<typeof workingKeys>): Promise<boolean> {
  for await (const _batch of itemIds(client, keys)) return true;
  return false;
}

export async function openWorkingStager(working: Working): Promise<TierStager> {
  const keys = workingKeys(working.namespace);
  const scanner = await openRedis(working.redis);
  let transaction: Redis | undefined;
  let queued: Promise<unknown>[] = [];
  const push = (reply: Promise<unknown>) => {
    // Awaited by settle(); a failure elsewhere may leave some unawaited when the connection closes.
    reply.catch(() => undefined);
    queued.push(reply);
  };
  const queue = async (...command: (string | number)[]) => {
    push(transaction!.call(...(command as [string, ...(string | number)[]])));
    if (queued.length >= QUEUE_BATCH) await settle();
  };
  const settle = async () => {
    const batch = queued;
    queued = [];
    await Promise.all(batch);
  };
  const close = () => {
    scanner.disconnect();
    transaction?.disconnect();
    transaction = undefined;
  };
  try {
    const hadItems = await workingHasItems(scanner, keys);
    return {
      tier: 'working',
      hadItems,
      async stage(_header: ExportHeader, items: AsyncIterable<MemoryItem>): Promise<StageResult> {
        transaction = await openRedis(working.redis);
        await transaction.call('MULTI');
        // SCAN may repeat a key: count each once (working memory is small enough for the Set).
        const unlinked = new Set<string>();
        let cursor = '0';
        do {
          const [next, found] = await scanner.scanBuffer(cursor, 'MATCH', keys.pattern, 'COUNT', SCAN_COUNT);
          cursor = next.toString();
          if (found.length > 0) {
            push(transaction.callBuffer('UNLINK', ...found));
            found.forEach((key) => unlinked.add(key.toString('hex')));
            if (queued.length >= QUEUE_BATCH) await settle();
          }
        } while (cursor !== '0');

        let written = 0;
        let expired = 0;
        const statuses = new Map<string, number>();
        for await (const item of items) {
          const expireAt = item.native?.expireAt;
          if (expireAt !== undefined && expireAt <= Date.now()) {
            expired++;
            continue;
          }
          const hash = hashOf(item);
          await queue('HSET', keys.item(item.id), ...Object.entries(hash).flat());
          if (item.metadata !== undefined) await queue('SET', keys.metadata(item.id), JSON.stringify(item.metadata));
          if (expireAt !== undefined) {
            await queue('PEXPIREAT', keys.item(item.id), expireAt);
            if (item.metadata !== undefined) await queue('PEXPIREAT', keys.metadata(item.id), expireAt);
          }
          const status = item.metadata?.status;
          if (typeof status === 'string') {
            await queue('SADD', keys.status(status), item.id);
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
          }
          const tags = item.metadata?.tags;
          if (Array.isArray(tags)) for (const tag of new Set(tags)) if (typeof tag === 'string') await queue('SADD', keys.tag(tag), item.id);
          written++;
        }
        if (written > 0) {
          const counts = [...statuses].flatMap(([status, n]) => [`${status}_memories`, n]);
          await queue('HSET', keys.stats, 'total_memories', written, ...counts, 'last_updated', new Date().toISOString());
        }
        await settle();
        return { items: written, expiredSkipped: expired, keysReplaced: unlinked.size, namespace: working.namespace, redis: describeRedis(working.redis) };
      },
      async commit() {
        const replies = (await transaction!.call('EXEC')) as unknown[] | null;
        close();
        const failed = replies?.find((reply) => reply instanceof Error) as Error | undefined;
        if (!replies || failed) {
          throw new InvalidInputError(`Redis refused part of the working memory restore: ${failed?.message ?? 'the transaction was aborted'}.`, { component: COMPONENT });
        }
      },
      async abort() {
        if (transaction) await transaction.call('DISCARD').catch(() => undefined);
        close();
      },
    };
  } catch (error) {
    close();
    throw error;
  }
}

export async function workingExists(working: Working): Promise<boolean> {
  return withRedis(working.redis, (client) => workingHasItems(client, workingKeys(working.namespace)));
}

/** Upper bound: the dataset size of the whole Redis database (INFO is cheap; a per-key sum is not). */
export async function workingEstimate(working: Working): Promise<number> {
  return withRedis(working.redis, async (client) => Number(/used_memory_dataset:(\d+)/.exec(await client.info('memory'))?.[1] ?? 0));
}

export async function workingVersion(working: Working): Promise<string> {
  return withRedis(working.redis, redisVersion);
}
