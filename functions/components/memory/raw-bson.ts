/**
 * A stored BSON document as a value the driver re-encodes to the same bytes.
 *
 * BSON.deserialize gives plain JS objects, and a JS object lists integer-like keys ("2", "10") before
 * the others whatever their stored order, so insertMany would write {"2", "10", "b"} for a stored
 * {"b", "2", "10"}. The bson serializer writes a Map in insertion order, so each embedded document
 * becomes a Map built by walking the bytes; every other element is decoded on its own, without
 * promotion (Int32, Long, Double, Decimal128 keep their BSON types).
 *
 * A few stored forms have no JS value that encodes back to them: BSON undefined (0x06), a date beyond
 * JS Date's ±8.64e15 ms, a field name twice in one document, an array whose keys are not 0, 1, 2...
 * `exactDocument` says which by comparing the re-encoding with the stored bytes, so such a document is
 * refused by name rather than silently changed.
 */
import { BSON, type Document } from 'mongodb';

const DECODE: BSON.DeserializeOptions = { promoteValues: false, promoteLongs: false, promoteBuffers: false, bsonRegExp: true, useBigInt64: false };
export const ENCODE: BSON.SerializeOptions = { checkKeys: false, ignoreUndefined: false, serializeFunctions: false };

/** A document as nested Maps, in stored field order. */
export type RawDocument = Map<string, unknown>;

function cstringEnd(bytes: Buffer, at: number): number {
  const end = bytes.indexOf(0, at);
  if (end < 0) throw new RangeError('unterminated cstring');
  return end;
}

/** The byte length of a non-document element's value starting at `at`. */
function valueLength(type: number, bytes: Buffer, at: number): number {
  switch (type) {
    case 0x01: case 0x09: case 0x11: case 0x12: return 8;
    case 0x02: case 0x0d: case 0x0e: return 4 + bytes.readInt32LE(at);
    case 0x05: return 5 + bytes.readInt32LE(at);
    case 0x06: case 0x0a: case 0x7f: case 0xff: return 0;
    case 0x07: return 12;
    case 0x08: return 1;
    case 0x0b: return cstringEnd(bytes, cstringEnd(bytes, at) + 1) + 1 - at;
    case 0x0c: return 4 + bytes.readInt32LE(at) + 12;
    case 0x0f: return bytes.readInt32LE(at);
    case 0x10: return 4;
    case 0x13: return 16;
    default: throw new RangeError(`unknown BSON element type 0x${type.toString(16)}`);
  }
}

/** One element's value, decoded alone from a one-field document. */
function decodeValue(type: number, bytes: Buffer, at: number, length: number): unknown {
  const doc = Buffer.alloc(4 + 1 + 2 + length + 1);
  doc.writeInt32LE(doc.length, 0);
  doc[4] = type;
  doc[5] = 0x76; // "v"
  bytes.copy(doc, 7, at, at + length);
  return BSON.deserialize(doc, DECODE).v;
}

/** Elements of the document at `start` as [key, value] pairs in stored order; embedded documents as Maps. */
function elements(bytes: Buffer, start: number): Array<[string, unknown]> {
  const end = start + bytes.readInt32LE(start) - 1;
  const out: Array<[string, unknown]> = [];
  let at = start + 4;
  while (at < end) {
    const type = bytes[at];
    const keyEnd = cstringEnd(bytes, at + 1);
    const key = bytes.toString('utf8', at + 1, keyEnd);
    at = keyEnd + 1;
    if (type === 0x03 || type === 0x04) {
      const children = elements(bytes, at);
      out.push([key, type === 0x03 ? new Map(children) : children.map(([, v]) => v)]);
      at += bytes.readInt32LE(at);
    } else {
      const length = valueLength(type, bytes, at);
      out.push([key, decodeValue(type, bytes, at, length)]);
      at += length;
    }
  }
  return out;
}

/** The stored document as nested Maps in stored field order. */
export function rawDocument(bytes: Buffer): RawDocument {
  return new Map(elements(bytes, 0));
}

/** The document as a value that re-encodes to `bytes`, or undefined when no JS value does (see above). */
export function exactDocument(bytes: Buffer): RawDocument | undefined {
  let doc: RawDocument;
  try {
    doc = rawDocument(bytes);
  } catch {
    return undefined;
  }
  return Buffer.from(BSON.serialize(doc as unknown as Document, ENCODE)).equals(bytes) ? doc : undefined;
}
