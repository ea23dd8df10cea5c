/**
 * Documents read from a .bson file go back to the server through the driver, which serializes JS values.
 * To get the same bytes back (the fingerprint digests raw BSON), decoding must keep every BSON type and
 * every field order:
 * - types: numbers stay Int32/Double/Long, binaries stay Binary, regexes stay BSONRegExp (no promotion);
 * - order: a plain JS object lists integer-like keys ("0", "10") first, so documents become Maps (which
 *   js-bson serializes in insertion order), in the order the raw bytes list their fields.
 * Not preserved (the post-restore fingerprint reports it): the deprecated BSON types undefined (becomes
 * null) and DBPointer (becomes a DBRef document), and a field name repeated within one document.
 */
import { BSON, type Document } from 'mongodb';
import { ArchiveFormatError } from './archive';
import { COMPONENT } from './connection';

const DECODE: BSON.DeserializeOptions = { promoteValues: false, promoteLongs: false, promoteBuffers: false, bsonRegExp: true };

export type OrderedDocument = Map<string, unknown>;

/** Bytes of an element's value, from its type and the bytes at `at`. */
function valueSize(raw: Buffer, type: number, at: number): number {
  switch (type) {
    case 0x01: case 0x09: case 0x11: case 0x12: return 8; // double, date, timestamp, int64
    case 0x02: case 0x0d: case 0x0e: return 4 + raw.readInt32LE(at); // string, code, symbol
    case 0x03: case 0x04: case 0x0f: return raw.readInt32LE(at); // document, array, code with scope
    case 0x05: return 5 + raw.readInt32LE(at); // binary
    case 0x06: case 0x0a: case 0xff: case 0x7f: return 0; // undefined, null, minKey, maxKey
    case 0x07: return 12; // ObjectId
    case 0x08: return 1;
    case 0x0b: { // regex: two C strings
      const first = raw.indexOf(0, at);
      return raw.indexOf(0, first + 1) + 1 - at;
    }
    case 0x0c: return 4 + raw.readInt32LE(at) + 12; // DBPointer
    case 0x10: return 4;
    case 0x13: return 16;
    default:
      throw new ArchiveFormatError(`unknown BSON element type 0x${type.toString(16)} in a document.`, { component: COMPONENT });
  }
}

const isPlainObject = (value: unknown): value is Document =>
  value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype;

/** Walks the raw elements of the document at `start`, calling `visit` with each name, type and value offset. */
function walk(raw: Buffer, start: number, visit: (name: string, type: number, at: number) => void): void {
  const end = start + raw.readInt32LE(start) - 1;
  for (let p = start + 4; p < end; ) {
    const type = raw[p];
    const nameEnd = raw.indexOf(0, p + 1);
    const at = nameEnd + 1;
    visit(raw.toString('utf8', p + 1, nameEnd), type, at);
    p = at + valueSize(raw, type, at);
  }
}

function ordered(raw: Buffer, start: number, value: Document): OrderedDocument {
  const out: OrderedDocument = new Map();
  walk(raw, start, (name, type, at) => out.set(name, reorder(raw, type, at, value[name])));
  return out;
}

function reorder(raw: Buffer, type: number, at: number, value: unknown): unknown {
  if (type === 0x03 && isPlainObject(value)) return ordered(raw, at, value);
  if (type === 0x04 && Array.isArray(value)) {
    const items: unknown[] = [];
    walk(raw, at, (_name, itemType, itemAt) => items.push(reorder(raw, itemType, itemAt, value[items.length])));
    return items;
  }
  return value;
}

/** A raw BSON document as a value the driver serializes back to the same bytes. */
export function insertable(raw: Buffer): OrderedDocument {
  return ordered(raw, 0, BSON.deserialize(raw, DECODE));
}
