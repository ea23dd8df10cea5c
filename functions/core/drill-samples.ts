/**
 * Sample data retrieval of a restore drill (runbook "Backup Verification": "sample data retrieval"): after
 * the fingerprint matched, the sandbox answers queries the application would ask — SQL returning rows,
 * Redis keys, MongoDB documents — configured in `backup.verification.samples`, else the NCA schema's
 * defaults below. A check that finds too little, or whose query the server refuses, fails the drill with
 * what it found; an unreachable server is the drill's failure (thrown, classified by the connection helpers).
 */
import type { Redis } from 'ioredis';
import { MongoServerError } from 'mongodb';
import type { Client } from 'pg';
import type { ComponentName } from '../../config/components';
import type { SampleCheck } from '../../config/verification';
import type { MongoTarget } from '../components/mongodb/connection';
import { withClient as withMongoClient } from '../components/mongodb/connection';
import type { PostgresTarget } from '../components/postgres/connection';
import { withClient as withPostgresClient } from '../components/postgres/connection';
import { pgErrorCode } from '../components/postgres/errors';
import { withRedis, type RedisTarget } from '../components/redis/connection';
import { withVectorClient, type VectorTarget } from '../components/vector/connection';
import { InvalidInputError } from './errors';

/**
 * A default check: the NCA's own data (`nca`) when the sandbox has it, else any data at all (a user table
 * with a row, a key, a collection with a document): a database that simply lacks the NCA's table is not a
 * failed restore, an empty one is.
 */
export interface DefaultSampleCheck {
  readonly nca: SampleCheck;
  readonly orAnyData: true;
}

export type DrillSampleCheck = SampleCheck | DefaultSampleCheck;

export interface SampleCheckResult {
  /** What was asked, in words (a SQL query shortened to 200 characters). */
  readonly check: string;
  /** Rows, keys or documents found, counted up to the check's minimum (a drill never reads a whole table). */
  readonly found: number;
  readonly ok: boolean;
  /** The server's refusal of the query (syntax, missing table, read-only violation, timeout), when any. */
  readonly error?: string;
}

export interface SampleChecksOutcome {
  readonly checks: readonly SampleCheckResult[];
  /** Why the sample retrieval failed, naming each failed check; absent when every check passed. */
  readonly problem?: string;
}

export interface SampleCheckOptions {
  /** statement_timeout of each SQL check. @default 30000 (30 s) */
  readonly statementTimeoutMs?: number;
}

/** The NCA's SQL memory backend: schema "memory", table "memory_items" (neuroca memory/backends/sql/components/schema.py). */
export const NCA_MEMORY_ITEMS = 'memory.memory_items';
/** The vector store's table when backup.yaml names none (the vector descriptor's DEFAULT_VECTOR_TABLE). */
export const NCA_SEMANTIC_MEMORY = 'public.semantic_memory';
/** The NCA's Redis memory backend keys: `memory:<tier>:<id>` and its `memory:<tier>:metadata|index|stats` keys. */
export const NCA_REDIS_MEMORY_KEYS = 'memory:*';
/** The NCA's long-term memory repository's collection (neuroca db/repositories/ltm.py). */
export const NCA_LTM_COLLECTION = 'ltm_memories';

/**
 * One row when `relation` exists and has a row; none when it is absent or empty. to_regclass keeps an absent
 * table from being an error, and query_to_xml reads it only when it exists (CASE evaluates lazily).
 */
export function rowOfRelationIfPresent(relation: string): string {
  const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;
  return [
    `SELECT 1 FROM (SELECT CASE WHEN to_regclass(${literal(relation)}) IS NULL THEN ''`,
    `ELSE query_to_xml(${literal(`SELECT 1 AS n FROM ${relation} LIMIT 1`)}, false, true, '')::text END AS x) AS probe WHERE x <> ''`,
  ].join(' ');
}

/**
 * The checks of a component without `backup.verification.samples`: the NCA schema's data, degrading to
 * "some table/key/collection has data". Components without sample checks (memory, config, models, logs)
 * have none: their fingerprint is their proof.
 */
export function defaultSampleChecks(component: ComponentName | string): readonly DefaultSampleCheck[] {
  switch (component) {
    case 'postgres':
      return [{ nca: { sql: rowOfRelationIfPresent(NCA_MEMORY_ITEMS), minRows: 1 }, orAnyData: true }];
    case 'vector':
      return [{ nca: { sql: rowOfRelationIfPresent(NCA_SEMANTIC_MEMORY), minRows: 1 }, orAnyData: true }];
    case 'redis':
      return [{ nca: { keys: NCA_REDIS_MEMORY_KEYS, minKeys: 1 }, orAnyData: true }];
    case 'mongodb':
      return [{ nca: { collection: NCA_LTM_COLLECTION, filter: {}, minDocuments: 1 }, orAnyData: true }];
    default:
      return [];
  }
}

const isDefault = (check: DrillSampleCheck): check is DefaultSampleCheck => 'orAnyData' in check;
const short = (text: string) => (text.length > 200 ? `${text.slice(0, 197)}...` : text);

function describe(check: SampleCheck): string {
  if ('sql' in check) return `SQL ${JSON.stringify(short(check.sql))} returns at least ${check.minRows} row(s)`;
  if ('keys' in check) return `at least ${check.minKeys} key(s) match ${JSON.stringify(check.keys)}`;
  return `at least ${check.minDocuments} document(s) of ${check.collection} match ${short(JSON.stringify(check.filter))}`;
}

/** SQLSTATE classes of a query the server refused as written (not a lost server): the check fails, the drill reports it. */
const QUERY_REFUSED = /^(22|25|2B|3F|42|0A|21|23|40|53|54|55|57014)/;

/** The user table with a row (first by name), or undefined: what "some table has data" means. */
const ANY_TABLE_WITH_A_ROW = `SELECT c.oid::regclass::text AS relation
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
  AND has_table_privilege(c.oid, 'SELECT')
  AND query_to_xml(format('SELECT 1 AS n FROM %s LIMIT 1', c.oid::regclass), false, true, '')::text <> ''
ORDER BY n.nspname, c.relname LIMIT 1`;

/** Runs `sql` read-only: a READ ONLY transaction with a statement timeout, the query wrapped so that only a query fits and at most `cap` rows are counted. */
async function countRows(client: Client, sql: string, cap: number, timeoutMs: number): Promise<{ found: number; error?: string }> {
  // Trailing semicolons would end the wrapper; the newline keeps a trailing -- comment from swallowing it.
  const query = sql.replace(/[\s;]+$/, '');
  await client.query('BEGIN READ ONLY');
  try {
    await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 FROM (\n${query}\n) AS sample LIMIT ${cap}) AS capped`);
    return { found: rows[0].n };
  } catch (error) {
    const code = pgErrorCode(error);
    if (code === undefined || !QUERY_REFUSED.test(code)) throw error;
    return { found: 0, error: `${(error as Error).message} (SQLSTATE ${code})` };
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

async function sqlChecks(client: Client, checks: readonly DrillSampleCheck[], timeoutMs: number): Promise<SampleCheckResult[]> {
  const results: SampleCheckResult[] = [];
  for (const entry of checks) {
    const check = isDefault(entry) ? entry.nca : entry;
    if (!('sql' in check)) throw new InvalidInputError(`a ${describe(check)} check does not apply to a SQL database; use sql and min_rows.`);
    const { found, error } = await countRows(client, check.sql, check.minRows, timeoutMs);
    if (found >= check.minRows || !isDefault(entry) || error !== undefined) {
      results.push({ check: describe(check), found, ok: found >= check.minRows && error === undefined, ...(error !== undefined ? { error } : {}) });
      continue;
    }
    const { rows } = await client.query<{ relation: string }>(ANY_TABLE_WITH_A_ROW);
    results.push({
      check: `${describe(check)}, else some table has a row${rows[0] ? ` (${rows[0].relation} has)` : ''}`,
      found: rows.length,
      ok: rows.length > 0,
    });
  }
  return results;
}

/** SCAN MATCH, counting up to `cap` keys. */
async function countKeys(redis: Redis, pattern: string, cap: number): Promise<number> {
  let cursor = '0';
  let found = 0;
  do {
    const [next, keys] = await redis.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = String(next);
    found += keys.length;
  } while (cursor !== '0' && found < cap);
  return Math.min(found, cap);
}

async function redisChecks(target: RedisTarget, checks: readonly DrillSampleCheck[]): Promise<SampleCheckResult[]> {
  return withRedis(target, async (redis) => {
    const results: SampleCheckResult[] = [];
    for (const entry of checks) {
      const check = isDefault(entry) ? entry.nca : entry;
      if (!('keys' in check)) throw new InvalidInputError(`a ${describe(check)} check does not apply to Redis; use keys and min_keys.`);
      const found = await countKeys(redis, check.keys, check.minKeys);
      if (found >= check.minKeys || !isDefault(entry)) {
        results.push({ check: describe(check), found, ok: found >= check.minKeys });
        continue;
      }
      const size = await redis.dbsize();
      results.push({ check: `${describe(check)}, else db${target.db} holds a key`, found: Math.min(size, 1), ok: size > 0 });
    }
    return results;
  });
}

async function mongoChecks(target: MongoTarget, checks: readonly DrillSampleCheck[]): Promise<SampleCheckResult[]> {
  return withMongoClient(target, 'running the drill\'s sample checks', async (client) => {
    const db = client.db(target.database);
    const results: SampleCheckResult[] = [];
    for (const entry of checks) {
      const check = isDefault(entry) ? entry.nca : entry;
      if (!('collection' in check)) throw new InvalidInputError(`a ${describe(check)} check does not apply to MongoDB; use collection, filter and min_documents.`);
      let found: number;
      try {
        found = await db.collection(check.collection).countDocuments(check.filter as Record<string, unknown>, { limit: check.minDocuments, maxTimeMS: 30_000 });
      } catch (error) {
        // A filter the server cannot run (unknown operator, bad type) is the check's failure, not the drill's connection.
        if (!(error instanceof MongoServerError)) throw error;
        results.push({ check: describe(check), found: 0, ok: false, error: `${error.message} (code ${String(error.code)})` });
        continue;
      }
      if (found >= check.minDocuments || !isDefault(entry)) {
        results.push({ check: describe(check), found, ok: found >= check.minDocuments });
        continue;
      }
      let withData: string | undefined;
      const collections = await db.listCollections({}, { nameOnly: true }).toArray();
      for (const { name } of collections.sort((a, b) => a.name.localeCompare(b.name))) {
        if (name.startsWith('system.')) continue;
        if (await db.collection(name).findOne({}, { projection: { _id: 1 } })) {
          withData = name;
          break;
        }
      }
      results.push({ check: `${describe(check)}, else some collection has a document${withData ? ` (${withData} has)` : ''}`, found: withData ? 1 : 0, ok: withData !== undefined });
    }
    return results;
  });
}

/**
 * Runs a drill's sample checks against its restored sandbox: postgres and vector SQL in a READ ONLY
 * transaction with a statement timeout (rows ≥ minRows), redis SCAN MATCH (keys ≥ minKeys), mongodb
 * countDocuments(filter) (≥ minDocuments). `target` is the component's restore target type, pointed at the
 * sandbox. A component without sample checks, or no checks, passes with none.
 */
export async function runSampleChecks(
  component: ComponentName | string,
  target: PostgresTarget | VectorTarget | RedisTarget | MongoTarget,
  checks: readonly DrillSampleCheck[],
  options: SampleCheckOptions = {},
): Promise<SampleChecksOutcome> {
  if (checks.length === 0) return { checks: [] };
  const timeoutMs = options.statementTimeoutMs ?? 30_000;
  let results: SampleCheckResult[];
  switch (component) {
    case 'postgres':
      results = await withPostgresClient(target as PostgresTarget, (client) => sqlChecks(client, checks, timeoutMs));
      break;
    case 'vector':
      results = await withVectorClient(target as VectorTarget, (client) => sqlChecks(client, checks, timeoutMs));
      break;
    case 'redis':
      results = await redisChecks(target as RedisTarget, checks);
      break;
    case 'mongodb':
      results = await mongoChecks(target as MongoTarget, checks);
      break;
    default:
      throw new InvalidInputError(`${component} has no sample checks: they apply to postgres, vector, redis and mongodb.`, { component });
  }
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) return { checks: results };
  const problem = `${failed.length} of ${results.length} sample check(s) failed: ${failed
    .map((r) => `${r.check}: found ${r.found}${r.error ? ` (${r.error})` : ''}`)
    .join('; ')}`;
  return { checks: results, problem };
}
