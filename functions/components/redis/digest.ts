/**
 * The Redis fingerprint's arithmetic. Each key gets a SHA-256 over its canonical (type, key, value):
 * values as the read commands return them, made independent of storage order and encoding (hash fields
 * and set members sorted, sorted-set members sorted with their score as an IEEE-754 double, lists and
 * streams in their own order, strings as bytes). DUMP payloads are not used for core types: the same
 * value serializes differently across Redis versions and encodings (listpack vs hashtable).
 *
 * Per type, the fingerprint is the key count and a digest of the sum modulo 2^256 of the per-key
 * hashes: a multiset hash, so the order SCAN happens to list keys in does not matter, and a changed,
 * missing or extra key changes it. TTLs are deliberately not part of it (they are checked separately).
 */
import { createHash, hash } from 'node:crypto';
import type { Fingerprint, FingerprintEntry } from '../types';
import { putBytes, putU32 } from './bytes';
import { KEY_TYPES, type KeyType } from './format';

const VALUE_PREFIX = Buffer.from('nca-redis-value-v1\0', 'ascii');
/** `prefix | type | 0` of each type, built once: a million keys need no string encoding for it. */
const TYPE_HEADERS = new Map<string, Buffer>([...KEY_TYPES, 'other'].map((type) => [type, Buffer.concat([VALUE_PREFIX, Buffer.from(`${type}\0`, 'ascii')])]));

/** Above this size a value is hashed piece by piece instead of being copied into one buffer first. */
const ONE_SHOT_LIMIT = 1 << 20;

/**
 * SHA-256 of `prefix | type | 0 | len(key) key | count | len(item) item ...` — every item length-prefixed,
 * so no two different values share an encoding.
 */
export function canonicalDigest(type: KeyType, key: Buffer, items: readonly Buffer[]): Buffer {
  const header = TYPE_HEADERS.get(type)!;
  let size = header.length + 4 + key.length + 4;
  for (let i = 0; i < items.length; i++) size += 4 + items[i].length;
  if (size <= ONE_SHOT_LIMIT) {
    const out = Buffer.allocUnsafe(size);
    let at = putBytes(out, 0, header);
    at = putU32(out, at, key.length);
    at = putBytes(out, at, key);
    at = putU32(out, at, items.length);
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      at = putU32(out, at, item.length);
      at = putBytes(out, at, item);
    }
    return hash('sha256', out, 'buffer') as unknown as Buffer;
  }
  const sha = createHash('sha256');
  const u32 = (n: number) => {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(n, 0);
    return b;
  };
  sha.update(VALUE_PREFIX).update(`${type}\0`, 'ascii').update(u32(key.length)).update(key).update(u32(items.length));
  for (const item of items) sha.update(u32(item.length)).update(item);
  return sha.digest();
}

/** A score as Redis prints it ("1.5", "inf", "-inf") to its 8-byte IEEE-754 form, whatever the printing. */
export function scoreBytes(text: Buffer): Buffer {
  const s = text.toString('ascii').toLowerCase();
  const value = s === 'inf' || s === '+inf' ? Infinity : s === '-inf' ? -Infinity : Number(s);
  if (Number.isNaN(value)) throw new Error(`unexpected sorted-set score "${s.slice(0, 40)}"`);
  const out = Buffer.allocUnsafe(8);
  out.writeDoubleBE(value, 0);
  return out;
}

/**
 * (name, value) pairs laid flat, sorted by name (hash fields, sorted-set members); a trailing odd item is
 * dropped. Small collections (nearly all) are insertion-sorted in place of the copy, without an array
 * per pair.
 */
export function sortPairs(flat: readonly Buffer[]): Buffer[] {
  const n = flat.length >> 1;
  if (n <= 16) {
    const out = flat.slice(0, n * 2);
    for (let i = 1; i < n; i++) {
      const name = out[2 * i];
      const value = out[2 * i + 1];
      let j = i - 1;
      while (j >= 0 && Buffer.compare(out[2 * j], name) > 0) {
        out[2 * j + 2] = out[2 * j];
        out[2 * j + 3] = out[2 * j + 1];
        j--;
      }
      out[2 * j + 2] = name;
      out[2 * j + 3] = value;
    }
    return out;
  }
  const pairs: [Buffer, Buffer][] = [];
  for (let i = 0; i < n; i++) pairs.push([flat[2 * i], flat[2 * i + 1]]);
  pairs.sort((a, b) => Buffer.compare(a[0], b[0]));
  return pairs.flat();
}

/** The canonical item list of each type, from the replies of the commands reader.ts sends. */
export const canonicalItems = {
  string: (value: Buffer): Buffer[] => [value],
  list: (elements: Buffer[]): Buffer[] => elements,
  set: (members: Buffer[]): Buffer[] => [...members].sort(Buffer.compare),
  /** ZRANGE … WITHSCORES: member, score, member, score, … */
  zset: (withScores: Buffer[]): Buffer[] => {
    const pairs: Buffer[] = [];
    for (let i = 0; i + 1 < withScores.length; i += 2) pairs.push(withScores[i], scoreBytes(withScores[i + 1]));
    return sortPairs(pairs);
  },
  /** HKEYS and HVALS of one MULTI: the same iteration order, so position i pairs field and value. */
  hash: (fields: Buffer[], values: Buffer[]): Buffer[] => {
    if (fields.length !== values.length) throw new Error('HKEYS and HVALS disagree in length');
    const flat: Buffer[] = [];
    for (let i = 0; i < fields.length; i++) flat.push(fields[i], values[i]);
    return sortPairs(flat);
  },
  /** XRANGE - +: per entry its id, its field count, then fields and values in their order. */
  stream: (entries: [Buffer, Buffer[]][]): Buffer[] => {
    const items: Buffer[] = [];
    for (const [id, fields] of entries) {
      const count = Buffer.allocUnsafe(4);
      count.writeUInt32BE(fields.length, 0);
      items.push(id, count, ...fields);
    }
    return items;
  },
  /** Module types: their DUMP body without the version/CRC trailer (opaque; equal on same-version restores). */
  other: (payload: Buffer): Buffer[] => [payload.subarray(0, Math.max(0, payload.length - 10))],
};

interface TypeTotal {
  count: number;
  /** 256-bit sum as eight 32-bit limbs, least significant first. */
  readonly sum: Uint32Array;
}

/** Accumulates per-key digests into the fingerprint, in any order. */
export class FingerprintBuilder {
  private readonly totals = new Map<KeyType, TypeTotal>();

  add(type: KeyType, digest: Buffer): void {
    let total = this.totals.get(type);
    if (!total) {
      total = { count: 0, sum: new Uint32Array(8) };
      this.totals.set(type, total);
    }
    total.count++;
    let carry = 0;
    for (let limb = 0; limb < 8; limb++) {
      const s = total.sum[limb] + digest.readUInt32BE(28 - limb * 4) + carry;
      total.sum[limb] = s >>> 0;
      carry = s > 0xffffffff ? 1 : 0;
    }
  }

  get keys(): number {
    let n = 0;
    for (const total of this.totals.values()) n += total.count;
    return n;
  }

  /** Every core type (count 0 when absent, so empty and restored key spaces compare equal) plus `other` when seen. */
  result(): Fingerprint {
    const fingerprint: Record<string, FingerprintEntry> = {};
    const types: KeyType[] = [...KEY_TYPES, ...(this.totals.has('other') ? (['other'] as const) : [])];
    for (const type of types) {
      const total = this.totals.get(type) ?? { count: 0, sum: new Uint32Array(8) };
      const hex = [...total.sum].reverse().map((w) => w.toString(16).padStart(8, '0')).join('');
      fingerprint[type] = { count: total.count, digest: createHash('sha256').update(`nca-redis-fingerprint-v1:${type}:${total.count}:${hex}`).digest('hex') };
    }
    return fingerprint;
  }
}
