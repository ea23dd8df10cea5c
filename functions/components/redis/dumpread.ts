/**
 * The fast read of a batch of keys, for backups and fingerprints: one MULTI/EXEC on a bare RESP
 * connection (resp.ts) with each key's expiry and DUMP, nothing else. The key's type is the payload's
 * RDB type byte and its canonical value is decoded from the payload (decode.ts), so expiry, payload,
 * type and digest all come from one atomic read, and the values are not read a second time.
 *
 * Keys whose payload is not decoded here (streams, module types, encodings decode.ts does not know) are
 * read again, all of them together, by reader.ts's readKeys on an ioredis connection: TYPE, expiry,
 * DUMP and the value commands in one transaction, exactly as before this path existed. The two paths
 * give the same digest for the same value (the test suite checks it on every type and encoding).
 */
import type Redis from 'ioredis';
import { TransientError } from '../../core/errors';
import { payloadItems, payloadKeyType } from './decode';
import { canonicalDigest } from './digest';
import { readKeys, type KeyValue, type ReadBatch, type ReadOptions } from './reader';
import { CommandWriter, execResult, ReplyError, type Reply, type RespConnection } from './resp';

function expiryOf(reply: Reply): number {
  if (reply instanceof ReplyError) throw reply;
  if (typeof reply !== 'number') throw new TransientError('Redis answered an expiry query with something other than an integer.', { component: 'redis' });
  return reply;
}

/**
 * Reads `keys` (deduplicated by the caller) over `connection`; keys needing their values read go through
 * `fallback`. Errors are the client's; callers map them with redisFailure.
 */
export async function readDumps(connection: RespConnection, fallback: Redis, keys: readonly Buffer[], options: ReadOptions): Promise<ReadBatch> {
  const exact = options.exactExpiry === true;
  const request = new CommandWriter(64 + keys.reduce((sum, key) => sum + key.length * 2 + 48, 0));
  request.command('MULTI');
  if (!exact) request.command('TIME');
  for (const key of keys) {
    if (exact) request.command('PEXPIRETIME', key);
    else request.command('PTTL', key);
    request.command('DUMP', key);
  }
  request.command('EXEC');
  const queued = 2 * keys.length + (exact ? 0 : 1);
  const replies = execResult(await connection.exchange(request.take(), queued + 2));

  let at = 0;
  let serverMs = 0;
  if (!exact) {
    const time = replies[at++];
    if (!Array.isArray(time) || time.length !== 2) throw time instanceof Error ? time : new TransientError('Redis answered TIME unexpectedly.', { component: 'redis' });
    serverMs = Number(String(time[0])) * 1000 + Math.floor(Number(String(time[1])) / 1000);
  }

  const values: KeyValue[] = [];
  const slow: Buffer[] = [];
  let vanished = 0;
  let bytes = 0;
  for (const key of keys) {
    const expiry = expiryOf(replies[at++]);
    const dumped = replies[at++];
    if (dumped instanceof ReplyError) throw dumped;
    if (expiry === -2 || dumped === null) {
      vanished++;
      continue;
    }
    const payload = dumped as Buffer;
    const type = payloadKeyType(payload);
    const items = type === undefined || type === 'other' || type === 'stream' ? undefined : payloadItems(payload);
    if (!items) {
      slow.push(key);
      continue;
    }
    bytes += payload.length;
    values.push({
      key,
      type: type!,
      expiresAt: expiry < 0 ? 0 : exact ? expiry : serverMs + expiry,
      digest: canonicalDigest(type!, key, items),
      payload: options.dump ? payload : undefined,
    });
  }
  if (slow.length === 0) return { values, vanished, retried: 0, bytes };
  const more = await readKeys(fallback, slow, options);
  for (const value of more.values) values.push(value);
  return { values, vanished: vanished + more.vanished, retried: more.retried, bytes: bytes + more.bytes };
}
