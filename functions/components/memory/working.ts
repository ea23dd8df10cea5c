/**
 * Working memory in Redis, in the NCA's layout under `memory:{ns}:` ({ns}: sources.memory.working_namespace;
 * the NCA's storage factory writes `generic`), as its RedisBackend writes it:
 *   memory:{ns}:{id}                 hash: id, created_at, content (the text as given), summary, and later
 *                                    last_accessed / last_modified
 *   memory:{ns}:metadata:{id}        string: the metadata as Python's json.dumps prints it
 *   memory:{ns}:index:tag:{tag}      set of ids (one per key of the metadata's tags dict)
 *   memory:{ns}:index:status:{st}    set of ids
 *   memory:{ns}:index:content:{word} set of ids (the content's words, lower-cased, punctuation split off)
 *   memory:{ns}:stats                hash: total_memories, {status}_memories (HINCRBY counters)
 *
 * Exporting: every key under the namespace becomes a native record (its type, DUMP payload and absolute
 * deadline, read in one MULTI with its value: the redis component's reader), and each item hash with its
 * metadata key a portable item. The fingerprint is taken over the records: each key's canonical value
 * digest (values as bytes, independent of encoding) and its exact deadline (PEXPIRETIME; on Redis < 7 only
 * whether it has one). Redis has no snapshot: keys are read over the SCAN's duration; a key deleted or
 * expired meanwhile is counted as vanished.
 *
 * Restoring: one MULTI on a connection that never reconnects: UNLINK of every key under the namespace,
 * then, when the target reads the payloads' RDB version, `RESTORE key deadline payload REPLACE ABSTTL` per
 * record: every key back byte for byte with its deadline to the millisecond, the NCA's index sets and
 * stats included. A target that cannot read the payloads (an older Redis) gets the portable items
 * instead, and the index sets and stats are rebuilt the way the NCA builds them (see NORMALISES). EXEC
 * only once every tier is staged; a damaged artifact (or any failure) ends in DISCARD: nothing changed.
 * Keys already expired are skipped and counted.
 * Limits: needs Redis 6+ (ABSTTL, SCAN TYPE); single-node or primary endpoint (no cluster mode); EXEC
 * blocks Redis for a time proportional to the namespace (working memory is small by design).
 */
import type Redis from 'ioredis';
import { InvalidInputError, VersionMismatchError } from '../../core/errors';
import { rdbIncompatibility, serverFacts, type ServerFacts } from '../redis/compatibility';
import { payloadRdbVersion } from '../redis/payload';
import { readKeys, type KeyValue } from '../redis/reader';
import { serverClock } from '../redis/restore';
import { KeySet, scanKeys } from '../redis/scan';
import { COMPONENT, type ExportHeader } from './format';
import { isObject, jsonText, parseJsonExact, parsePythonJson, type JsonObject, type MemoryItem } from './item';
import { describeRedis, openRedis, withRedis, type MemoryTarget } from './connection';
import type { StageResult, TierEntry, TierLine, TierSource, TierStager } from './tier';

type Working = NonNullable<MemoryTarget['working']>;

const SCAN_COUNT = 500;
/** Keys per read transaction (an item and its metadata key always in the same one). */
const READ_KEYS = 200;
/**
 * Stored bytes per read transaction, by MEMORY USAGE: each key comes back twice (DUMP and value) and
 * is held again as base64 while its record is written, so a transaction costs a few times this. A key
 * above it is read in a transaction of its own (its group's partner with it).
 */
const READ_BYTES = 16 * 1024 * 1024;
/** Commands queued into the MULTI before waiting for their QUEUED replies (bounds what is in flight). */
const QUEUE_BATCH = 1000;

export const WORKING_RECORDS =
  'every key under memory:{namespace}: as {key|keyBase64, type, dump (base64 DUMP payload), digest (SHA-256 of its canonical value), expireAt (absolute Unix ms)}';

export const WORKING_NORMALISES = [
  'metadata: the JSON text parsed and printed compactly (Python json.dumps spacing and key order are not kept, 1.0 prints as 1; integers beyond 2^53 keep their digits)',
  'content: a JSON object is parsed likewise; any other content stays the text it is',
  'metadata Python\'s json.dumps wrote with NaN, Infinity or -Infinity: those values are null in metadata, and native.metadataText keeps the text (a restore from items writes the text back)',
  'metadata that is not a JSON object (a list, a number, text that is not JSON): no metadata; native.metadataText keeps the text; metadata that is not UTF-8: native.metadataBase64',
  'hash fields whose name or value is not UTF-8 (an embedding stored as float bytes): native.binaryFields as base64, not decoded into the item\'s content or embedding',
  'embedding: the hash field as a JSON list of numbers (a text field that is not one stays in native.fields as text)',
  'index:tag, index:status, index:content sets and the stats hash are not items: a restore from items rebuilds them as the NCA builds them',
];

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
    word: (word: string) => `${prefix}index:content:${word}`,
    stats: `${prefix}stats`,
    /** The item id of a key under the namespace, or undefined for metadata, index and stats keys. */
    idOf(key: string): string | undefined {
      if (!key.startsWith(prefix)) return undefined;
      const rest = key.slice(prefix.length);
      if (rest === '' || rest === 'stats' || rest.startsWith('metadata:') || rest.startsWith('index:')) return undefined;
      return rest;
    },
    /** The id of an item key or of an item's metadata key. */
    memoryIdOf(key: string): string | undefined {
      if (key.startsWith(`${prefix}metadata:`)) return key.slice(prefix.length + 'metadata:'.length) || undefined;
      return this.idOf(key);
    },
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeText(bytes: Buffer): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

function tryJson(value: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: parseJsonExact(value) };
  } catch {
    return { ok: false };
  }
}

const isEmbedding = (value: unknown): value is number[] | null => value === null || (Array.isArray(value) && value.every((v) => typeof v === 'number'));

/**
 * The portable item of a hash (field -> bytes) and its metadata string. Nothing the NCA can store fails
 * it: what JSON cannot carry goes into `native` as text or base64 (see WORKING_NORMALISES), and the
 * native record keeps the key's bytes in any case.
 */
export function workingItem(id: string, hash: Iterable<readonly [string | Buffer, Buffer]>, metadata: Buffer | undefined, expireAt = 0, metadataExpireAt = 0): MemoryItem {
  const item: MemoryItem = { id };
  const fields: JsonObject = {};
  const binaryFields: NonNullable<NonNullable<MemoryItem['native']>['binaryFields']> = [];
  for (const [name, bytes] of hash) {
    const field = typeof name === 'string' ? name : decodeText(name);
    const value = decodeText(bytes);
    if (field === undefined || value === undefined) {
      binaryFields.push({ ...(field === undefined ? { fieldBase64: (name as Buffer).toString('base64') } : { field }), base64: bytes.toString('base64') });
    } else if (field === 'content') {
      // The NCA writes plain text; a JSON object is read as one.
      const parsed = tryJson(value);
      item.content = parsed.ok && isObject(parsed.value) ? (parsed.value as MemoryItem['content']) : value;
    } else if (field === 'embedding') {
      const parsed = tryJson(value);
      if (parsed.ok && isEmbedding(parsed.value)) item.embedding = parsed.value;
      else fields[field] = value;
    } else fields[field] = value;
  }
  const native: MemoryItem['native'] = {};
  if (metadata !== undefined) {
    const value = decodeText(metadata);
    if (value === undefined) native.metadataBase64 = metadata.toString('base64');
    else {
      let parsed: { value: unknown; replaced: boolean } | undefined;
      try {
        parsed = parsePythonJson(value);
      } catch {
        parsed = undefined;
      }
      if (parsed && (parsed.value === null || isObject(parsed.value))) item.metadata = parsed.value as MemoryItem['metadata'];
      // NaN/Infinity read as null, a list, a number or text that is not JSON: the text itself travels too.
      if (!parsed || parsed.replaced || item.metadata === undefined) native.metadataText = value;
    }
  }
  if (Object.keys(fields).length > 0) native.fields = fields;
  if (binaryFields.length > 0) native.binaryFields = binaryFields;
  if (expireAt > 0) native.expireAt = expireAt;
  if (metadataExpireAt > 0) native.metadataExpireAt = metadataExpireAt;
  if (Object.keys(native).length > 0) item.native = native;
  return item;
}

export async function redisVersion(client: Redis): Promise<string> {
  const info = await client.info('server');
  return /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? /valkey_version:([^\r\n]+)/.exec(info)?.[1] ?? 'unknown';
}

/**
 * What the fingerprint adds for a key: its type, canonical value digest (which covers the key) and
 * deadline; where the server has no PEXPIRETIME the deadline is read through a clock, so only whether
 * there is one counts.
 */
export function workingStored(type: unknown, digest: unknown, expireAt: unknown, exactExpiry: unknown): string {
  const deadline = typeof expireAt === 'number' && expireAt > 0 ? (exactExpiry === false ? 'ttl' : String(expireAt)) : '';
  return `${String(type)}\0${String(digest)}\0${deadline}`;
}

function recordOf(value: KeyValue): JsonObject {
  const name = decodeText(value.key);
  const record: JsonObject = name === undefined ? { keyBase64: value.key.toString('base64') } : { key: name };
  record.type = value.type;
  record.dump = value.payload!.toString('base64');
  // The value's digest, so a verification can recompute the backup's fingerprint from the artifact alone.
  record.digest = value.digest.toString('hex');
  if (value.expiresAt > 0) record.expireAt = value.expiresAt;
  return record;
}

/** Hash fields from canonical items (field, value pairs sorted by field). */
function hashFields(items: readonly Buffer[]): Array<[Buffer, Buffer]> {
  const fields: Array<[Buffer, Buffer]> = [];
  for (let i = 0; i + 1 < items.length; i += 2) fields.push([items[i], items[i + 1]]);
  return fields;
}

/**
 * Each key's size in Redis (MEMORY USAGE, sampled for aggregates: an estimate is enough to bound a
 * batch). A key the server will not size (MEMORY denied by an ACL) counts as the whole budget, so it is
 * read alone; a key gone since SCAN counts as nothing.
 */
async function storedSizes(client: Redis, keys: readonly Buffer[]): Promise<number[]> {
  if (keys.length === 0) return [];
  const pipeline = client.pipeline();
  for (const key of keys) pipeline.call('MEMORY', 'USAGE', key);
  const replies = (await pipeline.exec()) ?? [];
  return keys.map((_, i) => {
    const [error, size] = replies[i] ?? [new Error('no reply'), null];
    if (error) return READ_BYTES;
    return typeof size === 'number' ? size : 0;
  });
}

export async function openWorkingSource(working: Working): Promise<TierSource> {
  const client = await openRedis(working.redis);
  try {
    const facts = await serverFacts(client, working.redis.db);
    const keys = workingKeys(working.namespace);
    let vanished = 0;
    let records = 0;
    return {
      tier: 'working',
      version: facts.serverVersion,
      description: { store: 'redis', db: working.redis.db, namespace: working.namespace, rdbVersion: facts.rdbVersion, exactExpiry: facts.exactExpiry },
      declaredDimension: null,
      read: { snapshot: false, method: 'Redis SCAN in batches, each batch read in one MULTI (no snapshot: keys are read over the scan\'s duration)' },
      async *entries(): AsyncGenerator<TierEntry> {
        // An item's hash and metadata key are read together, whichever SCAN lists first.
        const handled = new KeySet();
        for await (const batch of scanKeys(client, [keys.pattern], SCAN_COUNT)) {
          const groups: { keys: Buffer[]; id?: string; listed: number }[] = [];
          for (const key of batch) {
            const name = decodeText(key);
            const id = name === undefined ? undefined : keys.memoryIdOf(name);
            if (id === undefined) {
              if (handled.add(key)) groups.push({ keys: [key], listed: 1 });
              continue;
            }
            const pair = [Buffer.from(keys.item(id)), Buffer.from(keys.metadata(id))].filter((k) => handled.add(k));
            if (pair.length > 0) groups.push({ keys: pair, id, listed: 1 });
          }
          const sizes = await storedSizes(client, groups.flatMap((g) => g.keys));
          let sized = 0;
          const bytesOf = groups.map((g) => g.keys.reduce((sum) => sum + sizes[sized++], 0));
          for (let start = 0; start < groups.length; ) {
            const slice: typeof groups = [];
            let size = 0;
            let bytes = 0;
            while (start < groups.length && (slice.length === 0 || (size + groups[start].keys.length <= READ_KEYS && bytes + bytesOf[start] <= READ_BYTES))) {
              size += groups[start].keys.length;
              bytes += bytesOf[start];
              slice.push(groups[start++]);
            }
            const read = await readKeys(client, slice.flatMap((g) => g.keys), { dump: true, exactExpiry: facts.exactExpiry, values: true });
            const byKey = new Map(read.values.map((v) => [v.key.toString('latin1'), v]));
            for (const group of slice) {
              const found = group.keys.map((k) => byKey.get(k.toString('latin1'))).filter((v): v is KeyValue => v !== undefined);
              // A partner key that does not exist was never listed: only listed keys can vanish.
              if (found.length === 0) vanished += group.listed;
              for (const value of found) {
                records++;
                const record = recordOf(value);
                yield { record, stored: workingStored(record.type, record.digest, record.expireAt, facts.exactExpiry), expireAt: value.expiresAt || undefined };
              }
              if (group.id === undefined) continue;
              const hash = byKey.get(Buffer.from(keys.item(group.id)).toString('latin1'));
              if (!hash || hash.type !== 'hash') continue;
              const metadata = byKey.get(Buffer.from(keys.metadata(group.id)).toString('latin1'));
              const metadataValue = metadata?.type === 'string' ? metadata.items![0] : undefined;
              const item = workingItem(group.id, hashFields(hash.items!), metadataValue, hash.expiresAt, metadataValue ? metadata!.expiresAt : 0);
              yield { item, expireAt: hash.expiresAt || undefined };
            }
          }
        }
      },
      facts: () => ({ vanishedDuringExport: vanished, keys: records }),
      close: async () => void client.disconnect(),
    };
  } catch (error) {
    client.disconnect();
    throw error;
  }
}

/** The NCA's tokenize_content: lower-cased, these punctuation characters made spaces, split on whitespace. */
export function contentWords(content: string): Set<string> {
  let words = content.toLowerCase();
  for (const char of ',.;:!?"\'()[]{}') words = words.split(char).join(' ');
  return new Set(words.split(/\s+/).filter((w) => w !== ''));
}

/** The hash a restore from items writes: the item's own hash fields, else the NCA's (id, created_at, summary). */
function hashOf(item: MemoryItem): Array<string | Buffer> {
  return [...Object.entries(textFieldsOf(item)).flat(), ...(item.native?.binaryFields ?? []).flatMap((f) => [f.field ?? Buffer.from(f.fieldBase64!, 'base64'), Buffer.from(f.base64, 'base64')])];
}

/** The metadata key a restore from items writes: the stored text where the item kept it, else the item's metadata as JSON. */
function metadataOf(item: MemoryItem): string | Buffer | undefined {
  if (item.native?.metadataBase64 !== undefined) return Buffer.from(item.native.metadataBase64, 'base64');
  if (item.native?.metadataText !== undefined) return item.native.metadataText;
  return item.metadata === undefined ? undefined : jsonText(item.metadata);
}

function textFieldsOf(item: MemoryItem): Record<string, string> {
  const hash: Record<string, string> = {};
  if (item.native?.fields) {
    for (const [field, value] of Object.entries(item.native.fields)) hash[field] = typeof value === 'string' ? value : jsonText(value);
  } else {
    hash.id = item.id;
    const created = item.metadata?.created_at;
    if (created !== undefined && created !== null) hash.created_at = String(created);
    if (isObject(item.content) && typeof item.content.summary === 'string') hash.summary = item.content.summary;
  }
  if (item.content !== undefined) hash.content = typeof item.content === 'string' ? item.content : jsonText(item.content);
  if (item.embedding !== undefined) hash.embedding = JSON.stringify(item.embedding);
  return hash;
}

/** The tags the NCA indexes: the keys of the tags dict (iterating a dict), or a list's strings. */
function tagsOf(tags: unknown): string[] {
  if (Array.isArray(tags)) return tags.filter((t): t is string => typeof t === 'string');
  return isObject(tags) ? Object.keys(tags) : [];
}

interface ParsedRecord {
  readonly key: Buffer;
  readonly dump: Buffer;
  readonly expireAt: number;
}

function parseRecord(record: JsonObject): ParsedRecord {
  const key = typeof record.key === 'string' ? Buffer.from(record.key) : typeof record.keyBase64 === 'string' ? Buffer.from(record.keyBase64, 'base64') : undefined;
  const expireAt = record.expireAt ?? 0;
  if (!key || typeof record.dump !== 'string' || !Number.isSafeInteger(expireAt)) {
    throw new InvalidInputError('a working-memory record lacks its key, dump payload or a valid expireAt.', {
      component: COMPONENT,
      hint: 'The artifact passed its checksum, so it was written this way: restore another backup id and report the problem.',
    });
  }
  return { key, dump: Buffer.from(record.dump, 'base64'), expireAt: expireAt as number };
}

/** Whether the target reads the export's payloads; the reason when it does not. */
export function nativeRestore(header: ExportHeader, facts: ServerFacts): { native: true } | { native: false; reason: string } {
  const rdbVersion = header.source.rdbVersion;
  if (header.version < 2 || header.records === undefined || typeof rdbVersion !== 'number') return { native: false, reason: `the export (version ${header.version}) holds no native records` };
  const refused = rdbIncompatibility(rdbVersion, facts);
  if (refused) return { native: false, reason: `the target ${facts.serverName} ${facts.serverVersion} ${refused}; the backup's payloads are RDB version ${rdbVersion}` };
  return { native: true };
}

async function workingHasItems(client: Redis, keys: ReturnType<typeof workingKeys>): Promise<boolean> {
  let cursor = '0';
  do {
    const [next, found] = await client.scanBuffer(cursor, 'MATCH', keys.pattern, 'COUNT', SCAN_COUNT, 'TYPE', 'hash');
    cursor = next.toString();
    if (found.some((key) => keys.idOf(key.toString('utf8')) !== undefined)) return true;
  } while (cursor !== '0');
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
  const queue = async (...command: (string | number | Buffer)[]) => {
    push(transaction!.call(...(command as [string, ...(string | number | Buffer)[]])));
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
    const facts = await serverFacts(scanner, working.redis.db);
    const now = await serverClock(scanner);

    /** Every record RESTOREd with its payload and deadline. */
    const stageRecords = async (lines: AsyncIterable<TierLine>) => {
      let items = 0;
      let expiredItems = 0;
      let restoredKeys = 0;
      let expiredKeys = 0;
      for await (const line of lines) {
        if (line.item) {
          const expireAt = line.item.native?.expireAt;
          if (expireAt !== undefined && expireAt <= now()) expiredItems++;
          else items++;
          continue;
        }
        const record = parseRecord(line.record);
        if (record.expireAt > 0 && record.expireAt <= now()) {
          expiredKeys++;
          continue;
        }
        const version = payloadRdbVersion(record.dump);
        if (version !== undefined && rdbIncompatibility(version, facts)) {
          throw new VersionMismatchError(`a working-memory payload is RDB version ${version}; the target ${facts.serverName} ${facts.serverVersion} ${rdbIncompatibility(version, facts)}.`, {
            component: COMPONENT,
            hint: 'Restore into a Redis at least as new as the backup\'s.',
          });
        }
        await queue('RESTORE', record.key, record.expireAt, record.dump, 'REPLACE', ...(record.expireAt > 0 ? ['ABSTTL'] : []));
        restoredKeys++;
      }
      return { items, expiredSkipped: expiredItems, keysRestored: restoredKeys, expiredKeysSkipped: expiredKeys };
    };

    /** The items written the way the NCA writes them, with its index sets and stats rebuilt. */
    const stageItems = async (lines: AsyncIterable<TierLine>) => {
      let written = 0;
      let expired = 0;
      let withMetadata = 0;
      const statuses = new Map<string, number>();
      for await (const { item } of lines) {
        if (!item) continue;
        const expireAt = item.native?.expireAt;
        if (expireAt !== undefined && expireAt <= now()) {
          expired++;
          continue;
        }
        await queue('HSET', keys.item(item.id), ...hashOf(item));
        if (expireAt !== undefined) await queue('PEXPIREAT', keys.item(item.id), expireAt);
        const metadata = metadataOf(item);
        if (metadata !== undefined) {
          await queue('SET', keys.metadata(item.id), metadata);
          const metadataExpireAt = item.native?.metadataExpireAt;
          if (metadataExpireAt !== undefined) await queue('PEXPIREAT', keys.metadata(item.id), metadataExpireAt);
          withMetadata++;
        }
        const content = typeof item.content === 'string' ? item.content : typeof item.content?.text === 'string' ? item.content.text : '';
        for (const word of contentWords(content)) await queue('SADD', keys.word(word), item.id);
        const status = item.metadata?.status;
        if (typeof status === 'string' && status !== '') {
          await queue('SADD', keys.status(status), item.id);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
        for (const tag of new Set(tagsOf(item.metadata?.tags))) await queue('SADD', keys.tag(tag), item.id);
        written++;
      }
      // The NCA counts an item in its stats only when it has metadata.
      if (withMetadata > 0) await queue('HSET', keys.stats, 'total_memories', withMetadata, ...[...statuses].flatMap(([status, n]) => [`${status}_memories`, n]));
      return { items: written, expiredSkipped: expired };
    };

    return {
      tier: 'working',
      hadItems,
      async stage(header: ExportHeader, lines: AsyncIterable<TierLine>): Promise<StageResult> {
        const mode = nativeRestore(header, facts);
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
        const counts = mode.native ? await stageRecords(lines) : await stageItems(lines);
        await settle();
        return {
          ...counts,
          mode: mode.native ? 'native records (RESTORE ... ABSTTL)' : `portable items (${mode.reason})`,
          keysReplaced: unlinked.size,
          namespace: working.namespace,
          redis: describeRedis(working.redis),
        };
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
