/**
 * Byte writes for the per-key hot paths (record encoding, digests, RESP framing). At a million keys a
 * native copy call per key, value and digest costs more than the copying: short runs are copied one
 * byte at a time instead, longer ones with one native `set`.
 */

/** Runs up to this length are copied byte by byte. */
const SHORT_COPY = 48;

/** Copies `bytes` into `out` at `at`; returns the offset after them. `out` must have the room. */
export function putBytes(out: Uint8Array, at: number, bytes: Uint8Array): number {
  const n = bytes.length;
  if (n <= SHORT_COPY) {
    for (let i = 0; i < n; i++) out[at + i] = bytes[i];
  } else {
    out.set(bytes, at);
  }
  return at + n;
}

/** Writes `n` as 4 bytes big-endian; returns the offset after them. */
export function putU32(out: Uint8Array, at: number, n: number): number {
  out[at] = n >>> 24;
  out[at + 1] = (n >>> 16) & 0xff;
  out[at + 2] = (n >>> 8) & 0xff;
  out[at + 3] = n & 0xff;
  return at + 4;
}
