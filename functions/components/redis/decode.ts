/**
 * A key's canonical value (digest.ts's canonicalItems) read straight from its DUMP payload, so a backup
 * or a fingerprint needs one read per key (DUMP) instead of DUMP plus the value commands: about half the
 * bytes and a fraction of the replies. The digest is the same one the value commands give (the test
 * suite checks both ways agree on every type and encoding): it is still computed from the value, never
 * from the payload's bytes, so it does not depend on the encoding (listpack, ziplist, intset or
 * hashtable), the Redis version, the element order of a hashtable, or compression.
 *
 * Decoded here, the encodings Redis 7 and Valkey write for the core types except streams: strings
 * (raw, integer, LZF), hashtable sets and hashes (RDB types 2, 4), skiplist sorted sets (5), intsets
 * (11), listpacks (16 hash, 17 sorted set, 18 quicklist of listpacks and plain nodes, 20 set). Anything
 * else returns undefined and the caller reads that key's value with the value commands instead
 * (reader.ts): streams, module types, hashes with field expiry (Redis 7.4), and the ziplist encodings
 * of Redis 6 and older (no such server can run in this project's tests, so no decoder for them is
 * shipped untested; Redis 6 sources take the slower path for small collections). A payload that does not
 * parse exactly to its trailer is treated the same way, never guessed at.
 */
import { canonicalItems, sortPairs } from './digest';
import type { KeyType } from './format';
import { decodeStringPayload, lzfDecompress, readLength, TRAILER_BYTES } from './payload';

/** The key type of each RDB type byte this code knows; others are looked up with TYPE. */
const RDB_KEY_TYPES: readonly (KeyType | undefined)[] = (() => {
  const types: (KeyType | undefined)[] = [];
  const set = (type: KeyType, codes: number[]) => codes.forEach((code) => (types[code] = type));
  set('string', [0]);
  set('list', [1, 10, 14, 18]);
  set('set', [2, 11, 20]);
  set('zset', [3, 5, 12, 17]);
  set('hash', [4, 9, 13, 16]);
  set('other', [6, 7]);
  set('stream', [15, 19, 21]);
  return types;
})();

/** The key type a payload's RDB type byte names; undefined for bytes this code does not know. */
export function payloadKeyType(payload: Buffer): KeyType | undefined {
  return payload.length > TRAILER_BYTES ? RDB_KEY_TYPES[payload[0]] : undefined;
}

const RDB_ENC_INT8 = 0;
const RDB_ENC_INT16 = 1;
const RDB_ENC_INT32 = 2;
const RDB_ENC_LZF = 3;

/** Thrown inside the decoder for anything unexpected; turned into "not decodable" at the top. */
const unreadable = new Error('unreadable payload');

const SMALL_INTS = Array.from({ length: 256 }, (_, i) => Buffer.from(String(i - 128), 'latin1'));
function decimal(n: number | bigint): Buffer {
  if (typeof n === 'number' && n >= -128 && n < 128) return SMALL_INTS[n + 128];
  return Buffer.from(String(n), 'latin1');
}

class Cursor {
  constructor(
    readonly buf: Buffer,
    public at: number,
    readonly end: number,
  ) {}

  length(): number {
    const length = readLength(this.buf, this.at, this.end);
    if (!length || length.encoding !== undefined) throw unreadable;
    this.at = length.next;
    return length.value;
  }

  /** An RDB string: raw, integer-encoded or LZF-compressed. */
  string(): Buffer {
    const length = readLength(this.buf, this.at, this.end);
    if (!length) throw unreadable;
    const at = length.next;
    switch (length.encoding) {
      case undefined:
        return this.take(at, length.value);
      case RDB_ENC_INT8:
        this.need(at, 1);
        this.at = at + 1;
        return decimal(this.buf.readInt8(at));
      case RDB_ENC_INT16:
        this.need(at, 2);
        this.at = at + 2;
        return decimal(this.buf.readInt16LE(at));
      case RDB_ENC_INT32:
        this.need(at, 4);
        this.at = at + 4;
        return decimal(this.buf.readInt32LE(at));
      case RDB_ENC_LZF: {
        this.at = at;
        const compressed = this.length();
        const plain = this.length();
        const out = lzfDecompress(this.take(this.at, compressed), plain);
        if (!out) throw unreadable;
        return out;
      }
      default:
        throw unreadable;
    }
  }

  binaryScore(): Buffer {
    this.need(this.at, 8);
    const out = Buffer.allocUnsafe(8);
    out.writeDoubleBE(this.buf.readDoubleLE(this.at), 0);
    this.at += 8;
    return out;
  }

  private need(at: number, n: number): void {
    if (at + n > this.end) throw unreadable;
  }

  private take(at: number, n: number): Buffer {
    this.need(at, n);
    this.at = at + n;
    return this.buf.subarray(at, at + n);
  }
}

function backlenBytes(entry: number): number {
  return entry < 128 ? 1 : entry < 16384 ? 2 : entry < 2097152 ? 3 : entry < 268435456 ? 4 : 5;
}

/** The elements of a listpack (Redis 7+), integers as the decimal strings the read commands return. */
export function listpackEntries(lp: Buffer): Buffer[] {
  if (lp.length < 7 || lp.readUInt32LE(0) !== lp.length) throw unreadable;
  const count = lp.readUInt16LE(4);
  const last = lp.length - 1;
  const out: Buffer[] = [];
  let at = 6;
  for (;;) {
    if (at > last) throw unreadable;
    const b = lp[at];
    let value: Buffer;
    let size: number;
    if (b < 0x80) {
      value = decimal(b);
      size = 1;
    } else if ((b & 0xc0) === 0x80) {
      size = 1 + (b & 0x3f);
      value = lp.subarray(at + 1, at + size);
    } else if ((b & 0xe0) === 0xc0) {
      if (at + 1 >= last) throw unreadable;
      const v = ((b & 0x1f) << 8) | lp[at + 1];
      value = decimal(v >= 4096 ? v - 8192 : v);
      size = 2;
    } else if ((b & 0xf0) === 0xe0) {
      if (at + 1 >= last) throw unreadable;
      size = 2 + (((b & 0x0f) << 8) | lp[at + 1]);
      value = lp.subarray(at + 2, at + size);
    } else if (b === 0xff) {
      if (at !== last || (count !== 0xffff && count !== out.length)) throw unreadable;
      return out;
    } else {
      switch (b) {
        case 0xf0:
          if (at + 5 > last) throw unreadable;
          size = 5 + lp.readUInt32LE(at + 1);
          value = lp.subarray(at + 5, at + size);
          break;
        case 0xf1:
          size = 3;
          if (at + size > last) throw unreadable;
          value = decimal(lp.readInt16LE(at + 1));
          break;
        case 0xf2:
          size = 4;
          if (at + size > last) throw unreadable;
          value = decimal(lp.readIntLE(at + 1, 3));
          break;
        case 0xf3:
          size = 5;
          if (at + size > last) throw unreadable;
          value = decimal(lp.readInt32LE(at + 1));
          break;
        case 0xf4:
          size = 9;
          if (at + size > last) throw unreadable;
          value = decimal(lp.readBigInt64LE(at + 1));
          break;
        default:
          throw unreadable;
      }
    }
    at += size + backlenBytes(size);
    if (at > last) throw unreadable;
    out.push(value);
  }
}

/** The members of an intset, as decimal strings. */
function intsetMembers(blob: Buffer): Buffer[] {
  if (blob.length < 8) throw unreadable;
  const width = blob.readUInt32LE(0);
  const count = blob.readUInt32LE(4);
  if ((width !== 2 && width !== 4 && width !== 8) || blob.length !== 8 + width * count) throw unreadable;
  const out: Buffer[] = [];
  for (let i = 0, at = 8; i < count; i++, at += width) {
    out.push(decimal(width === 2 ? blob.readInt16LE(at) : width === 4 ? blob.readInt32LE(at) : blob.readBigInt64LE(at)));
  }
  return out;
}

function split(flat: Buffer[]): [Buffer[], Buffer[]] {
  if (flat.length % 2 !== 0) throw unreadable;
  const a: Buffer[] = [];
  const b: Buffer[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    a.push(flat[i]);
    b.push(flat[i + 1]);
  }
  return [a, b];
}

function zsetFromFlat(flat: Buffer[]): Buffer[] {
  if (flat.length % 2 !== 0) throw unreadable;
  return canonicalItems.zset(flat);
}

function items(code: number, c: Cursor): Buffer[] {
  switch (code) {
    case 2: {
      const n = c.length();
      const out: Buffer[] = [];
      for (let i = 0; i < n; i++) out.push(c.string());
      return canonicalItems.set(out);
    }
    case 5: {
      const n = c.length();
      const pairs: Buffer[] = [];
      for (let i = 0; i < n; i++) pairs.push(c.string(), c.binaryScore());
      // Already in canonical form (member, 8-byte score): only the order is left.
      return sortPairs(pairs);
    }
    case 4: {
      const n = c.length();
      const fields: Buffer[] = [];
      const values: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        fields.push(c.string());
        values.push(c.string());
      }
      return canonicalItems.hash(fields, values);
    }
    case 11:
      return canonicalItems.set(intsetMembers(c.string()));
    case 16:
      return canonicalItems.hash(...split(listpackEntries(c.string())));
    case 17:
      return zsetFromFlat(listpackEntries(c.string()));
    case 18: {
      const n = c.length();
      const out: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        const container = c.length();
        const blob = c.string();
        if (container === 1) out.push(blob);
        else if (container === 2) for (const entry of listpackEntries(blob)) out.push(entry);
        else throw unreadable;
      }
      return out;
    }
    case 20:
      return canonicalItems.set(listpackEntries(c.string()));
    default:
      throw unreadable;
  }
}


/**
 * canonicalItems of the value in `payload`, exactly as the value commands would give them; undefined
 * when this payload's encoding is not one decoded here (the caller then reads the value).
 */
export function payloadItems(payload: Buffer): Buffer[] | undefined {
  const end = payload.length - TRAILER_BYTES;
  if (end < 1) return undefined;
  const code = payload[0];
  if (code === 0) {
    const value = decodeStringPayload(payload);
    return value ? canonicalItems.string(value) : undefined;
  }
  try {
    const cursor = new Cursor(payload, 1, end);
    const out = items(code, cursor);
    return cursor.at === end ? out : undefined;
  } catch {
    // Not a layout decoded here, a read past the end (RangeError), a score that is not a number.
    return undefined;
  }
}
