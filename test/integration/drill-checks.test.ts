/**
 * A drill's sample data retrieval and a kept sandbox's sanitization against real servers: PostgreSQL and
 * Redis started by the test setup, MongoDB through the official driver against the wire-protocol test server.
 * What sanitization wrote is read back directly (SQL, redis, the driver), never through the module tested.
 */
import { createHash } from 'node:crypto';
import { MongoClient } from 'mongodb';
import Redis from 'ioredis';
import { connectMongo, type MongoTarget } from '../../functions/components/mongodb';
import { connectPostgres, type PostgresTarget } from '../../functions/components/postgres';
import { connectRedis, type RedisTarget } from '../../functions/components/redis';
import { connectVector } from '../../functions/components/vector/connection';
import { defaultSampleChecks, runSampleChecks } from '../../functions/core/drill-samples';
import { InvalidInputError } from '../../functions/core/errors';
import { sanitizeSandbox } from '../../functions/core/sanitize';
import { startRedis, type RunningRedis } from '../../scripts/local-servers';
import { startMongoWireServer, type MongoWireServer } from '../support/mongo-wire-server';
import { createDatabase, sql, testPostgresUrl } from '../support/postgres-db';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const pgTarget = (database: string): Promise<PostgresTarget> =>
  connectPostgres({ database }, { NCA_POSTGRES_URL: testPostgresUrl(), NCA_PG_BIN_DIR: process.env.NCA_TEST_PG_BIN_DIR });

/** A schema and table no unquoted identifier could name. */
const HOSTILE = '"odd schema"."we""ird table"';

describe('postgres', () => {
  let db: string;
  let target: PostgresTarget;

  beforeAll(async () => {
    db = await createDatabase('drillchecks');
    target = await pgTarget(db);
    await sql(
      db,
      `CREATE SCHEMA "odd schema";
       CREATE TABLE ${HOSTILE} (id int PRIMARY KEY, "e-mail" text, phone varchar(40), note jsonb, code text, age int, kept text);
       INSERT INTO ${HOSTILE} VALUES
         (1, 'ada@example.org', '+44 20 7946 0018', '{"k": 1}', 'A1', 30, 'same'),
         (2, 'bob@example.org', '555-0100', '{"k": 2}', 'B2', 40, 'same'),
         (3, NULL, NULL, NULL, NULL, NULL, 'same');
       CREATE SEQUENCE counter;`,
    );
  });

  test('configured checks pass and fail on the data, with the rows found', async () => {
    const outcome = await runSampleChecks('postgres', target, [
      { sql: `SELECT id FROM ${HOSTILE} WHERE "e-mail" IS NOT NULL -- those with an address`, minRows: 2 },
      { sql: `SELECT id FROM ${HOSTILE};`, minRows: 5 },
    ]);
    expect(outcome.checks.map(({ found, ok }) => ({ found, ok }))).toEqual([
      { found: 2, ok: true },
      { found: 3, ok: false },
    ]);
    expect(outcome.problem).toMatch(/^1 of 2 sample check\(s\) failed: SQL .*we\\"\\"ird table.* returns at least 5 row\(s\): found 3$/);
  });

  test('checks run read-only: a query that writes fails the check and changes nothing; a broken query fails with the server\'s reason', async () => {
    const outcome = await runSampleChecks('postgres', target, [{ sql: "SELECT nextval('counter')", minRows: 1 }, { sql: 'SELEC 1', minRows: 1 }]);
    expect(outcome.checks).toEqual([
      expect.objectContaining({ ok: false, found: 0, error: expect.stringMatching(/read-only transaction.*SQLSTATE 25006/) }),
      expect.objectContaining({ ok: false, found: 0, error: expect.stringMatching(/syntax error.*SQLSTATE 42601/) }),
    ]);
    expect(await sql(db, 'SELECT last_value, is_called FROM counter')).toEqual([{ last_value: '1', is_called: false }]);
  });

  test('a query past the statement timeout fails its check', async () => {
    const outcome = await runSampleChecks('postgres', target, [{ sql: 'SELECT pg_sleep(5)', minRows: 1 }], { statementTimeoutMs: 100 });
    expect(outcome.checks[0]).toEqual(expect.objectContaining({ ok: false, error: expect.stringMatching(/statement timeout.*57014/) }));
  });

  test('defaults: the NCA\'s memory items when the table exists, else any table with a row, else failed', async () => {
    const nca = await createDatabase('drillnca');
    await sql(nca, `CREATE SCHEMA memory; CREATE TABLE memory.memory_items (id text PRIMARY KEY, content jsonb NOT NULL); INSERT INTO memory.memory_items VALUES ('m1', '{}');`);
    const ncaOutcome = await runSampleChecks('postgres', await pgTarget(nca), defaultSampleChecks('postgres'));
    expect(ncaOutcome).toEqual({ checks: [expect.objectContaining({ found: 1, ok: true, check: expect.stringContaining('memory.memory_items') })] });

    // The hostile table is the only one with rows in `db`: the default degrades to it.
    const other = await runSampleChecks('postgres', target, defaultSampleChecks('postgres'));
    expect(other.problem).toBeUndefined();
    expect(other.checks[0].check).toContain('else some table has a row ("odd schema"."we""ird table" has)');

    const empty = await createDatabase('drillempty');
    await sql(empty, 'CREATE TABLE nothing_here (id int)');
    const emptyOutcome = await runSampleChecks('postgres', await pgTarget(empty), defaultSampleChecks('postgres'));
    expect(emptyOutcome.checks).toEqual([expect.objectContaining({ found: 0, ok: false })]);
    expect(emptyOutcome.problem).toMatch(/1 of 1 sample check\(s\) failed: .*else some table has a row: found 0/);
  });

  test('vector: the semantic memory table by default', async () => {
    const vdb = await createDatabase('drillvector');
    await sql(vdb, "CREATE TABLE semantic_memory (id text PRIMARY KEY, embedding real[]); INSERT INTO semantic_memory VALUES ('s1', '{0.1,0.2}')");
    const vtarget = await connectVector({ database: vdb, table: 'semantic_memory' }, { NCA_VECTOR_URL: testPostgresUrl() });
    const outcome = await runSampleChecks('vector', vtarget, defaultSampleChecks('vector'));
    expect(outcome).toEqual({ checks: [expect.objectContaining({ found: 1, ok: true, check: expect.stringContaining('public.semantic_memory') })] });
  });

  test('sanitization hashes, masks, nulls and fixes columns of a hostile table, leaving NULLs and other columns alone', async () => {
    const sandbox = await createDatabase('drillsanitize');
    await sql(sandbox, `CREATE SCHEMA "odd schema"; CREATE TABLE ${HOSTILE} (id int PRIMARY KEY, "e-mail" text, phone varchar(40), note jsonb, code text, kept text);
      INSERT INTO ${HOSTILE} VALUES (1, 'ada@example.org', '+44 20 7946 0018', '{"k": 1}', 'A1', 'same'), (2, NULL, '12', NULL, 'B2', 'same');`);
    const results = await sanitizeSandbox('postgres', await pgTarget(sandbox), [
      { target: '"odd schema"."we""ird table"."e-mail"', action: 'hash' },
      { target: '"odd schema"."we""ird table".phone', action: 'mask' },
      { target: '"odd schema"."we""ird table".note', action: 'null' },
      { target: '"odd schema"."we""ird table".code', action: 'fixed', value: 'REDACTED' },
    ]);
    expect(results).toEqual([
      { target: '"odd schema"."we""ird table"."e-mail"', action: 'hash', rowsOrKeys: 1 },
      { target: '"odd schema"."we""ird table".phone', action: 'mask', rowsOrKeys: 2 },
      { target: '"odd schema"."we""ird table".note', action: 'null', rowsOrKeys: 1 },
      { target: '"odd schema"."we""ird table".code', action: 'fixed', rowsOrKeys: 2 },
    ]);
    expect(await sql(sandbox, `SELECT id, "e-mail", phone, note, code, kept FROM ${HOSTILE} ORDER BY id`)).toEqual([
      { id: 1, 'e-mail': sha256('ada@example.org'), phone: '************0018', note: null, code: 'REDACTED', kept: 'same' },
      { id: 2, 'e-mail': null, phone: '12', note: null, code: 'REDACTED', kept: 'same' },
    ]);
  });

  test('a rule naming a missing column or table is InvalidInputError naming the rule, and no rule of the call is applied', async () => {
    const sandbox = await createDatabase('drillsanfail');
    await sql(sandbox, "CREATE TABLE people (email text); INSERT INTO people VALUES ('ada@example.org')");
    const t = await pgTarget(sandbox);
    const missingColumn = sanitizeSandbox('postgres', t, [
      { target: 'people.email', action: 'hash' },
      { target: 'people.phone', action: 'null' },
    ]);
    await expect(missingColumn).rejects.toThrow(InvalidInputError);
    await expect(missingColumn).rejects.toThrow(/sanitization rule backup\.verification\.sanitize\.postgres\[1\] \(people\.phone, null\): table "public"\."people" has no column "phone"/);
    expect(await sql(sandbox, 'SELECT email FROM people')).toEqual([{ email: 'ada@example.org' }]);
    await expect(sanitizeSandbox('postgres', t, [{ target: 'staff.email', action: 'mask' }])).rejects.toThrow(/postgres\[0\] \(staff\.email, mask\): the sandbox has no table "public"\."staff"/);
  });

  test('a value the column cannot take is InvalidInputError naming the rule', async () => {
    await expect(sanitizeSandbox('postgres', target, [{ target: '"odd schema"."we""ird table".age', action: 'hash' }])).rejects.toThrow(
      /sanitize\.postgres\[0\] .*"age" \(integer\) cannot be sanitized that way: invalid input syntax for type integer/,
    );
  });
});

describe('redis', () => {
  let server: RunningRedis;
  const clients: Redis[] = [];
  const client = (db: number) => {
    const c = new Redis({ port: server.port, host: '127.0.0.1', db });
    clients.push(c);
    return c;
  };
  const target = (db: number): Promise<RedisTarget> => connectRedis({ db, keyPatterns: ['*'] }, { NCA_REDIS_URL: server.url });

  beforeAll(async () => {
    server = await startRedis();
    const c = client(3);
    const p = c.pipeline();
    p.hset('memory:stm:m1', { id: 'm1', content: 'met Ada at the garden' });
    p.set('memory:stm:metadata:m1', '{"status":"active"}');
    p.set('user:1:email', 'ada@example.org', 'EX', 3600);
    p.set('user:2:email', 'bob@example.org');
    p.set('user:1:phone', '+44 20 7946 0018');
    p.set('user:1:token', 'secret-token');
    p.hset('user:1:profile', { name: 'Ada' });
    p.set('unrelated', 'x');
    await p.exec();
    await client(4).set('only', 'one');
  });
  afterAll(async () => {
    clients.forEach((c) => c.disconnect());
    await server?.stop();
  });

  test('configured checks count matching keys; the defaults find the NCA\'s memory keys, else any key, else fail', async () => {
    const t3 = await target(3);
    const outcome = await runSampleChecks('redis', t3, [
      { keys: 'memory:*', minKeys: 2 },
      { keys: 'nothing:*', minKeys: 1 },
    ]);
    expect(outcome.checks.map(({ found, ok }) => ({ found, ok }))).toEqual([
      { found: 2, ok: true },
      { found: 0, ok: false },
    ]);
    expect(outcome.problem).toBe('1 of 2 sample check(s) failed: at least 1 key(s) match "nothing:*": found 0');
    expect((await runSampleChecks('redis', t3, defaultSampleChecks('redis'))).problem).toBeUndefined();
    expect((await runSampleChecks('redis', await target(4), defaultSampleChecks('redis'))).checks).toEqual([expect.objectContaining({ ok: true, check: expect.stringContaining('else db4 holds a key') })]);
    expect((await runSampleChecks('redis', await target(5), defaultSampleChecks('redis'))).problem).toMatch(/else db5 holds a key: found 0/);
  });

  test('sanitization replaces string values (TTL kept), deletes for null, and reports keys of other types as skipped', async () => {
    const results = await sanitizeSandbox('redis', await target(3), [
      { target: 'user:*:email', action: 'hash' },
      { target: 'user:1:phone', action: 'mask' },
      { target: 'user:1:token', action: 'null' },
      { target: 'user:1:p*', action: 'fixed', value: 'REDACTED' },
    ]);
    expect(results).toEqual([
      { target: 'user:*:email', action: 'hash', rowsOrKeys: 2 },
      { target: 'user:1:phone', action: 'mask', rowsOrKeys: 1 },
      { target: 'user:1:token', action: 'null', rowsOrKeys: 1 },
      { target: 'user:1:p*', action: 'fixed', rowsOrKeys: 1, skippedKeys: 1, note: expect.stringMatching(/not strings .* left as they are/) },
    ]);
    const c = client(3);
    expect(await c.mget('user:1:email', 'user:2:email', 'user:1:phone', 'user:1:token', 'unrelated')).toEqual([
      sha256('ada@example.org'),
      sha256('bob@example.org'),
      'REDACTED',
      null,
      'x',
    ]);
    expect(await c.ttl('user:1:email')).toBeGreaterThan(3000);
    expect(await c.hgetall('user:1:profile')).toEqual({ name: 'Ada' });
  });
});

describe('mongodb', () => {
  let server: MongoWireServer;
  let client: MongoClient;
  const target = (database: string): Promise<MongoTarget> => connectMongo({ database }, { NCA_MONGODB_URL: server.url });

  beforeAll(async () => {
    server = await startMongoWireServer();
    client = await new MongoClient(server.url).connect();
    await client.db('episodic').collection('ltm_memories').insertMany([
      { memory_id: 'm1', content: { text: 'met Ada at the garden', summary: 'garden' }, importance: 0.9, owner: 'ada@example.org' },
      { memory_id: 'm2', content: { text: 'planned the weekend' }, importance: 0.2, owner: 'bob@example.org' },
      { memory_id: 'm3', content: { text: 'no owner' }, importance: 0.5 },
    ]);
    await client.db('other').collection('notes').insertOne({ text: 'x' });
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  test('configured checks count matching documents; the defaults find the NCA\'s episodic memories, else any collection, else fail', async () => {
    const outcome = await runSampleChecks('mongodb', await target('episodic'), [
      { collection: 'ltm_memories', filter: { importance: { $gte: 0.5 } }, minDocuments: 2 },
      { collection: 'ltm_memories', filter: { importance: { $gte: 0.95 } }, minDocuments: 1 },
    ]);
    expect(outcome.checks.map(({ found, ok }) => ({ found, ok }))).toEqual([
      { found: 2, ok: true },
      { found: 0, ok: false },
    ]);
    expect(outcome.problem).toMatch(/1 of 2 .*at least 1 document\(s\) of ltm_memories match \{"importance":\{"\$gte":0.95\}\}: found 0/);
    expect((await runSampleChecks('mongodb', await target('episodic'), defaultSampleChecks('mongodb'))).problem).toBeUndefined();
    expect((await runSampleChecks('mongodb', await target('other'), defaultSampleChecks('mongodb'))).checks).toEqual([
      expect.objectContaining({ ok: true, check: expect.stringContaining('else some collection has a document (notes has)') }),
    ]);
    expect((await runSampleChecks('mongodb', await target('nothing'), defaultSampleChecks('mongodb'))).problem).toMatch(/found 0/);
  });

  test('sanitization hashes and masks per document, unsets for null, sets fixed values', async () => {
    const results = await sanitizeSandbox('mongodb', await target('episodic'), [
      { target: 'ltm_memories.owner', action: 'hash' },
      { target: 'ltm_memories.content.text', action: 'mask' },
      { target: 'ltm_memories.content.summary', action: 'null' },
      { target: 'ltm_memories.memory_id', action: 'fixed', value: 'redacted' },
    ]);
    expect(results).toEqual([
      { target: 'ltm_memories.owner', action: 'hash', rowsOrKeys: 2 },
      { target: 'ltm_memories.content.text', action: 'mask', rowsOrKeys: 3 },
      { target: 'ltm_memories.content.summary', action: 'null', rowsOrKeys: 1 },
      { target: 'ltm_memories.memory_id', action: 'fixed', rowsOrKeys: 3 },
    ]);
    const docs = await client.db('episodic').collection('ltm_memories').find({}, { projection: { _id: 0 } }).sort({ importance: -1 }).toArray();
    expect(docs).toEqual([
      { memory_id: 'redacted', content: { text: '*****************rden' }, importance: 0.9, owner: sha256('ada@example.org') },
      { memory_id: 'redacted', content: { text: '****wner' }, importance: 0.5 },
      { memory_id: 'redacted', content: { text: '***************kend' }, importance: 0.2, owner: sha256('bob@example.org') },
    ]);
  });

  test('a rule naming a missing collection is InvalidInputError naming the rule', async () => {
    await expect(sanitizeSandbox('mongodb', await target('episodic'), [{ target: 'people.email', action: 'hash' }])).rejects.toThrow(InvalidInputError);
    await expect(sanitizeSandbox('mongodb', await target('episodic'), [{ target: 'people.email', action: 'hash' }])).rejects.toThrow(
      /sanitize\.mongodb\[0\] \(people\.email, hash\): the sandbox has no collection people/,
    );
  });
});
