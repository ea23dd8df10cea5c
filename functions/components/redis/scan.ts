/**
 * Listing keys with SCAN, once each. SCAN may return a key more than once (when the server shrinks its
 * hash table during the iteration), and overlapping patterns (`memory:*` and `memory:working:*`) list
 * the same key twice; a key counted twice would break the fingerprint. KeySet remembers 128 bits of a
 * hash of each key in a flat typed array: 32 bytes per key at most, the one part of a backup whose
 * memory grows with the key count (about 32 MiB per million keys), instead of ~100 bytes per key for a
 * JavaScript Set of key strings.
 *
 * The 128 bits: for keys up to 256 bytes (nearly all), four independent multilinear hashes mod 2^32
 * with secret random multipliers drawn per KeySet (about 20 times cheaper than a SHA-256 call, which
 * cost more than a whole key's read otherwise). Two different keys collide in one of them with
 * probability at most 2^-24 whatever the keys (the byte difference at a position where they differ has
 * at most 8 factors of two), so in all four at most about 2^-95 (one bit of the last is a marker): at
 * a million keys (5e11 pairs) about 1e-17. The multipliers never leave the process, so keys cannot be
 * chosen to collide. Longer keys take 128 bits of their SHA-256, as before.
 */
import { hash, randomFillSync } from 'node:crypto';
import type Redis from 'ioredis';

const WORDS = 4;
/** Keys up to this length are hashed with the multilinear hashes; longer ones with SHA-256. */
const SHORT_KEY = 256;

export class KeySet {
  private slots: Uint32Array;
  private mask: number;
  private count = 0;
  /** Per lane (4) and position (length, then bytes 0..SHORT_KEY-1): random 32-bit multipliers. */
  private readonly multipliers = randomFillSync(new Int32Array(WORDS * (SHORT_KEY + 1)));

  constructor(initialSlots = 1 << 12) {
    this.slots = new Uint32Array(initialSlots * WORDS);
    this.mask = initialSlots - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Adds the key; false when it was already there. */
  add(key: Buffer): boolean {
    let a: number, b: number, c: number, d: number;
    const n = key.length;
    if (n <= SHORT_KEY) {
      const m = this.multipliers;
      a = Math.imul(m[0], n);
      b = Math.imul(m[1], n);
      c = Math.imul(m[2], n);
      d = Math.imul(m[3], n);
      for (let i = 0, j = WORDS; i < n; i++, j += WORDS) {
        // +1: a zero byte still contributes, so keys that differ only by trailing zero bytes differ.
        const x = key[i] + 1;
        a = (a + Math.imul(m[j], x)) | 0;
        b = (b + Math.imul(m[j + 1], x)) | 0;
        c = (c + Math.imul(m[j + 2], x)) | 0;
        d = (d + Math.imul(m[j + 3], x)) | 0;
      }
      a >>>= 0;
      b >>>= 0;
      c >>>= 0;
    } else {
      const digest = hash('sha256', key, 'buffer') as unknown as Buffer;
      a = digest.readUInt32LE(0);
      b = digest.readUInt32LE(4);
      c = digest.readUInt32LE(8);
      d = digest.readUInt32LE(12);
    }
    // Bit 0 of the last word is forced on so an all-zero slot always means "empty".
    d = (d | 1) >>> 0;
    if (!this.insert(a, b, c, d)) return false;
    this.count++;
    if (this.count * 2 > this.mask + 1) this.grow();
    return true;
  }

  private insert(a: number, b: number, c: number, d: number): boolean {
    const slots = this.slots;
    let i = a & this.mask;
    for (;;) {
      const at = i * WORDS;
      if (slots[at + 3] === 0) {
        slots[at] = a;
        slots[at + 1] = b;
        slots[at + 2] = c;
        slots[at + 3] = d;
        return true;
      }
      if (slots[at] === a && slots[at + 1] === b && slots[at + 2] === c && slots[at + 3] === d) return false;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    this.mask = (this.mask + 1) * 2 - 1;
    for (let at = 0; at < old.length; at += WORDS) {
      if (old[at + 3] !== 0) this.insert(old[at], old[at + 1], old[at + 2], old[at + 3]);
    }
  }
}

/**
 * Slots for `keys` keys without growing (load at most one half): growing holds the old and the new
 * table at once, half again the memory, at the moment the set is largest.
 */
export function slotsFor(keys: number): number {
  let slots = 1 << 12;
  while (slots < keys * 2 && slots < 2 ** 30) slots *= 2;
  return slots;
}

/** SCAN COUNT hint: large enough to keep round trips few, small enough to keep each reply quick on a busy server. */
export const SCAN_COUNT = 1000;

/**
 * Every key matching any of `patterns` in the selected database, each once, in SCAN batches (a batch
 * can be empty when MATCH filters a whole step away; those are not yielded).
 */
export async function* scanKeys(redis: Redis, patterns: readonly string[], count = SCAN_COUNT, expectedKeys = 0): AsyncGenerator<Buffer[]> {
  const seen = new KeySet(slotsFor(expectedKeys));
  for (const pattern of patterns) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next.toString();
      const fresh = keys.filter((key) => seen.add(key));
      if (fresh.length > 0) yield fresh;
    } while (cursor !== '0');
  }
}
