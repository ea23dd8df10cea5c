/**
 * A small MongoDB wire-protocol server for tests: no MongoDB server can be installed on the test machines
 * (TESTING.md), so the mongodb component and the memory-tier export are tested through the official driver
 * against this. It speaks OP_QUERY (the driver's legacy handshake) and OP_MSG (with document sequences),
 * keeps data in memory, decodes with the driver's own bson and matches/sorts/aggregates with mingo.
 *
 * What it is faithful about:
 * - Documents are stored as the exact BSON bytes the client sent (with `_id` moved first, as mongod does)
 *   and returned byte for byte by find/getMore (so `raw: true` cursors and byte digests mean something).
 * - Unique indexes (and `_id`) refuse duplicates with code 11000 in writeErrors; ordered inserts stop at
 *   the first error, unordered ones go on. Text index specs are normalised the way mongod lists them
 *   ({_fts: 'text', _ftsx: 1} + weights, default_language, language_override, textIndexVersion).
 * - With `replicaSet: true`, hello reports setName "rs0" and reads accept readConcern {level: 'snapshot'}
 *   (with or without atClusterTime): every write makes a new immutable version of the data, the last 1000
 *   are kept, and a snapshot read sees exactly the version of its atClusterTime (older: SnapshotTooOld, 239).
 *   A standalone refuses snapshot reads (code 72), as mongod does.
 *
 * Limits (what it does NOT do; keep tests inside them):
 * - Commands: hello/isMaster, ping, buildInfo, serverStatus, listDatabases, listCollections, create, drop,
 *   dropDatabase, renameCollection, insert, update, delete, find, getMore, killCursors, count, aggregate,
 *   createIndexes, listIndexes, dbStats, endSessions. Anything else answers CommandNotFound (59).
 * - No authentication, TLS, compression, transactions, retryable-write bookkeeping, exhaust cursors,
 *   streaming hello, $clusterTime gossip, write concern, collation, views, capped/timeseries behaviour,
 *   validators (collection options are stored and listed, never enforced), index use (every query scans).
 * - Query semantics are mingo's: its type ordering for sort/comparisons differs from BSON's across types
 *   (numbers vs ObjectId vs dates...), Decimal128 compares as text, $text and geo queries are unsupported.
 *   Unique keys compare the promoted JS values (1 and 1.0 collide, as in mongod; an array is one key, not
 *   one per element as in a multikey index). Cursors materialise their result when opened (each cursor is
 *   its own snapshot); projections, aggregation results and updated documents are re-encoded from JS
 *   values (int64 that fit a double and int32/double distinctions may change there; stored bytes do not).
 * - update applies operator documents with mingo's updater or replaces the document; an upsert seeds the new
 *   document from the filter's plain equality fields only. No arrayFilters, no pipeline updates.
 * - Data lives in one process's memory; there is no persistence and no size limit beyond the driver's.
 *   dbStats reports fsTotalSize and fsUsedSize as mongod does for the volume of its data directory
 *   (defaults 64 GiB, 16 GiB used; `filesystem` or setFilesystem sets them, `null` leaves them out, as a
 *   server that does not report them); storageSize is dataSize (no compression) and indexSize 0.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { BSON, type Document } from 'mongodb';
import { Aggregator, Query, find as mingoFind, update as mingoUpdate } from 'mingo';

// mingo/util is an `exports` subpath, which this repository's TypeScript resolution ("node") cannot see.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { compare, resolve } = require('mingo/util') as { compare(a: unknown, b: unknown): number; resolve(obj: object, path: string): unknown };

const { deserialize, EJSON, Long, ObjectId, Timestamp, UUID } = BSON;
/** BSON.serialize as a Buffer (bson types it as Uint8Array). */
const serialize = (doc: Document): Buffer => {
  const bytes = BSON.serialize(doc);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
};

interface Stored {
  readonly raw: Buffer;
  readonly view: Document;
}
interface Collection {
  readonly docs: readonly Stored[];
  readonly indexes: readonly Document[];
  readonly options: Document;
  readonly uuid: BSON.UUID;
}
/** One immutable version of every collection, keyed by namespace "db.coll". */
type State = ReadonlyMap<string, Collection>;

class CommandError extends Error {
  constructor(readonly code: number, readonly codeName: string, message: string) {
    super(message);
  }
}

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const MAX_BSON = 16 * 1024 * 1024;
const HISTORY = 1000;
const WIRE_VERSION: Record<number, number> = { 4: 9, 5: 13, 6: 17, 7: 21, 8: 25 };
/** Command fields that are envelope, not options of `create`. */
const ENVELOPE = new Set(['create', 'lsid', 'txnNumber', 'autocommit', 'startTransaction', 'writeConcern', 'readConcern', 'comment']);

// Raw BSON assembly, so stored documents go back out without being re-encoded.
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
};
const rawDocument = (...elements: Buffer[]) => {
  const body = Buffer.concat(elements);
  return Buffer.concat([int32(body.length + 5), body, Buffer.from([0])]);
};
const element = (type: number, name: string, value: Buffer) => Buffer.concat([Buffer.from([type]), Buffer.from(`${name}\0`), value]);
const elementsOf = (doc: Document) => {
  const b = serialize(doc);
  return b.subarray(4, b.length - 1);
};
const rawArray = (docs: readonly Buffer[]) => rawDocument(...docs.map((d, i) => element(0x03, String(i), d)));

/** End offset of the BSON element starting at `p` (type byte, name, value). */
function elementEnd(raw: Buffer, p: number): number {
  const type = raw[p];
  const v = raw.indexOf(0, p + 1) + 1;
  const fixed: Record<number, number> = { 0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0a: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16, 0xff: 0, 0x7f: 0 };
  if (type in fixed) return v + fixed[type];
  if (type === 0x02 || type === 0x0d || type === 0x0e) return v + 4 + raw.readInt32LE(v);
  if (type === 0x03 || type === 0x04 || type === 0x0f) return v + raw.readInt32LE(v);
  if (type === 0x05) return v + 5 + raw.readInt32LE(v);
  if (type === 0x0c) return v + 4 + raw.readInt32LE(v) + 12;
  if (type === 0x0b) return raw.indexOf(0, raw.indexOf(0, v) + 1) + 1;
  throw new CommandError(2, 'BadValue', `unknown BSON type ${type}`);
}

function store(sent: Buffer): Stored {
  let raw: Buffer = sent;
  if (!('_id' in deserialize(raw))) {
    const id = elementsOf({ _id: new ObjectId() });
    raw = rawDocument(id, raw.subarray(4, raw.length - 1));
  } else if (raw.toString('latin1', 5, 9) !== '_id\0') {
    // mongod moves _id first; move its element's bytes so every other field keeps its bytes and order.
    const elements: Buffer[] = [];
    let id: Buffer = Buffer.alloc(0);
    for (let p = 4; p < raw.length - 1; ) {
      const end = elementEnd(raw, p);
      if (raw.toString('latin1', p + 1, p + 5) === '_id\0') id = raw.subarray(p, end);
      else elements.push(raw.subarray(p, end));
      p = end;
    }
    raw = rawDocument(id, ...elements);
  }
  return { raw: Buffer.from(raw), view: deserialize(raw) };
}

function normaliseIndex(spec: Document): Document {
  const { key, name, v: _v, ns: _ns, ...options } = spec;
  const fields = Object.entries(key as Document);
  // Already in listed form ({_fts: 'text', _ftsx: 1} + weights), as a restore sends it back.
  if ('_fts' in key || !fields.some(([, dir]) => dir === 'text')) return { v: 2, key, name, ...options };
  const weights: Document = { ...(options.weights ?? {}) };
  const textKey: Document = {};
  for (const [field, dir] of fields) {
    if (dir !== 'text') textKey[field] = dir;
    else {
      weights[field] ??= 1;
      if (!('_fts' in textKey)) Object.assign(textKey, { _fts: 'text', _ftsx: 1 });
    }
  }
  return { v: 2, key: textKey, name, ...options, weights, default_language: options.default_language ?? 'english', language_override: options.language_override ?? 'language', textIndexVersion: 3 };
}

function uniqueKey(view: Document, index: Document): string | undefined {
  const fields = Object.keys(index.key).filter((f) => f !== '_fts' && f !== '_ftsx');
  const values = fields.map((f) => resolve(view, f));
  if (index.sparse && values.every((v) => v === undefined)) return undefined;
  if (index.partialFilterExpression && !new Query(index.partialFilterExpression).test(view)) return undefined;
  return EJSON.stringify(values.map((v) => v ?? null), { relaxed: false });
}

function duplicateError(ns: string, index: Document, view: Document): CommandError {
  const dup = Object.keys(index.key).map((f) => `${f}: ${EJSON.stringify(resolve(view, f) ?? null)}`).join(', ');
  return new CommandError(11000, 'DuplicateKey', `E11000 duplicate key error collection: ${ns} index: ${index.name} dup key: { ${dup} }`);
}

/**
 * The unique keys of a collection version that inserts made: the next insert starts from them instead of
 * recomputing every document's keys (which made loading a large collection in batches quadratic).
 */
const insertedKeys = new WeakMap<Collection, Map<Document, Set<string>>>();

/** Keys of every unique index, to check new documents against. */
function uniqueSets(coll: Collection): Map<Document, Set<string>> {
  const known = insertedKeys.get(coll);
  if (known) {
    // The sets are handed on, and grow: the older version must not use them again.
    insertedKeys.delete(coll);
    return known;
  }
  const sets = new Map<Document, Set<string>>();
  for (const index of coll.indexes.filter((i) => i.unique || i.name === '_id_')) {
    sets.set(index, new Set(coll.docs.map((d) => uniqueKey(d.view, index)).filter((k): k is string => k !== undefined)));
  }
  return sets;
}

function sorter(sort: Document | undefined) {
  const fields = Object.entries(sort ?? {});
  return (a: Stored, b: Stored) => {
    for (const [field, dir] of fields) {
      const order = compare(resolve(a.view, field), resolve(b.view, field));
      if (order) return order * (Number(dir) < 0 ? -1 : 1);
    }
    return 0;
  };
}

interface OpenCursor {
  readonly ns: string;
  readonly docs: readonly Buffer[];
  pos: number;
}

export interface MongoWireServer {
  readonly url: string;
  readonly port: number;
  /** What dbStats reports of the data directory's file system from now on (null: nothing, as some servers). */
  setFilesystem(filesystem: Filesystem | null): void;
  stop(): Promise<void>;
}

/** dbStats' fsTotalSize and fsUsedSize, in bytes. */
export interface Filesystem {
  readonly totalSize: number;
  readonly usedSize: number;
}

const DEFAULT_FILESYSTEM: Filesystem = { totalSize: 64 * 2 ** 30, usedSize: 16 * 2 ** 30 };

export async function startMongoWireServer(options: { replicaSet?: boolean; version?: string; filesystem?: Filesystem | null } = {}): Promise<MongoWireServer> {
  let filesystem = options.filesystem === undefined ? DEFAULT_FILESYSTEM : options.filesystem;
  const version = options.version ?? '7.0.14';
  const major = Number(version.split('.')[0]);
  const replicaSet = options.replicaSet === true;
  const epoch = Math.floor(Date.now() / 1000);
  let versions: { i: number; state: State }[] = [{ i: 1, state: new Map() }];
  const cursors = new Map<string, OpenCursor>();
  let nextCursorId = 1;
  let connections = 0;
  let port = 0;

  const current = () => versions[versions.length - 1];
  const commit = (state: State) => {
    versions = [...versions.slice(-(HISTORY - 1)), { i: current().i + 1, state }];
  };
  const withCollection = (ns: string, coll: Collection | undefined) => {
    const next = new Map(current().state);
    if (coll) next.set(ns, coll);
    else next.delete(ns);
    return next;
  };
  const newCollection = (options: Document = {}): Collection => ({
    docs: [],
    indexes: [{ v: 2, key: { _id: 1 }, name: '_id_' }],
    options,
    uuid: new UUID(),
  });

  /** The version a read sees: the latest, or the one its snapshot read concern names. */
  function readVersion(cmd: Document): { state: State; atClusterTime?: BSON.Timestamp } {
    const concern = cmd.readConcern as Document | undefined;
    if (concern?.level !== 'snapshot') return { state: current().state };
    if (!replicaSet) throw new CommandError(72, 'InvalidOptions', 'readConcern level snapshot is only supported on replica sets');
    const wanted = concern.atClusterTime as BSON.Timestamp | undefined;
    const found = wanted ? versions.find((v) => v.i === wanted.i) : current();
    if (!found) throw new CommandError(239, 'SnapshotTooOld', `Read timestamp ${wanted} is older than the oldest available timestamp.`);
    return { state: found.state, atClusterTime: new Timestamp({ t: epoch, i: found.i }) };
  }

  function cursorReply(ns: string, docs: readonly Buffer[], firstBatchSize: number | undefined, singleBatch: boolean, atClusterTime?: BSON.Timestamp): Buffer {
    const cursor: OpenCursor = { ns, docs, pos: 0 };
    const batch = takeBatch(cursor, firstBatchSize ?? 101);
    let id = 0;
    if (!singleBatch && cursor.pos < docs.length) {
      id = nextCursorId++;
      cursors.set(String(id), cursor);
    }
    const tail = elementsOf({ id: Long.fromNumber(id), ns, ...(atClusterTime ? { atClusterTime } : {}) });
    return rawDocument(element(0x03, 'cursor', rawDocument(element(0x04, 'firstBatch', rawArray(batch)), tail)), elementsOf({ ok: 1 }));
  }

  function takeBatch(cursor: OpenCursor, size: number): Buffer[] {
    const batch: Buffer[] = [];
    let bytes = 0;
    while (cursor.pos < cursor.docs.length && (size <= 0 || batch.length < size)) {
      const doc = cursor.docs[cursor.pos];
      if (batch.length > 0 && bytes + doc.length > MAX_BSON - 16 * 1024) break;
      batch.push(doc);
      bytes += doc.length;
      cursor.pos++;
    }
    return batch;
  }

  function matching(coll: Collection | undefined, filter: Document | undefined): Stored[] {
    if (!coll) return [];
    if (!filter || Object.keys(filter).length === 0) return [...coll.docs];
    const query = new Query(filter);
    return coll.docs.filter((d) => query.test(d.view));
  }

  function hello(): Document {
    const me = `127.0.0.1:${port}`;
    return {
      helloOk: true,
      ismaster: true,
      isWritablePrimary: true,
      maxBsonObjectSize: MAX_BSON,
      maxMessageSizeBytes: 48_000_000,
      maxWriteBatchSize: 100_000,
      localTime: new Date(),
      logicalSessionTimeoutMinutes: 30,
      connectionId: connections,
      minWireVersion: 0,
      maxWireVersion: WIRE_VERSION[major] ?? 21,
      readOnly: false,
      ...(replicaSet ? { setName: 'rs0', setVersion: 1, hosts: [me], primary: me, me, secondary: false } : {}),
      ok: 1,
    };
  }

  function insertInto(ns: string, raws: readonly Buffer[], ordered: boolean): Document {
    const coll = current().state.get(ns) ?? newCollection();
    const sets = uniqueSets(coll);
    const added: Stored[] = [];
    const writeErrors: Document[] = [];
    for (const [index, raw] of raws.entries()) {
      const doc = store(raw);
      const keys = [...sets].map(([spec, set]) => [spec, set, uniqueKey(doc.view, spec)] as const);
      const clash = keys.find(([, set, key]) => key !== undefined && set.has(key));
      if (clash) {
        const error = duplicateError(ns, clash[0], doc.view);
        writeErrors.push({ index, code: error.code, errmsg: error.message });
        if (ordered) break;
        continue;
      }
      keys.forEach(([, set, key]) => key !== undefined && set.add(key));
      added.push(doc);
    }
    const next: Collection = { ...coll, docs: [...coll.docs, ...added] };
    insertedKeys.set(next, sets);
    commit(withCollection(ns, next));
    return { n: added.length, ...(writeErrors.length ? { writeErrors } : {}), ok: 1 };
  }

  /** Replaces documents after an update, checking unique indexes over the whole result. */
  function replaceDocs(ns: string, coll: Collection, docs: Stored[]): void {
    for (const index of coll.indexes.filter((i) => i.unique || i.name === '_id_')) {
      const seen = new Set<string>();
      for (const d of docs) {
        const key = uniqueKey(d.view, index);
        if (key !== undefined && seen.has(key)) throw duplicateError(ns, index, d.view);
        if (key !== undefined) seen.add(key);
      }
    }
    commit(withCollection(ns, { ...coll, docs }));
  }

  const commands: Record<string, (cmd: Document, db: string, seqs: Record<string, Buffer[]>) => Document | Buffer> = {
    hello,
    ismaster: hello,
    isMaster: hello,
    ping: () => ({ ok: 1 }),
    endSessions: () => ({ ok: 1 }),
    buildInfo: () => ({ version, versionArray: [...version.split('.').map(Number), 0].slice(0, 4), gitVersion: 'mongo-wire-server', ok: 1 }),
    buildinfo: () => commands.buildInfo({}, '', {}),
    serverStatus: () => ({ host: `127.0.0.1:${port}`, version, process: 'mongod', uptime: 1, ok: 1 }),
    listDatabases: () => {
      const sizes = new Map<string, number>();
      for (const [ns, coll] of current().state) {
        const db = ns.slice(0, ns.indexOf('.'));
        sizes.set(db, (sizes.get(db) ?? 0) + coll.docs.reduce((n, d) => n + d.raw.length, 0));
      }
      const databases = [...sizes].map(([name, sizeOnDisk]) => ({ name, sizeOnDisk, empty: sizeOnDisk === 0 }));
      return { databases, totalSize: databases.reduce((n, d) => n + d.sizeOnDisk, 0), ok: 1 };
    },
    listCollections: (cmd, db) => {
      const entries = [...current().state]
        .filter(([ns]) => ns.startsWith(`${db}.`))
        .map(([ns, coll]) => ({
          name: ns.slice(db.length + 1),
          type: 'collection',
          options: coll.options,
          info: { readOnly: false, uuid: coll.uuid },
          idIndex: { v: 2, key: { _id: 1 }, name: '_id_' },
        }))
        .filter((entry) => !cmd.filter || new Query(cmd.filter).test(entry))
        .map((entry) => (cmd.nameOnly ? { name: entry.name, type: entry.type } : entry));
      return cursorReply(`${db}.$cmd.listCollections`, entries.map((e) => serialize(e)), cmd.cursor?.batchSize, false);
    },
    create: (cmd, db) => {
      const ns = `${db}.${cmd.create}`;
      if (current().state.has(ns)) throw new CommandError(48, 'NamespaceExists', `Collection ${ns} already exists.`);
      const options = Object.fromEntries(Object.entries(cmd).filter(([k]) => !ENVELOPE.has(k) && !k.startsWith('$')));
      commit(withCollection(ns, newCollection(options)));
      return { ok: 1 };
    },
    drop: (cmd, db) => {
      const ns = `${db}.${cmd.drop}`;
      const coll = current().state.get(ns);
      if (!coll) throw new CommandError(26, 'NamespaceNotFound', 'ns not found');
      commit(withCollection(ns, undefined));
      return { ns, nIndexesWas: coll.indexes.length, ok: 1 };
    },
    dropDatabase: (_cmd, db) => {
      commit(new Map([...current().state].filter(([ns]) => !ns.startsWith(`${db}.`))));
      return { dropped: db, ok: 1 };
    },
    renameCollection: (cmd) => {
      const from = String(cmd.renameCollection);
      const to = String(cmd.to);
      const coll = current().state.get(from);
      if (!coll) throw new CommandError(26, 'NamespaceNotFound', `Source collection ${from} does not exist`);
      if (current().state.has(to) && !cmd.dropTarget) throw new CommandError(48, 'NamespaceExists', `Target namespace exists`);
      const next = new Map(current().state);
      next.delete(from);
      next.set(to, coll);
      commit(next);
      return { ok: 1 };
    },
    insert: (cmd, db, seqs) => insertInto(`${db}.${cmd.insert}`, seqs.documents ?? cmd.documents ?? [], cmd.ordered !== false),
    delete: (cmd, db, seqs) => {
      const ns = `${db}.${cmd.delete}`;
      let n = 0;
      for (const statement of seqs.deletes?.map((d) => deserialize(d)) ?? cmd.deletes) {
        const coll = current().state.get(ns);
        if (!coll) break;
        const hits = matching(coll, statement.q).slice(0, statement.limit === 1 ? 1 : undefined);
        n += hits.length;
        commit(withCollection(ns, { ...coll, docs: coll.docs.filter((d) => !hits.includes(d)) }));
      }
      return { n, ok: 1 };
    },
    update: (cmd, db, seqs) => {
      const ns = `${db}.${cmd.update}`;
      let n = 0;
      let nModified = 0;
      const upserted: Document[] = [];
      for (const [index, statement] of (seqs.updates?.map((d) => deserialize(d)) ?? (cmd.updates as Document[])).entries()) {
        const coll = current().state.get(ns) ?? newCollection();
        const hits = matching(coll, statement.q).slice(0, statement.multi ? undefined : 1);
        const isOperator = Object.keys(statement.u).some((k) => k.startsWith('$'));
        const apply = (view: Document): Stored => {
          if (!isOperator) return store(serialize({ _id: view._id, ...statement.u }));
          mingoUpdate(view, statement.u);
          return store(serialize(view));
        };
        if (hits.length === 0 && statement.upsert) {
          const seed = Object.fromEntries(Object.entries(statement.q ?? {}).filter(([k, v]) => !k.startsWith('$') && !(v && typeof v === 'object' && Object.keys(v).some((o) => o.startsWith('$')))));
          const doc = apply({ _id: statement.u._id ?? new ObjectId(), ...seed });
          replaceDocs(ns, coll, [...coll.docs, doc]);
          upserted.push({ index, _id: doc.view._id });
          n++;
          continue;
        }
        const changed = new Map(hits.map((d) => [d, apply(deserialize(d.raw))]));
        replaceDocs(ns, coll, coll.docs.map((d) => changed.get(d) ?? d));
        n += hits.length;
        nModified += [...changed].filter(([before, after]) => !before.raw.equals(after.raw)).length;
      }
      return { n, nModified, ...(upserted.length ? { upserted } : {}), ok: 1 };
    },
    find: (cmd, db) => {
      const ns = `${db}.${cmd.find}`;
      const { state, atClusterTime } = readVersion(cmd);
      let docs = matching(state.get(ns), cmd.filter);
      if (cmd.sort) docs.sort(sorter(cmd.sort));
      const limit = Math.abs(Number(cmd.limit ?? 0));
      docs = docs.slice(Number(cmd.skip ?? 0), limit ? Number(cmd.skip ?? 0) + limit : undefined);
      const out = cmd.projection && Object.keys(cmd.projection).length
        ? (mingoFind(docs.map((d) => d.view), {}, cmd.projection).all() as Document[]).map((d) => serialize(d))
        : docs.map((d) => d.raw);
      const single = cmd.singleBatch === true || Number(cmd.limit) < 0;
      return cursorReply(ns, out, cmd.batchSize ?? (limit || undefined), single, atClusterTime);
    },
    getMore: (cmd) => {
      const id = String(cmd.getMore);
      const cursor = cursors.get(id);
      if (!cursor) throw new CommandError(43, 'CursorNotFound', `cursor id ${id} not found`);
      const batch = takeBatch(cursor, Number(cmd.batchSize ?? 0));
      const done = cursor.pos >= cursor.docs.length;
      if (done) cursors.delete(id);
      const tail = elementsOf({ id: Long.fromNumber(done ? 0 : Number(id)), ns: cursor.ns });
      return rawDocument(element(0x03, 'cursor', rawDocument(element(0x04, 'nextBatch', rawArray(batch)), tail)), elementsOf({ ok: 1 }));
    },
    killCursors: (cmd) => {
      const ids = (cmd.cursors as unknown[]).map((id) => Long.fromValue(id as number));
      ids.forEach((id) => cursors.delete(id.toString()));
      return { cursorsKilled: ids, cursorsNotFound: [], cursorsAlive: [], cursorsUnknown: [], ok: 1 };
    },
    count: (cmd, db) => {
      const { state } = readVersion(cmd);
      const all = matching(state.get(`${db}.${cmd.count}`), cmd.query).length - Number(cmd.skip ?? 0);
      return { n: Math.max(0, cmd.limit ? Math.min(all, Math.abs(Number(cmd.limit))) : all), ok: 1 };
    },
    aggregate: (cmd, db) => {
      const ns = `${db}.${cmd.aggregate}`;
      const { state, atClusterTime } = readVersion(cmd);
      const results = new Aggregator(cmd.pipeline).run(matching(state.get(ns), undefined).map((d) => d.view)) as Document[];
      return cursorReply(ns, results.map((d) => serialize(d)), cmd.cursor?.batchSize, false, atClusterTime);
    },
    createIndexes: (cmd, db) => {
      const ns = `${db}.${cmd.createIndexes}`;
      const existing = current().state.get(ns);
      let coll = existing ?? newCollection();
      const before = coll.indexes.length;
      for (const spec of (cmd.indexes as Document[]).map(normaliseIndex)) {
        const same = coll.indexes.find((i) => i.name === spec.name);
        if (same) {
          if (EJSON.stringify(same.key) !== EJSON.stringify(spec.key)) throw new CommandError(86, 'IndexKeySpecsConflict', `An existing index has the same name as the requested index: ${spec.name}`);
          continue;
        }
        if (spec.unique) {
          const seen = new Set<string>();
          for (const d of coll.docs) {
            const key = uniqueKey(d.view, spec);
            if (key !== undefined && seen.has(key)) throw duplicateError(ns, spec, d.view);
            if (key !== undefined) seen.add(key);
          }
        }
        coll = { ...coll, indexes: [...coll.indexes, spec] };
      }
      commit(withCollection(ns, coll));
      return { createdCollectionAutomatically: !existing, numIndexesBefore: before, numIndexesAfter: coll.indexes.length, ok: 1 };
    },
    listIndexes: (cmd, db) => {
      const ns = `${db}.${cmd.listIndexes}`;
      const coll = current().state.get(ns);
      if (!coll) throw new CommandError(26, 'NamespaceNotFound', `ns does not exist: ${ns}`);
      return cursorReply(ns, coll.indexes.map((i) => serialize(i)), cmd.cursor?.batchSize, false);
    },
    dbStats: (_cmd, db) => {
      const colls = [...current().state].filter(([ns]) => ns.startsWith(`${db}.`)).map(([, c]) => c);
      const objects = colls.reduce((n, c) => n + c.docs.length, 0);
      const dataSize = colls.reduce((n, c) => n + c.docs.reduce((m, d) => m + d.raw.length, 0), 0);
      const indexes = colls.reduce((n, c) => n + c.indexes.length, 0);
      return { db, collections: colls.length, views: 0, objects, avgObjSize: objects ? dataSize / objects : 0, dataSize, storageSize: dataSize, indexes, indexSize: 0, totalSize: dataSize, scaleFactor: 1, ...(filesystem ? { fsUsedSize: filesystem.usedSize, fsTotalSize: filesystem.totalSize } : {}), ok: 1 };
    },
  };

  function run(body: Document, db: string, seqs: Record<string, Buffer[]>): Buffer {
    const name = Object.keys(body)[0];
    try {
      const handler = Object.prototype.hasOwnProperty.call(commands, name) ? commands[name] : undefined;
      if (!handler) throw new CommandError(59, 'CommandNotFound', `no such command: '${name}'`);
      const reply = handler(body, db, seqs);
      return Buffer.isBuffer(reply) ? reply : serialize(reply);
    } catch (error) {
      const e = error instanceof CommandError ? error : new CommandError(8000, 'InternalError', (error as Error).message);
      return serialize({ ok: 0, errmsg: e.message, code: e.code, codeName: e.codeName });
    }
  }

  function header(length: number, responseTo: number, opCode: number): Buffer {
    const b = Buffer.alloc(16);
    b.writeInt32LE(length, 0);
    b.writeInt32LE(responseTo, 8);
    b.writeInt32LE(opCode, 12);
    return b;
  }

  function onMessage(socket: Socket, message: Buffer): void {
    const requestId = message.readInt32LE(4);
    const opCode = message.readInt32LE(12);
    if (opCode === OP_QUERY) {
      let p = 20;
      const nameEnd = message.indexOf(0, p);
      const db = message.toString('utf8', p, nameEnd).split('.')[0];
      p = nameEnd + 1 + 8;
      let query = deserialize(message.subarray(p, p + message.readInt32LE(p)));
      if (query.$query) query = query.$query;
      const reply = run(query, db, {});
      const fields = Buffer.alloc(20);
      fields.writeInt32LE(1, 16); // numberReturned; flags, cursorID and startingFrom stay 0
      const out = Buffer.concat([fields, reply]);
      socket.write(Buffer.concat([header(16 + out.length, requestId, OP_REPLY), out]));
      return;
    }
    if (opCode !== OP_MSG) {
      socket.destroy();
      return;
    }
    const flags = message.readUInt32LE(16);
    const end = flags & 1 ? message.length - 4 : message.length;
    let body: Document = {};
    const seqs: Record<string, Buffer[]> = {};
    for (let p = 20; p < end; ) {
      const kind = message[p++];
      const size = message.readInt32LE(p);
      if (kind === 0) {
        body = deserialize(message.subarray(p, p + size), { fieldsAsRaw: { documents: true } });
        p += size;
        continue;
      }
      const sectionEnd = p + size;
      const idEnd = message.indexOf(0, p + 4);
      const docs: Buffer[] = [];
      for (let q = idEnd + 1; q < sectionEnd; q += message.readInt32LE(q)) docs.push(message.subarray(q, q + message.readInt32LE(q)));
      seqs[message.toString('utf8', p + 4, idEnd)] = docs;
      p = sectionEnd;
    }
    const reply = run(body, String(body.$db ?? 'admin'), seqs);
    if (flags & 2) return; // moreToCome: the client expects no answer
    const out = Buffer.concat([Buffer.alloc(5), reply]); // flagBits 0, section kind 0
    socket.write(Buffer.concat([header(16 + out.length, requestId, OP_MSG), out]));
  }

  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 4 && pending.length >= pending.readInt32LE(0)) {
        const length = pending.readInt32LE(0);
        const message = pending.subarray(0, length);
        pending = pending.subarray(length);
        onMessage(socket, message);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `mongodb://127.0.0.1:${port}/?directConnection=true`,
    port,
    setFilesystem: (next) => (filesystem = next),
    stop: () =>
      new Promise<void>((resolve) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => resolve());
      }),
  };
}
