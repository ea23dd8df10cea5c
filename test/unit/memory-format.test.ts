/**
 * The nca-memory-export format and the memory component's pure logic: writing and reading tier files
 * (header, items, trailer, gzip), refusing damaged or malformed files with the right error, the item
 * rules, canonical digests, the consistency report, restore options, and each store's item conversion.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { BSON } from 'mongodb';
import { Sha256Verifier } from '../../functions/core/checksums';
import { IntegrityError, InvalidInputError } from '../../functions/core/errors';
import { crossTierReport, TierStats } from '../../functions/components/memory/consistency';
import { episodicDocument, episodicItem } from '../../functions/components/memory/episodic';
import { FORMAT, TierReader, TierWriter, type ExportHeader } from '../../functions/components/memory/format';
import { canonicalJson } from '../../functions/core/canonical-json';
import { ItemDigest, jsonText, modelProblems, parseJsonExact, shapeProblem, type MemoryItem } from '../../functions/components/memory/item';
import { parseMemoryRestoreOptions } from '../../functions/components/memory/options';
import { semanticItem } from '../../functions/components/memory/semantic';
import { contentWords, nativeRestore, workingItem, workingKeys } from '../../functions/components/memory/working';

const ID = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

function item(n: number, extra: Partial<MemoryItem> = {}): MemoryItem {
  return {
    id: ID(n),
    content: { text: `memory ${n}`, summary: null, json_data: { n }, content_type: 'text', language: 'en' },
    metadata: { created_at: '2026-01-01T00:00:00.000Z', status: 'active', importance: 0.5, strength: 1, access_count: 0, tags: ['a'], embedding_dimensions: 3 },
    embedding: [n, 0.25, -1],
    ...extra,
  };
}

const header = (tier: ExportHeader['tier'] = 'semantic'): ExportHeader => ({ format: FORMAT, version: 1, tier, exportedAt: '2026-11-26T03:00:00.000Z', source: { store: 'test' } });

async function written(items: MemoryItem[], tier: ExportHeader['tier'] = 'semantic'): Promise<Buffer> {
  const writer = new TierWriter(tier);
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of writer.body) chunks.push(chunk as Buffer);
  })();
  writer.watch(collected);
  await writer.header(header(tier));
  for (const i of items) await writer.item(i);
  await writer.end();
  await collected;
  return Buffer.concat(chunks);
}

/** A reader over `bytes`, verified against the digest of `intact` (the manifest's record), like the vault. */
function reader(bytes: Buffer, intact: Buffer = bytes, tier: ExportHeader['tier'] = 'semantic'): TierReader {
  const record = { name: `${tier}.jsonl.gz`, bytes: intact.length, sha256: createHash('sha256').update(intact).digest('hex') };
  // Small chunks, as a network stream delivers them.
  const chunks = Array.from({ length: Math.ceil(bytes.length / 97) }, (_, i) => bytes.subarray(i * 97, (i + 1) * 97));
  return new TierReader(() => Readable.from(chunks).pipe(new Sha256Verifier(record, { component: 'memory' })), tier, record.name);
}

async function readAll(r: TierReader): Promise<MemoryItem[]> {
  const out: MemoryItem[] = [];
  for await (const i of r.items()) out.push(i);
  return out;
}

describe('tier files', () => {
  test('a written file is gzip JSONL with a header, the items in order and a trailer, and reads back equal', async () => {
    const items = Array.from({ length: 500 }, (_, n) => item(n));
    const bytes = await written(items);
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const lines = gunzipSync(bytes).toString('utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(JSON.parse(lines[0])).toEqual(header());
    expect(JSON.parse(lines[lines.length - 1])).toEqual({ format: FORMAT, end: true, tier: 'semantic', items: 500 });
    expect(lines.slice(1, -1).map((l) => JSON.parse(l))).toEqual(items);
    const r = reader(bytes);
    expect(await r.header()).toEqual(header());
    expect(await readAll(r)).toEqual(items);
  });

  test('an empty tier is a header and a trailer', async () => {
    const bytes = await written([], 'working');
    expect(gunzipSync(bytes).toString().trim().split('\n').map((l) => JSON.parse(l).format)).toEqual([FORMAT, FORMAT]);
    expect(await readAll(reader(bytes, bytes, 'working'))).toEqual([]);
  });

  test('damaged bytes are reported as the IntegrityError of the digest check, wherever the damage is', async () => {
    const intact = await written(Array.from({ length: 300 }, (_, n) => item(n)));
    for (const at of [10, Math.floor(intact.length / 2), intact.length - 5]) {
      const damaged = Buffer.from(intact);
      damaged[at] ^= 0xff;
      await expect(readAll(reader(damaged, intact))).rejects.toThrow(IntegrityError);
    }
    await expect(readAll(reader(intact.subarray(0, intact.length - 40), intact))).rejects.toThrow(IntegrityError);
  });

  test('intact files that break the format are refused, naming the file and what is wrong', async () => {
    const file = (text: string) => gzipSync(text);
    const h = JSON.stringify(header());
    const cases: [Buffer, RegExp][] = [
      [file(''), /semantic\.jsonl\.gz is not a valid nca-memory-export: it is empty/],
      [file('{"format":"other"}\n'), /does not start with a nca-memory-export header/],
      [file(`${JSON.stringify({ ...header(), version: 3 })}\n`), /is nca-memory-export version 3; this nca-backup reads version 2 and older/],
      [file(`${JSON.stringify(header('working'))}\n`), /holds tier "working", not semantic/],
      [file(`${h}\n${JSON.stringify(item(1))}\n`), /ends without its trailer line/],
      [file(`${h}\n${JSON.stringify(item(1))}\n{"format":"nca-memory-export","end":true,"tier":"semantic","items":2}\n`), /has a trailer for 2 items and 0 records after 1 items and 0 records/],
      [file(`${h}\nnot json\n`), /line 2 is not JSON/],
      [file(`${h}\n{"id":"x","content":3}\n`), /line 2: semantic item x has a content that is neither an object nor text/],
      [file(`${h}\n{"record":{"key":"k"},"id":"x"}\n`), /line 2: a record line holds something else than one record object/],
      [file(`${h}\n{"record":{"bson":""}}\n{"format":"nca-memory-export","end":true,"tier":"semantic","items":0}\n`), /has a trailer for 0 items and 0 records after 0 items and 1 records/],
      [file(`${h}\n{"format":"nca-memory-export","end":true,"tier":"semantic","items":0}\n{}\n`), /has lines after its trailer/],
      [Buffer.from('plain text, not gzip'), /incorrect header check/],
    ];
    for (const [bytes, message] of cases) {
      const failure = readAll(reader(bytes));
      await expect(failure).rejects.toThrow(message);
      await expect(failure).rejects.not.toThrow(IntegrityError);
    }
    await expect(readAll(reader(file(`${h}\nnot json\n`)))).rejects.toThrow(InvalidInputError);
  });
});

describe('memory items', () => {
  test('shape rules: what cannot be written back into a store', () => {
    expect(shapeProblem(item(1))).toBeUndefined();
    expect(shapeProblem({ id: 'x' })).toBeUndefined();
    expect(shapeProblem({ id: 'x', content: null, metadata: null, embedding: null })).toBeUndefined();
    expect(shapeProblem([])).toBe('is not a JSON object');
    expect(shapeProblem({ id: '' })).toBe('has no id (a non-empty string)');
    expect(shapeProblem({ id: 'x', extra: 1 })).toBe('has an unknown key "extra"');
    expect(shapeProblem({ id: 'x', metadata: [] })).toBe('has a metadata that is not an object');
    expect(shapeProblem({ id: 'x', embedding: [1, null] })).toBe('has an embedding whose element 1 is not a finite number');
    expect(shapeProblem({ id: 'x', embedding: '1,2' })).toBe('has an embedding that is not a list');
    expect(shapeProblem({ id: 'x', native: { expireAt: 1.5 } })).toBe('has native.expireAt that is not a Unix time in ms');
    expect(shapeProblem({ id: 'x', native: { other: 1 } })).toBe('has an unknown native key "other"');
  });

  test('model rules: reported, one message per broken rule', () => {
    expect(modelProblems(item(1))).toEqual([]);
    expect(
      modelProblems({
        id: 'not-a-uuid',
        content: { text: 5 as unknown as string },
        metadata: { status: 'pondering', importance: 1.5, access_count: -1, tags: [1] as unknown as string[], embedding_dimensions: 4 },
        embedding: [1, 2, 3],
      }),
    ).toEqual([
      'id is not a uuid',
      'content.text is not a string',
      'metadata.status "pondering" is not one of active|archived|consolidated|forgotten|decaying',
      'metadata.importance 1.5 is not within 0..1',
      'metadata.access_count is not a non-negative integer',
      'metadata.tags is neither a dict nor a list of strings',
      "metadata.embedding_dimensions 4 differs from the embedding's 3",
    ]);
    expect(modelProblems({ id: ID(1) })).toEqual(['content is missing', 'metadata is missing']);
  });

  test('canonical JSON sorts keys at every level; the digest ignores order and clock-derived expiry only', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null }, u: undefined })).toBe('{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}');
    const digest = (items: MemoryItem[]) => items.reduce((d, i) => (d.add(i), d), new ItemDigest()).entry();
    const items = [item(1), item(2), item(3)];
    expect(digest([...items].reverse())).toEqual(digest(items));
    expect(digest(items).count).toBe(3);
    const reordered = { metadata: items[0].metadata, embedding: items[0].embedding, content: items[0].content, id: items[0].id };
    expect(digest([reordered, items[1], items[2]])).toEqual(digest(items));
    expect(digest([item(1, { embedding: [1, 0.25, -0.9999] }), items[1], items[2]]).digest).not.toBe(digest(items).digest);
    expect(digest([items[0], items[1]]).digest).not.toBe(digest(items).digest);
    expect(digest([item(1, { native: { expireAt: 1 } })])).toEqual(digest([item(1, { native: { expireAt: 2 } })]));
    expect(digest([item(1, { native: { expireAt: 1 } })])).toEqual(digest([item(1)]));
    expect(digest([item(1, { native: { fields: { summary: 'a' } } })]).digest).not.toBe(digest([item(1)]).digest);
  });
});

describe('consistency report', () => {
  test('the tier dimension is the most common (ties: the smaller) unless declared; mismatches list the smallest ids', () => {
    const stats = new TierStats('episodic');
    for (let n = 30; n > 0; n--) stats.add(item(n, { embedding: n % 10 === 0 ? [1, 2] : [1, 2, 3] }));
    stats.add(item(100, { embedding: null }));
    const report = stats.report({ snapshot: false, method: 'test' });
    expect(report).toMatchObject({ items: 31, withEmbedding: 30, dimension: 3, dimensionSource: 'most common' });
    expect(report.dimensionMismatches).toEqual({ count: 3, examples: [10, 20, 30].map((n) => ({ id: ID(n), dimension: 2 })) });

    const declared = new TierStats('semantic', 2);
    declared.add(item(1));
    expect(declared.report({ snapshot: true, method: 'test' })).toMatchObject({ dimension: 2, dimensionSource: 'declared', dimensionMismatches: { count: 1 } });

    const tie = new TierStats('working');
    tie.add(item(1, { embedding: [1, 2, 3] }));
    tie.add(item(2, { embedding: [1, 2] }));
    expect(tie.dimension).toBe(2);
    expect(new TierStats('working').report({ snapshot: false, method: '' })).toMatchObject({ dimension: null, dimensionSource: 'none' });
  });

  test('duplicate ids and model violations are counted with examples', () => {
    const stats = new TierStats('episodic');
    stats.add(item(1));
    stats.add(item(1));
    expect(stats.items).toBe(2);
    expect(stats.report({ snapshot: false, method: '' }).duplicateIds).toEqual({ count: 1, examples: [ID(1)] });
    stats.add(item(2, { metadata: { status: 'lost' } }));
    expect(stats.report({ snapshot: false, method: '' }).modelViolations).toEqual({
      count: 1,
      examples: [{ id: ID(2), problems: ['metadata.status "lost" is not one of active|archived|consolidated|forgotten|decaying'] }],
    });
  });

  test('orphans both ways, examples capped at 20 and sorted', () => {
    const episodic = new Set(Array.from({ length: 50 }, (_, n) => ID(n)));
    const semantic = new Set(Array.from({ length: 50 }, (_, n) => ID(n + 25)));
    const report = crossTierReport(episodic, semantic);
    expect(report.semanticWithoutEpisodic.count).toBe(25);
    expect(report.semanticWithoutEpisodic.examples).toEqual(Array.from({ length: 20 }, (_, n) => ID(n + 50)));
    expect(report.episodicWithoutSemantic).toEqual({ count: 25, examples: Array.from({ length: 20 }, (_, n) => ID(n)) });
  });
});

describe('restore options', () => {
  test('tiers: a list or comma-separated text of known tiers, in tier order; nothing else', () => {
    expect(parseMemoryRestoreOptions({})).toEqual({});
    expect(parseMemoryRestoreOptions({ tiers: ['semantic', 'working', 'semantic'] })).toEqual({ tiers: ['working', 'semantic'] });
    expect(parseMemoryRestoreOptions({ tiers: 'episodic, working' })).toEqual({ tiers: ['working', 'episodic'] });
    expect(() => parseMemoryRestoreOptions({ tiers: ['long-term'] })).toThrow('memory: options.tiers: "long-term" is not a memory tier. Allowed: working, episodic, semantic (any combination).');
    expect(() => parseMemoryRestoreOptions({ tiers: [] })).toThrow(/options\.tiers must be a non-empty list/);
    expect(() => parseMemoryRestoreOptions({ tiers: 3 })).toThrow(/options\.tiers must be a non-empty list/);
    expect(() => parseMemoryRestoreOptions({ targetTable: 'x' })).toThrow('memory: options.targetTable is not an option of the memory component. Allowed: tiers (working, episodic, semantic).');
  });
});

describe('store layouts', () => {
  test('working: the NCA\'s plain-text content, Python-style metadata with a tags dict and big integers, embedding and TTLs become an item', () => {
    const hash = { id: 'w1', created_at: '2026-01-01T00:00:00.123456', content: 'Plain text, as the NCA writes it.', summary: 's', embedding: '[0.5, 1]', last_modified: 'x' };
    const fields = new Map(Object.entries(hash).map(([k, v]) => [k, Buffer.from(v)]));
    const metadata = Buffer.from('{"status": "active", "importance": 1.0, "tags": {"fact": true, "person": "v1"}, "additional_metadata": {"sequence": 9007199254740993}}');
    const item = workingItem(ID(1), fields, metadata, 6000, 0);
    expect(item).toEqual({
      id: ID(1),
      content: 'Plain text, as the NCA writes it.',
      metadata: { status: 'active', importance: 1, tags: { fact: true, person: 'v1' }, additional_metadata: { sequence: 9007199254740993n } },
      embedding: [0.5, 1],
      native: { fields: { id: 'w1', created_at: '2026-01-01T00:00:00.123456', summary: 's', last_modified: 'x' }, expireAt: 6000 },
    });
    // The big integer keeps its digits in the portable line (JSON.parse would print 9007199254740992).
    expect(canonicalJson(item)).toContain('"sequence":9007199254740993');
    expect(modelProblems(item)).toEqual([]);
    expect(shapeProblem(JSON.parse(canonicalJson(item)))).toBeUndefined();
    // JSON object content is read as an object; an embedding field that is not a number list stays a field.
    expect(workingItem('w2', new Map([['content', Buffer.from('{"text": "hi"}')], ['embedding', Buffer.from('oops')]]), undefined, 0, 5)).toEqual({
      id: 'w2',
      content: { text: 'hi' },
      native: { fields: { embedding: 'oops' }, metadataExpireAt: 5 },
    });
  });

  test('working: what JSON cannot carry (Python NaN/Infinity, list metadata, bytes that are not UTF-8) is exported in native, never refused', () => {
    const float32 = Buffer.from(new Float32Array([-1, 0.5]).buffer);
    const nan = workingItem('w6', [['content', Buffer.from([0xff, 0xfe])], ['embedding', float32], [Buffer.from([0xc3]), Buffer.from('v')]], Buffer.from('{"status": "active", "importance": NaN, "s": "NaN, Infinity", "w": [-Infinity, Infinity]}'));
    expect(nan).toEqual({
      id: 'w6',
      metadata: { status: 'active', importance: null, s: 'NaN, Infinity', w: [null, null] },
      native: {
        metadataText: '{"status": "active", "importance": NaN, "s": "NaN, Infinity", "w": [-Infinity, Infinity]}',
        binaryFields: [{ field: 'content', base64: '//4=' }, { field: 'embedding', base64: float32.toString('base64') }, { fieldBase64: 'ww==', base64: 'dg==' }],
      },
    });
    expect(shapeProblem(JSON.parse(canonicalJson(nan)))).toBeUndefined();
    expect(workingItem('w7', [], Buffer.from('[1, 2]'))).toEqual({ id: 'w7', native: { metadataText: '[1, 2]' } });
    expect(workingItem('w8', [], Buffer.from('{not json'))).toEqual({ id: 'w8', native: { metadataText: '{not json' } });
    expect(workingItem('w9', [], Buffer.from([0x7b, 0xff]))).toEqual({ id: 'w9', native: { metadataBase64: 'e/8=' } });
    expect(shapeProblem({ id: 'x', native: { binaryFields: [{ base64: '' }] } })).toMatch(/binaryFields entry/);
  });

  test('exact JSON: integers beyond 2^53 keep their digits through parse, canonical and compact printing', () => {
    const text = '{"b": 9007199254740993, "a": [1.5, -12345678901234567890], "c": 0.1234567890123456}';
    const value = parseJsonExact(text) as Record<string, unknown>;
    expect(value).toEqual({ b: 9007199254740993n, a: [1.5, -12345678901234567890n], c: 0.1234567890123456 });
    expect(canonicalJson(value)).toBe('{"a":[1.5,-12345678901234567890],"b":9007199254740993,"c":0.1234567890123456}');
    expect(jsonText(value)).toBe('{"b":9007199254740993,"a":[1.5,-12345678901234567890],"c":0.1234567890123456}');
    expect(parseJsonExact('{"n": 12}')).toEqual({ n: 12 });
  });

  test('working: records are restored natively only into a Redis that reads their RDB version, and never from a version 1 export', () => {
    const facts = { serverName: 'redis', serverVersion: '7.0.15', serverMajor: 7, rdbVersion: 10, rdbVersionFrom: 'dump', exactExpiry: true } as const;
    const header = (version: number, source: Record<string, unknown>, records?: string): ExportHeader => ({ format: FORMAT, version, tier: 'working', exportedAt: 'x', source, ...(records ? { records } : {}) });
    expect(nativeRestore(header(2, { rdbVersion: 10 }, 'keys'), facts)).toEqual({ native: true });
    expect(nativeRestore(header(2, { rdbVersion: 9 }, 'keys'), facts)).toEqual({ native: true });
    expect(nativeRestore(header(2, { rdbVersion: 11 }, 'keys'), facts)).toEqual({ native: false, reason: "the target redis 7.0.15 reads up to RDB version 10; the backup's payloads are RDB version 11" });
    expect(nativeRestore(header(1, { rdbVersion: 10 }), facts)).toEqual({ native: false, reason: 'the export (version 1) holds no native records' });
  });

  test('working: the NCA\'s word index tokenizer', () => {
    expect([...contentWords('The user asked: "deploy, (now)!" The end.')].sort()).toEqual(['asked', 'deploy', 'end', 'now', 'the', 'user']);
  });

  test('working: only item hashes are items; glob characters in the namespace are escaped', () => {
    const keys = workingKeys('wm*1');
    expect(keys.pattern).toBe('memory:wm\\*1:*');
    expect(keys.idOf(`memory:wm*1:${ID(1)}`)).toBe(ID(1));
    for (const other of ['memory:wm*1:stats', `memory:wm*1:metadata:${ID(1)}`, 'memory:wm*1:index:tag:a', 'memory:other:x']) expect(keys.idOf(other)).toBeUndefined();
  });

  test('episodic: dates become ISO strings in the model and come back as BSON dates; other BSON values survive', () => {
    const _id = new BSON.ObjectId();
    const created = new Date('2026-01-01T00:00:00.000Z');
    const doc = {
      _id,
      memory_id: ID(1),
      content: { text: 'hi', json_data: { seen: new Date('2026-02-03T04:05:06.789Z') } },
      metadata: { created_at: created, updated_at: '2026-01-01T10:00:00+00:00', importance: 0.5 },
      embedding: [0.5, -1],
      created_at: created,
      importance: 0.5,
    };
    const portable = episodicItem(doc);
    expect(portable).toEqual({
      id: ID(1),
      content: { text: 'hi', json_data: { seen: { $date: '2026-02-03T04:05:06.789Z' } } },
      metadata: { created_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T10:00:00+00:00', importance: 0.5 },
      embedding: [0.5, -1],
      native: { fields: { _id: { $oid: _id.toHexString() }, created_at: { $date: '2026-01-01T00:00:00Z' }, importance: 0.5 } },
    });
    const back = episodicDocument(JSON.parse(JSON.stringify(portable)));
    expect(back).toEqual(doc);
    expect(Object.keys(back).slice(0, 2)).toEqual(['_id', 'memory_id']);
    expect(episodicItem(back)).toEqual(portable);
    // The NCA's LTM repository stores documents without a memory_id too: their _id names them.
    expect(episodicItem({ _id: 1, content: 'plain text' })).toEqual({ id: '_id:1', content: 'plain text', native: { fields: { _id: 1 }, noMemoryId: true } });
    expect(episodicDocument({ id: '_id:1', content: 'plain text', native: { fields: { _id: 1 }, noMemoryId: true } })).toEqual({ _id: 1, content: 'plain text' });
    // An int64 beyond 2^53 keeps its digits in the portable item; smaller ones are plain numbers.
    const longs = episodicItem(BSON.deserialize(BSON.serialize({ _id: 2, memory_id: 'm', metadata: { big: BSON.Long.fromString('9007199254740993'), small: BSON.Long.fromNumber(5) } }), { promoteLongs: false }));
    expect(longs.metadata).toEqual({ big: { $numberLong: '9007199254740993' }, small: 5 });
  });

  test('episodic: an item without document fields gets the NCA\'s derived ones', () => {
    expect(episodicDocument(item(1))).toEqual({
      memory_id: ID(1),
      content: item(1).content,
      metadata: { ...item(1).metadata, created_at: new Date('2026-01-01T00:00:00.000Z') },
      embedding: item(1).embedding,
      created_at: new Date('2026-01-01T00:00:00.000Z'),
      importance: 0.5,
      tags: ['a'],
    });
  });

  test('semantic: the metadata column holds content and metadata; other keys and NULL are kept', () => {
    expect(semanticItem({ id: 's1', embedding: [1], metadata: { content: { text: 'a' }, metadata: { status: 'active' }, source_row: 7 } })).toEqual({
      id: 's1',
      content: { text: 'a' },
      metadata: { status: 'active' },
      embedding: [1],
      native: { fields: { source_row: 7 } },
    });
    expect(semanticItem({ id: 's2', embedding: null, metadata: null })).toEqual({ id: 's2', embedding: null, native: { metadataIsNull: true } });
    expect(() => semanticItem({ id: 's3', embedding: null, metadata: [1] })).toThrow('semantic item s3: column metadata is not a JSON object.');
  });
});
