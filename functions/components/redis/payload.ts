/**
 * What nca-backup reads inside a DUMP payload: the RDB version in its trailer (restore compatibility),
 * and, for strings only, the value itself (the fingerprint hashes values; decoding a string here saves
 * reading it a second time with GET). Collections are not decoded: their encodings change between Redis
 * versions, and their values are read with ordinary commands instead.
 *
 * A DUMP payload is `<RDB type byte><RDB-serialized value><RDB version: 2 bytes LE><CRC64: 8 bytes LE>`.
 */

export const TRAILER_BYTES = 10;
const RDB_TYPE_STRING = 0;
const RDB_ENC_INT8 = 0;
const RDB_ENC_INT16 = 1;
const RDB_ENC_INT32 = 2;
const RDB_ENC_LZF = 3;

/** The RDB version a payload was written with; undefined when it is too short to carry a trailer. */
export function payloadRdbVersion(payload: Buffer): number | undefined {
  if (payload.length < TRAILER_BYTES + 1) return undefined;
  return payload.readUInt16LE(payload.length - TRAILER_BYTES);
}

/** liblzf's decompressor (lzf_d.c), which RDB uses for strings longer than 20 bytes. */
export function lzfDecompress(input: Buffer, outputLength: number): Buffer | undefined {
  const out = Buffer.allocUnsafe(outputLength);
  let ip = 0;
  let op = 0;
  while (ip < input.length) {
    const ctrl = input[ip++];
    if (ctrl < 32) {
      const run = ctrl + 1;
      if (op + run > outputLength || ip + run > input.length) return undefined;
      input.copy(out, op, ip, ip + run);
      op += run;
      ip += run;
    } else {
      let length = ctrl >> 5;
      let ref = op - ((ctrl & 0x1f) << 8) - 1;
      if (length === 7) {
        if (ip >= input.length) return undefined;
        length += input[ip++];
      }
      if (ip >= input.length) return undefined;
      ref -= input[ip++];
      length += 2;
      if (op + length > outputLength || ref < 0) return undefined;
      // Byte by byte: a back reference may overlap the bytes it produces.
      for (let i = 0; i < length; i++) out[op++] = out[ref++];
    }
  }
  return op === outputLength ? out : undefined;
}

export interface Length {
  readonly value: number;
  /** Set when the length byte announced a special encoding (integer or LZF) instead of a length. */
  readonly encoding?: number;
  readonly next: number;
}

export function readLength(buf: Buffer, at: number, end: number): Length | undefined {
  if (at >= end) return undefined;
  const first = buf[at];
  switch (first >> 6) {
    case 0:
      return { value: first & 0x3f, next: at + 1 };
    case 1:
      return at + 1 < end ? { value: ((first & 0x3f) << 8) | buf[at + 1], next: at + 2 } : undefined;
    case 2:
      if (first === 0x80) return at + 5 <= end ? { value: buf.readUInt32BE(at + 1), next: at + 5 } : undefined;
      if (first === 0x81 && at + 9 <= end) {
        const value = Number(buf.readBigUInt64BE(at + 1));
        return Number.isSafeInteger(value) ? { value, next: at + 9 } : undefined;
      }
      return undefined;
    default:
      return { value: 0, encoding: first & 0x3f, next: at + 1 };
  }
}

/**
 * The bytes GET would return for the string in `payload`; undefined when the payload is not a string or
 * uses an encoding this decoder does not know (the caller then reads the value with GET).
 */
export function decodeStringPayload(payload: Buffer): Buffer | undefined {
  const end = payload.length - TRAILER_BYTES;
  if (end < 2 || payload[0] !== RDB_TYPE_STRING) return undefined;
  const length = readLength(payload, 1, end);
  if (!length) return undefined;
  let value: Buffer | undefined;
  let next: number;
  if (length.encoding === undefined) {
    next = length.next + length.value;
    value = next <= end ? payload.subarray(length.next, next) : undefined;
  } else if (length.encoding === RDB_ENC_INT8) {
    next = length.next + 1;
    value = next <= end ? Buffer.from(String(payload.readInt8(length.next))) : undefined;
  } else if (length.encoding === RDB_ENC_INT16) {
    next = length.next + 2;
    value = next <= end ? Buffer.from(String(payload.readInt16LE(length.next))) : undefined;
  } else if (length.encoding === RDB_ENC_INT32) {
    next = length.next + 4;
    value = next <= end ? Buffer.from(String(payload.readInt32LE(length.next))) : undefined;
  } else if (length.encoding === RDB_ENC_LZF) {
    const compressed = readLength(payload, length.next, end);
    const plain = compressed && compressed.encoding === undefined ? readLength(payload, compressed.next, end) : undefined;
    if (!compressed || !plain || plain.encoding !== undefined) return undefined;
    next = plain.next + compressed.value;
    value = next <= end ? lzfDecompress(payload.subarray(plain.next, next), plain.value) : undefined;
  } else {
    return undefined;
  }
  // Anything left before the trailer means this is not the plain string layout we know.
  return next === end ? value : undefined;
}
