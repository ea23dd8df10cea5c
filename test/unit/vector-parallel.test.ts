/**
 * The pure parts of the vector component's parallel paths: the in-order hand-over of ranges read out of
 * order, the id ranges, the range SQL, and the binary COPY encoders (checked against the server in
 * test/integration/vector-parallel.test.ts).
 */
import { copyHeader, copyTrailer, CopyTupleEncoder, littleEndianToVectorRecv, textEncoderFor, UnencodableValueError } from '../../functions/components/vector/copy-binary';
import { vectorSendToLittleEndian } from '../../functions/components/vector/format';
import { OrderedChunks } from '../../functions/components/vector/ordered-chunks';
import { rangesFromBounds } from '../../functions/components/vector/parallel-scan';
import { copySql, rangeBoundsSql, rangeParameters, selectRowsSql } from '../../functions/components/vector/sql';

describe('OrderedChunks', () => {
  test('hands chunks put out of order to the consumer in order, and holds producers to the window', async () => {
    const queue = new OrderedChunks<string>(2);
    await queue.reserve(0);
    await queue.reserve(1);
    let reserved2 = false;
    const waiting = queue.reserve(2).then(() => (reserved2 = true));
    queue.put(1, 'b');
    await Promise.resolve();
    expect(reserved2).toBe(false);
    queue.put(0, 'a');
    expect(await queue.take()).toBe('a');
    await waiting;
    expect(reserved2).toBe(true);
    expect(await queue.take()).toBe('b');
  });

  test('the first failure ends every wait, on both sides, with that error', async () => {
    const queue = new OrderedChunks<string>(1);
    const consumer = queue.take();
    const producer = queue.reserve(3);
    const first = new Error('reader 2 lost its connection');
    queue.fail(first);
    queue.fail(new Error('an echo'));
    await expect(consumer).rejects.toBe(first);
    await expect(producer).rejects.toBe(first);
    expect(() => queue.put(0, 'late')).toThrow(first);
  });
});

describe('id ranges', () => {
  test('bounds cut the whole key into ranges open at both ends', () => {
    expect(rangesFromBounds([])).toEqual([{}]);
    expect(rangesFromBounds(['m-7', 'm-14'])).toEqual([{ upTo: 'm-7' }, { after: 'm-7', upTo: 'm-14' }, { after: 'm-14' }]);
    expect(rangeParameters({ after: 'a', upTo: 'b' })).toEqual(['a', 'b']);
    expect(rangeParameters({ upTo: 'b' })).toEqual(['b']);
  });

  const definition = {
    columns: [
      { name: 'id', type: 'uuid', notNull: true, default: null, identity: '' as const, generated: null },
      { name: 'embedding', type: 'vector(3)', notNull: false, default: null, identity: '' as const, generated: null },
    ],
    idColumn: 'id',
    metadataColumn: null,
    embedding: { column: 'embedding', kind: 'pgvector' as const, elementType: 'float4' as const, dimension: 3 },
  };

  test('a range reads its ids in order with the bounds cast to the key type', () => {
    expect(selectRowsSql(definition, '"public"."t"', { range: { after: 'x', upTo: 'y' } })).toMatch(/ WHERE "id" > \$1::uuid AND "id" <= \$2::uuid ORDER BY "id"$/);
    expect(selectRowsSql(definition, '"public"."t"', { range: { after: 'x' } })).toMatch(/ WHERE "id" > \$1::uuid ORDER BY "id"$/);
    expect(selectRowsSql(definition, '"public"."t"', { range: {} })).toMatch(/FROM "public"."t" ORDER BY "id"$/);
    expect(rangeBoundsSql(definition, '"public"."t"')).toBe('SELECT bound FROM (SELECT "id"::text AS bound, row_number() OVER (ORDER BY "id") AS n FROM "public"."t") s WHERE n % $1 = 0 ORDER BY n');
    expect(selectRowsSql(definition, '"public"."t"', { vectorSchema: 'ext' })).toMatch(/^SELECT "id"::text AS id, "ext".vector_send\("embedding"\) AS embedding, /);
    expect(copySql(definition, '"public"."t"')).toBe('COPY "public"."t" ("id", "embedding") FROM STDIN (FORMAT binary)');
  });
});

describe('binary COPY encoding', () => {
  test('header and trailer are PostgreSQL\'s', () => {
    expect(copyHeader().toString('hex')).toBe('5047434f50590aff0d0a00' + '00000000' + '00000000');
    expect(copyTrailer().toString('hex')).toBe('ffff');
  });

  test('pgvector\'s receive format: dimension, unused, big-endian float4 bits as stored', () => {
    const le = Buffer.alloc(8);
    le.writeUInt32LE(0x7f7fffff, 0);
    le.writeUInt32LE(0x80000001, 4);
    expect(littleEndianToVectorRecv(le).toString('hex')).toBe('0002' + '0000' + '7f7fffff' + '80000001');
  });

  test('vector_send\'s form read back to little-endian float4, and a length that does not fit is a problem, not a row', () => {
    const sent = Buffer.from('0002' + '0000' + '7f7fffff' + '80000001', 'hex');
    expect(vectorSendToLittleEndian(sent)).toEqual({ elementType: 'float4', data: Buffer.from('ffff7f7f' + '01000080', 'hex') });
    expect(vectorSendToLittleEndian(sent.subarray(0, 10))).toEqual({ problem: 'its vector_send form has 10 bytes for 2 elements' });
  });

  const encode = (type: string, text: string) => textEncoderFor(type)!(text).toString('hex');

  test('text forms convert to the binary forms their types receive', () => {
    expect(encode('uuid', '0b3e4c1a-7f00-4d6e-9a0b-1c2d3e4f5a6b')).toBe('0b3e4c1a7f004d6e9a0b1c2d3e4f5a6b');
    expect(encode('jsonb', '{"a": 1}')).toBe('01' + Buffer.from('{"a": 1}').toString('hex'));
    expect(encode('character varying(12)', 'é')).toBe('c3a9');
    expect(encode('bigint', '-9223372036854775808')).toBe('8000000000000000');
    expect(encode('integer', '-1')).toBe('ffffffff');
    expect(encode('boolean', 't')).toBe('01');
    expect(encode('double precision', '-0')).toBe('8000000000000000');
    expect(encode('double precision', '5e-324')).toBe('0000000000000001');
    expect(encode('bytea', '\\x00ff')).toBe('00ff');
    // Microseconds since 2000-01-01 00:00 UTC.
    expect(encode('timestamp with time zone', '2000-01-01 00:00:00+00')).toBe('0000000000000000');
    expect(encode('timestamp(3) with time zone', '2000-01-01 00:00:01.5+00')).toBe(BigInt(1_500_000).toString(16).padStart(16, '0'));
    expect(encode('timestamp without time zone', '1999-12-31 23:59:59.999999')).toBe('ffffffffffffffff');
    expect(encode('timestamp with time zone', 'infinity')).toBe('7fffffffffffffff');
    expect(encode('timestamp with time zone', '-infinity')).toBe('8000000000000000');
    expect(textEncoderFor('numeric')).toBeUndefined();
    expect(textEncoderFor('text[]')).toBeUndefined();
  });

  test('a text form the encoder does not know is an UnencodableValueError, not a wrong value', () => {
    expect(() => encode('timestamp with time zone', '2026-01-01 05:00:00+05')).toThrow(UnencodableValueError);
    expect(() => encode('integer', '1.5')).toThrow(UnencodableValueError);
    expect(() => encode('uuid', 'not-a-uuid')).toThrow(UnencodableValueError);
  });

  test('a tuple: field count, then id, embedding, metadata and extras with -1 for NULL', () => {
    const encoder = new CopyTupleEncoder(['text', 'jsonb', 'integer'], { kind: 'array', elementType: 'float4' }, true);
    const tuple = encoder.encode({ id: 'a', embedding: null, metadata: null, extras: ['7'] });
    expect(tuple.toString('hex')).toBe('0004' + '00000001' + '61' + 'ffffffff' + 'ffffffff' + '00000004' + '00000007');
  });
});
