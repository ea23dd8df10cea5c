/**
 * PostgreSQL's binary COPY format for the rows of rows.bin: a tuple is an int16 field count, then per
 * field an int32 length (-1: NULL) and the value in the type's binary receive format (all big-endian).
 *
 * The embedding goes in as bits — array_recv's format for real[] / double precision[], vector_recv's for
 * pgvector — so every stored value comes back exactly. Other columns travel in rows.bin as their text
 * form (printed with STABLE_OUTPUT_SETTINGS); each type below has a binary form that text converts to
 * exactly. A table with a column of any other type (numeric, arrays, composites, domains, ...) is loaded
 * with INSERTs instead (copyPlan says which column), and a value whose text this module does not
 * recognise throws UnencodableValueError so the caller can fall back the same way.
 */
import { littleEndianToArrayRecv, type ElementType, type VectorRecord } from './format';

export const COPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** The binary COPY header: signature, flags 0, header extension length 0. */
export function copyHeader(): Buffer {
  const header = Buffer.alloc(COPY_SIGNATURE.length + 8);
  COPY_SIGNATURE.copy(header, 0);
  return header;
}

/** The file trailer: a field count of -1. */
export function copyTrailer(): Buffer {
  const trailer = Buffer.alloc(2);
  trailer.writeInt16BE(-1);
  return trailer;
}

/** A value rows.bin carries as text that the binary encoder for its column type cannot read. */
export class UnencodableValueError extends Error {
  override readonly name = 'UnencodableValueError';
}

type TextEncoder = (text: string) => Buffer;

const utf8: TextEncoder = (text) => Buffer.from(text, 'utf8');

function integer(bytes: 2 | 4 | 8): TextEncoder {
  return (text) => {
    if (!/^-?\d+$/.test(text)) throw new UnencodableValueError(`"${text}" is not an integer`);
    const out = Buffer.alloc(bytes);
    if (bytes === 8) out.writeBigInt64BE(BigInt(text));
    else if (bytes === 4) out.writeInt32BE(Number(text));
    else out.writeInt16BE(Number(text));
    return out;
  };
}

const FLOAT8 = /^(-?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?|NaN|-?Infinity)$/i;

/** extra_float_digits = 1 prints the shortest text that reads back to the same double, in JS as in C. */
const float8: TextEncoder = (text) => {
  if (!FLOAT8.test(text)) throw new UnencodableValueError(`"${text}" is not a double precision value`);
  const out = Buffer.alloc(8);
  out.writeDoubleBE(Number(text));
  return out;
};

const bool: TextEncoder = (text) => {
  if (text !== 't' && text !== 'f') throw new UnencodableValueError(`"${text}" is not a boolean`);
  return Buffer.from([text === 't' ? 1 : 0]);
};

const uuid: TextEncoder = (text) => {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(text)) throw new UnencodableValueError(`"${text}" is not a uuid`);
  return Buffer.from(text.replace(/-/g, ''), 'hex');
};

/** jsonb_recv reads a version byte (1) before the text. */
const jsonb: TextEncoder = (text) => Buffer.concat([Buffer.from([1]), Buffer.from(text, 'utf8')]);

const bytea: TextEncoder = (text) => {
  if (!/^\\x([0-9a-f]{2})*$/.test(text)) throw new UnencodableValueError('a bytea value not in hex output');
  return Buffer.from(text.slice(2), 'hex');
};

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil), exact for any year. */
function daysFromCivil(year: bigint, month: bigint, day: bigint): bigint {
  const y = month <= 2n ? year - 1n : year;
  const era = (y >= 0n ? y : y - 399n) / 400n;
  const yoe = y - era * 400n;
  const doy = (153n * (month + (month > 2n ? -3n : 9n)) + 2n) / 5n + day - 1n;
  const doe = yoe * 365n + yoe / 4n - yoe / 100n + doy;
  return era * 146097n + doe - 719468n;
}

const EPOCH_2000_DAYS = daysFromCivil(2000n, 1n, 1n);
const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/**
 * timestamp / timestamptz as printed with DateStyle ISO and TimeZone UTC ("2026-01-01 00:00:00.5+00",
 * "0044-03-15 12:00:00 BC", "infinity") → microseconds since 2000-01-01, what timestamp_recv reads.
 */
function timestamp(withZone: boolean): TextEncoder {
  const pattern = withZone
    ? /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?\+00( BC)?$/
    : /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?( BC)?$/;
  return (text) => {
    const out = Buffer.alloc(8);
    if (text === 'infinity' || text === '-infinity') {
      out.writeBigInt64BE(text === 'infinity' ? INT64_MAX : INT64_MIN);
      return out;
    }
    const m = pattern.exec(text);
    if (!m) throw new UnencodableValueError(`"${text}" is not an ISO timestamp${withZone ? ' in UTC' : ''}`);
    const year = m[8] ? 1n - BigInt(m[1]) : BigInt(m[1]);
    const days = daysFromCivil(year, BigInt(m[2]), BigInt(m[3])) - EPOCH_2000_DAYS;
    const seconds = BigInt(m[4]) * 3600n + BigInt(m[5]) * 60n + BigInt(m[6]);
    const micros = BigInt((m[7] ?? '').padEnd(6, '0'));
    out.writeBigInt64BE((days * 86400n + seconds) * 1_000_000n + micros);
    return out;
  };
}

/** format_type() names (typmod stripped) whose binary form this module writes. */
const ENCODERS: Record<string, TextEncoder> = {
  text: utf8,
  'character varying': utf8,
  json: utf8,
  jsonb,
  uuid,
  boolean: bool,
  smallint: integer(2),
  integer: integer(4),
  bigint: integer(8),
  'double precision': float8,
  bytea,
  'timestamp with time zone': timestamp(true),
  'timestamp without time zone': timestamp(false),
};

/** "character varying(64)" → "character varying", "timestamp(3) with time zone" → "timestamp with time zone". */
export function baseTypeName(type: string): string {
  return type.replace(/\(\d+(,\d+)?\)/, '');
}

export function textEncoderFor(type: string): TextEncoder | undefined {
  return ENCODERS[baseTypeName(type)];
}

export type EmbeddingTarget = { readonly kind: 'array'; readonly elementType: ElementType } | { readonly kind: 'pgvector' };

/** pgvector's vector_recv: int16 dimension, int16 unused (0), the float4 elements big-endian. */
export function littleEndianToVectorRecv(data: Buffer): Buffer {
  const out = Buffer.alloc(4 + data.length);
  out.writeInt16BE(data.length / 4, 0);
  data.copy(out, 4);
  out.subarray(4).swap32();
  return out;
}

/**
 * Encodes records as binary COPY tuples for columns (id, embedding, metadata?, extras...) in that order,
 * given each text column's SQL type.
 */
export class CopyTupleEncoder {
  private readonly encoders: TextEncoder[];

  constructor(
    /** Types of the text columns in tuple order: id, metadata (when present), extras. */
    textTypes: readonly string[],
    private readonly embedding: EmbeddingTarget,
    private readonly hasMetadata: boolean,
  ) {
    this.encoders = textTypes.map((type) => {
      const encoder = textEncoderFor(type);
      if (!encoder) throw new Error(`no binary COPY encoder for ${type}`);
      return encoder;
    });
  }

  /** The fields a record must carry (the caller checks records against it). */
  get width(): number {
    return this.encoders.length + 1;
  }

  encode(record: VectorRecord): Buffer {
    const texts = [record.id, ...(this.hasMetadata ? [record.metadata] : []), ...record.extras];
    const parts: Buffer[] = [];
    const count = Buffer.alloc(2);
    count.writeInt16BE(texts.length + 1);
    parts.push(count);
    const field = (value: Buffer | null) => {
      const length = Buffer.alloc(4);
      length.writeInt32BE(value === null ? -1 : value.length);
      parts.push(length);
      if (value !== null) parts.push(value);
    };
    field(texts[0] === null ? null : this.encoders[0](texts[0]));
    field(
      record.embedding === null
        ? null
        : this.embedding.kind === 'pgvector'
          ? littleEndianToVectorRecv(record.embedding)
          : littleEndianToArrayRecv(record.embedding, this.embedding.elementType),
    );
    for (let i = 1; i < texts.length; i++) field(texts[i] === null ? null : this.encoders[i](texts[i]!));
    return Buffer.concat(parts);
  }
}
