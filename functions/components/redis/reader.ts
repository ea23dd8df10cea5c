/**
 * Reads a batch of keys: expiry, DUMP payload (for backups) and value (for the fingerprint), all inside
 * one MULTI/EXEC, so the payload written to the artifact and the digest summed into the fingerprint
 * describe the same value even while clients write. The value command depends on the type, which a
 * cheap TYPE pipeline guesses first. The transaction itself carries no TYPE (a fifth of the commands):
 * a key whose type changed after the guess is recognised by its value command failing with WRONGTYPE,
 * or, for strings read from their payload, by the payload's RDB type byte, and is read again.
 *
 * Expiry is read as an absolute deadline: PEXPIRETIME on Redis 7+ (exact), else TIME + PTTL in the same
 * transaction (the server's own clock; within a millisecond). RESTORE ... ABSTTL on the target interprets
 * it with that server's clock, both being NTP-synchronised in AWS.
 */
import type Redis from 'ioredis';
import { TransientError } from '../../core/errors';
import { canonicalDigest, canonicalItems } from './digest';
import { KEY_TYPES, type KeyType } from './format';
import { decodeStringPayload } from './payload';

export interface KeyValue {
  readonly key: Buffer;
  readonly type: KeyType;
  /** Absolute expiry in ms since the epoch by the server's clock; 0 = none. */
  readonly expiresAt: number;
  /** canonicalDigest of the value read in the same transaction as the payload. */
  readonly digest: Buffer;
  /** The DUMP payload; only when asked for (backups) or for module types (their digest uses it). */
  readonly payload?: Buffer;
  /** The value as canonicalItems lists it (hash: sorted field, value pairs; string: the bytes); only when asked for. */
  readonly items?: readonly Buffer[];
}

export interface ReadBatch {
  readonly values: KeyValue[];
  /** Keys listed by SCAN that no longer exist (expired or deleted) when read. */
  readonly vanished: number;
  /** Reads repeated because a key's type changed between the TYPE guess and the transaction. */
  readonly retried: number;
  /** Payload and value bytes received, for sizing the next batch. */
  readonly bytes: number;
}

const MAX_ATTEMPTS = 5;

export function keyTypeOf(name: string): KeyType | undefined {
  if (name === 'none') return undefined;
  return (KEY_TYPES as readonly string[]).includes(name) ? (name as KeyType) : 'other';
}

/** What reader.ts queued for one key, in order, so the replies can be walked back. */
interface Plan {
  readonly key: Buffer;
  readonly type: KeyType;
  readonly dump: boolean;
  readonly exactExpiry: boolean;
  /** Strings read with GET: always for a fingerprint, and in a backup when the payload decoder cannot read one. */
  readonly get: boolean;
  readonly valueReplies: number;
}

type Reply = [error: Error | null, result: unknown];

function queue(tx: ReturnType<Redis['multi']>, plan: Plan): void {
  const { key } = plan;
  if (plan.exactExpiry) tx.pexpiretime(key);
  else tx.pttl(key);
  if (plan.dump) tx.dumpBuffer(key);
  switch (plan.type) {
    case 'string':
      if (plan.get) tx.getBuffer(key);
      break;
    case 'list':
      tx.lrangeBuffer(key, 0, -1);
      break;
    case 'set':
      tx.smembersBuffer(key);
      break;
    case 'zset':
      tx.zrangeBuffer(key, 0, -1, 'WITHSCORES');
      break;
    case 'hash':
      tx.hkeysBuffer(key);
      tx.hvalsBuffer(key);
      break;
    case 'stream':
      tx.xrangeBuffer(key, '-', '+');
      break;
    case 'other':
      break;
  }
}

function valueReplyCount(type: KeyType, get: boolean): number {
  if (type === 'string') return get ? 1 : 0;
  if (type === 'hash') return 2;
  return type === 'other' ? 0 : 1;
}

function itemsOf(type: KeyType, replies: unknown[], payload: Buffer | undefined): Buffer[] | undefined {
  switch (type) {
    case 'string': {
      const value = replies.length > 0 ? (replies[0] as Buffer | null) : payload && decodeStringPayload(payload);
      return value ? canonicalItems.string(value) : undefined;
    }
    case 'list':
      return canonicalItems.list(replies[0] as Buffer[]);
    case 'set':
      return canonicalItems.set(replies[0] as Buffer[]);
    case 'zset':
      return canonicalItems.zset(replies[0] as Buffer[]);
    case 'hash':
      return canonicalItems.hash(replies[0] as Buffer[], replies[1] as Buffer[]);
    case 'stream':
      return canonicalItems.stream(replies[0] as [Buffer, Buffer[]][]);
    case 'other':
      return payload ? canonicalItems.other(payload) : undefined;
  }
}

/** RDB type bytes that are the same in every Redis and Valkey release: 0 string, 6 and 7 module values. */
const RDB_STRING = 0;
const RDB_MODULE = [6, 7];

/** Whether a payload is of the guessed type, where only the payload can tell (strings and module types). */
function payloadMatches(type: KeyType, payload: Buffer | undefined): boolean {
  if (!payload) return true;
  if (type === 'string') return payload[0] === RDB_STRING;
  if (type === 'other') return RDB_MODULE.includes(payload[0]);
  return payload[0] !== RDB_STRING;
}

function sizeOf(value: unknown): number {
  if (Buffer.isBuffer(value)) return value.length;
  if (Array.isArray(value)) return value.reduce((sum: number, v) => sum + sizeOf(v), 0);
  return 0;
}

export interface ReadOptions {
  /** Also fetch DUMP payloads (backups); without it the batch is read for a fingerprint. */
  readonly dump: boolean;
  /** The server has PEXPIRETIME (Redis 7.0+, Valkey): deadlines are exact instead of TIME + PTTL. */
  readonly exactExpiry?: boolean;
  /** Also return each value's canonical items (KeyValue.items), read in the same transaction as its payload. */
  readonly values?: boolean;
}

/** Reads `keys` (deduplicated by the caller). Errors are the client's; callers map them with redisFailure. */
export async function readKeys(redis: Redis, keys: readonly Buffer[], options: ReadOptions): Promise<ReadBatch> {
  const values: KeyValue[] = [];
  let vanished = 0;
  let retried = 0;
  let bytes = 0;
  let pending = [...keys];
  const needsGet = new Set<string>();
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > MAX_ATTEMPTS) {
      throw new TransientError(`${pending.length} keys kept changing type while being read (${MAX_ATTEMPTS} attempts).`, {
        component: 'redis',
        hint: 'A client is rewriting these keys continuously; run the backup again, or at a quieter time.',
      });
    }
    const guessed = await typesOf(redis, pending);
    const plans: Plan[] = [];
    pending.forEach((key, i) => {
      const type = keyTypeOf(guessed[i]);
      if (!type) {
        vanished++;
        return;
      }
      const get = !options.dump || needsGet.has(key.toString('latin1'));
      plans.push({ key, type, dump: options.dump || type === 'other', exactExpiry: options.exactExpiry === true, get, valueReplies: valueReplyCount(type, get) });
    });
    pending = [];
    if (plans.length === 0) break;

    const tx = redis.multi();
    tx.time();
    for (const plan of plans) queue(tx, plan);
    const replies = (await tx.exec()) as Reply[] | null;
    if (!replies) throw new TransientError('a read transaction was aborted by the server.', { component: 'redis' });
    const [timeError, time] = replies[0];
    if (timeError) throw timeError;
    const [seconds, micros] = time as [string, string];
    const serverMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);

    let at = 1;
    for (const plan of plans) {
      const count = 1 + (plan.dump ? 1 : 0) + plan.valueReplies;
      const mine = replies.slice(at, at + count);
      at += count;
      const [expiryError, expiry] = mine[0];
      if (expiryError) throw expiryError;
      const payload = plan.dump ? (mine[1][1] as Buffer | null) ?? undefined : undefined;
      if (expiry === -2 || (plan.dump && !payload)) {
        vanished++;
        continue;
      }
      const failed = mine.find(([error]) => error);
      if (failed && !/^WRONGTYPE/.test(failed[0]!.message)) throw failed[0];
      if (failed || !payloadMatches(plan.type, payload)) {
        // The key was replaced by one of another type after the guess.
        retried++;
        pending.push(plan.key);
        continue;
      }
      const valueReplies = mine.slice(1 + (plan.dump ? 1 : 0)).map(([, result]) => result);
      const items = itemsOf(plan.type, valueReplies, payload);
      if (!items) {
        if (plan.type === 'string' && !plan.get) {
          // A string encoding the payload decoder does not know: read it again with GET alongside DUMP.
          needsGet.add(plan.key.toString('latin1'));
          pending.push(plan.key);
          continue;
        }
        vanished++;
        continue;
      }
      bytes += (payload?.length ?? 0) + sizeOf(valueReplies);
      values.push({
        key: plan.key,
        type: plan.type,
        expiresAt: typeof expiry !== 'number' || expiry < 0 ? 0 : plan.exactExpiry ? expiry : serverMs + expiry,
        digest: canonicalDigest(plan.type, plan.key, items),
        payload: options.dump ? payload : undefined,
        ...(options.values ? { items } : {}),
      });
    }
  }
  return { values, vanished, retried, bytes };
}

async function typesOf(redis: Redis, keys: readonly Buffer[]): Promise<string[]> {
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.type(key);
  const replies = ((await pipeline.exec()) ?? []) as Reply[];
  return replies.map(([error, result]) => {
    if (error) throw error;
    return String(result);
  });
}

/** Sizes read batches so one transaction's replies stay near a byte budget, whatever the value sizes. */
export class BatchSizer {
  private size: number;
  constructor(
    private readonly maxKeys = 1000,
    private readonly budgetBytes = 8 * 1024 * 1024,
  ) {
    this.size = Math.min(100, maxKeys);
  }

  get next(): number {
    return this.size;
  }

  observe(keys: number, bytes: number): void {
    if (keys === 0) return;
    const perKey = Math.max(1, bytes / keys);
    this.size = Math.max(1, Math.min(this.maxKeys, Math.floor(this.budgetBytes / perKey)));
  }
}
